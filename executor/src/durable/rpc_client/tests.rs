//! The link decision ([`super::plan`]) over components built from WIT text.
use revenant_components::fixtures::component_of;
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

use super::*;

const RPC: &str = "package revenant:api@0.2.0 { interface rpc { variant rpc-error { \
    not-found(string), denied(string), remote-error(string), worker-failed(string), \
    cycle(string), protocol(string) } } }";

fn compile(engine: &Engine, wit: &str, world: &str) -> Component {
    Component::new(engine, component_of(wit, world)).expect("component compiles")
}

/// The functions of `caller`'s client import, planned against `callee`'s `charge`.
fn plan_of(callee_params: &str) -> Result<Vec<(String, ClientFn)>, String> {
    let engine = Engine::new(&Config::new()).expect("engine");
    let caller = format!(
        "package example:caller;
         world caller {{ import example:pay-client/api; export run: func(); }}
         package example:pay-client {{ interface api {{
             use revenant:api/rpc@0.2.0.{{rpc-error}};
             resource api {{
                 constructor(worker-name: string);
                 charge: func(amount: u64) -> result<string, rpc-error>;
                 charge-send: func(amount: u64) -> result<_, rpc-error>;
                 charge-schedule: func(at-epoch-ms: u64, amount: u64) -> result<string, rpc-error>;
             }}
         }} }}
         {RPC}"
    );
    let callee = format!(
        "package example:pay; interface api {{ charge: func({callee_params}) -> string; }}
         world pay {{ export api; }}"
    );
    let caller = compile(&engine, &caller, "caller");
    let callee = compile(&engine, &callee, "pay");
    let (_, instance) = caller
        .component_type()
        .imports(&engine)
        .find_map(|(name, item)| match item.ty {
            ComponentItem::ComponentInstance(i) if name.contains("-client") => Some((name, i)),
            _ => None,
        })
        .expect("the client import");
    let full = "example:pay/api.{charge}".to_owned();
    let ty = crate::exports::lookup_func_type(&callee, &full).expect("charge");
    let callee_functions = CalleeFunctions::from([("charge".to_owned(), (full, ty))]);
    plan(
        "example:pay-client/api",
        "pay",
        &functions(&engine, &instance),
        &callee_functions,
    )
}

#[test]
fn a_client_matching_its_callee_plans_each_method_and_a_mismatch_names_both_types() {
    let mut planned = plan_of("amount: u64").expect("the client matches");
    planned.sort_by(|a, b| a.0.cmp(&b.0));
    let function = "example:pay/api.{charge}".to_owned();
    assert_eq!(
        planned,
        [
            ("[constructor]api".to_owned(), ClientFn::Constructor),
            (
                "[method]api.charge".to_owned(),
                ClientFn::Call {
                    function: function.clone(),
                    mode: Mode::Await
                }
            ),
            (
                "[method]api.charge-schedule".to_owned(),
                ClientFn::Schedule {
                    function: function.clone()
                }
            ),
            (
                "[method]api.charge-send".to_owned(),
                ClientFn::Call {
                    function,
                    mode: Mode::Send
                }
            ),
        ]
    );
    let refused = plan_of("amount: string").expect_err("u64 against string");
    assert!(
        refused.contains("example:pay-client/api")
            && refused
                .contains("its parameters are (u64) but example:pay/api.{charge} takes (string)"),
        "{refused}"
    );
}
