//! Encryption at rest against a live executor: with a keyring configured, a
//! worker's journal (`RVN_OPLOG`) and its results (`RVN_RESULTS`) hold no
//! plaintext of a known argument or result, read raw from the streams; after a
//! rotation (a second key appended, nothing re-encrypted) the worker recovers
//! from entries sealed with the old key and new entries carry the new key's id;
//! a process without the keyring is told which key it lacks. The raw check
//! itself is shown to find the argument in a plain namespace.

use crate::common;

use std::time::Duration;

use revenant_nats::Nats;
use revenant_nats::seal::new_key_line;
use revenant_tests::revenant::{TestExecutor, call, connect};
use revenant_types::config::{EncryptionOptions, NatsOptions};
use serde_json::json;

const SECRET: u64 = 987_654_321_012;

/// Every raw payload stored in stream `stream` (no decoding, no keyring).
async fn raw_payloads(nats: &Nats, stream: &str) -> Vec<Vec<u8>> {
    let stream = nats.jetstream().get_stream(stream).await.unwrap();
    let last = stream.get_info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        if let Ok(m) = stream.get_raw_message(seq).await {
            out.push(m.payload.to_vec());
        }
    }
    out
}

fn contains(payloads: &[Vec<u8>], needle: &str) -> bool {
    payloads
        .iter()
        .any(|p| p.windows(needle.len()).any(|w| w == needle.as_bytes()))
}

/// The key id of a sealed payload (`C1 'R' 'S' 01 <len> <id>…`).
fn key_id(payload: &[u8]) -> Option<String> {
    (payload.get(..4)? == [0xC1, b'R', b'S', 1]).then(|| {
        let len = payload[4] as usize;
        String::from_utf8_lossy(&payload[5..5 + len]).into_owned()
    })
}

fn with_keys(opts: &NatsOptions, keys: Option<String>) -> NatsOptions {
    NatsOptions {
        encryption: EncryptionOptions {
            keys,
            ..EncryptionOptions::default()
        },
        ..opts.clone()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_streams_hold_no_plaintext_and_old_keys_still_decrypt_after_a_rotation() {
    let k1 = new_key_line("k1").unwrap();
    let k2 = new_key_line("k2").unwrap();
    let mut env = common::Env::with_options(&[("counter", revenant_guests::COUNTER)], |o| {
        o.encryption.keys = Some(k1.clone());
    })
    .await;
    // Every result is indexed, so the index's records are checked too.
    let exec = env
        .executor_with(|o| o.results_index = revenant_executor::ResultsIndex::All)
        .await;
    let nats = env.nats.clone();
    let secret = SECRET.to_string();
    assert_eq!(
        call(&nats, "counter/enc", "add", json!([SECRET])).await,
        Ok(json!(SECRET))
    );

    let ns = nats.namespace().clone();
    let oplog = raw_payloads(&nats, &ns.oplog_stream()).await;
    // The index record of a journaled result is written after the ack.
    let index = format!("KV_{}", ns.results_bucket());
    let results = revenant_tests::wait_until(
        "the result's index record",
        Duration::from_secs(30),
        || async {
            let results = raw_payloads(&nats, &index).await;
            (!results.is_empty()).then_some(results)
        },
    )
    .await;
    assert!(!oplog.is_empty());
    assert!(
        !contains(&oplog, &secret),
        "the oplog stream holds the argument in plain text"
    );
    assert!(
        !contains(&results, &secret),
        "RVN_RESULTS holds the result in plain text"
    );
    assert!(oplog.iter().all(|p| key_id(p).as_deref() == Some("k1")));
    println!(
        "sealed: {} oplog and {} result messages, none with {secret}",
        oplog.len(),
        results.len()
    );

    // The same check finds the argument where nothing is sealed (another namespace,
    // no keyring, its own executor).
    let plain = connect(&NatsOptions {
        namespace: "plain".into(),
        ..with_keys(nats.options(), None)
    })
    .await;
    revenant_tests::revenant::deploy(&plain, "counter", revenant_guests::COUNTER).await;
    let plain_exec = TestExecutor::start(&plain);
    common::ready(&plain).await;
    assert_eq!(
        call(&plain, "counter/enc", "add", json!([SECRET])).await,
        Ok(json!(SECRET))
    );
    plain_exec.stop().await;
    let plain_oplog = raw_payloads(&plain, &plain.namespace().oplog_stream()).await;
    assert!(
        contains(&plain_oplog, &secret),
        "the raw check sees plaintext when there is some"
    );
    let w = common::worker("counter/enc");

    // Without the keyring, a reader is told which key it lacks.
    let keyless = Nats::connect(&with_keys(nats.options(), None))
        .await
        .unwrap();
    let e = keyless.oplog().read(&w, 1).await.unwrap_err().to_string();
    assert!(e.contains("\"k1\"") && e.contains("no keyring"), "{e}");

    // Rotation: k2 appended; nothing re-encrypted. The worker recovers on a fresh executor
    // from k1-sealed entries, and what it writes now is sealed with k2.
    exec.stop().await;
    let rotated = connect(&with_keys(nats.options(), Some(format!("{k1};{k2}")))).await;
    let exec = TestExecutor::start(&rotated);
    common::ready(&rotated).await;
    assert_eq!(
        call(&rotated, "counter/enc", "add", json!([1])).await,
        Ok(json!(SECRET + 1))
    );
    let ids: Vec<Option<String>> = raw_payloads(&rotated, &ns.oplog_stream())
        .await
        .iter()
        .map(|p| key_id(p))
        .collect();
    assert_eq!(
        ids.first().cloned().flatten().as_deref(),
        Some("k1"),
        "{ids:?}"
    );
    assert_eq!(
        ids.last().cloned().flatten().as_deref(),
        Some("k2"),
        "{ids:?}"
    );
    // A reader with only the old key cannot open the new entries, and says so.
    let old_only = Nats::connect(&with_keys(nats.options(), Some(k1.clone())))
        .await
        .unwrap();
    let e = old_only.oplog().read(&w, 1).await.unwrap_err().to_string();
    assert!(e.contains("\"k2\", which is not in the keyring"), "{e}");
    exec.stop().await;
}
