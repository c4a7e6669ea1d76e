//! `revenant_router::app(state)` without a socket (tower `oneshot`), against a
//! real nats-server but no executor: routing, request mapping and error
//! rendering that need no worker to run.

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use revenant_router::{AppState, RouterOptions, app};
use revenant_tests::NatsServer;
use revenant_tests::revenant::{connect, deploy};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn call(state: &AppState, req: Request<Body>) -> (u16, Value) {
    let r = app(state.clone()).oneshot(req).await.unwrap();
    let status = r.status().as_u16();
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn post(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_and_errors_without_a_socket() {
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    deploy(&nats, "shopping-cart", revenant_guests::SHOPPING_CART).await;
    let state = AppState::new(nats, RouterOptions::default()).await.unwrap();

    let (s, b) = call(
        &state,
        Request::get("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!((s, b), (200, json!({"status": "ok"})));
    let (s, b) = call(
        &state,
        Request::get("/nowhere").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!((s, b["kind"].as_str()), (404, Some("no-route")));

    let invoke = "/v1/components/shopping-cart/workers/w/invoke";
    let (s, b) = call(&state, post(&format!("{invoke}/add-item"), "{")).await;
    assert_eq!((s, b["kind"].as_str()), (400, Some("invalid-json")), "{b}");
    let (s, b) = call(&state, post(&format!("{invoke}/fly"), "[]")).await;
    assert_eq!(
        (s, b["kind"].as_str()),
        (404, Some("unknown-function")),
        "{b}"
    );
    let (s, b) = call(&state, post(&format!("{invoke}/add-item"), "[1, 2]")).await;
    assert_eq!(
        (s, b["kind"].as_str()),
        (400, Some("invalid-arguments")),
        "{b}"
    );

    // Deploy a route and map a request with a missing field: refused before any invocation.
    let api = json!({"name": "cart", "routes": [{
        "method": "POST", "path": "/{user}/add-item", "component": "shopping-cart",
        "worker": "cart-{user}", "function": "add-item",
        "args": {"item": {"product-id": "{body.id}", "name": "{body.name}", "price": "{query.price}", "quantity": 1}}
    }]});
    let (s, b) = call(&state, post("/v1/apis", &api.to_string())).await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = call(
        &state,
        post("/ann/add-item?price=abc", r#"{"id": "p", "name": "n"}"#),
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
            .contains("query parameter `price` is \"abc\"; expected a number"),
        "{b}"
    );
    let (s, b) = call(&state, post("/ann/add-item?price=2", r#"{"name": "n"}"#)).await;
    assert!(
        s == 400
            && b["message"]
                .as_str()
                .unwrap()
                .contains("missing body field `id`"),
        "{b}"
    );
    let (s, doc) = call(
        &state,
        Request::get("/openapi.json").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    assert!(doc["paths"]["/{user}/add-item"].is_object());
}
