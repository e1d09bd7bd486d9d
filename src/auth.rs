//! Caller authentication and authorisation: a caller presents its token as
//! `Authorization: Bearer <token>` or `Authorization: Api-Key <token>`; the token's SHA-256 is
//! looked up among the configured hashes (the config holds no token). Each worker remembers
//! the digests of the last few tokens that authenticated (`memo`), so a caller's requests are
//! not hashed one by one. An authenticated caller may then call a route only if its scopes and
//! route allow-list permit it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::config::{CallerConfig, Rate, ValidationMode};
use crate::routes::{Route, RoutePattern, Scope};
use crate::tls::PeerIdentity;

mod memo;

/// An authenticated calling service.
#[derive(Debug)]
pub struct Caller {
    /// Shared, not copied, by everything that names the caller for one request (the access
    /// log, the metrics labels).
    pub id: Arc<str>,
    pub team: Arc<str>,
    pub rate: Option<Rate>,
    /// None: every scope. A list, not a set: a caller holds a handful of scopes, and comparing
    /// a few short strings costs less than hashing one.
    scopes: Option<Box<[String]>>,
    /// None: every route the scopes allow.
    routes: Option<Vec<RoutePattern>>,
    /// Whether this caller's invalid requests are refused or forwarded with a warning.
    pub validation: ValidationMode,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no caller credential: send Authorization: Bearer <token> or Api-Key <token>")]
    MissingCredential,
    #[error("the Authorization header is not `Bearer <token>` or `Api-Key <token>`")]
    MalformedCredential,
    #[error("unknown caller token")]
    UnknownCaller,
    #[error("the client certificate names no configured caller")]
    UnknownCertificate,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScopeError {
    #[error("caller {caller} lacks scope {scope} required by {route}")]
    MissingScope {
        caller: String,
        scope: String,
        route: String,
    },
    #[error("caller {caller} may not call {route}")]
    RouteNotAllowed { caller: String, route: String },
}

/// All configured callers, indexed by token hash and by certificate identity.
#[derive(Debug, Default)]
pub struct Callers {
    by_token: HashMap<[u8; 32], Arc<Caller>, BuildHasherDefault<DigestHasher>>,
    by_san: HashMap<String, Arc<Caller>>,
}

impl Callers {
    /// `validation`: the mode of callers that do not set their own.
    pub fn new(configs: &[CallerConfig], validation: ValidationMode) -> Callers {
        let mut callers = Callers::default();
        for c in configs {
            let caller = Arc::new(Caller {
                id: Arc::from(c.id.as_str()),
                team: Arc::from(c.team.as_str()),
                rate: c.rate,
                scopes: c.scopes.as_ref().map(|s| s.iter().cloned().collect()),
                routes: c
                    .routes
                    .as_ref()
                    .map(|r| r.iter().map(|p| RoutePattern::parse(p)).collect()),
                validation: c.validation.unwrap_or(validation),
            });
            if let Some(digest) = c.token_sha256 {
                callers.by_token.insert(digest, caller.clone());
            }
            if let Some(san) = &c.cert_san {
                callers.by_san.insert(san.clone(), caller);
            }
        }
        callers
    }

    /// The caller presenting the credential in `headers`.
    /// Borrowed, not cloned: the caller's reference count is shared by every worker.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<&Caller, AuthError> {
        let token = presented_token(headers)?;
        if let Some(digest) = memo::recall(token) {
            return self
                .by_token
                .get(&digest)
                .map(|caller| &**caller)
                .ok_or(AuthError::UnknownCaller);
        }
        let digest: memo::Digest = Sha256::digest(token).into();
        let caller = self.by_token.get(&digest).ok_or(AuthError::UnknownCaller)?;
        memo::remember(token, digest);
        Ok(caller)
    }

    /// The caller named by a verified client certificate: the first of its SANs that is some
    /// caller's `cert_san`. With client certificates required, this is the only identity.
    pub fn authenticate_peer(&self, peer: &PeerIdentity) -> Result<&Caller, AuthError> {
        peer.names
            .iter()
            .find_map(|name| self.by_san.get(name))
            .map(|caller| &**caller)
            .ok_or(AuthError::UnknownCertificate)
    }
}

/// Hashes a SHA-256 digest by taking its first eight bytes: the digest is already uniformly
/// spread, so running SipHash over it again buys nothing. The map's keys come from the config
/// only, so a caller cannot plant colliding entries; a lookup costs one probe sequence.
///
/// Timing: the probe and the key comparison are not constant-time, but what they work on is
/// the digest of the presented token, never the token or a configured secret. How long a
/// lookup takes can tell a guesser at most how close the digest of its own guess came to a
/// configured digest, and SHA-256's preimage resistance makes that worthless for finding a
/// token.
#[derive(Debug, Default, Clone, Copy)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
    }
}

/// The token bytes after `Bearer ` or `Api-Key ` (scheme case-insensitive, one header only).
fn presented_token(headers: &HeaderMap) -> Result<&[u8], AuthError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthError::MissingCredential)?;
    if values.next().is_some() {
        return Err(AuthError::MalformedCredential);
    }
    let bytes = value.as_bytes();
    let space = bytes
        .iter()
        .position(|b| *b == b' ')
        .ok_or(AuthError::MalformedCredential)?;
    let (scheme, rest) = bytes.split_at(space);
    if !(scheme.eq_ignore_ascii_case(b"bearer") || scheme.eq_ignore_ascii_case(b"api-key")) {
        return Err(AuthError::MalformedCredential);
    }
    let token = rest.trim_ascii();
    if token.is_empty() {
        return Err(AuthError::MalformedCredential);
    }
    Ok(token)
}

impl Caller {
    /// Whether this caller may call `route`: its scope first, then the route allow-list.
    pub fn authorize(&self, route: &Route) -> Result<(), ScopeError> {
        if let Some(scopes) = &self.scopes {
            let missing = match &route.scope {
                Scope::Any => None,
                Scope::Named(scope) => (!scopes.contains(scope)).then(|| scope.clone()),
                // Nobody can say which scope it needs: only an unlimited caller may call it.
                Scope::Unknown => Some("(a scope the API description does not name)".to_string()),
            };
            if let Some(scope) = missing {
                return Err(ScopeError::MissingScope {
                    caller: self.id.to_string(),
                    scope,
                    route: route.id.to_string(),
                });
            }
        }
        if let Some(patterns) = &self.routes {
            if !patterns.iter().any(|p| p.matches(&route.id)) {
                return Err(ScopeError::RouteNotAllowed {
                    caller: self.id.to_string(),
                    route: route.id.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Whether this caller may reach paths that are not Allo endpoints (`unknown = "forward"`):
    /// only a caller with no scope or route restriction.
    pub fn unrestricted(&self) -> bool {
        self.scopes.is_none() && self.routes.is_none()
    }
}

/// Hex SHA-256 of a token, as written in `token_sha256`.
pub fn token_hash_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests;
