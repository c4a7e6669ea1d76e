//! Ephemeral components: each invocation runs on a fresh instance with a journal in
//! memory only (no oplog), results are still deduplicated by key, and 1,000
//! parallel calls are all answered (golem #2940).

use crate::common::{Env, oplog};
use revenant_tests::revenant::invoke;
use revenant_types::ComponentName;
use revenant_types::records::ComponentOptions;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn ephemeral_invocations_run_on_fresh_instances_are_deduplicated_and_all_answered() {
    let mut env = Env::new(&[]).await;
    let nats = env.nats.clone();
    let bytes = std::fs::read(revenant_guests::COUNTER).unwrap();
    let options = ComponentOptions {
        ephemeral: true,
        ..ComponentOptions::default()
    };
    let record = nats
        .components()
        .upload_options(&ComponentName::new("counter").unwrap(), bytes, options)
        .await
        .unwrap();
    assert!(record.ephemeral);
    let _exec = env.executor().await;

    // No state survives an invocation: each runs on a fresh instance.
    for key in ["e-1", "e-2"] {
        assert_eq!(
            invoke(&nats, "counter/eph", "add", json!([3]), Some(key)).await,
            Ok(json!(3))
        );
    }
    // A key answered before gets its result again, without running.
    assert_eq!(
        invoke(&nats, "counter/eph", "add", json!([100]), Some("e-1")).await,
        Ok(json!(3))
    );
    assert!(
        oplog(&nats, "counter/eph").await.is_empty(),
        "nothing journaled"
    );

    // 1,000 parallel calls, all answered.
    let calls = (0..1_000u64).map(|i| {
        let nats = nats.clone();
        tokio::spawn(async move {
            let w = format!("counter/p{}", i % 50);
            let key = format!("p-{i}");
            invoke(&nats, &w, "add", json!([i]), Some(&key)).await
        })
    });
    let answers = futures::future::join_all(calls).await;
    for (i, answer) in answers.into_iter().enumerate() {
        assert_eq!(answer.expect("task"), Ok(json!(i)), "call {i}");
    }
}
