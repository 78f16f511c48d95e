//! YAML text to the JSON value tree the reader works on.

use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

pub fn to_json(text: &str) -> Result<Value, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    match docs.into_iter().next() {
        None => Ok(Value::Null),
        Some(doc) => convert(doc, ""),
    }
}

fn convert(y: Yaml, path: &str) -> Result<Value, String> {
    Ok(match y {
        Yaml::Null | Yaml::BadValue => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::Number(i.into()),
        Yaml::Real(r) => match r.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Value::Number(n),
            None => Value::String(r),
        },
        Yaml::String(s) => Value::String(s),
        Yaml::Array(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| convert(v, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Hash(hash) => {
            let mut map = Map::new();
            for (k, v) in hash {
                let key = match k {
                    Yaml::String(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    other => return Err(format!("{path}: keys must be text, found {other:?}")),
                };
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                map.insert(key, convert(v, &child)?);
            }
            Value::Object(map)
        }
        Yaml::Alias(_) => return Err(format!("{path}: YAML aliases are not supported")),
    })
}
