//! JSON views of values whose persisted field names are fixed: every JSON wire
//! (REST, CLI `--json`, the console) uses kebab-case field names, but oplog
//! entries keep the snake_case field names they were first written with
//! (MessagePack, never renamed: see [`crate::oplog`]). Their JSON goes through
//! [`oplog_entry`], which renames object keys only; values (arguments,
//! messages, host-call payloads) are left as they are.

use serde_json::Value;

use crate::oplog::OplogEntry;

/// An oplog entry as JSON with kebab-case field names, e.g.
/// `{"invocation-started": {"at": …, "idempotency-key": …, …}}`.
pub fn oplog_entry(entry: &OplogEntry) -> Value {
    // An entry has no map with non-string keys, so this cannot fail.
    kebab_case_keys(serde_json::to_value(entry).unwrap_or(Value::Null))
}

/// `value` with `_` replaced by `-` in every object key, at every depth.
pub fn kebab_case_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.replace('_', "-"), kebab_case_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(kebab_case_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oplog::{InvocationOutcome, TraceContext};

    #[test]
    fn an_oplog_entry_renders_with_kebab_case_field_names_and_untouched_values() {
        let entry = OplogEntry::InvocationStarted {
            at: 1,
            idempotency_key: "my_key".into(),
            function: "add".into(),
            args: r#"[{"snake_case": 1}]"#.into(),
            trace: TraceContext::default(),
            reply_to: None,
            caller: None,
            schedule: None,
        };
        assert_eq!(
            oplog_entry(&entry),
            serde_json::json!({"invocation-started": {
                "at": 1, "idempotency-key": "my_key", "function": "add",
                "args": r#"[{"snake_case": 1}]"#,
                "trace": {"traceparent": null, "tracestate": null},
            }})
        );
        let done = OplogEntry::InvocationCompleted {
            at: 2,
            idempotency_key: "k".into(),
            outcome: InvocationOutcome::Ok("5".into()),
            duration_us: 3,
        };
        let json = oplog_entry(&done);
        assert_eq!(json["invocation-completed"]["duration-us"], 3);
        assert_eq!(
            json["invocation-completed"]["outcome"],
            serde_json::json!({"ok": "5"})
        );
    }
}
