//! The validator on arbitrary bytes, for every route: the first byte picks the route, the
//! second the `unknown_fields` policy and the Content-Type; the rest is the body, and (when it
//! is UTF-8) also the query string. Strict JSON parsing is fuzzed on the same bytes. Nothing
//! may panic, a body the strict parser accepts must be valid JSON to serde_json too, and a body
//! the fast check vouches for must pass the strict parser and the route's schemas, with no
//! field to rename.
#![no_main]

use std::sync::OnceLock;

use allo_gateway::config::UnknownFields;
use allo_gateway::routes::RouteTable;
use allo_gateway::validate;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fn tables() -> &'static [RouteTable; 2] {
    static TABLES: OnceLock<[RouteTable; 2]> = OnceLock::new();
    TABLES.get_or_init(|| {
        [
            RouteTable::builtin(UnknownFields::Reject).expect("the builtin table loads"),
            RouteTable::builtin(UnknownFields::Allow).expect("the builtin table loads"),
        ]
    })
}

const CONTENT_TYPES: [&str; 4] = [
    "application/json",
    "application/json; charset=utf-8",
    "application/merge-patch+json",
    "text/plain",
];

fuzz_target!(|data: &[u8]| {
    let [route, mode, rest @ ..] = data else {
        return;
    };
    let table = &tables()[usize::from(mode & 1)];
    let routes: Vec<_> = table.routes().collect();
    let route = routes[usize::from(*route) % routes.len()];
    let mut headers = HeaderMap::new();
    let content_type = CONTENT_TYPES[usize::from(mode >> 1) % CONTENT_TYPES.len()];
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));

    let body = Bytes::copy_from_slice(rest);
    let checked = validate::check_body(route, &headers, &body);
    if let Some(renamed) = checked.rewritten {
        // A rename changes key spellings only: what is forwarded is still one JSON document.
        assert!(validate::parse_strict(&renamed).is_ok(), "a renamed body no longer parses");
    }
    if let Ok(query) = std::str::from_utf8(rest) {
        let _ = validate::check_query(route, Some(query));
    }
    if let Some(quick) = &route.schemas.body_quick {
        if quick.accepts(rest, &route.rename) {
            let value = validate::parse_strict(rest).expect("the fast check vouched for what strict parsing refuses");
            let schemas = &route.schemas;
            assert!(
                schemas.body.iter().any(|v| v.is_valid(&value))
                    && schemas.body_extra.as_ref().is_none_or(|v| v.is_valid(&value)),
                "the fast check vouched for what the schemas refuse"
            );
            if let Some(map) = value.as_object() {
                assert!(
                    route.rename.iter().all(|(old, _)| !map.contains_key(&**old)),
                    "the fast check vouched for a body with a field to rename"
                );
            }
        }
    }
    if validate::parse_strict(rest).is_ok() {
        assert!(
            serde_json::from_slice::<serde_json::Value>(rest).is_ok(),
            "strict parsing accepted what serde_json refuses"
        );
    }
});
