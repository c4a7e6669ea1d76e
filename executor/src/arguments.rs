//! Typing an invocation's arguments: the requested function is resolved among
//! the component's exports and the body (JSON, or WAVE text) is typed against
//! its WIT signature, once. The typed values are what the live call receives;
//! their JSON is what the oplog records (and what replay types again).

use revenant_nats::headers;
use revenant_types::ErrorKind;
use revenant_types::oplog::ErrorBody;
use wasmtime::component::Val;

use crate::components::LoadedComponent;
use crate::values;

/// An invocation ready to run.
pub struct Prepared {
    /// The export's full name.
    pub function: String,
    /// The arguments as a JSON array, as journaled.
    pub json: String,
    /// The same arguments, typed.
    pub vals: Vec<Val>,
    /// The schedule whose firing this is (journaled with its start), if it is one.
    pub schedule: Option<String>,
}

/// Resolves the function and types the arguments; the error says what was expected.
pub fn prepare(
    component: &LoadedComponent,
    requested: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Prepared, ErrorBody> {
    let requested = requested.ok_or_else(|| {
        ErrorBody::new(
            ErrorKind::MissingFunction,
            format!("header {} is required: the exported function to call, e.g. pkg:ns/iface.{{fn}} or fn", headers::FUNCTION),
        )
    })?;
    let export = component
        .resolve(requested)
        .map_err(|e| ErrorBody::new(ErrorKind::UnknownFunction, e.to_string()))?;
    let ty = component.func_type(&export.name).ok_or_else(|| {
        ErrorBody::new(
            ErrorKind::UnknownFunction,
            format!("{} is not callable", export.name),
        )
    })?;
    let content_type = content_type.map(|c| c.split(';').next().unwrap_or("").trim());
    let vals = match content_type {
        None | Some("") | Some(headers::CONTENT_TYPE_JSON) => {
            let text = if body.is_empty() { "[]".as_bytes() } else { body };
            let json: serde_json::Value = serde_json::from_slice(text).map_err(|e| {
                ErrorBody::new(ErrorKind::InvalidJson, format!("body is not valid JSON ({e}); expected a JSON array of arguments"))
            })?;
            values::json_args_to_vals(ty, &json)
        }
        Some(headers::CONTENT_TYPE_WAVE) => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ErrorBody::new(ErrorKind::InvalidWave, "body is not UTF-8 WAVE text"))?;
            values::wave_args_to_vals(ty, text)
        }
        Some(other) => {
            return Err(ErrorBody::new(
                ErrorKind::UnsupportedContentType,
                format!("content type {other:?} is not supported; expected application/json or application/wave"),
            ));
        }
    }
    .map_err(|e| ErrorBody::new(ErrorKind::InvalidArguments, format!("{}: {e}", export.signature())))?;
    let json = serde_json::Value::Array(vals.iter().map(values::val_to_json).collect()).to_string();
    Ok(Prepared {
        function: export.name.clone(),
        json,
        vals,
        schedule: None,
    })
}
