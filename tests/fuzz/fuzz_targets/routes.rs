//! The route matcher on arbitrary paths and methods, and route patterns on arbitrary text.
//! Nothing may panic; a match must fit the path (same number of segments, literals equal).
#![no_main]

use std::sync::OnceLock;

use allo_gateway::config::UnknownFields;
use allo_gateway::routes::{Match, RoutePattern, RouteTable};
use http::Method;
use libfuzzer_sys::fuzz_target;

fn table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| RouteTable::builtin(UnknownFields::Reject).expect("the builtin table loads"))
}

const METHODS: [Method; 8] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
    Method::TRACE,
];

fuzz_target!(|data: &[u8]| {
    let [method, rest @ ..] = data else {
        return;
    };
    let Ok(path) = std::str::from_utf8(rest) else {
        return;
    };
    let method = &METHODS[usize::from(*method) % METHODS.len()];
    match table().find(method, path) {
        Match::Found(route) => {
            // HEAD stands for GET where the path has no HEAD of its own (RFC 9110).
            if !(*method == Method::HEAD && route.method == Method::GET) {
                assert_eq!(&route.method, method);
            }
            let template: Vec<&str> = route.template.split('/').collect();
            let parts: Vec<&str> = path.split('/').collect();
            assert_eq!(template.len(), parts.len(), "{path} matched {}", route.template);
            for (t, p) in template.iter().zip(&parts) {
                if t.starts_with('{') {
                    assert!(
                        !p.is_empty(),
                        "{path} matched {} with an empty parameter",
                        route.template
                    );
                } else {
                    assert_eq!(t, p, "{path} matched {}", route.template);
                }
            }
        }
        Match::MethodNotAllowed { allowed } => {
            assert!(!allowed.is_empty());
            assert!(!allowed.contains(method));
        }
        Match::NotFound => {}
    }
    let pattern = RoutePattern::parse(path);
    for route in table().routes() {
        let _ = pattern.matches(&route.id);
    }
});
