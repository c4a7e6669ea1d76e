//! `revenant promise complete|get|list` as a user runs them: the binary against
//! a real nats-server, promises created through the store as an executor would.

use std::process::Output;

use revenant_nats::Nats;
use revenant_tests::NatsServer;
use revenant_tests::revenant::connect;
use revenant_types::PromiseId;

use crate::common;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn create(nats: &Nats, id: &str) {
    let id: PromiseId = id.parse().unwrap();
    nats.promises().create(&id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promises_are_completed_once_shown_and_listed_from_the_command_line() {
    let _alone = common::alone().await;
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    let url = server.url();
    create(&nats, "approval/a1/5").await;
    create(&nats, "approval/a2/6").await;
    create(&nats, "other/o1/2").await;

    let listed = common::revenant(&url, &["promise", "list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert_eq!(
        stdout(&listed),
        "approval/a1/5\tpending\napproval/a2/6\tpending\nother/o1/2\tpending\n"
    );

    let first = common::revenant(
        &url,
        &["promise", "complete", "approval/a1/5", r#"{"ok": true}"#],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stdout(&first).contains("completed promise approval/a1/5"));

    let second = common::revenant(&url, &["promise", "complete", "approval/a1/5", "false"]);
    assert!(!second.status.success());
    assert!(
        stderr(&second).contains("promise approval/a1/5 was already completed"),
        "{}",
        stderr(&second)
    );

    let got = common::revenant(&url, &["promise", "get", "approval/a1/5", "--json"]);
    assert!(got.status.success(), "{}", stderr(&got));
    let json: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(json["state"], "completed");
    assert_eq!(json["payload"], serde_json::json!({"ok": true}));
    let got = common::revenant(&url, &["promise", "get", "approval/a1/5"]);
    assert_eq!(stdout(&got), "approval/a1/5\tcompleted\t{\"ok\": true}\n");

    // Pending ones only, filtered by component or worker.
    let listed = common::revenant(&url, &["promise", "list", "approval", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let ids: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["approval/a2/6"]);
    let listed = common::revenant(&url, &["promise", "list", "other/o1"]);
    assert_eq!(stdout(&listed), "other/o1/2\tpending\n");

    // Bad input: each says what was expected.
    let unknown = common::revenant(&url, &["promise", "complete", "approval/nobody/1", "1"]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("promise approval/nobody/1 does not exist"),
        "{}",
        stderr(&unknown)
    );
    let not_json = common::revenant(&url, &["promise", "complete", "approval/a2/6", "yes"]);
    assert!(!not_json.status.success());
    assert!(
        stderr(&not_json).contains("expected a JSON value"),
        "{}",
        stderr(&not_json)
    );
    let bad_id = common::revenant(&url, &["promise", "get", "approval/a2"]);
    assert!(!bad_id.status.success());
    assert!(
        stderr(&bad_id).contains("expected <component>/<worker>/<index>"),
        "{}",
        stderr(&bad_id)
    );
    // Nothing above completed the pending one.
    let listed = common::revenant(&url, &["promise", "list", "approval/a2"]);
    assert_eq!(stdout(&listed), "approval/a2/6\tpending\n");
}
