//! A YAML API description read into the same JSON value a JSON one gives: mappings with
//! string keys, sequences, and scalars typed as YAML 1.2's core schema types them. Anchors and
//! aliases are expanded by the loader; a document that is not one mapping is refused.

use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// Deeper nesting than this is no API description (and would overflow the stack).
const MAX_DEPTH: usize = 256;

pub fn to_json(text: &str) -> Result<Value, String> {
    let mut docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    if docs.len() != 1 {
        return Err(format!("expected one YAML document, found {}", docs.len()));
    }
    convert(docs.remove(0), 0)
}

fn convert(yaml: Yaml, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("nested deeper than {MAX_DEPTH} levels"));
    }
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::from(i),
        Yaml::Real(text) => match text.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Value::Number(n),
            None => Value::String(text),
        },
        Yaml::String(s) => Value::String(s),
        Yaml::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| convert(item, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Hash(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let key = match key {
                    Yaml::String(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    // OpenAPI keys status codes and paths; anything else is not a key it uses.
                    other => return Err(format!("a mapping key is not a string: {other:?}")),
                };
                map.insert(key, convert(value, depth + 1)?);
            }
            Value::Object(map)
        }
        Yaml::Alias(_) | Yaml::BadValue => return Err("the YAML has an unresolved alias or a bad value".into()),
    })
}
