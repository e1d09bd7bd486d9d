//! Secrets: the team API keys the gateway injects. A `Secret` can be compared and exposed to
//! the one place that writes it into a header, but never printed, serialised or logged: its
//! `Debug` and `Display` say `[redacted]`. Where a secret comes from (env, file, inline value)
//! is described by `SecretSource`, resolved once per config load.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A secret value. Redacted in `Debug`/`Display`; no `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for the single place that must use it (header injection, comparison).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short, non-reversible fingerprint (first 8 hex chars of SHA-256) for logs.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        hex::encode(&digest[..4])
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Whether `a` and `b` are the same bytes, in a time that depends on their length only (not
/// on where they first differ). Compared eight bytes at a time, each word with `subtle`'s
/// constant-time equality (a byte at a time costs about ten instructions per byte, and a
/// caller's token is compared on every request).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::{Choice, ConstantTimeEq};
    if a.len() != b.len() {
        return false;
    }
    let (words_a, words_b) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = words_a.remainder().ct_eq(words_b.remainder());
    let word = |chunk: &[u8]| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        u64::from_ne_bytes(bytes)
    };
    let same = words_a
        .zip(words_b)
        .fold(Choice::from(1), |same, (x, y)| same & word(x).ct_eq(&word(y)));
    (same & tail).into()
}

/// Where a secret is read from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
    Value(Secret),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "Env({name:?})"),
            SecretSource::File(path) => write!(f, "File({path:?})"),
            SecretSource::Value(_) => f.write_str("Value([redacted])"),
        }
    }
}

/// Why a secret could not be resolved. Never contains the secret itself.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set or not valid UTF-8")]
    EnvMissing(String),
    #[error("cannot read secret file {path}")]
    FileUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("secret file {0} is not valid UTF-8")]
    FileNotUtf8(PathBuf),
    #[error("secret is empty")]
    Empty,
    #[error("secret contains characters not allowed in an HTTP header")]
    NotHeaderSafe,
}

impl SecretSource {
    /// Reads the secret now. A file is read whole with one trailing newline trimmed.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        let raw = match self {
            SecretSource::Env(name) => std::env::var(name).map_err(|_| SecretError::EnvMissing(name.clone()))?,
            SecretSource::File(path) => read_secret_file(path)?,
            SecretSource::Value(secret) => secret.expose().to_owned(),
        };
        if raw.is_empty() {
            return Err(SecretError::Empty);
        }
        if raw.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
            return Err(SecretError::NotHeaderSafe);
        }
        Ok(Secret(raw))
    }

    /// The file this secret lives in, if any (watched for hot reload).
    pub fn file(&self) -> Option<&Path> {
        match self {
            SecretSource::File(path) => Some(path),
            _ => None,
        }
    }
}

fn read_secret_file(path: &Path) -> Result<String, SecretError> {
    let bytes = std::fs::read(path).map_err(|source| SecretError::FileUnreadable {
        path: path.to_owned(),
        source,
    })?;
    let mut text = String::from_utf8(bytes).map_err(|_| SecretError::FileNotUtf8(path.to_owned()))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Word by word, the comparison says what `==` says, at every length and difference.
        #[test]
        fn constant_time_eq_is_equality(
            a in proptest::collection::vec(0u8..4, 0..40),
            flip in proptest::option::of(0usize..40),
            extra in 0usize..2,
        ) {
            let mut b = a.clone();
            if let Some(at) = flip.filter(|at| *at < b.len()) {
                b[at] ^= 1;
            }
            b.extend(std::iter::repeat_n(0u8, extra));
            proptest::prop_assert_eq!(constant_time_eq(&a, &b), a == b);
            proptest::prop_assert!(constant_time_eq(&a, &a));
        }
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("ak_live_MARKER");
        assert!(!format!("{secret:?}").contains("MARKER"));
        assert!(!format!("{secret}").contains("MARKER"));
        let source = SecretSource::Value(secret);
        assert!(!format!("{source:?}").contains("MARKER"));
    }

    #[test]
    fn file_secret_trims_one_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, "abc\n").unwrap();
        let got = SecretSource::File(path).resolve().unwrap();
        assert_eq!(got.expose(), "abc");
    }

    #[test]
    fn control_characters_are_refused() {
        let err = SecretSource::Value(Secret::new("a\nb")).resolve().unwrap_err();
        assert!(matches!(err, SecretError::NotHeaderSafe));
    }
}
