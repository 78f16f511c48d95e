//! Reads typed settings out of a JSON value tree, collecting every problem with its path.
//!
//! The same reader serves YAML files and the add-on's options.json (both become a
//! `serde_json::Value` first), so there is exactly one schema: the code that reads it. Every
//! field read is also recorded with its type and default, which is what the add-on manifest and
//! the configuration reference are checked against.
//!
//! It sits below everything that reads YAML (the configuration and the Modbus profiles), so both
//! use it without using each other.

pub mod yaml;

use std::cell::RefCell;
use std::fmt;

use serde_json::{Map, Value};

use crate::redact::{is_secret, shown};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

/// Errors echo what was found, and what was found may hold a password in a URL or control
/// characters; both are made safe here, where every error is shown.
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = shown(&self.message);
        if self.path.is_empty() {
            write!(f, "{message}")
        } else {
            write!(f, "{}: {message}", shown(&self.path))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Str,
    Bool,
    Int,
    Float,
    Choice(&'static [&'static str]),
    Section,
    List,
}

/// One field of the schema as the reader saw it: `meters[].baud`, int, default 9600.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub pattern: String,
    pub ty: FieldType,
    pub default: Option<String>,
}

#[derive(Debug, Default)]
pub struct Ctx {
    errors: RefCell<Vec<ConfigError>>,
    fields: RefCell<Vec<Field>>,
}

impl Ctx {
    pub fn error(&self, path: &str, message: impl Into<String>) {
        self.errors.borrow_mut().push(ConfigError {
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// Errors so far; lets a reader drop an item whose own errors are already reported.
    pub fn error_count(&self) -> usize {
        self.errors.borrow().len()
    }

    pub fn into_parts(self) -> (Vec<ConfigError>, Vec<Field>) {
        (self.errors.into_inner(), self.fields.into_inner())
    }

    fn record(&self, pattern: String, ty: FieldType, default: Option<String>) {
        let mut fields = self.fields.borrow_mut();
        if !fields.iter().any(|f| f.pattern == pattern) {
            fields.push(Field {
                pattern,
                ty,
                default,
            });
        }
    }
}

/// A mapping in the tree (or a missing one, which reads as all defaults).
pub struct Section<'a> {
    ctx: &'a Ctx,
    path: String,
    pattern: String,
    map: Option<&'a Map<String, Value>>,
    used: RefCell<Vec<String>>,
}

impl<'a> Section<'a> {
    pub fn root(ctx: &'a Ctx, value: &'a Value) -> Self {
        let map = value.as_object();
        if map.is_none() && !value.is_null() {
            ctx.error("", "the configuration must be a mapping of keys to values");
        }
        Self {
            ctx,
            path: String::new(),
            pattern: String::new(),
            map,
            used: RefCell::default(),
        }
    }

    pub fn ctx(&self) -> &'a Ctx {
        self.ctx
    }

    pub fn path_of(&self, key: &str) -> String {
        match (self.path.is_empty(), key.is_empty()) {
            (true, _) => key.to_string(),
            (false, true) => self.path.clone(),
            (false, false) => format!("{}.{key}", self.path),
        }
    }

    fn pattern_of(&self, key: &str) -> String {
        if self.pattern.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.pattern)
        }
    }

    pub fn has(&self, key: &'static str) -> bool {
        self.map
            .and_then(|m| m.get(key))
            .is_some_and(|v| !v.is_null())
    }

    /// The raw value of `key`; null counts as absent.
    fn get(&self, key: &'static str, ty: FieldType, default: Option<String>) -> Option<&'a Value> {
        self.used.borrow_mut().push(key.to_string());
        self.ctx.record(self.pattern_of(key), ty, default);
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    fn bad(&self, key: &str, expected: &str, got: &Value) {
        let got = if is_secret(key) {
            "something else (not shown, it is a secret)".to_string()
        } else {
            describe(got)
        };
        self.ctx.error(
            &self.path_of(key),
            format!("expected {expected}, got {got}"),
        );
    }

    pub fn opt_string(&self, key: &'static str) -> Option<String> {
        let v = self.get(key, FieldType::Str, None)?;
        match v {
            Value::String(s) if s.trim().is_empty() => None,
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            other => {
                self.bad(key, "text", other);
                None
            }
        }
    }

    pub fn string(&self, key: &'static str, default: &str) -> String {
        self.ctx
            .record(self.pattern_of(key), FieldType::Str, Some(default.into()));
        self.opt_string(key).unwrap_or_else(|| default.to_string())
    }

    pub fn bool(&self, key: &'static str, default: bool) -> bool {
        match self.get(key, FieldType::Bool, Some(default.to_string())) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.bad(key, "true or false", other);
                default
            }
        }
    }

    fn number(&self, key: &'static str, ty: FieldType, default: Option<String>) -> Option<f64> {
        match self.get(key, ty, default)? {
            Value::Number(n) => n.as_f64(),
            // Numbers typed into text fields of the add-on UI arrive as strings.
            Value::String(s) if s.trim().parse::<f64>().is_ok() => s.trim().parse().ok(),
            other => {
                self.bad(key, "a number", other);
                None
            }
        }
    }

    /// A whole number in `min..=max`.
    pub fn opt_int(&self, key: &'static str, min: i64, max: i64) -> Option<i64> {
        self.int_with_default(key, min, max, None)
    }

    pub fn int(&self, key: &'static str, default: i64, min: i64, max: i64) -> i64 {
        self.int_with_default(key, min, max, Some(default))
            .unwrap_or(default)
    }

    fn int_with_default(
        &self,
        key: &'static str,
        min: i64,
        max: i64,
        default: Option<i64>,
    ) -> Option<i64> {
        let v = self.number(key, FieldType::Int, default.map(|d| d.to_string()))?;
        if v.fract() != 0.0 || v < min as f64 || v > max as f64 {
            self.ctx.error(
                &self.path_of(key),
                format!("expected a whole number from {min} to {max}, got {v}"),
            );
            return None;
        }
        Some(v as i64)
    }

    /// A number of seconds in `min..=max`.
    pub fn seconds(&self, key: &'static str, default: f64, min: f64, max: f64) -> f64 {
        let Some(v) = self.number(key, FieldType::Float, Some(default.to_string())) else {
            return default;
        };
        if !(min..=max).contains(&v) {
            self.ctx.error(
                &self.path_of(key),
                format!("expected seconds from {min} to {max}, got {v}"),
            );
            return default;
        }
        v
    }

    pub fn opt_float(&self, key: &'static str, min: f64, max: f64) -> Option<f64> {
        let v = self.number(key, FieldType::Float, None)?;
        if !(min..=max).contains(&v) {
            self.ctx.error(
                &self.path_of(key),
                format!("expected a number from {min} to {max}, got {v}"),
            );
            return None;
        }
        Some(v)
    }

    /// One of a fixed set of words.
    pub fn choice(
        &self,
        key: &'static str,
        options: &'static [&'static str],
        default: &'static str,
    ) -> &'static str {
        let v = self.get(key, FieldType::Choice(options), Some(default.into()));
        // A number among the options (phases: 3) is meant as its text.
        let number = match v {
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let text = match v {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => number.as_deref(),
        };
        match (v, text) {
            (None, _) => default,
            (Some(_), Some(s)) => match options.iter().find(|o| o.eq_ignore_ascii_case(s)) {
                Some(o) => o,
                None => {
                    let list = options.join(", ");
                    self.ctx
                        .error(&self.path_of(key), format!("'{s}' is not one of: {list}"));
                    default
                }
            },
            (Some(other), None) => {
                self.bad(key, &format!("one of {}", options.join(", ")), other);
                default
            }
        }
    }

    /// The keys present, for mappings whose keys are data (SunSpec model ids).
    pub fn raw_keys(&self) -> Vec<String> {
        self.map
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// A nested mapping under a key that is data, not schema.
    pub fn section_dyn(&self, key: &str) -> Section<'a> {
        self.used.borrow_mut().push(key.to_string());
        let v = self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null());
        self.nested(key, v)
    }

    /// The value under a key that is data, not schema.
    pub fn raw_value(&self, key: &str) -> Option<&'a Value> {
        self.used.borrow_mut().push(key.to_string());
        self.map.and_then(|m| m.get(key))
    }

    /// Like [`Section::finish`], for mappings read with [`Section::section_dyn`].
    pub fn finish_dyn(&self) {
        self.finish();
    }

    pub fn section(&self, key: &'static str) -> Section<'a> {
        let v = self.get(key, FieldType::Section, None);
        self.nested(key, v)
    }

    fn nested(&self, key: &str, v: Option<&'a Value>) -> Section<'a> {
        let map = match v {
            None => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                self.bad(key, "a mapping of keys to values", other);
                None
            }
        };
        Section {
            ctx: self.ctx,
            path: self.path_of(key),
            pattern: self.pattern_of(key),
            map,
            used: RefCell::default(),
        }
    }

    pub fn list(&self, key: &'static str) -> Vec<Section<'a>> {
        let items = match self.get(key, FieldType::List, None) {
            None => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.bad(key, "a list", other);
                return Vec::new();
            }
        };
        let pattern = format!("{}[]", self.pattern_of(key));
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("{}[{i}]", self.path_of(key));
                if !item.is_object() {
                    self.ctx.error(
                        &path,
                        format!(
                            "expected a mapping of keys to values, got {}",
                            describe(item)
                        ),
                    );
                }
                Section {
                    ctx: self.ctx,
                    path,
                    pattern: pattern.clone(),
                    map: item.as_object(),
                    used: RefCell::default(),
                }
            })
            .collect()
    }

    /// A list of plain texts, each with its path for errors.
    pub fn strings(&self, key: &'static str) -> Vec<(String, String)> {
        let items = match self.get(key, FieldType::List, None) {
            None => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.bad(key, "a list", other);
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{}[{i}]", self.path_of(key));
            match item {
                Value::String(t) => out.push((path, t.clone())),
                Value::Number(n) => out.push((path, n.to_string())),
                other => self
                    .ctx
                    .error(&path, format!("expected text, got {}", describe(other))),
            }
        }
        out
    }

    pub fn error(&self, key: &str, message: impl Into<String>) {
        self.ctx.error(&self.path_of(key), message);
    }

    /// Reports keys that no reader asked for, with the closest known key as a hint.
    pub fn finish(&self) {
        let Some(map) = self.map else { return };
        let used = self.used.borrow();
        for key in map.keys().filter(|k| !used.contains(k)) {
            let hint = used
                .iter()
                .map(|u| (edit_distance(key, u), u.as_str()))
                .filter(|(d, u)| *d <= 2 || u.contains(key.as_str()) || key.contains(u))
                .min()
                .map(|(_, u)| format!("did you mean '{u}'?"))
                .unwrap_or_else(|| {
                    let mut known: Vec<&str> = used.iter().map(String::as_str).collect();
                    known.sort_unstable();
                    known.dedup();
                    format!("known keys here: {}", known.join(", "))
                });
            self.ctx
                .error(&self.path_of(key), format!("unknown key; {hint}"));
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the text '{s}'"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
