//! `[upstream] forward_headers`: which of the caller's credentials and internal routing fields
//! may reach Allo. Allo is a third party: a `Cookie` meant for an internal service, another
//! service's `X-Api-Key`, or the `Forwarded` / `X-Forwarded-*` / `X-Real-Ip` fields an
//! internal proxy added (client addresses, internal host names) are stripped by default. The
//! allow-list names the few an operator wants to keep; it can name only those, never the
//! gateway's own fields (`Authorization`, `Host`, framing, `X-Request-Id`, hop-by-hop), which
//! the rewrite sets or removes whatever a config says.
//!
//! Checked once per header per request, so `ForwardHeaders::strips` looks at a name's length
//! first and compares bytes only with the one or two names of that length; the allow-list is
//! read only for a name that is stripped by default (rare).

use http::HeaderName;

use super::Problems;

/// The allow-list, as names (lowercase, so compared as `HeaderName`s are, whatever the case
/// the config or the caller wrote).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardHeaders {
    allowed: Box<[HeaderName]>,
}

/// Stripped by default besides the fixed names of `stripped_by_default`: this and any suffix.
const X_FORWARDED: &[u8] = b"x-forwarded-";

/// Fields the gateway sets or removes itself: listed in `forward_headers`, a config error
/// with its own message (they are not stripped by default either, so they would be refused
/// anyway, but "forwarded already" would be the wrong reason to give).
const GATEWAYS_OWN: [&str; 14] = [
    "authorization",
    "host",
    "content-length",
    "transfer-encoding",
    "expect",
    "x-request-id",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-connection",
    "proxy-authenticate",
];

/// Whether `name` is a credential or internal routing field, stripped unless allowed. Names
/// are lowercase (`HeaderName`), so a byte comparison is a case-insensitive one.
pub fn stripped_by_default(name: &HeaderName) -> bool {
    let name = name.as_str().as_bytes();
    match name.len() {
        // Only the lengths of the fixed names compare bytes; most fields stop here.
        6 => name == b"cookie",
        7 => name == b"api-key",
        9 => name == b"x-api-key" || name == b"forwarded" || name == b"x-real-ip",
        n if n > X_FORWARDED.len() => name.starts_with(X_FORWARDED),
        _ => false,
    }
}

impl ForwardHeaders {
    /// Whether the caller's field `name` stays with the gateway.
    pub fn strips(&self, name: &HeaderName) -> bool {
        stripped_by_default(name) && !self.allowed.contains(name)
    }

    pub fn allowed(&self) -> &[HeaderName] {
        &self.allowed
    }

    /// The allow-list `names` make, checked as `forward_headers` in a config file is.
    pub fn allowing(names: &[&str]) -> Result<ForwardHeaders, super::ConfigError> {
        let mut p = Problems::default();
        let allowed = forward_headers(&mut p, Some(names.iter().map(|n| n.to_string()).collect()));
        p.into_result(allowed)
    }
}

/// Reads `upstream.forward_headers`: each entry a header name that is stripped by default.
pub(super) fn forward_headers(p: &mut Problems, names: Option<Vec<String>>) -> ForwardHeaders {
    const PATH: &str = "upstream.forward_headers";
    let mut allowed: Vec<HeaderName> = Vec::new();
    for text in names.unwrap_or_default() {
        let Ok(name) = HeaderName::from_bytes(text.as_bytes()) else {
            p.push(PATH, format!("{text:?} is not a header name"));
            continue;
        };
        if GATEWAYS_OWN.contains(&name.as_str()) {
            p.push(
                PATH,
                format!("{text:?} is the gateway's own field (set or removed by the gateway); it is never forwarded from a caller"),
            );
        } else if !stripped_by_default(&name) {
            p.push(
                PATH,
                format!(
                    "{text:?} is forwarded already; only the fields stripped by default can be listed: \
                     Cookie, Api-Key, X-Api-Key, Forwarded, X-Forwarded-*, X-Real-Ip"
                ),
            );
        } else if !allowed.contains(&name) {
            allowed.push(name);
        }
    }
    ForwardHeaders {
        allowed: allowed.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRIPPED: [&str; 5] = ["cookie", "api-key", "x-api-key", "forwarded", "x-real-ip"];

    fn name(text: &str) -> HeaderName {
        HeaderName::from_bytes(text.as_bytes()).unwrap()
    }

    #[test]
    fn credentials_and_internal_routing_fields_are_stripped_by_default() {
        for stripped in STRIPPED.iter().copied().chain([
            "X-Forwarded-For",
            "x-forwarded-host",
            "X-FORWARDED-PROTO",
            "x-forwarded-prefix",
        ]) {
            assert!(ForwardHeaders::default().strips(&name(stripped)), "{stripped}");
        }
        for kept in [
            "content-type",
            "accept",
            "user-agent",
            "x-forwarded",
            "x-forwarded-",
            "cookies",
            "x-api-keys",
            "idempotency-key",
        ] {
            assert!(!ForwardHeaders::default().strips(&name(kept)), "{kept}");
        }
    }

    #[test]
    fn the_allow_list_keeps_what_it_names_in_any_case() {
        let mut p = Problems::default();
        let allow = forward_headers(&mut p, Some(vec!["X-Forwarded-For".into(), "COOKIE".into()]));
        assert!(p.0.is_empty());
        assert!(!allow.strips(&name("x-forwarded-for")));
        assert!(!allow.strips(&name("cookie")));
        assert!(allow.strips(&name("x-forwarded-host")));
        assert!(allow.strips(&name("x-api-key")));
    }

    #[test]
    fn the_gateways_own_fields_and_other_names_are_refused() {
        for bad in [
            "Authorization",
            "host",
            "X-Request-Id",
            "Connection",
            "Content-Length",
            "x-custom",
            "bad name",
            "",
        ] {
            let mut p = Problems::default();
            let allow = forward_headers(&mut p, Some(vec![bad.into()]));
            assert_eq!(p.0.len(), 1, "{bad}");
            assert_eq!(p.0[0].path, "upstream.forward_headers");
            assert!(allow.allowed().is_empty());
        }
        let mut p = Problems::default();
        forward_headers(&mut p, Some(vec!["authorization".into()]));
        assert!(p.0[0].message.contains("gateway's own"), "{}", p.0[0].message);
    }
}
