//! Router bearer tokens over real HTTP: with tokens configured (one from the
//! list, two from a file, all kept as hashes), every request needs a token of
//! the scope its route asks for — read, invoke or admin — and gets 401 without
//! a valid one and 403 with too small a scope, each body saying what was
//! expected; `/healthz` and the console page stay open, the console sends the
//! token, and the event stream takes it as `?access_token=`.

use crate::common;

use reqwest::Method;
use revenant_router::auth::hash_token;

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_required_by_scope_and_refusals_say_what_was_expected() {
    let env = common::env().await;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        format!(
            "# scope hash name\nread {} dashboards\n\ninvoke {} ci\n",
            hash_token("read-secret"),
            hash_token("invoke-secret")
        ),
    )
    .unwrap();
    let mut opts = common::options();
    opts.tokens = vec![format!("admin {} ops", hash_token("admin-secret"))];
    opts.token_file = Some(file.path().to_path_buf());
    let router = common::start_router_with(&env.nats, opts).await;
    let http = common::client();

    let request = |method: Method, path: &str, token: Option<&str>| {
        let mut r = http.request(method, format!("{}{path}", router.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r
    };
    let invoke = "/v1/components/counter/workers/auth-1/invoke/add";
    let create = "/v1/components/counter/workers";
    // (method, path, body, status with no token / read / invoke / admin / a wrong token)
    let matrix: [(Method, &str, &str, [u16; 5]); 7] = [
        (Method::GET, "/healthz", "", [200, 200, 200, 200, 200]),
        (Method::GET, "/", "", [200, 200, 200, 200, 200]),
        (Method::GET, "/v1/workers", "", [401, 200, 200, 200, 401]),
        (Method::GET, "/metrics", "", [401, 200, 200, 200, 401]),
        (Method::POST, invoke, "[1]", [401, 403, 200, 200, 401]),
        (
            Method::POST,
            create,
            r#"{"name":"auth-2"}"#,
            [401, 403, 403, 201, 401],
        ),
        (
            Method::DELETE,
            "/v1/apis/none",
            "",
            [401, 403, 403, 404, 401],
        ),
    ];
    let tokens = [
        None,
        Some("read-secret"),
        Some("invoke-secret"),
        Some("admin-secret"),
        Some("guess"),
    ];
    for (method, path, body, expected) in &matrix {
        for (token, want) in tokens.iter().zip(expected) {
            let r = request(method.clone(), path, *token)
                .header("Content-Type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let challenge = r.headers().get("www-authenticate").cloned();
            assert_eq!(
                status,
                *want,
                "{method} {path} with {token:?}: {}",
                r.text().await.unwrap()
            );
            if status == 401 || status == 403 {
                let (_, body) = common::read(r).await;
                let kind = if status == 401 {
                    "unauthorized"
                } else {
                    "forbidden"
                };
                assert_eq!(body["kind"], kind, "{body}");
                let message = body["message"].as_str().unwrap();
                assert!(
                    message.contains("expected") || message.contains("needs"),
                    "{message}"
                );
                assert_eq!(challenge.is_some(), status == 401);
            }
            println!("{method} {path} with {token:?}: {status}");
        }
    }

    // The console (its assets open like its page) sends the token it is given; the event
    // stream accepts it in the query.
    let page = request(Method::GET, "/console/api.js", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Authorization = `Bearer") && page.contains("access_token="));
    let events = "/v1/components/counter/workers/auth-1/events";
    let r = request(Method::GET, events, None).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = http
        .get(format!("{}{events}?access_token=read-secret", router.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_list_with_a_plain_token_is_refused_at_start() {
    let env = common::env().await;
    let mut opts = common::options();
    opts.tokens = vec!["admin hunter2".into()];
    let e = revenant_router::AppState::new(env.nats.clone(), opts)
        .await
        .err()
        .expect("a plain token is refused");
    let text = e.to_string();
    assert!(
        text.contains("sha256:") && !text.contains("hunter2\""),
        "{text}"
    );
}
