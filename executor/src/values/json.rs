//! JSON ↔ `Val`, typed by the WIT signature (mapping table in the parent module).

use serde_json::{Map, Number, Value};
use wasmtime::component::types::ComponentFunc;
use wasmtime::component::{Type, Val};

use super::{ValueError, params_signature, type_desc};

/// Converts the JSON arguments of an invocation: an array (arity checked;
/// `null` counts as `[]`) or an object keyed by parameter name.
pub fn json_args_to_vals(func_ty: &ComponentFunc, json: &Value) -> Result<Vec<Val>, ValueError> {
    let params: Vec<(&str, Type)> = func_ty.params().collect();
    let root = |i: usize, name: &str| format!("argument {} ({name})", i + 1);
    match json {
        Value::Null | Value::Array(_) => {
            let args = json.as_array().map_or(&[][..], Vec::as_slice);
            if args.len() != params.len() {
                return Err(ValueError::Arity {
                    expected: params.len(),
                    got: args.len(),
                    signature: params_signature(func_ty),
                });
            }
            let args = params.iter().zip(args).enumerate();
            args.map(|(i, ((name, ty), arg))| convert(ty, arg, &Path::Root(&root(i, name))))
                .collect()
        }
        Value::Object(map) => {
            if let Some(key) = map.keys().find(|k| !params.iter().any(|(n, _)| n == k)) {
                return Err(ValueError::Unknown {
                    path: "arguments".into(),
                    name: key.clone(),
                    expected: params.iter().map(|(n, _)| (*n).to_owned()).collect(),
                });
            }
            let args = params.iter().enumerate();
            args.map(|(i, (name, ty))| match map.get(*name) {
                Some(arg) => convert(ty, arg, &Path::Root(&root(i, name))),
                None if matches!(ty, Type::Option(_)) => Ok(Val::Option(None)),
                None => Err(ValueError::Missing {
                    path: "arguments".into(),
                    name: (*name).to_owned(),
                    expected: type_desc(ty),
                }),
            })
            .collect()
        }
        other => Err(ValueError::Mismatch {
            path: "arguments".into(),
            expected: format!(
                "a JSON array ({}) or an object keyed by parameter name",
                params_signature(func_ty)
            ),
            got: describe(other),
        }),
    }
}

/// Converts one JSON value to a value of type `ty` (errors are rooted at `value`).
pub fn json_to_val(ty: &Type, json: &Value) -> Result<Val, ValueError> {
    convert(ty, json, &Path::Root("value"))
}

/// The JSON form of a function's results: no result → `null`, one → its value,
/// several → an array.
pub fn results_to_json(results: &[Val]) -> Value {
    match results {
        [] => Value::Null,
        [one] => val_to_json(one),
        many => Value::Array(many.iter().map(val_to_json).collect()),
    }
}

/// The JSON form of a value; the inverse of [`json_to_val`].
pub fn val_to_json(val: &Val) -> Value {
    match val {
        Val::Bool(b) => Value::Bool(*b),
        Val::S8(n) => (*n).into(),
        Val::U8(n) => (*n).into(),
        Val::S16(n) => (*n).into(),
        Val::U16(n) => (*n).into(),
        Val::S32(n) => (*n).into(),
        Val::U32(n) => (*n).into(),
        Val::S64(n) => (*n).into(),
        Val::U64(n) => (*n).into(),
        // Through the shortest decimal form, so 0.1f32 is 0.1, not 0.10000000149011612.
        Val::Float32(f) => float_to_json(f.to_string().parse().unwrap_or(f64::from(*f))),
        Val::Float64(f) => float_to_json(*f),
        Val::Char(c) => Value::String(c.to_string()),
        Val::String(s) => Value::String(s.clone()),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            Value::Array(items.iter().map(val_to_json).collect())
        }
        Val::Map(pairs) => {
            if pairs.iter().all(|(k, _)| matches!(k, Val::String(_))) {
                let entries = pairs.iter().filter_map(|(k, v)| match k {
                    Val::String(k) => Some((k.clone(), val_to_json(v))),
                    _ => None,
                });
                Value::Object(entries.collect())
            } else {
                let pair = |(k, v): &(Val, Val)| Value::Array(vec![val_to_json(k), val_to_json(v)]);
                Value::Array(pairs.iter().map(pair).collect())
            }
        }
        Val::Record(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), val_to_json(v)))
                .collect(),
        ),
        Val::Variant(case, None) | Val::Enum(case) => Value::String(case.clone()),
        Val::Variant(case, Some(payload)) => single(case, val_to_json(payload)),
        Val::Option(None) => Value::Null,
        Val::Option(Some(inner)) => match **inner {
            Val::Option(_) => single("some", val_to_json(inner)),
            _ => val_to_json(inner),
        },
        Val::Result(Ok(payload)) => {
            single("ok", payload.as_deref().map_or(Value::Null, val_to_json))
        }
        Val::Result(Err(payload)) => {
            single("err", payload.as_deref().map_or(Value::Null, val_to_json))
        }
        Val::Flags(names) => Value::Array(names.iter().cloned().map(Value::String).collect()),
        Val::Resource(_) => Value::String("<resource>".into()),
        Val::Future(_) => Value::String("<future>".into()),
        Val::Stream(_) => Value::String("<stream>".into()),
        Val::ErrorContext(_) => Value::String("<error-context>".into()),
    }
}

fn single(key: &str, value: Value) -> Value {
    Value::Object(Map::from_iter([(key.to_owned(), value)]))
}

fn float_to_json(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::String("NaN".into()),
        None if f > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

/// Where a value sits, rendered only when an error needs it:
/// `argument 1 (item) .items[2].price`.
enum Path<'a> {
    Root(&'a str),
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn render(&self) -> String {
        let mut segments = Vec::new();
        let mut at = self;
        loop {
            match at {
                Path::Root(root) if segments.is_empty() => return (*root).to_owned(),
                Path::Root(root) => {
                    segments.reverse();
                    return format!("{root} {}", segments.concat());
                }
                Path::Field(parent, name) => {
                    segments.push(format!(".{name}"));
                    at = parent;
                }
                Path::Index(parent, i) => {
                    segments.push(format!("[{i}]"));
                    at = parent;
                }
            }
        }
    }
}

/// `string "abc"`, `number 1.5`, `array of 3 elements`, …
fn describe(json: &Value) -> String {
    match json {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("bool {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            format!("string {:?}…", s.chars().take(40).collect::<String>())
        }
        Value::String(s) => format!("string {s:?}"),
        Value::Array(a) if a.len() == 1 => "array of 1 element".into(),
        Value::Array(a) => format!("array of {} elements", a.len()),
        Value::Object(o) if o.is_empty() => "empty object".into(),
        Value::Object(o) => format!(
            "object with {}",
            o.keys()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn convert(ty: &Type, json: &Value, path: &Path<'_>) -> Result<Val, ValueError> {
    let mismatch = |expected: String, got: String| ValueError::Mismatch {
        path: path.render(),
        expected,
        got,
    };
    let wrong = || mismatch(type_desc(ty), describe(json));
    let unsupported = |what: &str| ValueError::Unsupported {
        path: path.render(),
        what: what.into(),
    };
    Ok(match ty {
        Type::Bool => Val::Bool(json.as_bool().ok_or_else(wrong)?),
        Type::S8 => Val::S8(int(ty, json, path)?),
        Type::U8 => Val::U8(int(ty, json, path)?),
        Type::S16 => Val::S16(int(ty, json, path)?),
        Type::U16 => Val::U16(int(ty, json, path)?),
        Type::S32 => Val::S32(int(ty, json, path)?),
        Type::U32 => Val::U32(int(ty, json, path)?),
        Type::S64 => Val::S64(int(ty, json, path)?),
        Type::U64 => Val::U64(int(ty, json, path)?),
        Type::Float64 => Val::Float64(float(json).ok_or_else(wrong)?),
        Type::Float32 => {
            let f = float(json).ok_or_else(wrong)?;
            if f.is_finite() && f.abs() > f64::from(f32::MAX) {
                return Err(mismatch(
                    "f32".into(),
                    format!("{}, out of range", describe(json)),
                ));
            }
            Val::Float32(f as f32)
        }
        Type::Char => {
            let s = json.as_str().ok_or_else(wrong)?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => {
                    return Err(mismatch(
                        "char (a one-character string)".into(),
                        describe(json),
                    ));
                }
            }
        }
        Type::String => Val::String(json.as_str().ok_or_else(wrong)?.to_owned()),
        Type::List(list) => Val::List(elements(
            &list.ty(),
            json.as_array().ok_or_else(wrong)?,
            path,
        )?),
        Type::FixedLengthList(list) => {
            let items = json.as_array().ok_or_else(wrong)?;
            if items.len() != list.len() as usize {
                return Err(wrong());
            }
            Val::FixedLengthList(elements(&list.ty(), items, path)?)
        }
        Type::Tuple(tuple) => {
            let items = json.as_array().ok_or_else(wrong)?;
            if items.len() != tuple.types().len() {
                return Err(wrong());
            }
            let items = tuple.types().zip(items).enumerate();
            Val::Tuple(
                items
                    .map(|(i, (t, v))| convert(&t, v, &Path::Index(path, i)))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Map(map) => {
            let (key_ty, value_ty) = (map.key(), map.value());
            let mut pairs = Vec::new();
            match json {
                Value::Object(obj) if matches!(key_ty, Type::String) => {
                    for (k, v) in obj {
                        pairs.push((
                            Val::String(k.clone()),
                            convert(&value_ty, v, &Path::Field(path, k))?,
                        ));
                    }
                }
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let at = Path::Index(path, i);
                        let pair = item.as_array().filter(|p| p.len() == 2).ok_or_else(|| {
                            mismatch_at(&at, "a [key, value] pair".into(), describe(item))
                        })?;
                        pairs.push((
                            convert(&key_ty, &pair[0], &at)?,
                            convert(&value_ty, &pair[1], &at)?,
                        ));
                    }
                }
                _ => return Err(wrong()),
            }
            Val::Map(pairs)
        }
        Type::Record(record) => {
            let obj = json.as_object().ok_or_else(wrong)?;
            if let Some(key) = obj.keys().find(|k| !record.fields().any(|f| f.name == *k)) {
                return Err(ValueError::Unknown {
                    path: path.render(),
                    name: key.clone(),
                    expected: record.fields().map(|f| f.name.to_owned()).collect(),
                });
            }
            let mut fields = Vec::with_capacity(record.fields().len());
            for field in record.fields() {
                let val = match obj.get(field.name) {
                    Some(v) => convert(&field.ty, v, &Path::Field(path, field.name))?,
                    None if matches!(field.ty, Type::Option(_)) => Val::Option(None),
                    None => {
                        return Err(ValueError::Missing {
                            path: path.render(),
                            name: field.name.to_owned(),
                            expected: type_desc(&field.ty),
                        });
                    }
                };
                fields.push((field.name.to_owned(), val));
            }
            Val::Record(fields)
        }
        Type::Variant(variant) => {
            let (case, payload) = one_key(json).ok_or_else(wrong)?;
            let Some(found) = variant.cases().find(|c| c.name == case) else {
                return Err(wrong());
            };
            let payload = match (found.ty, payload) {
                (None, None | Some(Value::Null)) => None,
                (Some(t), Some(p)) => Some(Box::new(convert(&t, p, &Path::Field(path, case))?)),
                (Some(t), None) => {
                    let expected = format!("{{\"{case}\": <{}>}}", type_desc(&t));
                    return Err(mismatch(expected, describe(json)));
                }
                (None, Some(p)) => {
                    let at = Path::Field(path, case);
                    return Err(mismatch_at(
                        &at,
                        "null (the case has no payload)".into(),
                        describe(p),
                    ));
                }
            };
            Val::Variant(case.to_owned(), payload)
        }
        Type::Enum(e) => {
            let name = json
                .as_str()
                .filter(|s| e.names().any(|n| n == *s))
                .ok_or_else(wrong)?;
            Val::Enum(name.to_owned())
        }
        Type::Flags(flags) => {
            let items = json.as_array().ok_or_else(wrong)?;
            for (i, item) in items.iter().enumerate() {
                if !item.as_str().is_some_and(|s| flags.names().any(|n| n == s)) {
                    let expected =
                        format!("one of {}", flags.names().collect::<Vec<_>>().join(", "));
                    return Err(mismatch_at(&Path::Index(path, i), expected, describe(item)));
                }
            }
            // Declaration order, as values lifted from the guest have it.
            let set = flags
                .names()
                .filter(|n| items.iter().any(|i| i.as_str() == Some(*n)));
            Val::Flags(set.map(str::to_owned).collect())
        }
        Type::Option(option) => {
            let inner = option.ty();
            match json {
                Value::Null => Val::Option(None),
                _ if matches!(inner, Type::Option(_)) => match one_key(json) {
                    Some(("some", Some(v))) => Val::Option(Some(Box::new(convert(
                        &inner,
                        v,
                        &Path::Field(path, "some"),
                    )?))),
                    _ => {
                        return Err(mismatch(
                            format!("null or {{\"some\": <{}>}}", type_desc(&inner)),
                            describe(json),
                        ));
                    }
                },
                _ => Val::Option(Some(Box::new(convert(&inner, json, path)?))),
            }
        }
        Type::Result(result) => {
            let payload = |t: Option<Type>, v: &Value, case: &str| match t {
                Some(t) => convert(&t, v, &Path::Field(path, case)).map(|v| Some(Box::new(v))),
                None if v.is_null() => Ok(None),
                None => Err(mismatch_at(
                    &Path::Field(path, case),
                    "null (no payload)".into(),
                    describe(v),
                )),
            };
            match one_key(json) {
                Some(("ok", Some(v))) => Val::Result(Ok(payload(result.ok(), v, "ok")?)),
                Some(("err", Some(v))) => Val::Result(Err(payload(result.err(), v, "err")?)),
                _ => {
                    return Err(mismatch(
                        format!("{{\"ok\": …}} or {{\"err\": …}} ({})", type_desc(ty)),
                        describe(json),
                    ));
                }
            }
        }
        Type::Own(_) | Type::Borrow(_) => return Err(unsupported("resources")),
        Type::Future(_) => return Err(unsupported("futures")),
        Type::Stream(_) => return Err(unsupported("streams")),
        Type::ErrorContext => return Err(unsupported("error-contexts")),
    })
}

fn mismatch_at(path: &Path<'_>, expected: String, got: String) -> ValueError {
    ValueError::Mismatch {
        path: path.render(),
        expected,
        got,
    }
}

fn elements(ty: &Type, items: &[Value], path: &Path<'_>) -> Result<Vec<Val>, ValueError> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| convert(ty, v, &Path::Index(path, i)))
        .collect()
}

/// `"name"` → `("name", None)`; `{"name": v}` → `("name", Some(v))`.
fn one_key(json: &Value) -> Option<(&str, Option<&Value>)> {
    match json {
        Value::String(s) => Some((s, None)),
        Value::Object(obj) if obj.len() == 1 => {
            obj.iter().next().map(|(k, v)| (k.as_str(), Some(v)))
        }
        _ => None,
    }
}

fn int<T: TryFrom<i128>>(ty: &Type, json: &Value, path: &Path<'_>) -> Result<T, ValueError> {
    let n = match json {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        _ => None,
    };
    let Some(n) = n else {
        return Err(mismatch_at(path, type_desc(ty), describe(json)));
    };
    T::try_from(n).map_err(|_| {
        mismatch_at(
            path,
            type_desc(ty),
            format!("{}, out of range", describe(json)),
        )
    })
}

fn float(json: &Value) -> Option<f64> {
    match json {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}
