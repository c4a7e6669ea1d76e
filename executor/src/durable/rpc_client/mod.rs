//! Typed worker-to-worker calls: a component imports a client of another
//! component's interface (`<ns>:<pkg>-client/<iface>`, see
//! [`revenant_components::client_import`]) and the executor defines it when it loads
//! the component — no composition step. The client is a resource named like the
//! interface whose constructor takes the callee worker's name, with, for each callee
//! function `f`:
//!
//! - `f(..) -> result<T, rpc-error>` — invoke and await;
//! - `f-send(..) -> result<_, rpc-error>` — fire and forget;
//! - `f-async(..) -> future-f-result` — a future with `subscribe -> pollable` and
//!   `get -> option<result<T, rpc-error>>`;
//! - `f-schedule(at-epoch-ms: u64, ..) -> result<string, rpc-error>` — a call at a time
//!   (a JetStream message schedule), its schedule id for `revenant:api/rpc.cancel-schedule`.
//!
//! Each is checked against the callee's export at link time ([`plan`]): parameters and
//! result must have the same structure, or the component is refused with the function
//! and both types named. Calls run the protocol of [`super::rpc`], arguments and
//! results crossing as JSON (the invocation message's own mapping).

use std::collections::HashMap;
use std::sync::Arc;

use revenant_types::WorkerId;
use serde_json::Value;
use wasmtime::component::types::{ComponentFunc, ComponentInstance, ComponentItem};
use wasmtime::component::{Linker, Resource, ResourceAny, ResourceType, Type, Val};
use wasmtime::{Engine, StoreContextMut};
use wasmtime_wasi::p2::DynPollable;

use super::rpc::{self, Mode, RpcError, RpcFuture};
use super::waits::CanWait;
use crate::values::{json_to_val, val_to_json};

/// A client resource: the callee worker it calls (or why its name is not one).
pub struct RpcClient {
    target: Result<WorkerId, String>,
}

/// What one function of a client import does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFn {
    /// `[constructor]<resource>(worker-name)`.
    Constructor,
    /// `[method]<resource>.<f>[-send|-async]`: calls the callee's function (full name).
    Call { function: String, mode: Mode },
    /// `[method]<resource>.<f>-schedule(at-epoch-ms, ..)`: schedules a call.
    Schedule { function: String },
    /// `[method]future-<f>-result.subscribe`.
    Subscribe,
    /// `[method]future-<f>-result.get`.
    Get,
}

/// The callee's exported functions of the client's interface, by function name.
pub type CalleeFunctions = HashMap<String, (String, ComponentFunc)>;

/// Plans a client import: what each of its functions does, after checking each against
/// the callee's functions. `Err` names the function and both types.
pub fn plan(
    import: &str,
    callee: &str,
    functions: &[(String, ComponentFunc)],
    callee_functions: &CalleeFunctions,
) -> Result<Vec<(String, ClientFn)>, String> {
    let mut planned = Vec::new();
    for (name, ty) in functions {
        let refuse = |why: String| {
            format!("the RPC client {import} does not match component {callee}: {name}: {why}")
        };
        let (resource, method) = if let Some(r) = name.strip_prefix("[constructor]") {
            (r, None)
        } else if let Some(m) = name.strip_prefix("[method]") {
            let (r, m) = m
                .split_once('.')
                .ok_or_else(|| refuse("not a method".into()))?;
            (r, Some(m))
        } else {
            return Err(refuse(
                "a client has only its resource's constructor and methods".into(),
            ));
        };
        let Some(method) = method else {
            planned.push((name.clone(), ClientFn::Constructor));
            continue;
        };
        if resource.starts_with("future-") && resource.ends_with("-result") {
            let f = &resource["future-".len()..resource.len() - "-result".len()];
            let callee_fn = callee_functions
                .get(f)
                .ok_or_else(|| refuse(format!("{callee} exports no function {f}")))?;
            let planned_fn = match method {
                "subscribe" => ClientFn::Subscribe,
                "get" => {
                    let expected = format!("option<{}>", result_of(&callee_fn.1));
                    check_result(ty, &expected).map_err(refuse)?;
                    ClientFn::Get
                }
                other => return Err(refuse(format!("a future has no method {other}"))),
            };
            planned.push((name.clone(), planned_fn));
            continue;
        }
        let (f, mode) = match method {
            m if callee_functions.contains_key(m) => (m, Some(Mode::Await)),
            m if m.ends_with("-send") => (&m[..m.len() - 5], Some(Mode::Send)),
            m if m.ends_with("-async") => (&m[..m.len() - 6], Some(Mode::Async)),
            m if m.ends_with("-schedule") => (&m[..m.len() - 9], None),
            m => (m, Some(Mode::Await)),
        };
        let (full, callee_ty) = callee_functions
            .get(f)
            .ok_or_else(|| refuse(format!("{callee} exports no function {f}")))?;
        // A schedule's first parameter (after the resource) is its time.
        let skip = if mode.is_none() {
            let at = ty.params().nth(1).map(|(_, t)| structure(&t));
            if at.as_deref() != Some("u64") {
                return Err(refuse(
                    "a -schedule method's first parameter is the time, at-epoch-ms: u64".into(),
                ));
            }
            2
        } else {
            1
        };
        let params: Vec<String> = ty.params().skip(skip).map(|(_, t)| structure(&t)).collect();
        let expected: Vec<String> = callee_ty.params().map(|(_, t)| structure(&t)).collect();
        if params != expected {
            return Err(refuse(format!(
                "its parameters are ({}) but {full} takes ({})",
                params.join(", "),
                expected.join(", ")
            )));
        }
        let Some(mode) = mode else {
            check_result(ty, &format!("result<string, {RPC_ERROR}>")).map_err(refuse)?;
            let function = full.clone();
            planned.push((name.clone(), ClientFn::Schedule { function }));
            continue;
        };
        match mode {
            Mode::Await => check_result(ty, &result_of(callee_ty)).map_err(refuse)?,
            Mode::Send => check_result(ty, &format!("result<_, {RPC_ERROR}>")).map_err(refuse)?,
            Mode::Async => {}
        }
        planned.push((
            name.clone(),
            ClientFn::Call {
                function: full.clone(),
                mode,
            },
        ));
    }
    Ok(planned)
}

/// The structure of `rpc-error`, as [`structure`] writes it.
const RPC_ERROR: &str = "variant {not-found(string), denied(string), remote-error(string), worker-failed(string), cycle(string), protocol(string)}";

/// `result<T, rpc-error>` for the callee function's result `T`.
fn result_of(callee: &ComponentFunc) -> String {
    let ok = callee
        .results()
        .next()
        .map_or_else(|| "_".to_owned(), |t| structure(&t));
    format!("result<{ok}, {RPC_ERROR}>")
}

fn check_result(ty: &ComponentFunc, expected: &str) -> Result<(), String> {
    let got: Vec<String> = ty.results().map(|t| structure(&t)).collect();
    if got.len() == 1 && got[0] == expected {
        Ok(())
    } else {
        Err(format!(
            "it returns {} but the call returns {expected}",
            if got.is_empty() {
                "nothing".to_owned()
            } else {
                got.join(", ")
            }
        ))
    }
}

/// The full structure of a type in WIT-like text (records and variants with their
/// fields' and cases' types): two types that print the same carry the same values.
pub fn structure(ty: &Type) -> String {
    let list = |items: Vec<String>| items.join(", ");
    match ty {
        Type::List(l) => format!("list<{}>", structure(&l.ty())),
        Type::Option(o) => format!("option<{}>", structure(&o.ty())),
        Type::Record(r) => format!(
            "record {{{}}}",
            list(
                r.fields()
                    .map(|f| format!("{}: {}", f.name, structure(&f.ty)))
                    .collect()
            )
        ),
        Type::Tuple(t) => format!(
            "tuple<{}>",
            list(t.types().map(|t| structure(&t)).collect())
        ),
        Type::Variant(v) => format!(
            "variant {{{}}}",
            list(
                v.cases()
                    .map(|c| match c.ty {
                        Some(t) => format!("{}({})", c.name, structure(&t)),
                        None => c.name.to_owned(),
                    })
                    .collect()
            )
        ),
        Type::Result(r) => format!(
            "result<{}, {}>",
            r.ok().map_or_else(|| "_".to_owned(), |t| structure(&t)),
            r.err().map_or_else(|| "_".to_owned(), |t| structure(&t))
        ),
        other => crate::values::type_desc(other),
    }
}

/// The functions of an imported instance type.
pub fn functions(engine: &Engine, instance: &ComponentInstance) -> Vec<(String, ComponentFunc)> {
    instance
        .exports(engine)
        .filter_map(|(name, item)| match item.ty {
            ComponentItem::ComponentFunc(f) => Some((name.to_owned(), f)),
            _ => None,
        })
        .collect()
}

/// The resources of an imported instance type.
fn resources(engine: &Engine, instance: &ComponentInstance) -> Vec<String> {
    instance
        .exports(engine)
        .filter_map(|(name, item)| match item.ty {
            ComponentItem::Resource(_) => Some(name.to_owned()),
            _ => None,
        })
        .collect()
}

/// Defines client import `import` (its type `instance`, planned by [`plan`]) in `linker`,
/// calling workers of component `callee`.
pub fn define<T: CanWait>(
    linker: &mut Linker<T>,
    engine: &Engine,
    import: &str,
    instance: &ComponentInstance,
    callee: &str,
    planned: Vec<(String, ClientFn)>,
) -> wasmtime::Result<()> {
    let mut inst = linker.instance(import)?;
    for resource in resources(engine, instance) {
        if resource == "pollable" {
            // `use wasi:io/poll.{pollable}`: the same resource as wasmtime-wasi's.
            host_resource::<T, DynPollable>(&mut inst, &resource)?;
        } else if resource.starts_with("future-") {
            host_resource::<T, RpcFuture>(&mut inst, &resource)?;
        } else {
            host_resource::<T, RpcClient>(&mut inst, &resource)?;
        }
    }
    let callee: Arc<str> = callee.into();
    for (name, function) in planned {
        let callee = callee.clone();
        let function = Arc::new(function);
        inst.func_new_async(&name, move |store, ty, params, results| {
            let callee = callee.clone();
            let function = function.clone();
            Box::new(async move { call(store, &callee, &function, &ty, params, results).await })
        })?;
    }
    Ok(())
}

/// Defines resource `name` as host type `R`, kept in the store's resource table.
fn host_resource<T: CanWait, R: Send + 'static>(
    inst: &mut wasmtime::component::LinkerInstance<'_, T>,
    name: &str,
) -> wasmtime::Result<()> {
    inst.resource(name, ResourceType::host::<R>(), |mut store, rep| {
        let parts = store.data_mut().wait_parts();
        parts.table.delete(Resource::<R>::new_own(rep))?;
        Ok(())
    })
}

async fn call<T: CanWait>(
    mut store: StoreContextMut<'_, T>,
    callee: &str,
    function: &ClientFn,
    ty: &ComponentFunc,
    params: &[Val],
    results: &mut [Val],
) -> wasmtime::Result<()> {
    let result_ty = ty
        .results()
        .next()
        .ok_or_else(|| wasmtime::format_err!("a client function returns a value"))?;
    let resource = |v: Option<&Val>| match v {
        Some(Val::Resource(r)) => Ok(*r),
        _ => Err(wasmtime::format_err!(
            "a client method's first parameter is its resource"
        )),
    };
    match function {
        ClientFn::Constructor => {
            let worker = match params.first() {
                Some(Val::String(w)) => w.clone(),
                _ => String::new(),
            };
            let target = WorkerId::parse(callee, &worker)
                .map_err(|e| format!("{callee}/{worker} is not a worker id: {e}"));
            let client = store
                .data_mut()
                .wait_parts()
                .table
                .push(RpcClient { target })?;
            results[0] = Val::Resource(ResourceAny::try_from_resource(client, &mut store)?);
        }
        ClientFn::Subscribe => {
            let future: Resource<RpcFuture> =
                resource(params.first())?.try_into_resource(&mut store)?;
            let mut parts = store.data_mut().wait_parts();
            let index = parts.table.get(&future)?.index;
            let pollable = rpc::outcome_pollable(&mut parts, index)?;
            results[0] = Val::Resource(ResourceAny::try_from_resource(pollable, &mut store)?);
        }
        ClientFn::Get => {
            let future: Resource<RpcFuture> =
                resource(params.first())?.try_into_resource(&mut store)?;
            let parts = store.data_mut().wait_parts();
            let index = parts.table.get(&future)?.index;
            let json = match rpc::poll(&parts, index)? {
                None => Value::Null,
                Some(outcome) => outcome_json(outcome),
            };
            results[0] = typed(&result_ty, &json)?;
        }
        ClientFn::Schedule { function } => {
            let client: Resource<RpcClient> =
                resource(params.first())?.try_into_resource(&mut store)?;
            let at = match params.get(1) {
                Some(Val::U64(at)) => *at,
                _ => {
                    return Err(wasmtime::format_err!(
                        "a -schedule method's first parameter is its time"
                    ));
                }
            };
            let args = Value::Array(params[2..].iter().map(val_to_json).collect()).to_string();
            let mut parts = store.data_mut().wait_parts();
            let target = parts.table.get(&client)?.target.clone();
            let scheduled = match target {
                Ok(target) => rpc::schedule(&mut parts, at, &target, function, &args).await?,
                Err(message) => Err(RpcError::Protocol(message)),
            };
            let json = match scheduled {
                Ok(id) => serde_json::json!({ "ok": id }),
                Err(e) => serde_json::json!({ "err": rpc::error_json(&e) }),
            };
            results[0] = typed(&result_ty, &json)?;
        }
        ClientFn::Call { function, mode } => {
            let client: Resource<RpcClient> =
                resource(params.first())?.try_into_resource(&mut store)?;
            let args = Value::Array(params[1..].iter().map(val_to_json).collect()).to_string();
            let mut parts = store.data_mut().wait_parts();
            let target = parts.table.get(&client)?.target.clone();
            let started = match target {
                Ok(target) => rpc::start(&mut parts, &target, function, &args, *mode).await?,
                Err(message) => Err(RpcError::Protocol(message)),
            };
            let json = match (started, mode) {
                (Err(e), _) => outcome_json(Err(e)),
                (Ok(_), Mode::Send) => serde_json::json!({ "ok": null }),
                (Ok((index, _)), Mode::Await) => {
                    outcome_json(rpc::outcome(&mut parts, index).await?)
                }
                (Ok((index, _)), Mode::Async) => {
                    let future = parts.table.push(RpcFuture { index })?;
                    results[0] = Val::Resource(ResourceAny::try_from_resource(future, &mut store)?);
                    return Ok(());
                }
            };
            results[0] = typed(&result_ty, &json)?;
        }
    }
    Ok(())
}

/// `{"ok": <value>}` or `{"err": {"<case>": "<message>"}}`.
fn outcome_json(outcome: Result<String, RpcError>) -> Value {
    match outcome {
        Ok(text) => match serde_json::from_str::<Value>(&text) {
            Ok(value) => serde_json::json!({ "ok": value }),
            Err(e) => {
                serde_json::json!({ "err": rpc::error_json(&RpcError::Protocol(format!("the callee's result is not JSON: {e}"))) })
            }
        },
        Err(e) => serde_json::json!({ "err": rpc::error_json(&e) }),
    }
}

/// The typed value of `json`; a callee result that does not fit (its component changed
/// since the link check) is a `protocol` error, not a trap.
fn typed(ty: &Type, json: &Value) -> wasmtime::Result<Val> {
    match json_to_val(ty, json) {
        Ok(v) => Ok(v),
        Err(e) => {
            let error = RpcError::Protocol(format!(
                "the callee's result does not fit the client's type: {e}"
            ));
            let err = serde_json::json!({ "err": rpc::error_json(&error) });
            Ok(json_to_val(ty, &err)?)
        }
    }
}

#[cfg(test)]
mod tests;
