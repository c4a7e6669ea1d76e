//! The harness itself: a restarted server keeps its port and its data, and a
//! three-node cluster provisions replicated streams and survives losing a node.

use std::time::Duration;

use revenant_nats::revenant_types::codec::OplogBatch;
use revenant_nats::revenant_types::names::WorkerId;
use revenant_nats::revenant_types::oplog::OplogEntry;
use revenant_nats::{AppendError, Nats};
use revenant_tests::{NatsCluster, NatsServer, wait_until};

fn entry(i: u64) -> OplogEntry {
    OplogEntry::Resumed { at: i }
}

#[tokio::test]
async fn a_restarted_server_keeps_its_port_and_store() {
    let mut server = NatsServer::start();
    let port = server.port();
    let w = WorkerId::parse("c", "w").unwrap();
    let nats = Nats::connect(&server.options()).await.unwrap();
    nats.provision().await.unwrap();
    let seq = nats
        .oplog()
        .append(
            &w,
            0,
            &OplogBatch {
                first: 1,
                entries: vec![entry(1)],
            },
        )
        .await
        .unwrap();

    server.restart();
    assert_eq!(server.port(), port);
    // The client reconnects by itself; poll until the store answers again.
    let read = wait_until(
        "the oplog after restart",
        Duration::from_secs(15),
        || async { nats.oplog().read(&w, 1).await.ok() },
    )
    .await;
    assert_eq!(read.entries, vec![(1, entry(1))]);
    assert_eq!(read.last_seq, seq);
    let report = nats.provision_report().await.unwrap();
    assert!(
        report.created.is_empty() && report.updated.is_empty(),
        "{report:?}"
    );

    server.kill();
    let gone = Nats::connect(&server.options()).await;
    assert!(gone.is_err(), "a killed server must refuse connections");
}

#[tokio::test]
async fn a_three_node_cluster_keeps_a_replicated_oplog_through_a_node_loss() {
    let mut cluster = NatsCluster::start(3);
    assert_eq!(cluster.urls().len(), 3);
    let opts = cluster.options();
    assert_eq!(opts.replicas, 3);
    let nats = Nats::connect(&opts).await.unwrap();
    // Right after start-up the meta leader may still be settling.
    wait_until(
        "provisioning on the cluster",
        Duration::from_secs(30),
        || async { nats.provision().await.ok() },
    )
    .await;

    let w = WorkerId::parse("c", "w").unwrap();
    let store = nats.oplog();
    let mut last = store
        .append(
            &w,
            0,
            &OplogBatch {
                first: 1,
                entries: vec![entry(1)],
            },
        )
        .await
        .unwrap();

    cluster.node(0).kill();
    assert!(!cluster.node(0).is_running());
    let mut next = 2;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while next <= 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "appends did not resume after losing a node"
        );
        match store
            .append(
                &w,
                last,
                &OplogBatch {
                    first: next,
                    entries: vec![entry(next)],
                },
            )
            .await
        {
            Ok(seq) => {
                last = seq;
                next += 1;
            }
            // A leader change may time an append out; the fencing tells us if it landed after all.
            Err(AppendError::Fenced {
                actual: Some(actual),
                ..
            }) => {
                last = actual;
                next = store.read(&w, 1).await.unwrap().next_index;
            }
            Err(AppendError::Other(e)) => {
                back_off(&e).await;
                last = store.last_seq(&w).await.unwrap_or(last);
                next = store
                    .read(&w, 1)
                    .await
                    .map(|r| r.next_index)
                    .unwrap_or(next);
            }
            Err(e) => panic!("{e}"),
        }
    }
    cluster.node(0).restart();
    assert!(cluster.node(0).healthy());
    let read = wait_until("the full oplog", Duration::from_secs(30), || async {
        store
            .read(&w, 1)
            .await
            .ok()
            .filter(|r| r.entries.len() == 5)
    })
    .await;
    assert_eq!(
        read.entries,
        (1..=5).map(|i| (i, entry(i))).collect::<Vec<_>>()
    );
}

/// Back off briefly after a transient cluster error (leader election).
async fn back_off(e: &revenant_nats::Error) {
    eprintln!("transient error during failover: {e}");
    tokio::time::sleep(Duration::from_millis(200)).await;
}
