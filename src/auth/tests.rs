use super::*;
use http::HeaderValue;

/// A caller of team "sales" whose token is `token`, with every scope and route.
fn caller(id: &str, token: &str) -> CallerConfig {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(token_hash_hex(token), &mut digest).unwrap();
    CallerConfig {
        origin: "callers[0]".into(),
        id: id.into(),
        team: "sales".into(),
        token_sha256: Some(digest),
        cert_san: None,
        scopes: None,
        rate: None,
        routes: None,
        validation: None,
    }
}

/// "crm", token "tok-1".
fn callers() -> Callers {
    Callers::new(&[caller("crm", "tok-1")], ValidationMode::Enforce)
}

fn headers(auth: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(http::header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
    h
}

/// The id of the caller that `authorization` authenticates as.
fn who(callers: &Callers, authorization: &str) -> String {
    callers.authenticate(&headers(authorization)).unwrap().id.to_string()
}

/// Why `authorization` does not authenticate.
fn refused(callers: &Callers, authorization: &str) -> AuthError {
    callers.authenticate(&headers(authorization)).unwrap_err()
}

#[test]
fn scopes_then_route_allow_list() {
    let routes = crate::routes::RouteTable::builtin(crate::config::UnknownFields::Reject).unwrap();
    let route = |id: &str| routes.routes().find(|r| &*r.id == id).unwrap().clone();
    let callers = Callers::new(
        &[CallerConfig {
            scopes: Some(vec!["DIALING_QUEUE_READ_WRITE".into(), "USERS_READ".into()]),
            routes: Some(vec!["users.list".into(), "dialingQueues.*".into()]),
            ..caller("sync", "tok-2")
        }],
        ValidationMode::Enforce,
    );
    let caller = callers.authenticate(&headers("Bearer tok-2")).unwrap();
    assert!(!caller.unrestricted());
    assert_eq!(caller.authorize(&route("users.list")), Ok(()));
    assert_eq!(caller.authorize(&route("dialingQueues.resetCurrent")), Ok(()));
    assert_eq!(
        caller.authorize(&route("users.get")),
        Err(ScopeError::RouteNotAllowed {
            caller: "sync".into(),
            route: "users.get".into()
        })
    );
    assert!(matches!(
        caller.authorize(&route("webhooks.list")),
        Err(ScopeError::MissingScope { .. })
    ));
}

#[test]
fn bearer_and_api_key_forms() {
    let c = callers();
    assert_eq!(who(&c, "Bearer tok-1"), "crm");
    assert_eq!(who(&c, "Api-Key tok-1"), "crm");
    assert_eq!(who(&c, "bearer tok-1"), "crm");
    assert_eq!(refused(&c, "Bearer tok-2"), AuthError::UnknownCaller);
    assert_eq!(refused(&c, "Basic tok-1"), AuthError::MalformedCredential);
    assert_eq!(refused(&c, "tok-1"), AuthError::MalformedCredential);
    assert_eq!(
        c.authenticate(&HeaderMap::new()).unwrap_err(),
        AuthError::MissingCredential
    );
}

#[test]
fn a_remembered_token_still_answers_to_the_callers_of_the_moment() {
    memo::forget_all();
    let before = callers();
    assert_eq!(who(&before, "Bearer tok-1"), "crm");
    assert!(memo::recall(b"tok-1").is_some());
    assert_eq!(who(&before, "Api-Key tok-1"), "crm");
    // A reload without that caller: the remembered digest finds nobody.
    let after = Callers::new(&[], ValidationMode::Enforce);
    assert_eq!(refused(&after, "Bearer tok-1"), AuthError::UnknownCaller);
    // Tokens that do not authenticate are never remembered.
    assert_eq!(refused(&before, "Bearer tok-9"), AuthError::UnknownCaller);
    assert!(memo::recall(b"tok-9").is_none());
    // Nor are overlong ones, which still authenticate by their hash.
    let long = "t".repeat(memo::MAX_TOKEN + 1);
    let with_long = Callers::new(&[caller("long", &long)], ValidationMode::Enforce);
    assert_eq!(who(&with_long, &format!("Bearer {long}")), "long");
    assert!(memo::recall(long.as_bytes()).is_none());
}
