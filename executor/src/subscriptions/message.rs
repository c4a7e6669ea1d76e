//! A source message as an invocation and back: the invocation's body (the payload as
//! arguments, or the whole message for `revenant:api/subscriber.handle`), whether an
//! outcome applied the message, and waiting for that outcome however it comes.

use std::time::Duration;

use revenant_nats::Nats;
use revenant_nats::reply::ReplyInbox;
use revenant_nats::subscriptions::SourceMessage;
use revenant_types::WorkerId;
use revenant_types::oplog::InvocationOutcome;
use revenant_types::subscription::{Input, SubscriptionSpec};

/// How long an outcome is waited for on the reply inbox before the result store is asked.
const ASK_RESULTS_AFTER: Duration = Duration::from_secs(20);

/// The invocation's body: the payload (arguments as JSON), or the whole message for
/// `revenant:api/subscriber.handle`.
pub fn body(spec: &SubscriptionSpec, m: &SourceMessage) -> Vec<u8> {
    match spec.input {
        Input::Arguments => m.payload().to_vec(),
        Input::Message => {
            let message = serde_json::json!({
                "stream-name": spec.stream,
                "sequence": m.sequence,
                "subject": m.subject(),
                "headers": m.header_pairs(),
                "payload": m.payload().as_ref(),
                "published-ms": m.published_ms,
            });
            serde_json::to_vec(&[message]).unwrap_or_default()
        }
    }
}

/// Whether an outcome applied the message: an error, or an `err` of a function that
/// returns a `result`, is a failure (with what to show for it).
pub fn verdict(spec: &SubscriptionSpec, outcome: &InvocationOutcome) -> Result<(), String> {
    match outcome {
        InvocationOutcome::Err(e) => Err(format!("{}: {}", e.kind.as_str(), e.message)),
        InvocationOutcome::Ok(json) if spec.returns_result => {
            match serde_json::from_str::<serde_json::Value>(json) {
                Ok(serde_json::Value::Object(map)) if map.len() == 1 && map.contains_key("err") => {
                    let err = &map["err"];
                    Err(err.as_str().map_or_else(|| err.to_string(), str::to_owned))
                }
                _ => Ok(()),
            }
        }
        InvocationOutcome::Ok(_) => Ok(()),
    }
}

/// The outcome of the invocation published under `key`: from the reply inbox, or for a
/// publish JetStream deduplicated (or a reply that never comes, e.g. lost in a
/// reconnect), from the result store. Never gives up: every invocation ends.
pub async fn await_outcome(
    nats: &Nats,
    worker: &WorkerId,
    key: &str,
    duplicate: bool,
    mut inbox: ReplyInbox,
) -> InvocationOutcome {
    let mut listening = !duplicate;
    loop {
        if listening {
            match tokio::time::timeout(ASK_RESULTS_AFTER, inbox.next()).await {
                Ok(Some(outcome)) => return outcome,
                Ok(None) => listening = false,
                Err(_) => {}
            }
        }
        let wait = if listening {
            Duration::from_millis(200)
        } else {
            ASK_RESULTS_AFTER
        };
        match nats.await_result(worker, key, wait).await {
            Ok(Some(outcome)) => return outcome,
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(%worker, key, error = %e, "waiting for a stored result");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use revenant_types::ComponentName;
    use revenant_types::ErrorKind;
    use revenant_types::oplog::ErrorBody;
    use revenant_types::subscription::{OnFailure, Start, WorkerTemplate};

    fn spec(returns_result: bool) -> SubscriptionSpec {
        SubscriptionSpec {
            name: "s".into(),
            stream: "S".into(),
            filters: vec![],
            component: ComponentName::new("c").unwrap(),
            worker: WorkerTemplate::parse("{token:1}").unwrap(),
            function: "f".into(),
            input: Input::Arguments,
            returns_result,
            window: 1,
            on_failure: OnFailure::BlockKey,
            start: Start::All,
            paused: false,
            retries: 0,
            skips: 0,
            created_at: 0,
        }
    }

    #[test]
    fn an_error_or_an_err_result_is_a_failure_and_anything_else_applies() {
        let ok = InvocationOutcome::Ok("{\"err\":\"no\"}".into());
        assert_eq!(verdict(&spec(true), &ok), Err("no".into()));
        assert_eq!(verdict(&spec(false), &ok), Ok(()));
        assert_eq!(
            verdict(&spec(true), &InvocationOutcome::Ok("{\"ok\":null}".into())),
            Ok(())
        );
        let e = InvocationOutcome::Err(ErrorBody::new(ErrorKind::InvalidArguments, "bad"));
        assert_eq!(
            verdict(&spec(false), &e),
            Err("invalid-arguments: bad".into())
        );
    }
}
