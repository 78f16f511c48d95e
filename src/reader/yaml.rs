//! YAML text to the JSON value tree the reader works on.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;
use yaml_rust2::{Yaml, YamlLoader};

/// A configuration or a profile is a few KiB; anything past this is the wrong file.
pub const MAX_BYTES: usize = 1 << 20;
/// Values in a document after its aliases are expanded. A real configuration has a few hundred;
/// a few hundred bytes of nested aliases expand to billions and would exhaust memory.
const MAX_VALUES: u64 = 100_000;

pub fn to_json(text: &str) -> Result<Value, String> {
    // Editors on Windows start files with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.len() > MAX_BYTES {
        return Err(format!(
            "is {} KiB; a configuration is at most {} KiB. Is it the right file?",
            text.len() / 1024,
            MAX_BYTES / 1024
        ));
    }
    let mut size = Size::default();
    Parser::new_from_str(text)
        .load(&mut size, true)
        .map_err(|e| format!("not valid YAML: {e}"))?;
    if size.total > MAX_VALUES {
        return Err(format!(
            "expands to more than {MAX_VALUES} values through nested aliases (&name ... *name); \
             write the values out instead"
        ));
    }
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

/// Counts the values a YAML stream holds once its aliases are expanded, from the parser's
/// events, before anything is built.
#[derive(Default)]
struct Size {
    total: u64,
    /// Values under each anchor id.
    anchors: HashMap<usize, u64>,
    /// Containers not yet closed: their anchor id and the count when they opened.
    open: Vec<(usize, u64)>,
}

impl MarkedEventReceiver for Size {
    fn on_event(&mut self, event: Event, _mark: Marker) {
        match event {
            Event::Scalar(_, _, anchor, _) => {
                self.total = self.total.saturating_add(1);
                if anchor > 0 {
                    self.anchors.insert(anchor, 1);
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                self.open.push((anchor, self.total));
                self.total = self.total.saturating_add(1);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, start)) = self.open.pop()
                    && anchor > 0
                {
                    self.anchors.insert(anchor, self.total - start);
                }
            }
            Event::Alias(anchor) => {
                let size = self.anchors.get(&anchor).copied().unwrap_or(1);
                self.total = self.total.saturating_add(size);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_expand_within_bounds() {
        let text = "base: &b {min_interval: 1, heartbeat: 60}\na: *b\nb: *b\n";
        let v = to_json(text).unwrap();
        assert_eq!(v["b"]["heartbeat"], 60);
    }

    #[test]
    fn nested_aliases_that_would_exhaust_memory_are_refused() {
        // Nine levels of nine: 9^9 = 387 million values from 342 bytes.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = to_json(&text).unwrap_err();
        assert!(
            err.starts_with("expands to more than 100000 values"),
            "{err}"
        );
    }

    #[test]
    fn a_byte_order_mark_is_accepted() {
        assert_eq!(to_json("\u{feff}a: 1\n").unwrap()["a"], 1);
    }
}
