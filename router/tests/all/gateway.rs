//! User-defined routes through real routers, executor and nats-server: the
//! shopping-cart API of `examples/shopping-cart/api.yaml`, validation at
//! deploy time, statelessness (a second router serves the same routes), and
//! a router killed mid-request losing nothing.

use crate::common;

use common::{client, env, read, start_router};
use futures::StreamExt;
use revenant_tests::revenant::TestExecutor;
use serde_json::json;

const CART_API: &str = include_str!("../../../examples/shopping-cart/api.yaml");

const ITEM: &str = r#"{"product-id": "p1", "name": "Mug", "price": 9.5, "quantity": 2}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopping_cart_routes() {
    let e = env().await;
    let (s, b) = e.post("/v1/apis", CART_API, None).await;
    assert_eq!((s, b["name"].as_str()), (201, Some("shopping-cart")), "{b}");

    assert_eq!(
        e.post("/alice/add-item", ITEM, None).await,
        (200, json!({"added": "p1"}))
    );
    let (s, cart) = e.get("/alice/cart").await;
    assert_eq!(s, 200);
    assert_eq!(
        cart,
        json!([{"product-id": "p1", "name": "Mug", "price": 9.5, "quantity": 2}])
    );
    assert_eq!(
        e.get("/bob/cart").await,
        (200, json!([])),
        "one worker per user"
    );
    let (_, w) = e
        .get("/v1/components/shopping-cart/workers/cart-alice")
        .await;
    assert_eq!(w["id"]["worker"], "cart-alice");

    // A WIT `result` error picks the error response; ok picks the ok one.
    let (s, b) = e.delete("/alice/items/nope").await;
    assert_eq!((s, b["kind"].as_str()), (404, Some("not-in-cart")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("nope"), "{b}");
    assert_eq!(e.delete("/alice/items/p1").await.0, 204);
    let (s, b) = e.post("/alice/checkout", "", None).await;
    assert_eq!(
        s, 422,
        "checkout of an empty cart is the function's error: {b}"
    );

    // Bad requests.
    let (s, b) = e
        .post(
            "/alice/add-item",
            r#"{"product-id": "p1", "name": "Mug", "quantity": 2}"#,
            None,
        )
        .await;
    assert_eq!(
        (s, b["kind"].as_str()),
        (400, Some("invalid-request")),
        "{b}"
    );
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("missing body field `price`"),
        "{b}"
    );
    let (s, b) = e
        .post(
            "/alice/add-item",
            r#"{"product-id": "p1", "name": "Mug", "price": "cheap", "quantity": 2}"#,
            None,
        )
        .await;
    assert_eq!(
        (s, b["kind"].as_str()),
        (400, Some("invalid-arguments")),
        "{b}"
    );
    assert!(b["message"].as_str().unwrap().contains("price"), "{b}");
    assert_eq!(
        e.post("/alice/add-item", "{oops", None).await.1["kind"],
        "invalid-json"
    );
    assert_eq!(e.get("/alice/add-item").await.0, 405);
    assert_eq!(e.get("/alice/nothing/here").await.1["kind"], "no-route");

    // Listed, documented, and served by any router.
    let (_, apis) = e.get("/v1/apis").await;
    assert_eq!(apis[0]["routes"][0]["path"], "/{user}/add-item");
    assert_eq!(
        e.get("/v1/apis/shopping-cart").await.1["name"],
        "shopping-cart"
    );
    let (_, doc) = e.get("/openapi.json").await;
    assert!(
        doc["paths"]["/{user}/add-item"]["post"].is_object(),
        "{}",
        doc["paths"]
    );
    let other = start_router(&e.nats).await;
    let (s, cart) = read(
        client()
            .get(format!("{}/carol/cart", other.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, cart), (200, json!([])));

    // Deleted: gone here at once.
    assert_eq!(e.delete("/v1/apis/shopping-cart").await.0, 204);
    assert_eq!(e.get("/alice/cart").await.0, 404);
    assert_eq!(e.delete("/v1/apis/shopping-cart").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definitions_that_do_not_fit_are_refused() {
    let e = env().await;
    let route = |extra: serde_json::Value| {
        let mut r = json!({
            "method": "POST", "path": "/{user}/add", "component": "shopping-cart",
            "worker": "cart-{user}", "function": "add-item",
            "args": {"item": {"product-id": "{body.id}", "name": "{body.name}", "price": "{body.price}", "quantity": 1}}
        });
        r.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"name": "bad", "routes": [r]}).to_string()
    };
    let refused = |body: String, what: &'static str| {
        let e = &e;
        async move {
            let (s, b) = e.post("/v1/apis", &body, None).await;
            assert_eq!(s, 400, "{what}: {b}");
            assert_eq!(b["kind"], "invalid-api");
            let m = b["message"].as_str().unwrap().to_owned();
            assert!(m.contains(what), "expected {what:?} in {m:?}");
        }
    };
    refused(
        route(json!({"function": "add-everything"})),
        "exports no function `add-everything`",
    )
    .await;
    refused(
        route(json!({"component": "nope"})),
        "component nope does not exist",
    )
    .await;
    refused(route(json!({"args": {"item": {"product-id": "x", "name": "n", "price": 1, "quantity": 1, "colour": "red"}}})), "has no field `colour`").await;
    refused(
        route(json!({"args": {"item": {"product-id": "x", "name": "n", "price": 1}}})),
        "field `quantity`",
    )
    .await;
    refused(
        route(json!({"args": {"item": "{user}"}})),
        "path parameter `user` (text) cannot fill",
    )
    .await;
    refused(
        route(json!({"args": {"item": {"product-id": 5, "name": "n", "price": 1, "quantity": 1}}})),
        "a number cannot fill a value of type string",
    )
    .await;
    refused(
        route(json!({"worker": "cart-{who}"})),
        "names no path parameter",
    )
    .await;
    refused(route(json!({"path": "/v1/x"})), "serves itself").await;
    refused("name: x\nroutes: 5\n".into(), "not an API definition").await;

    // The same route in two APIs is a conflict.
    let ok = route(json!({}));
    assert_eq!(e.post("/v1/apis", &ok, None).await.0, 201);
    let (s, b) = e
        .post("/v1/apis", &ok.replace("\"bad\"", "\"other\""), None)
        .await;
    assert_eq!(
        (s, b["kind"].as_str()),
        (409, Some("route-conflict")),
        "{b}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_killed_mid_request_loses_nothing() {
    let mut e = env().await;
    assert_eq!(e.post("/v1/apis", CART_API, None).await.0, 201);
    // No executor: the invocation waits in RVN_INVOKE while the router dies.
    e.executor.take().unwrap().stop().await;

    // The doomed router runs in its own runtime so that killing it kills its connections too.
    let doomed = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let opts = e.server.options();
    let (base_tx, base_rx) = tokio::sync::oneshot::channel();
    doomed.spawn(async move {
        let nats = revenant_tests::revenant::connect(&opts).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _ = base_tx.send(format!("http://{}", listener.local_addr().unwrap()));
        let state = revenant_router::AppState::new(nats, common::options())
            .await
            .unwrap();
        revenant_router::serve_listener(listener, state, std::future::pending())
            .await
            .unwrap();
    });
    let base = base_rx.await.unwrap();

    // Watch the invocation being published (core subscription on the invoke subjects).
    let mut published = e
        .nats
        .client()
        .subscribe("rvn.invoke.shopping-cart.*")
        .await
        .unwrap();
    e.nats.flush().await.unwrap();
    let request = tokio::spawn(
        client()
            .post(format!("{base}/dave/add-item"))
            .header("Idempotency-Key", "crash-1")
            .body(ITEM)
            .send(),
    );
    let msg = published.next().await.unwrap();
    assert_eq!(msg.subject.as_str(), "rvn.invoke.shopping-cart.cart-dave");

    doomed.shutdown_background();
    assert!(
        request.await.unwrap().is_err(),
        "the client sees its connection die"
    );

    // The client retries with the same key through a new router once an executor is back.
    e.executor = Some(TestExecutor::start(&e.nats));
    let retry = e.post("/dave/add-item", ITEM, Some("crash-1")).await;
    assert_eq!(retry, (200, json!({"added": "p1"})));
    let (_, cart) = e.get("/dave/cart").await;
    assert_eq!(cart[0]["quantity"], 2, "added exactly once: {cart}");
    assert_eq!(cart.as_array().unwrap().len(), 1);
}
