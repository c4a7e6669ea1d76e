//! Unit tests of the pure gateway logic: definition parsing and validation,
//! templates, matching, request mapping and response rendering.

use revenant_components::WitShape;
use revenant_types::ErrorKind;
use revenant_types::records::ExportedFunction;
use serde_json::{Value, json};

use super::definition::{ApiFile, CompiledRoute, RouteDef, compile, parse_path};
use super::serve::{find, map_request, parse_query, render};
use super::template::Data;
use crate::invoke::CallOutcome;

const CART_YAML: &str = include_str!("../../../examples/shopping-cart/api.yaml");

fn item_shape() -> WitShape {
    WitShape::Record(vec![
        ("product-id".into(), WitShape::String),
        ("name".into(), WitShape::String),
        ("price".into(), WitShape::Float),
        ("quantity".into(), WitShape::Integer),
    ])
}

fn export(name: &str, params: &[(&str, &str)], result: Option<&str>) -> ExportedFunction {
    ExportedFunction {
        name: format!("example:shopping-cart/api.{{{name}}}"),
        params: params
            .iter()
            .map(|(n, t)| ((*n).into(), (*t).into()))
            .collect(),
        result: result.map(Into::into),
        shapes: vec![],
    }
}

fn cart_routes() -> Vec<RouteDef> {
    ApiFile::parse(CART_YAML).unwrap().remove(0).routes
}

fn add_item() -> CompiledRoute {
    let def = cart_routes().remove(0);
    compile(
        def,
        &export("add-item", &[("item", "product-item")], None),
        vec![("item".into(), item_shape())],
    )
    .unwrap()
}

fn remove_item() -> CompiledRoute {
    let def = cart_routes().remove(2);
    compile(
        def,
        &export(
            "remove-item",
            &[("product-id", "string")],
            Some("result<_, string>"),
        ),
        vec![("product-id".into(), WitShape::String)],
    )
    .unwrap()
}

fn data(path: &[(&str, &str)], body: Option<Value>) -> Data {
    Data {
        path: path
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        body,
        ..Data::default()
    }
}

#[test]
fn maps_the_shopping_cart_request() {
    let route = add_item();
    let body = json!({"product-id": "p1", "name": "Mug", "price": 9.5, "quantity": 2});
    let (worker, args) = map_request(&route, &data(&[("user", "alice")], Some(body))).unwrap();
    assert_eq!(worker.to_string(), "shopping-cart/cart-alice");
    assert_eq!(
        args,
        json!({"item": {"product-id": "p1", "name": "Mug", "price": 9.5, "quantity": 2}})
    );
    let missing = json!({"product-id": "p1", "name": "Mug", "quantity": 2});
    let err = map_request(&route, &data(&[("user", "alice")], Some(missing))).unwrap_err();
    assert_eq!(err.status, 400);
    assert!(err.message.contains("missing body field `price`"), "{err}");
    let err = map_request(&route, &data(&[("user", "a.b")], Some(json!({})))).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidName);
}

#[test]
fn text_values_are_converted_for_numbers() {
    let def: RouteDef = serde_json::from_value(json!({
        "method": "put", "path": "/{user}/items/{product}/{qty}", "component": "shopping-cart",
        "worker": "cart-{path.user}", "function": "update-quantity",
        "args": {"product-id": "{product}", "quantity": "{qty}"}
    }))
    .unwrap();
    let route = compile(
        def,
        &export(
            "update-quantity",
            &[("product-id", "string"), ("quantity", "u32")],
            Some("result<_, string>"),
        ),
        vec![
            ("product-id".into(), WitShape::String),
            ("quantity".into(), WitShape::Integer),
        ],
    )
    .unwrap();
    assert_eq!(route.def.method, "PUT");
    let d = data(&[("user", "bo"), ("product", "p%201"), ("qty", "3")], None);
    let (_, args) = map_request(&route, &d).unwrap();
    assert_eq!(args, json!({"product-id": "p%201", "quantity": 3}));
    let d = data(&[("user", "bo"), ("product", "p"), ("qty", "x")], None);
    let err = map_request(&route, &d).unwrap_err();
    assert!(err.message.contains("expected an integer"), "{err}");
}

#[test]
fn refuses_definitions_that_do_not_fit() {
    let mut def = cart_routes().remove(0);
    let item = |def: &mut RouteDef| {
        def.args.as_mut().unwrap()["item"]
            .as_object_mut()
            .unwrap()
            .clone()
    };
    let fit = |def: RouteDef| {
        compile(
            def,
            &export("add-item", &[("item", "product-item")], None),
            vec![("item".into(), item_shape())],
        )
    };
    let mut fields = item(&mut def);
    fields.insert("colour".into(), json!("red"));
    def.args = Some(json!({"item": fields}));
    let err = fit(def.clone()).unwrap_err();
    assert!(err.contains("has no field `colour`"), "{err}");

    fields.remove("colour");
    fields.remove("price");
    def.args = Some(json!({"item": fields}));
    let err = fit(def.clone()).unwrap_err();
    assert!(
        err.contains("field `price` (a float) has no value"),
        "{err}"
    );

    def.args = Some(json!({"item": "{user}"}));
    let err = fit(def.clone()).unwrap_err();
    assert!(
        err.contains("path parameter `user` (text) cannot fill"),
        "{err}"
    );

    def.args = Some(json!({"item": "{body}", "extra": 1}));
    let err = fit(def.clone()).unwrap_err();
    assert!(err.contains("has no parameter `extra`"), "{err}");

    def.args = Some(json!({}));
    let err = fit(def.clone()).unwrap_err();
    assert!(err.contains("parameter `item`"), "{err}");

    def.args = Some(json!({"item": "{body}"}));
    def.worker = "cart-{nobody}".into();
    let err = fit(def.clone()).unwrap_err();
    assert!(err.contains("names no path parameter"), "{err}");

    def.worker = "cart-{user}".into();
    def.path = "/v1/{user}".into();
    assert!(fit(def.clone()).unwrap_err().contains("serves itself"));
    def.path = "/x{user}".into();
    assert!(fit(def.clone()).unwrap_err().contains("whole segment"));
    def.path = "/{user}/add-item".into();
    def.method = "FETCH".into();
    assert!(fit(def).unwrap_err().contains("method"));
    assert!(parse_path("/").is_err());
}

#[test]
fn finds_the_most_specific_route() {
    let generic: RouteDef = serde_json::from_value(json!({
        "method": "POST", "path": "/{user}/{action}", "component": "shopping-cart",
        "worker": "cart-{user}", "function": "checkout"
    }))
    .unwrap();
    let generic = compile(
        generic,
        &export("checkout", &[], Some("result<order-confirmation, string>")),
        vec![],
    )
    .unwrap();
    let routes = vec![("a".to_owned(), generic), ("b".to_owned(), add_item())];
    let (r, captures) = find(&routes, "POST", "/alice/add-item").unwrap();
    assert_eq!(r.def.function, "add-item");
    assert_eq!(captures, vec![("user".to_owned(), "alice".to_owned())]);
    let (r, _) = find(&routes, "POST", "/alice/other").unwrap();
    assert_eq!(r.def.function, "checkout");
    assert_eq!(
        find(&routes, "GET", "/alice/add-item").unwrap_err().status,
        405
    );
    let e = find(&routes, "POST", "/a/b/c").unwrap_err();
    assert_eq!((e.status.as_u16(), e.kind.as_str()), (404, "no-route"));
}

#[test]
fn renders_ok_and_error_cases() {
    let route = remove_item();
    let r = render(
        &route,
        CallOutcome::Ok(json!({"ok": null})),
        Data::default(),
        "k",
    );
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["idempotency-key"], "k");
    let r = render(
        &route,
        CallOutcome::Ok(json!({"err": "p9 is not in the cart"})),
        Data::default(),
        "k",
    );
    assert_eq!(r.status(), 404);
    let r = render(&add_item(), CallOutcome::Pending, Data::default(), "a b");
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["location"], "/v1/invocations/a%20b");
    let e = crate::ApiError::from_kind(ErrorKind::Trap, "boom");
    let r = render(&add_item(), CallOutcome::Err(e), Data::default(), "k");
    assert_eq!(r.status(), 500);
}

#[test]
fn parses_queries() {
    let q = parse_query(Some("a=1&b=x+y&c=%2F&d"));
    assert_eq!(q["a"], "1");
    assert_eq!(q["b"], "x y");
    assert_eq!(q["c"], "/");
    assert_eq!(q["d"], "");
}
