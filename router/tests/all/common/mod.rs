//! Shared set-up of the router's integration tests: a real nats-server, an
//! in-process executor, the example guests deployed, and routers serving on
//! real loopback sockets (one may run in its own runtime so a test can kill
//! it mid-request, connections and all).

#![allow(dead_code)]

use std::time::Duration;

use revenant_nats::Nats;
use revenant_router::{AppState, RouterOptions};
use revenant_tests::NatsServer;
use revenant_tests::revenant::{TestExecutor, connect, deploy};

/// Everything a test talks to.
pub struct Env {
    pub nats: Nats,
    pub executor: Option<TestExecutor>,
    pub router: Router,
    pub http: reqwest::Client,
    // Last: the server outlives the clients.
    pub server: NatsServer,
}

/// A router serving on a loopback port.
pub struct Router {
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Router {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn options() -> RouterOptions {
    RouterOptions {
        listen: "127.0.0.1:0".into(),
        invoke_timeout_ms: 20_000,
        ..RouterOptions::default()
    }
}

/// Starts a router on a free port (the listener is bound before this returns).
pub async fn start_router(nats: &Nats) -> Router {
    start_router_with(nats, options()).await
}

/// [`start_router`] with other options.
pub async fn start_router_with(nats: &Nats, opts: RouterOptions) -> Router {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::new(nats.clone(), opts).await.unwrap();
    let task = tokio::spawn(async move {
        revenant_router::serve_listener(listener, state, std::future::pending())
            .await
            .unwrap();
    });
    Router { base, task }
}

/// nats-server + executor + counter and shopping-cart deployed + a router.
pub async fn env() -> Env {
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    deploy(&nats, "counter", revenant_guests::COUNTER).await;
    deploy(&nats, "shopping-cart", revenant_guests::SHOPPING_CART).await;
    let executor = Some(TestExecutor::start(&nats));
    let router = start_router(&nats).await;
    Env {
        nats,
        executor,
        router,
        http: client(),
        server,
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.router.base)
    }

    /// POSTs JSON text and returns (status, JSON body).
    pub async fn post(
        &self,
        path: &str,
        body: &str,
        key: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.http.post(self.url(path)).body(body.to_owned());
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        read(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        read(self.http.get(self.url(path)).send().await.unwrap()).await
    }

    pub async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        read(self.http.delete(self.url(path)).send().await.unwrap()).await
    }
}

/// Status and JSON body (`null` when empty).
pub async fn read(r: reqwest::Response) -> (u16, serde_json::Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let json = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, json)
}
