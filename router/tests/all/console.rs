//! The web console in a real browser: a real nats-server, executor and router with
//! the example guests, some history made over HTTP (counter and shopping-cart
//! workers, a failed worker, a schedule, a pending promise, a subscription), then
//! `router/tests/console/console.mjs` drives headless Chromium through every page —
//! invoking through the generated forms, watching a live `invocation-finished`
//! event, travelling back in a worker's history, pressing crash — and saves a
//! screenshot of each page under `target/console-screenshots/`. A JS error in the
//! page, or content that does not appear, fails it. The console's pure modules have
//! unit tests of their own (`router/tests/console/units.test.mjs`, run first).
//!
//! Needs Chromium (`/usr/bin/chromium`, or `$CHROMIUM`) and playwright-core in
//! `.tools/console-test` (or `$PLAYWRIGHT_CORE`); `scripts/bootstrap` installs both.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use revenant_tests::wait_until;
use revenant_types::PromiseId;
use serde_json::json;

use crate::common;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The browser, playwright-core and node, or a panic saying how to install them.
fn tools() -> (PathBuf, PathBuf, PathBuf) {
    let install = "run `scripts/bootstrap` (it installs Debian's chromium and playwright-core into .tools/console-test)";
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        chromium.exists(),
        "no Chromium at {}; {install}",
        chromium.display()
    );
    let playwright = std::env::var_os("PLAYWRIGHT_CORE").map_or_else(
        || workspace().join(".tools/console-test/node_modules/playwright-core"),
        PathBuf::from,
    );
    assert!(
        playwright.join("package.json").exists(),
        "no playwright-core at {}; {install}",
        playwright.display()
    );
    let bundled = workspace().join(".tools/bin/node");
    let node = if bundled.exists() {
        bundled
    } else {
        PathBuf::from("node")
    };
    (chromium, playwright, node)
}

/// Where the screenshots go: `target/console-screenshots/`.
fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("console-screenshots")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_console_page_works_in_a_real_browser() {
    let (chromium, playwright, node) = tools();
    let e = common::env().await;

    // History for the pages to show.
    for (n, total) in [(1, 1), (2, 3), (3, 6)] {
        let path = "/v1/components/counter/workers/tt/invoke/add";
        assert_eq!(
            e.post(path, &format!("[{n}]"), None).await,
            (200, json!(total))
        );
    }
    let item = json!([{"product-id": "p1", "name": "Mug", "price": 4.5, "quantity": 2}]);
    let (status, body) = e
        .post(
            "/v1/components/shopping-cart/workers/alice/invoke/add-item",
            &item.to_string(),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // A failed worker: a trap retried until the policy gives up.
    revenant_tests::revenant::deploy(&e.nats, "faults", revenant_guests::TEST_FAULTS).await;
    let (status, body) = e
        .post(
            "/v1/components/faults/workers/f1/invoke/trap",
            r#"["boom"]"#,
            None,
        )
        .await;
    assert_eq!(
        (status, body["kind"].clone()),
        (500, json!("trap")),
        "{body}"
    );
    // On a worker of its own: a firing during the test must not change `tt`'s total.
    let path = "/v1/components/counter/workers/sched/invoke/add";
    assert_eq!(e.post(path, "[0]", None).await, (200, json!(0)));
    let schedule =
        json!({"function": "add", "args": [1], "cron": "@hourly", "name": "console-hourly"});
    let (status, body) = e
        .post(
            "/v1/components/counter/workers/sched/schedules",
            &schedule.to_string(),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let promise: PromiseId = "counter/tt/1".parse().unwrap();
    e.nats.promises().create(&promise).await.unwrap();
    e.nats
        .ensure_stream("CONSOLE_NUMS", &["cnums.>".into()])
        .await
        .unwrap();
    let sub = json!({
        "name": "console-nums", "stream": "CONSOLE_NUMS", "filters": ["cnums.>"], "component": "counter",
        "worker": "n-{token:2}", "function": "add", "window": 4, "on-failure": "dead-letter", "start": "all"
    });
    let (status, body) = e.post("/v1/subscriptions", &sub.to_string(), None).await;
    assert_eq!(status, 201, "{body}");
    e.nats
        .jetstream()
        .publish("cnums.a", Bytes::from("[5]"))
        .await
        .unwrap()
        .await
        .unwrap();
    wait_until(
        "the subscription's first message applied",
        Duration::from_secs(60),
        || async {
            let (_, one) = e.get("/v1/subscriptions/console-nums").await;
            (one["status"]["applied"] == 1).then_some(())
        },
    )
    .await;

    // The pure modules first: a clear failure beats a timeout in the browser.
    let units = workspace().join("router/tests/console/units.test.mjs");
    let run = tokio::process::Command::new(&node)
        .arg("--test")
        .arg(&units)
        .output()
        .await
        .unwrap_or_else(|err| panic!("could not run {} ({err})", node.display()));
    assert!(
        run.status.success(),
        "the console's unit tests failed:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );

    let out = screenshots();
    let script = workspace().join("router/tests/console/console.mjs");
    let child = tokio::process::Command::new(&node)
        .arg(&script)
        .arg(&e.router.base)
        .arg(&out)
        .env("CHROMIUM", &chromium)
        .env("PLAYWRIGHT_CORE", &playwright)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|err| {
            panic!(
                "could not run {} ({err}); install Node.js 20+ or run scripts/bootstrap",
                node.display()
            )
        });
    let run = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .expect("the browser test did not finish within 300 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    println!("{stdout}");
    assert!(
        run.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}",
        run.status
    );
    for page in [
        "overview",
        "workers",
        "worker",
        "worker-crash",
        "worker-failed",
        "components",
        "schedules",
        "promises",
        "subscriptions",
    ] {
        let shot = out.join(format!("{page}.png"));
        assert!(shot.exists(), "no screenshot {}", shot.display());
        println!("screenshot: {}", shot.display());
    }
}
