//! WAVE text ↔ `Val`, via wasmtime's `wave` feature (wasm-wave's traits are
//! implemented for `Val` and `Type`).

use wasm_wave::parser::ParserError;
use wasm_wave::untyped::UntypedFuncCall;
use wasmtime::component::types::ComponentFunc;
use wasmtime::component::{Type, Val};

use super::{ValueError, params_signature, type_desc};

/// Parses comma-separated WAVE values for the parameters, e.g. `5, "bob"`.
/// Trailing `option` parameters may be left out (they are `none`).
pub fn wave_args_to_vals(func_ty: &ComponentFunc, text: &str) -> Result<Vec<Val>, ValueError> {
    let types: Vec<Type> = func_ty.params().map(|(_, ty)| ty).collect();
    // Parse as the argument list of a call so wasm-wave handles the commas,
    // quoting and omitted trailing options; spans are shifted back by `f(`.
    const PREFIX: &str = "f(";
    let source = format!("{PREFIX}{text})");
    let error = |e: &ParserError| ValueError::Wave {
        signature: params_signature(func_ty),
        message: describe_error(e, text, PREFIX.len()),
    };
    let call = UntypedFuncCall::parse(&source).map_err(|e| error(&e))?;
    call.to_wasm_params::<Val>(types.iter())
        .map_err(|e| error(&e))
}

/// Parses one WAVE value of type `ty`.
pub fn wave_to_val(ty: &Type, text: &str) -> Result<Val, ValueError> {
    wasm_wave::from_str::<Val>(ty, text).map_err(|e| ValueError::Wave {
        signature: type_desc(ty),
        message: describe_error(&e, text, 0),
    })
}

/// The WAVE text of a value; values WAVE cannot express (resources, futures,
/// streams) are written as `<resource>` etc.
pub fn val_to_wave(val: &Val) -> String {
    match val {
        Val::Resource(_) => "<resource>".to_owned(),
        Val::Future(_) => "<future>".to_owned(),
        Val::Stream(_) => "<stream>".to_owned(),
        Val::ErrorContext(_) => "<error-context>".to_owned(),
        _ => wasm_wave::to_string(val).unwrap_or_else(|e| format!("<{e}>")),
    }
}

/// A function's results as WAVE: nothing → empty string, one → the value,
/// several → a parenthesised list.
pub fn results_to_wave(results: &[Val]) -> String {
    match results {
        [] => String::new(),
        [one] => val_to_wave(one),
        many => format!(
            "({})",
            many.iter().map(val_to_wave).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The parser's message with the offending part of the user's text, if any.
fn describe_error(e: &ParserError, text: &str, offset: usize) -> String {
    let mut message = e.kind().to_string();
    if let Some(detail) = e.detail() {
        message = format!("{message} ({detail})");
    } else if let Some(source) = std::error::Error::source(e) {
        message = format!("{message} ({source})");
    }
    let span = e.span();
    let start = span.start.saturating_sub(offset).min(text.len());
    let end = span.end.saturating_sub(offset).clamp(start, text.len());
    match text.get(start..end) {
        Some(snippet) if !snippet.trim().is_empty() => format!("{message} at `{snippet}`"),
        _ if start >= text.len() => format!("{message} at the end of the input"),
        _ => format!("{message} at offset {start}"),
    }
}
