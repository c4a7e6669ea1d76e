//! The API-definition format (YAML or JSON) and its pure compilation: path
//! patterns, validation of every route against the target function's
//! parameters, matching a request to a route. No IO: the caller supplies the
//! export and its parameter shapes (see [`super::deploy`]).
//!
//! ```yaml
//! name: shopping-cart
//! routes:
//!   - method: POST
//!     path: /{user}/add-item
//!     component: shopping-cart
//!     worker: cart-{user}
//!     function: add-item
//!     args:
//!       item:
//!         product-id: "{body.product-id}"
//!         name: "{body.name}"
//!         price: "{body.price}"
//!         quantity: "{body.quantity}"
//!     response:
//!       ok: { status: 200, body: "{result}" }
//!       error: { status: 422, body: { error: "{error}" } }
//! ```

use revenant_components::WitShape;
use revenant_types::records::ExportedFunction;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::template::{self, check_ref, refs_in};

/// One API: a named set of routes, deployed and deleted together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ApiDefinition {
    /// `[A-Za-z0-9_-]{1,128}`.
    pub name: String,
    pub routes: Vec<RouteDef>,
}

/// A file holds one definition or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ApiFile {
    One(ApiDefinition),
    Many(Vec<ApiDefinition>),
}

impl ApiFile {
    /// Parses YAML (JSON is YAML too).
    pub fn parse(text: &str) -> Result<Vec<ApiDefinition>, String> {
        match serde_yaml::from_str::<ApiFile>(text) {
            Ok(ApiFile::One(d)) => Ok(vec![d]),
            Ok(ApiFile::Many(d)) => Ok(d),
            // The untagged error says nothing useful; report the single-definition one.
            Err(_) => serde_yaml::from_str::<ApiDefinition>(text)
                .map(|d| vec![d])
                .map_err(|e| e.to_string()),
        }
    }
}

/// Maps one method and path onto a worker function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RouteDef {
    /// GET, POST, PUT, PATCH or DELETE.
    pub method: String,
    /// `/literal/{param}/…`; `{param}` captures one segment.
    pub path: String,
    pub component: String,
    /// Worker name template, e.g. `cart-{user}`.
    pub worker: String,
    /// Full or bare function name.
    pub function: String,
    /// Arguments: an object keyed by parameter name or an array, each a template.
    /// Absent: the JSON body is the arguments (as in the REST API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
    #[serde(default)]
    pub response: ResponseDef,
}

/// How the outcome becomes the HTTP response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ResponseDef {
    /// Default: 200, body `{result}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<ResponseCase>,
    /// Used when the invocation fails or returns a WIT `result`'s `err`.
    /// Default: the error's status (422 for an `err` value), body `{kind, message}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ResponseCase>,
}

/// A status and a body template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ResponseCase {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// One path segment of a route pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Segment {
    Literal(String),
    Param(String),
}

/// A validated route, as stored in `RVN_APIS` (so routers need not recompile it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CompiledRoute {
    pub def: RouteDef,
    /// The export's full name.
    pub function: String,
    /// Its parameters' shapes.
    pub params: Vec<(String, WitShape)>,
    /// Its result type (WIT text).
    pub result: Option<String>,
    pub segments: Vec<Segment>,
}

/// A stored API: the compiled routes (whose `def`s are the definition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct StoredApi {
    pub name: String,
    pub routes: Vec<CompiledRoute>,
}

impl StoredApi {
    /// The definition as deployed.
    pub fn definition(&self) -> ApiDefinition {
        ApiDefinition {
            name: self.name.clone(),
            routes: self.routes.iter().map(|r| r.def.clone()).collect(),
        }
    }
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
const RESERVED: [&str; 5] = ["v1", "healthz", "readyz", "metrics", "openapi.json"];

/// Parses a path pattern.
pub fn parse_path(path: &str) -> Result<Vec<Segment>, String> {
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("path {path:?} must start with `/`"))?;
    let mut segments = Vec::new();
    for s in rest.split('/').filter(|s| !s.is_empty()) {
        if let Some(name) = template::whole_ref(s) {
            revenant_types::names::validate("path parameter", name)
                .map_err(|e| format!("path {path:?}: {e}"))?;
            if segments.contains(&Segment::Param(name.to_owned())) {
                return Err(format!("path {path:?} captures `{name}` twice"));
            }
            segments.push(Segment::Param(name.to_owned()));
        } else if s.contains(['{', '}']) {
            return Err(format!(
                "path {path:?}: a parameter must be a whole segment, like `/{{user}}/`"
            ));
        } else {
            segments.push(Segment::Literal(s.to_owned()));
        }
    }
    match segments.first() {
        None => Err("path `/` is the web console; choose another path".into()),
        Some(Segment::Literal(first)) if RESERVED.contains(&first.as_str()) => Err(format!(
            "path {path:?} starts with `/{first}`, which the router serves itself"
        )),
        _ => Ok(segments),
    }
}

/// The captured parameter names of a pattern.
pub fn params_of(segments: &[Segment]) -> Vec<String> {
    segments
        .iter()
        .filter_map(|s| match s {
            Segment::Param(p) => Some(p.clone()),
            Segment::Literal(_) => None,
        })
        .collect()
}

/// Validates `def` against `export` (with `params` shapes) and compiles it.
pub fn compile(
    def: RouteDef,
    export: &ExportedFunction,
    params: Vec<(String, WitShape)>,
) -> Result<CompiledRoute, String> {
    let mut def = def;
    def.method = def.method.to_ascii_uppercase();
    if !METHODS.contains(&def.method.as_str()) {
        return Err(format!(
            "method {:?} is not one of {}",
            def.method,
            METHODS.join(", ")
        ));
    }
    let segments = parse_path(&def.path)?;
    let names = params_of(&segments);
    let refs = refs_in(&def.worker).map_err(|e| format!("worker: {e}"))?;
    for r in &refs {
        check_ref(r, &names, false).map_err(|e| format!("worker: {e}"))?;
    }
    if refs.is_empty() {
        revenant_types::names::validate("worker", &def.worker).map_err(|e| e.to_string())?;
    }
    let sig = export.signature();
    match &def.args {
        None => {}
        Some(Value::Object(map)) => {
            for k in map.keys() {
                if !params.iter().any(|(n, _)| n == k) {
                    return Err(format!("args: {sig} has no parameter `{k}`"));
                }
            }
            for (name, shape) in &params {
                match map.get(name) {
                    Some(t) => template::check(t, shape, &format!("args.{name}"), &names)?,
                    None if matches!(shape, WitShape::Option(_)) => {}
                    None => {
                        return Err(format!(
                            "args: parameter `{name}` ({}) of {sig} has no value",
                            shape.describe()
                        ));
                    }
                }
            }
        }
        Some(Value::Array(items)) => {
            if items.len() != params.len() {
                return Err(format!(
                    "args: {sig} takes {} argument(s), the route gives {}",
                    params.len(),
                    items.len()
                ));
            }
            for (t, (name, shape)) in items.iter().zip(&params) {
                template::check(t, shape, &format!("args.{name}"), &names)?;
            }
        }
        Some(_) => {
            return Err("args: expected an object keyed by parameter name or an array".into());
        }
    }
    for (which, case) in [("ok", &def.response.ok), ("error", &def.response.error)] {
        let Some(case) = case else { continue };
        if let Some(s) = case.status
            && !(100..=599).contains(&s)
        {
            return Err(format!("response.{which}.status {s} is not an HTTP status"));
        }
        if let Some(body) = &case.body {
            check_refs_everywhere(body, &names).map_err(|e| format!("response.{which}: {e}"))?;
        }
    }
    Ok(CompiledRoute {
        function: export.name.clone(),
        params,
        result: export.result.clone(),
        segments,
        def,
    })
}

fn check_refs_everywhere(v: &Value, names: &[String]) -> Result<(), String> {
    match v {
        Value::String(s) => refs_in(s)?
            .into_iter()
            .try_for_each(|r| check_ref(r, names, true).map(drop)),
        Value::Array(a) => a.iter().try_for_each(|v| check_refs_everywhere(v, names)),
        Value::Object(o) => o.values().try_for_each(|v| check_refs_everywhere(v, names)),
        _ => Ok(()),
    }
}

/// The shape routes are compared by for conflicts: method and segments with params blanked.
pub fn pattern_key(route: &CompiledRoute) -> String {
    let segs: Vec<&str> = route
        .segments
        .iter()
        .map(|s| match s {
            Segment::Literal(l) => l.as_str(),
            Segment::Param(_) => "{}",
        })
        .collect();
    format!("{} /{}", route.def.method, segs.join("/"))
}

/// Captures of `segments` on `path`, or `None` when it does not match.
pub fn match_path(segments: &[Segment], path: &str) -> Option<Vec<(String, String)>> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut captures = Vec::new();
    for (seg, part) in segments.iter().zip(parts) {
        match seg {
            Segment::Literal(l) if l == part => {}
            Segment::Literal(_) => return None,
            Segment::Param(name) => captures.push((name.clone(), percent_decode(part))),
        }
    }
    Some(captures)
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
