//! The one mapping between WIT values (`wasmtime::component::Val`) and their
//! external forms: JSON (NATS bodies, HTTP, CLI `--json`) and WAVE text (the
//! CLI's default). Conversion is typed: input is checked against the export's
//! WIT signature and the first mismatch is reported with its path, e.g.
//! `argument 1 (item) .price: expected f32, got string "abc"`.
//!
//! # JSON mapping
//!
//! | WIT | JSON |
//! | --- | --- |
//! | `bool` | `true` / `false` |
//! | `s8`…`s64`, `u8`…`u64` | integer number (range checked; full 64-bit range) |
//! | `f32`, `f64` | number; `"NaN"`, `"Infinity"`, `"-Infinity"` for non-finite values |
//! | `char` | one-character string |
//! | `string` | string |
//! | `list<T>`, `list<T, N>` | array (`list<u8>` too) |
//! | `tuple<…>` | array of exactly its arity |
//! | `record` | object with the WIT (kebab-case) field names; `option` fields may be omitted (→ `none`); unknown fields are errors |
//! | `variant` | `{"case": payload}`; a case without payload is `"case"` (input also accepts `{"case": null}`) |
//! | `enum` | `"case"` |
//! | `option<T>` | `null` → `none`, otherwise the value of `T`; when `T` is itself an option, `some` is written `{"some": …}` so `option<option<u32>>` has `null`, `{"some": null}`, `{"some": 5}` |
//! | `result<T, E>` | `{"ok": v}` / `{"err": e}`; a missing payload is `null` (`{"ok": null}`) |
//! | `flags` | array of the set flag names |
//! | `map<K, V>` | object when `K` is `string`; otherwise an array of `[key, value]` pairs (also accepted for string keys) |
//! | resources, futures, streams, error-contexts | not representable: an input error; output as the string `"<resource>"` etc. |
//!
//! Arguments are a JSON array (arity checked; `null` counts as `[]`) or an
//! object keyed by parameter name (omitted `option` parameters are `none`).
//! [`val_to_json`] is the exact inverse of [`json_to_val`] for every value that
//! can be passed.
//!
//! This module does not look up functions or call them (see `exports` and the engine).
//!
//! Layout: `json` (JSON ↔ `Val`), `wave` (WAVE ↔ `Val`).

mod json;
mod wave;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod guest_tests;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

pub use json::{json_args_to_vals, json_to_val, results_to_json, val_to_json};
pub use wave::{results_to_wave, val_to_wave, wave_args_to_vals, wave_to_val};

use wasmtime::component::Type;
use wasmtime::component::types::ComponentFunc;

/// Why an external value does not fit the WIT type it was meant for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// A value of the wrong kind or out of range.
    #[error("{path}: expected {expected}, got {got}")]
    Mismatch {
        /// Where: `argument 1 (item) .price`, `value [2].name`.
        path: String,
        /// The WIT type (or set of accepted values) expected there.
        expected: String,
        /// What was found, e.g. `string "abc"`.
        got: String,
    },
    /// A required record field or parameter is absent.
    #[error("{path}: missing `{name}` (expected {expected})")]
    Missing {
        /// The enclosing record or `arguments`.
        path: String,
        /// The missing field or parameter name.
        name: String,
        /// Its WIT type.
        expected: String,
    },
    /// A record field or parameter name that the type does not have.
    #[error("{path}: unknown `{name}`; expected one of: {}", expected.join(", "))]
    Unknown {
        /// The enclosing record or `arguments`.
        path: String,
        /// The unexpected name.
        name: String,
        /// The names that exist.
        expected: Vec<String>,
    },
    /// Wrong number of arguments.
    #[error("expected {expected} argument{} ({signature}), got {got}", if *expected == 1 { "" } else { "s" })]
    Arity {
        /// Number of parameters.
        expected: usize,
        /// Number of arguments given.
        got: usize,
        /// The parameters, `value: u64, name: string`.
        signature: String,
    },
    /// A value of a kind that has no external form (resources, futures, …).
    #[error("{path}: {what} can't be passed as JSON")]
    Unsupported {
        /// Where.
        path: String,
        /// `resources`, `futures`, `streams` or `error-contexts`.
        what: String,
    },
    /// WAVE text that does not parse or does not fit the parameter types.
    #[error("invalid WAVE arguments for ({signature}): {message}")]
    Wave {
        /// The parameters, `value: u64, name: string`.
        signature: String,
        /// The parser's message, with the offending text.
        message: String,
    },
}

/// The parameter list of a function type as text: `value: u64, item: record {name, price}`.
pub fn params_signature(func_ty: &ComponentFunc) -> String {
    func_ty
        .params()
        .map(|(name, ty)| format!("{name}: {}", type_desc(&ty)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Short WIT-like text of a wasmtime type (wasmtime types carry no names, so
/// records, variants, enums and flags list their field or case names).
pub fn type_desc(ty: &Type) -> String {
    let join = |names: Vec<&str>| names.join(", ");
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", type_desc(&l.ty())),
        Type::FixedLengthList(l) => format!("list<{}, {}>", type_desc(&l.ty()), l.len()),
        Type::Map(m) => format!("map<{}, {}>", type_desc(&m.key()), type_desc(&m.value())),
        Type::Record(r) => format!("record {{{}}}", join(r.fields().map(|f| f.name).collect())),
        Type::Tuple(t) => {
            format!(
                "tuple<{}>",
                t.types()
                    .map(|t| type_desc(&t))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Type::Variant(v) => format!("variant {{{}}}", join(v.cases().map(|c| c.name).collect())),
        Type::Enum(e) => format!("enum {{{}}}", join(e.names().collect())),
        Type::Flags(f) => format!("flags {{{}}}", join(f.names().collect())),
        Type::Option(o) => format!("option<{}>", type_desc(&o.ty())),
        Type::Result(r) => match (r.ok(), r.err()) {
            (None, None) => "result".into(),
            (Some(ok), None) => format!("result<{}>", type_desc(&ok)),
            (ok, Some(err)) => format!(
                "result<{}, {}>",
                ok.as_ref().map_or_else(|| "_".to_owned(), type_desc),
                type_desc(&err)
            ),
        },
        Type::Own(_) => "resource".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        Type::Future(_) => "future".into(),
        Type::Stream(_) => "stream".into(),
        Type::ErrorContext => "error-context".into(),
    }
}
