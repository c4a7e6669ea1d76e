//! The template language of API definitions, pure (no IO).
//!
//! A template is JSON. A string that is exactly `{ref}` is replaced by the
//! referenced value, keeping its JSON type; a string with `{ref}`s inside text
//! is interpolated into a string; everything else is a literal. References:
//!
//! | ref | value |
//! | --- | --- |
//! | `name` or `path.name` | a path segment captured by `{name}` in the route's path (text) |
//! | `query.name` | a query parameter (text) |
//! | `header.name` | a request header, case-insensitive (text) |
//! | `body` / `body.a.b` | the JSON request body / a field of it (any JSON) |
//! | `result` / `result.a` | in responses: the returned value (a WIT `result`'s `ok` payload) |
//! | `error` / `error.a` | in responses: the error (`{kind, message}`, or a WIT `result`'s `err` payload) |
//!
//! Text values (path, query, header) filling a number or bool parameter are
//! converted (`"5"` → `5`); [`check`] refuses, at deploy time, text filling a
//! record or list and templates that do not fit the parameter's shape.

use std::collections::HashMap;

use revenant_components::WitShape;
use serde_json::Value;

/// Where a value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    Path(String),
    Query(String),
    Header(String),
    Body(Vec<String>),
    Result(Vec<String>),
    Error(Vec<String>),
}

impl Ref {
    /// Parses the inside of `{…}`.
    pub fn parse(s: &str) -> Result<Ref, String> {
        let s = s.trim();
        let (head, rest) = s.split_once('.').unwrap_or((s, ""));
        let fields = || -> Vec<String> {
            if rest.is_empty() {
                vec![]
            } else {
                rest.split('.').map(str::to_owned).collect()
            }
        };
        let one = |what: &str| {
            if rest.is_empty() {
                Err(format!("`{{{s}}}`: name the {what}, e.g. `{{{head}.id}}`"))
            } else {
                Ok(rest.to_owned())
            }
        };
        Ok(match head {
            "path" => Ref::Path(one("path parameter")?),
            "query" => Ref::Query(one("query parameter")?),
            "header" => Ref::Header(one("header")?.to_ascii_lowercase()),
            "body" => Ref::Body(fields()),
            "result" => Ref::Result(fields()),
            "error" => Ref::Error(fields()),
            name if rest.is_empty() && !name.is_empty() => Ref::Path(name.to_owned()),
            _ => {
                return Err(format!(
                    "`{{{s}}}` is not a reference; use a path parameter name, path.<name>, query.<name>, header.<name>, body[.<field>…], result[.<field>…] or error[.<field>…]"
                ));
            }
        })
    }

    /// Path, query and header values are text.
    pub fn is_text(&self) -> bool {
        matches!(self, Ref::Path(_) | Ref::Query(_) | Ref::Header(_))
    }

    /// Only available when rendering a response.
    pub fn is_response_only(&self) -> bool {
        matches!(self, Ref::Result(_) | Ref::Error(_))
    }
}

/// `Some(inner)` when `s` is exactly one `{ref}`.
pub fn whole_ref(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('{')?.strip_suffix('}')?;
    (!inner.contains(['{', '}'])).then_some(inner)
}

/// Every `{ref}` inside a string, in order; an error for unbalanced braces.
pub fn refs_in(s: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err(format!("unbalanced `}}` in {s:?}"));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed `{{` in {s:?}"))?;
        if after[..close].contains('{') {
            return Err(format!("nested `{{` in {s:?}"));
        }
        out.push(&after[..close]);
        rest = &after[close + 1..];
    }
    Ok(out)
}

/// What a request (and, for responses, the outcome) offers to templates.
#[derive(Debug, Clone, Default)]
pub struct Data {
    pub path: HashMap<String, String>,
    pub query: HashMap<String, String>,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    pub body: Option<Value>,
    pub result: Option<Value>,
    pub error: Option<Value>,
}

fn dig(v: Option<&Value>, fields: &[String]) -> Option<Value> {
    let mut v = v?;
    for f in fields {
        v = v.get(f.as_str())?;
    }
    Some(v.clone())
}

impl Data {
    /// The referenced value; `None` when absent.
    pub fn lookup(&self, r: &Ref) -> Option<Value> {
        match r {
            Ref::Path(n) => self.path.get(n).cloned().map(Value::String),
            Ref::Query(n) => self.query.get(n).cloned().map(Value::String),
            Ref::Header(n) => self.headers.get(n).cloned().map(Value::String),
            Ref::Body(f) => dig(self.body.as_ref(), f),
            Ref::Result(f) => dig(self.result.as_ref(), f),
            Ref::Error(f) => dig(self.error.as_ref(), f),
        }
    }
}

fn describe(r: &str) -> String {
    match Ref::parse(r) {
        Ok(Ref::Body(f)) if !f.is_empty() => format!("body field `{}`", f.join(".")),
        Ok(Ref::Body(_)) => "the JSON body".into(),
        Ok(Ref::Path(n)) => format!("path parameter `{n}`"),
        Ok(Ref::Query(n)) => format!("query parameter `{n}`"),
        Ok(Ref::Header(n)) => format!("header `{n}`"),
        _ => format!("`{{{r}}}`"),
    }
}

/// Converts text to the scalar `shape` wants.
fn coerce(text: String, shape: Option<&WitShape>, what: &str) -> Result<Value, String> {
    match shape {
        Some(WitShape::Option(inner)) => coerce(text, Some(inner), what),
        Some(WitShape::Integer) => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.trim().parse::<u64>().map(Value::from))
            .map_err(|_| format!("{what} is {text:?}; expected an integer")),
        Some(WitShape::Float) => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("{what} is {text:?}; expected a number")),
        Some(WitShape::Bool) => match text.as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("{what} is {text:?}; expected true or false")),
        },
        _ => Ok(Value::String(text)),
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn field_shape<'a>(shape: Option<&'a WitShape>, name: &str) -> Option<&'a WitShape> {
    match shape? {
        WitShape::Option(inner) => field_shape(Some(inner), name),
        WitShape::Record(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, s)| s),
        _ => None,
    }
}

fn item_shape(shape: Option<&WitShape>) -> Option<&WitShape> {
    match shape? {
        WitShape::Option(inner) => item_shape(Some(inner)),
        WitShape::List(inner) => Some(inner),
        _ => None,
    }
}

/// Fills `template` from `data`; `shape` (when known) drives text conversion and
/// lets an absent value become `null` for an `option`.
pub fn eval(template: &Value, shape: Option<&WitShape>, data: &Data) -> Result<Value, String> {
    match template {
        Value::String(s) => {
            if let Some(r) = whole_ref(s) {
                let parsed = Ref::parse(r)?;
                return match data.lookup(&parsed) {
                    Some(Value::String(t)) if parsed.is_text() => coerce(t, shape, &describe(r)),
                    Some(v) => Ok(v),
                    None if matches!(shape, Some(WitShape::Option(_))) => Ok(Value::Null),
                    None => Err(format!("missing {}", describe(r))),
                };
            }
            let mut out = String::new();
            let mut rest = s.as_str();
            for r in refs_in(s)? {
                let marker = format!("{{{r}}}");
                let at = rest.find(&marker).unwrap_or(rest.len());
                out.push_str(&rest[..at]);
                let v = data
                    .lookup(&Ref::parse(r)?)
                    .ok_or_else(|| format!("missing {}", describe(r)))?;
                out.push_str(&text_of(&v));
                rest = &rest[(at + marker.len()).min(rest.len())..];
            }
            out.push_str(rest);
            Ok(Value::String(out))
        }
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, t) in map {
                out.insert(k.clone(), eval(t, field_shape(shape, k), data)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|t| eval(t, item_shape(shape), data))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        literal => Ok(literal.clone()),
    }
}

fn unwrap_option(shape: &WitShape) -> &WitShape {
    match shape {
        WitShape::Option(inner) => unwrap_option(inner),
        other => other,
    }
}

/// Deploy-time check of `template` against `shape` at `at` (for messages);
/// `path_params` are the names the route's path captures.
pub fn check(
    template: &Value,
    shape: &WitShape,
    at: &str,
    path_params: &[String],
) -> Result<(), String> {
    let want = unwrap_option(shape);
    let scalar = matches!(
        want,
        WitShape::Bool
            | WitShape::Integer
            | WitShape::Float
            | WitShape::Char
            | WitShape::String
            | WitShape::Other(_)
    );
    let mismatch = |what: &str| {
        Err(format!(
            "{at}: {what} cannot fill a value of type {}",
            shape.describe()
        ))
    };
    match template {
        Value::String(s) => {
            if let Some(r) = whole_ref(s) {
                let parsed = check_ref(r, path_params, false)?;
                if parsed.is_text() && !scalar {
                    return mismatch(&format!("{} (text)", describe(r)));
                }
                return Ok(());
            }
            let refs = refs_in(s)?;
            for r in &refs {
                check_ref(r, path_params, false)?;
            }
            match want {
                WitShape::String | WitShape::Char | WitShape::Other(_) => Ok(()),
                _ if refs.is_empty() => mismatch(&format!("the string {s:?}")),
                _ => mismatch(&format!("the text template {s:?}")),
            }
        }
        Value::Object(map) => match want {
            WitShape::Other(_) => Ok(()),
            WitShape::Record(fields) => {
                for k in map.keys() {
                    if !fields.iter().any(|(n, _)| n == k) {
                        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
                        return Err(format!(
                            "{at}: {} has no field `{k}`; its fields are: {}",
                            shape.describe(),
                            names.join(", ")
                        ));
                    }
                }
                for (name, field) in fields {
                    match map.get(name) {
                        Some(t) => check(t, field, &format!("{at}.{name}"), path_params)?,
                        None if matches!(field, WitShape::Option(_)) => {}
                        None => {
                            return Err(format!(
                                "{at}: field `{name}` ({}) has no value",
                                field.describe()
                            ));
                        }
                    }
                }
                Ok(())
            }
            _ => mismatch("an object"),
        },
        Value::Array(items) => match want {
            WitShape::Other(_) => Ok(()),
            WitShape::List(inner) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, t)| check(t, inner, &format!("{at}[{i}]"), path_params)),
            _ => mismatch("an array"),
        },
        Value::Number(_) => match want {
            WitShape::Integer | WitShape::Float | WitShape::Other(_) => Ok(()),
            _ => mismatch("a number"),
        },
        Value::Bool(_) => match want {
            WitShape::Bool | WitShape::Other(_) => Ok(()),
            _ => mismatch("a boolean"),
        },
        Value::Null => match shape {
            WitShape::Option(_) | WitShape::Other(_) => Ok(()),
            _ => mismatch("null"),
        },
    }
}

/// Checks one reference: it parses, names a captured path parameter, and is
/// allowed where it is (`result` / `error` only in responses).
pub fn check_ref(r: &str, path_params: &[String], in_response: bool) -> Result<Ref, String> {
    let parsed = Ref::parse(r)?;
    if let Ref::Path(name) = &parsed
        && !path_params.contains(name)
    {
        return Err(format!(
            "`{{{r}}}` names no path parameter; the path captures: {}",
            if path_params.is_empty() {
                "(none)".to_owned()
            } else {
                path_params.join(", ")
            }
        ));
    }
    if parsed.is_response_only() && !in_response {
        return Err(format!("`{{{r}}}` is only available in responses"));
    }
    Ok(parsed)
}
