//! A mailbox's open group ([`crate::decide::group`]): invocations that finished
//! with their completions journaled but not committed, answered — reply, index,
//! caller inbox, ack, `invocation-finished` — once one append carries them all.

use revenant_nats::invocations::InvocationMessage;
use revenant_types::WorkerId;
use revenant_types::oplog::{InvocationOutcome, OplogIndex};

use crate::context::WorkerEnv;
use crate::decide::index::Journaled;
use crate::decide::{self, Decision, Kind};
use crate::inbox::{self, Invocation};
use crate::reply::answer;
use crate::status::event;
use crate::worker::Worker;

/// Finished invocations waiting for their commit.
#[derive(Default)]
pub(super) struct Group {
    finished: Vec<Finished>,
    /// The index of the last finished invocation's last entry.
    through: OplogIndex,
}

struct Finished {
    inv: Invocation,
    function: String,
    outcome: InvocationOutcome,
    journaled: Journaled,
}

impl Group {
    pub(super) fn len(&self) -> usize {
        self.finished.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.finished.is_empty()
    }

    /// Adds an invocation `w` just finished (its entries are the last journaled).
    /// `journaled`: where its outcome is once committed ([`Worker::journaled`]).
    pub(super) fn add(
        &mut self,
        w: &Worker,
        inv: Invocation,
        function: String,
        outcome: InvocationOutcome,
        journaled: Journaled,
    ) {
        self.through = w.journaled_through();
        self.finished.push(Finished {
            inv,
            function,
            outcome,
            journaled,
        });
    }

    /// Commits the group and answers every invocation in it. `whole`: commit everything
    /// journaled; otherwise only through the group's last entry (the invocation running
    /// after it was cut short, and what it journaled stays uncommitted). When the commit
    /// fails nothing is answered: the messages come back, in arrival order, to be given
    /// back to JetStream.
    pub(super) async fn commit(
        &mut self,
        env: &WorkerEnv,
        id: &WorkerId,
        w: &mut Worker,
        whole: bool,
    ) -> Result<(), Vec<InvocationMessage>> {
        let last = (!whole).then_some(self.through);
        if let Err(e) = w.commit_completions(last).await {
            tracing::error!(worker = %id, error = %e, "could not commit finished invocations");
            return Err(self.give_back());
        }
        let finished = std::mem::take(&mut self.finished);
        futures::future::join_all(
            finished
                .iter()
                .map(|f| finish(env, id, &f.inv, &f.function, &f.outcome, f.journaled)),
        )
        .await;
        Ok(())
    }

    /// The messages of the group's invocations, in arrival order, none answered.
    pub(super) fn give_back(&mut self) -> Vec<InvocationMessage> {
        std::mem::take(&mut self.finished)
            .into_iter()
            .filter_map(|f| match f.inv {
                Invocation::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }
}

/// Closes the open group, if any: commits it and answers it (see [`Group::commit`]).
/// `false` when the worker must be dropped: the group's messages are back at the head
/// of `queue`, unanswered.
pub(super) async fn close(
    group: &mut Group,
    env: &WorkerEnv,
    id: &WorkerId,
    w: Option<&mut Worker>,
    queue: &mut std::collections::VecDeque<InvocationMessage>,
    whole: bool,
) -> bool {
    let Some(w) = w.filter(|_| !group.is_empty()) else {
        return true;
    };
    match group.commit(env, id, w, whole).await {
        Ok(()) => true,
        Err(back) => {
            for m in back.into_iter().rev() {
                queue.push_front(m);
            }
            false
        }
    }
}

/// [`close`] (the whole journal), then a snapshot if one is due; `false` when the worker
/// must be dropped.
pub(super) async fn close_and_snapshot(
    group: &mut Group,
    env: &WorkerEnv,
    id: &WorkerId,
    mut w: Option<&mut Worker>,
    queue: &mut std::collections::VecDeque<InvocationMessage>,
) -> bool {
    if !close(group, env, id, w.as_deref_mut(), queue, true).await {
        return false;
    }
    match w {
        Some(w) => match super::snapshot::if_due(id, w).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(worker = %id, error = %e, "dropping worker");
                false
            }
        },
        None => true,
    }
}

/// Whether `inv` may run while the group is open ([`decide::group::joins`]).
pub(super) fn joins(
    env: &WorkerEnv,
    id: &WorkerId,
    inv: &Invocation,
    w: Option<&Worker>,
    max_payload: usize,
) -> bool {
    let Some(w) = w else {
        return false;
    };
    let plain = match inv {
        Invocation::Message(m) => inbox::kind(m) == Ok(Kind::Invoke),
        Invocation::Parked(_) => true,
        Invocation::Tail(_) => false,
    };
    let runs = decide::decide(
        id,
        inv.arrival(),
        Some(w.view(Some(inv.key()))),
        max_payload,
    ) == Decision::Run;
    let firing = crate::schedule::schedule_of(env, inv).is_some();
    decide::group::joins(plain, runs, firing, w.asks_index())
}

/// Announces a committed invocation's end (`invocation-finished`) and answers it.
pub(super) async fn finish(
    env: &WorkerEnv,
    id: &WorkerId,
    inv: &Invocation,
    function: &str,
    outcome: &InvocationOutcome,
    journaled: Journaled,
) {
    let ok = matches!(outcome, InvocationOutcome::Ok(_));
    let fields =
        serde_json::json!({ "function": function, "idempotency-key": inv.key(), "ok": ok });
    let _ = env
        .nats
        .publish_event(id, event("invocation-finished", fields))
        .await;
    answer(env, id, inv, function, outcome, journaled).await;
}
