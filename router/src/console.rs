//! The web console: `/` is its page and `/console/…` its assets — vanilla JS
//! modules and CSS with no build step, compiled into the router with
//! `include_str!` (nothing is read from disk at run time). Everything it shows
//! comes from the public REST API, with the bearer token the page asks for on a
//! 401. Pages (hash routing, `router/src/console/app.js`): overview (executors and
//! shards, workers by status, invocation rate and errors from `/metrics`), workers
//! (filters, search), a worker (status, failed state with its retry history,
//! pending invocations, oplog, time travel, live events, interrupt / resume /
//! crash, an invoke form generated from the WIT signature), components,
//! schedules, promises and subscriptions. Its browser test is
//! `router/tests/all/console.rs` (headless Chromium driving `router/tests/console/console.mjs`).

use axum::extract::Path;
use axum::response::{Html, IntoResponse, Response};
use http::{StatusCode, header};

const PAGE: &str = include_str!("console/index.html");

/// Every asset under `/console/`, by path, with its content type.
const ASSETS: &[(&str, &str, &str)] = &[
    ("style.css", CSS, include_str!("console/style.css")),
    ("app.js", JS, include_str!("console/app.js")),
    ("api.js", JS, include_str!("console/api.js")),
    ("ui.js", JS, include_str!("console/ui.js")),
    ("metrics.js", JS, include_str!("console/metrics.js")),
    ("history.js", JS, include_str!("console/history.js")),
    ("invoke_form.js", JS, include_str!("console/invoke_form.js")),
    ("timetravel.js", JS, include_str!("console/timetravel.js")),
    (
        "pages/overview.js",
        JS,
        include_str!("console/pages/overview.js"),
    ),
    (
        "pages/workers.js",
        JS,
        include_str!("console/pages/workers.js"),
    ),
    (
        "pages/worker.js",
        JS,
        include_str!("console/pages/worker.js"),
    ),
    (
        "pages/components.js",
        JS,
        include_str!("console/pages/components.js"),
    ),
    (
        "pages/schedules.js",
        JS,
        include_str!("console/pages/schedules.js"),
    ),
    (
        "pages/promises.js",
        JS,
        include_str!("console/pages/promises.js"),
    ),
    (
        "pages/subscriptions.js",
        JS,
        include_str!("console/pages/subscriptions.js"),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// `GET /`.
pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// `GET /console/{*path}`: an asset of the console, or 404.
pub async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such console asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_console_imports_is_served() {
        for (path, _, body) in ASSETS.iter().filter(|(p, _, _)| p.ends_with(".js")) {
            for import in body
                .match_indices("from '")
                .chain(body.match_indices("import('"))
                .map(|(i, m)| {
                    let rest = &body[i + m.len()..];
                    &rest[..rest.find('\'').unwrap_or(0)]
                })
            {
                let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                let mut parts: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
                for seg in import.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let resolved = parts.join("/");
                assert!(
                    ASSETS.iter().any(|(p, _, _)| *p == resolved),
                    "{path} imports {import} ({resolved}), which is not served"
                );
            }
        }
        assert!(PAGE.contains("/console/app.js"));
    }
}
