//! `test-http` — a test guest making one outgoing HTTP GET through
//! `wasi:http/outgoing-handler`, so the host can journal the request and its
//! full response (and replay it without the network).
//!
//! Build (from `tests/guests/programs/`): `cargo build --target wasm32-wasip2 --release`,
//! producing `target/wasm32-wasip2/release/test_http.wasm` (the `revenant-guests`
//! crate does this for the tests and exposes the path as `TEST_HTTP`).
//!
//! Call: `nats request rvn.call.test-http.w1 -H 'Rvn-Function: get' '["http://127.0.0.1:8080/"]'`
//! answers ok `{status, body}`. Prints nothing. Exports `test:http/api.{get, get-size}`;
//! imports `wasi:http/{types, outgoing-handler}` and `wasi:io/*` (WASI 0.2).

use std::io::Read;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, Method, OutgoingRequest, Scheme};

wit_bindgen::generate!({ path: "wit", world: "test-http" });

use exports::test::http::api::{Guest, HttpReply};

/// `scheme://authority/path?query` split into its request parts.
fn split_url(url: &str) -> Result<(Scheme, &str, &str), String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        return Err(format!("expected an http:// or https:// URL, got {url:?}"));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("URL {url:?} has no host"));
    }
    Ok((scheme, authority, if path.is_empty() { "/" } else { path }))
}

fn get(url: &str) -> Result<HttpReply, String> {
    let (scheme, authority, path) = split_url(url)?;
    let request = OutgoingRequest::new(Fields::new());
    let invalid = |what: &str| format!("invalid {what} in URL {url:?}");
    request
        .set_method(&Method::Get)
        .map_err(|()| invalid("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| invalid("authority"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| invalid("path"))?;

    let pending =
        outgoing_handler::handle(request, None).map_err(|e| format!("request rejected: {e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("response not ready after its pollable fired")?
        .map_err(|()| "response already taken")?
        .map_err(|e| format!("request failed: {e:?}"))?;

    let status = response.status();
    let body = response
        .consume()
        .map_err(|()| "response body already consumed")?;
    let mut bytes = Vec::new();
    {
        let mut stream = body.stream().map_err(|()| "body stream already taken")?;
        stream
            .read_to_end(&mut bytes)
            .map_err(|e| format!("reading the body failed: {e}"))?;
    }
    drop(body);
    Ok(HttpReply {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

struct TestHttp;

impl Guest for TestHttp {
    fn get(url: String) -> Result<HttpReply, String> {
        get(&url)
    }

    fn get_size(url: String) -> Result<(u16, u64), String> {
        get(&url).map(|r| (r.status, r.body.len() as u64))
    }
}

export!(TestHttp);
