//! `/v1/promises…` through a real router (loopback socket, reqwest) and
//! nats-server. No executor: completing a promise needs only the store.

use crate::common;

use common::{client, read, start_router};
use revenant_nats::Nats;
use revenant_tests::NatsServer;
use revenant_tests::revenant::connect;
use revenant_types::PromiseId;
use serde_json::json;

struct Env {
    nats: Nats,
    router: common::Router,
    http: reqwest::Client,
    _server: NatsServer,
}

impl Env {
    async fn new() -> Self {
        let server = NatsServer::start();
        let nats = connect(&server.options()).await;
        let router = start_router(&nats).await;
        Self {
            nats,
            router,
            http: client(),
            _server: server,
        }
    }

    async fn create(&self, id: &str) {
        let id: PromiseId = id.parse().unwrap();
        self.nats.promises().create(&id).await.unwrap();
    }

    async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.router.base);
        read(self.http.post(url).body(body).send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.router.base);
        read(self.http.get(url).send().await.unwrap()).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promise_is_completed_once_read_and_listed_over_http() {
    let e = Env::new().await;
    e.create("approval/a1/5").await;
    e.create("approval/a2/7").await;
    e.create("other/a1/3").await;

    let (status, pending) = e.get("/v1/promises/approval/a1/5").await;
    assert_eq!(status, 200);
    assert_eq!(pending["state"], "pending");
    assert_eq!(pending["id"], "approval/a1/5");
    assert!(pending.get("payload").is_none(), "{pending}");

    let path = "/v1/promises/approval/a1/5/complete";
    assert_eq!(
        e.post(path, r#"{"approved": true}"#).await,
        (200, json!({"completed": true}))
    );
    let (status, again) = e.post(path, r#"{"approved": false}"#).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["kind"], "promise-already-completed");
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("already completed"),
        "{again}"
    );

    let (_, done) = e.get("/v1/promises/approval/a1/5").await;
    assert_eq!(done["state"], "completed");
    assert_eq!(done["payload"], json!({"approved": true}));
    assert!(done["completed-at"].is_u64(), "{done}");

    // Not JSON: kept as bytes, shown as base64.
    assert_eq!(
        e.post("/v1/promises/approval/a2/7/complete", vec![0xffu8, 0, b'a'])
            .await
            .0,
        200
    );
    let (_, binary) = e.get("/v1/promises/approval/a2/7").await;
    assert_eq!(binary["payload-base64"], "/wBh", "{binary}");
    assert!(binary.get("payload").is_none(), "{binary}");

    // The listing has the pending ones only, with their ids.
    let ids = |v: serde_json::Value| -> Vec<String> {
        v["promises"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, all) = e.get("/v1/promises").await;
    assert_eq!(status, 200);
    assert_eq!(ids(all), ["other/a1/3"]);
    e.create("approval/a1/9").await;
    assert_eq!(
        ids(e.get("/v1/promises?component=approval").await.1),
        ["approval/a1/9"]
    );
    assert_eq!(
        ids(e.get("/v1/promises?worker=a1").await.1),
        ["approval/a1/9", "other/a1/3"]
    );
    assert_eq!(
        ids(e.get("/v1/promises?component=other&worker=a1").await.1),
        ["other/a1/3"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_promises_and_bad_ids_are_clear_errors() {
    let e = Env::new().await;
    let (status, body) = e.post("/v1/promises/approval/nobody/4/complete", "1").await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (404, Some("unknown-promise"))
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("approval/nobody/4"),
        "{body}"
    );
    let (status, body) = e.get("/v1/promises/approval/nobody/4").await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (404, Some("unknown-promise"))
    );

    let (status, body) = e.post("/v1/promises/approval/a1/x/complete", "1").await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (400, Some("invalid-promise-id"))
    );
    assert!(
        body["message"].as_str().unwrap().contains("whole number"),
        "{body}"
    );
    let (status, body) = e.get("/v1/promises/appro%20val/a1/1").await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (400, Some("invalid-promise-id"))
    );
    let (status, body) = e.get("/v1/promises?component=a.b").await;
    assert_eq!((status, body["kind"].as_str()), (400, Some("invalid-name")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_has_the_promise_endpoints() {
    let e = Env::new().await;
    let (_, doc) = e.get("/openapi.json").await;
    let paths = &doc["paths"];
    assert!(
        paths["/v1/promises/{component}/{worker}/{index}/complete"]["post"].is_object(),
        "{paths}"
    );
    assert!(paths["/v1/promises/{component}/{worker}/{index}"]["get"].is_object());
    assert!(paths["/v1/promises"]["get"].is_object());
}
