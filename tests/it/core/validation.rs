//! Bodies and queries: valid reset bodies forwarded byte for byte, invalid ones refused with
//! the field named and never sent, content type and size bounds, query validation.

use super::*;

#[tokio::test]
async fn valid_reset_bodies_are_forwarded_byte_identical() {
    let up = Capture::start().await;
    let gw = start(&up.url());
    let auth = bearer(SALES_TOKEN);
    let long_name = format!(r#"{{"name":"{}"}}"#, "é".repeat(255));
    let bodies: Vec<String> = vec![
        String::new(),
        "{}".into(),
        r#"{"name":"Monday cold calls"}"#.into(),
        long_name,
        r#"{"user_pid":"usr-abc","email":"ana@example.com"}"#.into(),
        r#"{"user_pid":"usr-abc","user_id":"usr-abc","name":null}"#.into(),
        "  {\n \"name\" : \"spaced\" }\n".into(),
    ];
    for body in &bodies {
        let mut headers = vec![("authorization", auth.as_str())];
        if !body.is_empty() {
            headers.push(("content-type", "application/json; charset=utf-8"));
        }
        let r = send(gw.addr, "POST", RESET, &headers, body.clone()).await;
        assert_eq!(r.status, 200, "{body}: {}", r.text());
    }
    let got = up.taken();
    assert_eq!(got.len(), bodies.len());
    // Allo's current pages know only `user_id`: the older spelling arrives renamed, and a second
    // spelling of one value is dropped; every other byte is as sent.
    let forwarded: Vec<String> = bodies
        .iter()
        .map(|b| {
            b.replace(r#""user_pid":"usr-abc","user_id""#, r#""user_id""#)
                .replace(r#""user_pid""#, r#""user_id""#)
        })
        .collect();
    assert_eq!(forwarded[4], r#"{"user_id":"usr-abc","email":"ana@example.com"}"#);
    assert_eq!(forwarded[5], r#"{"user_id":"usr-abc","name":null}"#);
    for (c, body) in got.iter().zip(&forwarded) {
        assert_eq!(c.body.as_ref(), body.as_bytes());
        assert_eq!(c.method, "POST");
        assert_eq!(c.target, RESET);
        assert_eq!(c.all("content-length"), vec![body.len().to_string()]);
    }
}

#[tokio::test]
async fn invalid_reset_bodies_are_refused_with_the_field_named() {
    let up = Capture::start().await;
    let gw = start(&up.url());
    let name_256 = format!(r#"{{"name":"{}"}}"#, "a".repeat(256));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (name_256.into_bytes(), "/name"),
        (br#"{"email":"not-an-email"}"#.to_vec(), "/email"),
        (br#"{"name":123}"#.to_vec(), "/name"),
        (br#"{"nmae":"typo"}"#.to_vec(), "/nmae"),
        (br#"{"name":"a","name":"b"}"#.to_vec(), "/name"),
        (br#"{"name":"a"} {"name":"b"}"#.to_vec(), ""),
        (b"{\"name\":\"\xff\xfe\"}".to_vec(), ""),
        (br#"{"name":"\udc00"}"#.to_vec(), "/name"),
        (br#"{"user_pid":"usr-a","user_id":"usr-b"}"#.to_vec(), "/user_pid"),
    ];
    for (body, field) in &cases {
        let r = gw.post(RESET).bearer(SALES_TOKEN).json(body).send().await;
        let shown = String::from_utf8_lossy(body);
        assert_eq!(r.status, 400, "{shown}: {}", r.text());
        assert_eq!(r.gateway_error().as_deref(), Some("INVALID_REQUEST_BODY"), "{shown}");
        let e = &r.json()["error"];
        assert_eq!(e["code"], "INVALID_REQUEST_BODY");
        assert_eq!(e["type"], "validation_error");
        assert!(
            r.error_fields().contains(&field.to_string()),
            "{shown}: {:?}",
            r.error_fields()
        );
    }
    // The 256-character name: the message names the field, the rule and the size, not the value.
    let r = gw
        .post(RESET)
        .bearer(SALES_TOKEN)
        .json(format!(r#"{{"name":"{}"}}"#, "a".repeat(300)))
        .send()
        .await;
    let e = &r.json()["error"];
    assert_eq!(e["param"], "name");
    assert_eq!(e["message"], "name: must be at most 255 characters (got 300)");
    assert_eq!(e["errors"][0]["code"], "maxLength");
    // Every violation is listed, not only the first.
    let r = gw
        .post(RESET)
        .bearer(SALES_TOKEN)
        .json(r#"{"name":1,"email":"x","zzz":true}"#)
        .send()
        .await;
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["/email", "/name", "/zzz"]);
    assert_eq!(up.count(), 0, "an invalid request reached the upstream");
}

#[tokio::test]
async fn content_type_and_size_bounds() {
    let up = Capture::start().await;
    let gw = start_config(config(&up.url()).server("max_body_bytes", 1024));
    let auth = bearer(SALES_TOKEN);
    let r = send(
        gw.addr,
        "POST",
        RESET,
        &[("authorization", &auth), ("content-type", "text/plain")],
        "{}",
    )
    .await;
    assert_eq!(r.refusal(), (415, Some("UNSUPPORTED_MEDIA_TYPE".into())));
    let r = gw.post(RESET).bearer(SALES_TOKEN).body("{}").send().await;
    assert_eq!(r.status, 415);
    let big = format!(r#"{{"name":"{}"}}"#, "a".repeat(2000));
    let r = gw.post(RESET).bearer(SALES_TOKEN).json(big).send().await;
    assert_eq!(r.refusal(), (413, Some("PAYLOAD_TOO_LARGE".into())));
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn query_strings_are_validated() {
    let up = Capture::start().await;
    let gw = start(&up.url());
    let r = gw
        .request("DELETE", "/v2/api/dialing-queues/current/numbers?position=-1")
        .bearer(SALES_TOKEN)
        .send()
        .await;
    assert_eq!(
        (r.status, r.gateway_error().as_deref()),
        (400, Some("INVALID_QUERY_PARAMETER")),
        "{}",
        r.text()
    );
    assert_eq!(r.error_fields(), vec!["/position"]);
    let r = gw.get("/v2/api/users?role=OWNER").bearer(SALES_TOKEN).send().await;
    assert_eq!(r.status, 400);
    let r = gw.get("/v2/api/users?page=2").bearer(SALES_TOKEN).send().await;
    assert_eq!(r.status, 400);
    assert_eq!(up.count(), 0);
    let r = gw
        .request("DELETE", "/v2/api/dialing-queues/current/numbers?position=3")
        .bearer(SALES_TOKEN)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        up.taken()[0].target,
        "/v2/api/dialing-queues/current/numbers?position=3"
    );
}
