use super::*;
use proptest::prelude::*;

fn renames() -> Vec<(Box<str>, Box<str>)> {
    vec![("user_pid".into(), "user_id".into())]
}

fn run(body: &str) -> Result<Option<String>, FieldError> {
    let mut value: Value = serde_json::from_str(body).unwrap();
    let out = apply(&mut value, body.as_bytes(), &renames())?;
    if let Some(bytes) = &out {
        // The value the schemas check is the one the bytes say.
        let reparsed: Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(reparsed, value, "{body}");
    }
    Ok(out.map(|b| String::from_utf8(b.to_vec()).unwrap()))
}

#[test]
fn only_the_key_changes() {
    assert_eq!(
        run(r#"{ "name" : "Q", "user_pid":"u1" ,"email":null}"#)
            .unwrap()
            .as_deref(),
        Some(r#"{ "name" : "Q", "user_id":"u1" ,"email":null}"#)
    );
    assert_eq!(run(r#"{"name":"Q"}"#).unwrap(), None);
    assert_eq!(run(r#"[1,2]"#).unwrap(), None);
    // An escaped spelling of the old key is the old key.
    assert_eq!(
        run(r#"{"user\u005fpid": {"a":[1,"}"]}}"#).unwrap().as_deref(),
        Some(r#"{"user_id": {"a":[1,"}"]}}"#)
    );
}

#[test]
fn both_spellings_must_agree_and_the_old_one_is_dropped() {
    assert_eq!(
        run(r#"{"user_pid":"u1","user_id":"u1","name":"x"}"#)
            .unwrap()
            .as_deref(),
        Some(r#"{"user_id":"u1","name":"x"}"#)
    );
    assert_eq!(
        run(r#"{"name":"x", "user_id":"u1" , "user_pid" : "u1" }"#)
            .unwrap()
            .as_deref(),
        Some(r#"{"name":"x", "user_id":"u1"  }"#)
    );
    let conflict = run(r#"{"user_pid":"u1","user_id":"u2"}"#).unwrap_err();
    assert_eq!(conflict.code, "renameConflict");
    assert_eq!(conflict.field, "/user_pid");
    assert!(run(r#"{"user_pid":null,"user_id":"u2"}"#).is_err());
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-z\"\\\\{}\\[\\],: é]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// For any body of the reset endpoint's shape, written with any spacing, the forwarded
    /// bytes are the sent bytes with `"user_pid"` spelled `"user_id"`, nothing else changed.
    #[test]
    fn forwarded_bytes_equal_sent_bytes_but_the_renamed_key(
        name in prop::option::of(value()),
        email in prop::option::of(value()),
        pid in value(),
        extra in prop::collection::btree_map("[a-z]{1,6}", value(), 0..3),
        pretty in any::<bool>(),
        order in 0usize..4,
    ) {
        let mut members: Vec<(String, Value)> = extra.into_iter().filter(|(k, _)| k != "user_id").collect();
        if let Some(n) = name { members.push(("name".into(), n)); }
        if let Some(e) = email { members.push(("email".into(), e)); }
        let at = order.min(members.len());
        members.insert(at, ("user_pid".into(), pid));
        let sep = if pretty { ",\n  " } else { "," };
        let body = format!(
            "{{{}}}",
            members
                .iter()
                .map(|(k, v)| format!("{}:{}{}", serde_json::to_string(k).unwrap(), if pretty { " " } else { "" }, serde_json::to_string(v).unwrap()))
                .collect::<Vec<_>>()
                .join(sep)
        );
        let out = run(&body).unwrap().unwrap();
        prop_assert_eq!(out, body.replacen("\"user_pid\"", "\"user_id\"", 1));
    }
}

proptest! {
    /// Through the real reset route (the built-in description and rules): every valid body of
    /// `POST /v2/api/dialing-queues/current` written with the old spelling passes the check,
    /// and what is forwarded is what was sent with `"user_pid"` spelled `"user_id"`.
    #[test]
    fn valid_reset_bodies_are_forwarded_renamed_and_otherwise_as_sent(
        name in prop::option::of(prop_oneof![Just(None), "[a-zA-Zé ]{0,255}".prop_map(Some)]),
        email in prop::option::of(prop_oneof![Just(None), "[a-z]{1,8}@[a-z]{1,8}\\.(com|fr)".prop_map(Some)]),
        pid in prop_oneof![Just(None), "usr-[a-zA-Z0-9]{1,12}".prop_map(Some)],
        spaced in any::<bool>(),
        at in 0usize..3,
    ) {
        use crate::config::UnknownFields;
        use crate::routes::{Match, RouteTable};
        static TABLE: std::sync::OnceLock<RouteTable> = std::sync::OnceLock::new();
        let table = TABLE.get_or_init(|| RouteTable::builtin(UnknownFields::Reject).unwrap());
        let Match::Found(reset) = table.find(&http::Method::POST, "/v2/api/dialing-queues/current") else {
            panic!("no reset route");
        };
        let mut members: Vec<(&str, Option<String>)> = Vec::new();
        if let Some(n) = name { members.push(("name", n)); }
        if let Some(e) = email { members.push(("email", e)); }
        members.insert(at.min(members.len()), ("user_pid", pid));
        let sep = if spaced { " ,\n " } else { "," };
        let body = format!(
            "{{{}}}",
            members
                .iter()
                .map(|(k, v)| format!("\"{k}\":{}", serde_json::to_string(v).unwrap()))
                .collect::<Vec<_>>()
                .join(sep)
        );
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        let checked = crate::validate::check_body(reset, &headers, &bytes::Bytes::from(body.clone()));
        prop_assert!(checked.result.is_ok(), "{body}: {:?}", checked.result);
        let forwarded = checked.rewritten.expect("the old spelling is renamed");
        prop_assert_eq!(
            std::str::from_utf8(&forwarded).unwrap(),
            body.replacen("\"user_pid\"", "\"user_id\"", 1)
        );
    }
}
