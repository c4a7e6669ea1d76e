//! Crash drills on the wire: `<ns>.executor.<id>.crash` (core request/reply, no
//! JetStream). An executor started with `--allow-crash-drills` answers
//! `Rvn-Status: ok` with `{"executor": "<id>", "crashing": true}` and then ends its
//! process at once, as `kill -9` would; any other executor answers `Rvn-Status:
//! error` with kind `forbidden` and says how to allow drills. Nobody answering means
//! no executor of that id runs ([`DrillError::NoExecutor`]).

use std::time::Duration;

use futures::{Stream, StreamExt};
use revenant_types::names::ExecutorId;
use revenant_types::oplog::{ErrorBody, InvocationOutcome};

use crate::control::Answer;
use crate::error::{DrillError, Error, Result};
use crate::{Nats, headers};

/// The answer of an executor that is about to crash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Crashing {
    pub executor: String,
    pub crashing: bool,
}

impl Nats {
    /// Subscribes to the crash drills of executor `id`; yields each request's reply inbox.
    pub async fn crash_drills(
        &self,
        id: &ExecutorId,
    ) -> Result<impl Stream<Item = Option<String>> + Send + 'static> {
        let sub = self
            .client()
            .subscribe(self.namespace().executor_crash_subject(id))
            .await
            .map_err(|e| Error::nats("subscribe to crash drills", e))?;
        Ok(sub.map(|m| m.reply.map(|r| r.to_string())))
    }

    /// Answers a crash drill: `Ok` says the executor is crashing; it must be flushed
    /// before the process ends, which this does.
    pub async fn reply_crash(
        &self,
        to: &str,
        answer: std::result::Result<&Crashing, &ErrorBody>,
    ) -> Result<()> {
        match answer {
            Ok(c) => {
                self.reply(to, headers::STATUS_OK, serde_json::json!(c).to_string())
                    .await?
            }
            Err(e) => {
                self.reply_outcome(to, &InvocationOutcome::Err(e.clone()))
                    .await?
            }
        }
        self.client()
            .flush()
            .await
            .map_err(|e| Error::nats("flush a crash drill's answer", e))
    }

    /// Asks executor `id` to crash (a drill).
    pub async fn crash_executor(
        &self,
        id: &ExecutorId,
        timeout: Duration,
    ) -> std::result::Result<Crashing, DrillError> {
        let subject = self.namespace().executor_crash_subject(id);
        let what = format!("a crash drill of executor {id}");
        match self
            .request_answer(subject, bytes::Bytes::from_static(b"{}"), timeout, &what)
            .await?
        {
            Answer::Ok(crashing) => Ok(crashing),
            Answer::Refused(error) => Err(DrillError::Refused(error)),
            Answer::Nobody { .. } => Err(DrillError::NoExecutor {
                executor: id.to_string(),
                waited: timeout,
            }),
        }
    }
}
