//! The config most integration tests run on: one team with a generous budget, its key from an
//! environment variable, and one unrestricted caller (`crm-sync`). Tests say only what
//! differs: lines under `[server]`, lines after `[upstream]` (further `[upstream]` keys, or
//! whole sections such as `[routes]`).

use super::sha256_hex;

pub fn one_caller(upstream: &str, server: &str, after_upstream: &str, key_env: &str, token: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
{server}
[upstream]
url = "{upstream}"
request_timeout = "10s"
connect_timeout = "1s"
{after_upstream}
[[teams]]
id = "sales"
api_key = {{ env = "{key_env}" }}
read_per_second = 1000
write_per_second = 1000
[[callers]]
id = "crm-sync"
team = "sales"
token_sha256 = "{}"
"#,
        sha256_hex(token)
    )
}
