//! Allo's description of a key (`GET /v2/api/me`, `MeResponse` in the API description) and
//! what its answer says about the key: 200 with a readable description, valid with those
//! scopes; 401 or 403, refused; anything else (a 5xx, a 429, an answer that is not a
//! description), the key's state is unknown. Pure functions of a status and body bytes, so they
//! are tested without sockets; asking is `keycheck`'s job.

use http::StatusCode;
use serde::Deserialize;

/// The fields of `MeResponse` the gateway reads. Others (Allo adds fields, the sandbox adds
/// `user`) are ignored; missing or null lists are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Me {
    #[serde(default)]
    pub api_key_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub scopes: Vec<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub endpoints: Vec<MeEndpoint>,
    #[serde(default)]
    pub team: Option<MeTeam>,
}

/// One endpoint the key may call, as Allo lists it (a path template such as
/// `/v2/api/users/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct MeEndpoint {
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub scope: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct MeTeam {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// Why a check could not tell whether the key is good.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("Allo could not be asked")]
    Upstream(#[source] crate::upstream::UpstreamError),
    #[error("Allo's answer could not be read")]
    Body(#[source] crate::body::BoxError),
    #[error("Allo's answer did not arrive within {0:?}")]
    BodyTimeout(std::time::Duration),
    #[error("Allo answered {0}")]
    Status(StatusCode),
    #[error("Allo's answer is not a description of the key")]
    Unreadable(#[source] serde_json::Error),
}

/// What an answer says about the key.
#[derive(Debug)]
pub enum Verdict {
    Valid(Me),
    /// Allo refused the key: its status and, if its envelope names one, its code.
    Invalid {
        status: StatusCode,
        code: Option<String>,
    },
    Unknown(CheckError),
}

/// Reads Allo's answer to `GET /v2/api/me`.
pub fn judge(status: StatusCode, body: &[u8]) -> Verdict {
    match status {
        StatusCode::OK => match parse(body) {
            Ok(me) => Verdict::Valid(me),
            Err(e) => Verdict::Unknown(CheckError::Unreadable(e)),
        },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Verdict::Invalid {
            status,
            code: crate::envelope::allo_error_code(body),
        },
        _ => Verdict::Unknown(CheckError::Status(status)),
    }
}

/// The description, bare or in Allo's `{"data": {...}}` wrapper.
fn parse(body: &[u8]) -> Result<Me, serde_json::Error> {
    let mut value: serde_json::Value = serde_json::from_slice(body)?;
    if let Some(data) = value.get_mut("data").filter(|d| d.is_object()) {
        value = data.take();
    }
    serde_json::from_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = r#"{"api_key_id":"key_1","scopes":["USERS_READ"],
        "endpoints":[{"method":"GET","path":"/v2/api/users","scope":"USERS_READ"}],
        "team":{"id":"t1","name":"Sales"},"rate_limits":{"read_per_second":20,"write_per_second":5}}"#;

    fn valid(body: &str) -> Me {
        match judge(StatusCode::OK, body.as_bytes()) {
            Verdict::Valid(me) => me,
            other => panic!("not valid: {other:?}"),
        }
    }

    #[test]
    fn reads_the_description_bare_or_wrapped() {
        let bare = valid(ME);
        assert_eq!(bare.scopes, ["USERS_READ"]);
        assert_eq!(bare.endpoints[0].path, "/v2/api/users");
        assert_eq!(bare.team.as_ref().and_then(|t| t.name.as_deref()), Some("Sales"));
        assert_eq!(valid(&format!(r#"{{"data":{ME}}}"#)), bare);
        let sparse = valid(r#"{"data":{"scopes":null,"extra":1}}"#);
        assert!(sparse.scopes.is_empty() && sparse.endpoints.is_empty());
    }

    #[test]
    fn refusals_and_failures() {
        let refused = judge(
            StatusCode::UNAUTHORIZED,
            br#"{"error":{"type":"authentication_error","code":"API_KEY_INVALID"}}"#,
        );
        assert!(matches!(refused, Verdict::Invalid { code: Some(ref c), .. } if c == "API_KEY_INVALID"));
        assert!(matches!(
            judge(StatusCode::FORBIDDEN, b"<html>"),
            Verdict::Invalid { code: None, .. }
        ));
        assert!(matches!(
            judge(StatusCode::BAD_GATEWAY, b""),
            Verdict::Unknown(CheckError::Status(_))
        ));
        assert!(matches!(
            judge(StatusCode::OK, b"not json"),
            Verdict::Unknown(CheckError::Unreadable(_))
        ));
        assert!(matches!(
            judge(StatusCode::OK, br#"{"scopes":"USERS_READ"}"#),
            Verdict::Unknown(CheckError::Unreadable(_))
        ));
    }

    #[test]
    fn a_strange_code_is_not_repeated() {
        assert_eq!(crate::envelope::allo_error_code(br#"{"code":"a b\n c"}"#), None);
        assert_eq!(
            crate::envelope::allo_error_code(br#"{"code":"API_KEY_REVOKED"}"#),
            Some("API_KEY_REVOKED".into())
        );
    }
}
