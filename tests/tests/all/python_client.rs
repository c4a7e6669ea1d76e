//! A non-Rust client speaks the NATS contract with nothing but its NATS
//! library: `tests/python/client.py` (nats-py, from `.tools/venv`) invokes the
//! counter by a JetStream publish with `Rvn-Function`, `Nats-Msg-Id` and
//! `Rvn-Reply-To` (twice with one key: deduplicated, one answer) and by core
//! requests on `rvn.call.…`, and this test asserts on what it printed.

use crate::common;

use common::Env;
use revenant_tests::revenant::call;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_python_client_invokes_and_calls_the_counter() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let exec = env.executor().await;
    let lines = common::python_lines("client.py", &[&env.server.url(), "py1"]).await;

    assert_eq!(
        lines,
        vec![
            json!({ "via": "puback", "duplicate": false }),
            json!({ "via": "puback", "duplicate": true }),
            json!({ "via": "invoke", "status": "ok", "body": 5 }),
            json!({ "via": "call", "status": "ok", "body": 10 }),
            lines[4].clone(),
            json!({ "via": "call-wave", "status": "ok", "body": 10 }),
        ],
        "{lines:?}"
    );
    assert_eq!(lines[4]["status"], "error", "{}", lines[4]);
    assert_eq!(
        lines[4]["body"]["kind"], "invalid-arguments",
        "{}",
        lines[4]
    );
    // What Python did is what a Rust client sees.
    assert_eq!(
        call(&env.nats, "counter/py1", "get", json!([])).await,
        Ok(json!(10))
    );
    exec.stop().await;
}
