//! Crash drills (`revenant executor crash <id>`): on `<ns>.executor.<id>.crash`
//! ([`revenant_nats::drills`]) an executor started with `--allow-crash-drills`
//! answers that it is crashing and then kills its own process with SIGKILL, exactly
//! as `kill -9` would: no lease released, no invocation finished, nothing flushed but
//! the answer. Its shards lapse and other executors recover its workers by replay.
//! Without the option it refuses, saying how to allow drills.

use revenant_nats::Nats;
use revenant_nats::drills::Crashing;
use revenant_types::ErrorKind;
use revenant_types::names::ExecutorId;
use revenant_types::oplog::ErrorBody;
use tokio::sync::watch;

use futures::StreamExt;

/// What executor `id` answers a crash drill with.
pub fn answer(id: &ExecutorId, allowed: bool) -> Result<Crashing, ErrorBody> {
    if allowed {
        Ok(Crashing {
            executor: id.to_string(),
            crashing: true,
        })
    } else {
        Err(ErrorBody::new(
            ErrorKind::Forbidden,
            format!(
                "executor {id} does not take crash drills; start it with --allow-crash-drills (REVENANT_ALLOW_CRASH_DRILLS=true) to allow them"
            ),
        ))
    }
}

/// Answers crash drills for executor `id` until `stop`.
pub(crate) async fn listen(
    nats: Nats,
    id: ExecutorId,
    allowed: bool,
    mut stop: watch::Receiver<bool>,
) {
    let mut drills = match nats.crash_drills(&id).await {
        Ok(d) => Box::pin(d),
        Err(e) => {
            tracing::error!(error = %e, "could not subscribe to crash drills");
            return;
        }
    };
    loop {
        let reply = tokio::select! {
            r = drills.next() => match r { Some(r) => r, None => return },
            _ = stop.changed() => return,
        };
        let answer = answer(&id, allowed);
        if let Some(to) = &reply
            && let Err(e) = nats.reply_crash(to, answer.as_ref()).await
        {
            tracing::warn!(error = %e, "could not answer a crash drill");
        }
        if answer.is_ok() {
            tracing::error!(executor = %id, "crash drill: killing this process (SIGKILL)");
            kill_self();
        }
    }
}

/// Ends this process as `kill -9` would.
fn kill_self() -> ! {
    // SAFETY: getpid and kill have no preconditions; SIGKILL cannot be caught.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    // Not reached; should the signal be refused, end without cleanup all the same.
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_executor_that_allows_drills_crashes_and_the_refusal_says_how_to_allow_them() {
        let id = ExecutorId::new("exec-a").unwrap();
        assert_eq!(
            answer(&id, true),
            Ok(Crashing {
                executor: "exec-a".into(),
                crashing: true
            })
        );
        let refused = answer(&id, false).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Forbidden);
        assert!(
            refused.message.contains("--allow-crash-drills"),
            "{}",
            refused.message
        );
        assert!(refused.message.contains("exec-a"), "{}", refused.message);
    }
}
