//! Snapshots, updates and export/import as a user runs them: `revenant component
//! add --snapshot-every`, `worker snapshot`, `worker export` / `import`, `component
//! update-workers` — the binary against a real nats-server and a child executor.

use revenant_tests::NatsServer;
use revenant_tests::revenant::{connect, invoke};
use revenant_types::oplog::OplogEntry;
use serde_json::json;

use crate::common::{self, Executor, revenant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_export_import_and_update_from_the_command_line() {
    let _alone = common::alone().await;
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let counter = revenant_guests::COUNTER;

    let added = common::revenant_ok(
        &url,
        &[
            "component",
            "add",
            "counter",
            counter,
            "--snapshot-every",
            "5",
        ],
    );
    assert!(added.contains("counter version 1"), "{added}");
    let mut exec = Executor::spawn(&url, &[], "e1", dir.path(), &[]);
    for i in 0..12u64 {
        let key = format!("e1-{i}");
        let got = invoke(&nats, "counter/e1", "add", json!([1]), Some(&key)).await;
        assert_eq!(got, Ok(json!(i + 1)));
    }
    let taken = common::revenant_ok(&url, &["worker", "snapshot", "counter/e1"]);
    assert!(taken.contains("snapshot: counter/e1/"), "{taken}");

    // Export, then import as another worker: it answers with the same state.
    let file = dir.path().join("e1.json");
    let file = file.to_str().unwrap();
    common::revenant_ok(&url, &["worker", "export", "counter/e1", "-o", file]);
    let imported = common::revenant_ok(&url, &["worker", "import", file, "--as", "counter/e2"]);
    assert!(imported.contains("imported counter/e2"), "{imported}");
    let again = revenant(&url, &["worker", "import", file, "--as", "counter/e2"]);
    assert!(
        !again.status.success(),
        "an existing worker is never overwritten"
    );
    assert_eq!(
        invoke(&nats, "counter/e2", "get", json!([]), None).await,
        Ok(json!(12))
    );
    let copied = nats
        .oplog()
        .read(
            &revenant_types::WorkerId::parse_path("counter/e2").unwrap(),
            1,
        )
        .await
        .unwrap();
    assert!(
        copied
            .entries
            .iter()
            .any(|(_, e)| matches!(e, OplogEntry::Snapshot { object, .. } if object.starts_with("counter/e2/"))),
        "the copy has snapshots of its own"
    );

    // Every worker of the component moves to version 2 by snapshot.
    common::revenant_ok(&url, &["component", "add", "counter", counter]);
    let updated = common::revenant_ok(
        &url,
        &[
            "component",
            "update-workers",
            "counter",
            "--to",
            "2",
            "--mode",
            "snapshot",
        ],
    );
    assert!(
        updated.contains("counter/e1\tversion 2") && updated.contains("counter/e2\tversion 2"),
        "{updated}"
    );
    for w in ["counter/e1", "counter/e2"] {
        assert_eq!(
            invoke(&nats, w, "get", json!([]), None).await,
            Ok(json!(12))
        );
    }
    let refused = revenant(&url, &["worker", "update", "counter/e1", "--to", "9"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no version 9"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    exec.kill();
}
