//! The `revenant:api/promises` host interface (ARCHITECTURE.md "Waiting:
//! suspension, timers, promises"). A promise's id is `<c>/<w>/<index>`, the index
//! being that of the journal entry that created it; its record lives in
//! `RVN_PROMISES` and its completion reaches the worker's inbox, where the mailbox
//! journals it (`PromiseCompleted`) before the guest sees the payload.
//!
//! - `create` is a journaled read (the index), committed and recorded in
//!   `RVN_PROMISES` before the id is returned: an id that leaves the worker can be
//!   completed. (Replay records it again, idempotently, while it is not completed:
//!   a crash between the commit and the record must not leave it uncompletable.)
//! - `await` waits on the worker's [`PromiseBook`] and suspends after
//!   `suspend-after`; in replay the payload is there already. `poll` is journaled
//!   (whether it was completed then is timing). `subscribe` gives a durable pollable.
//! - `complete` (any worker's promise) is a remote write: its answer is journaled,
//!   so a replay does not complete again.

use revenant_nats::promises::PromiseError;
use revenant_types::WorkerId;
use revenant_types::promise::PromiseId;
use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::p2::DynPollable;

use super::api::bindings::revenant::api::promises;
use super::journaled::{PromiseComplete, PromiseCreate, PromisePoll};
use super::waits::{CanWait, PromiseBook, Wait, WaitParts, promise_pollable, wait_or_suspend};

/// What the generated `Host` trait is implemented on.
pub struct Promises<'a> {
    parts: WaitParts<'a>,
}

impl Promises<'_> {
    /// The index of one of this worker's own promises, or why `id` is not one.
    fn own(&self, id: &str) -> Result<u64, String> {
        let id: PromiseId = id.parse().map_err(|e| format!("{e}"))?;
        let me = self.parts.journal.worker();
        if &id.worker != me {
            return Err(format!(
                "promise {id} belongs to worker {}; only the worker that created a promise can await it (any worker can complete it)",
                id.worker
            ));
        }
        if !self.parts.waits.book.is_created(id.index) {
            return Err(format!(
                "worker {me} created no promise at oplog index {}; expected an id promises.create returned",
                id.index
            ));
        }
        Ok(id.index)
    }

    fn book(&self) -> &PromiseBook {
        &self.parts.waits.book
    }

    fn me(&self) -> &WorkerId {
        self.parts.journal.worker()
    }
}

impl promises::Host for Promises<'_> {
    async fn create(&mut self) -> wasmtime::Result<String> {
        let journal = self.parts.journal;
        let (index, _) = journal.read_at::<PromiseCreate>((), |index| index)?;
        self.book().created(index);
        let id = PromiseId::new(self.me().clone(), index);
        if !journal.is_replaying() {
            journal.commit().await?;
        }
        if !self.book().is_completed(index) {
            self.parts.waits.nats.promises().create(&id).await?;
        }
        Ok(id.to_string())
    }

    async fn await_(&mut self, id: String) -> wasmtime::Result<Result<Vec<u8>, String>> {
        let index = match self.own(&id) {
            Ok(index) => index,
            Err(e) => return Ok(Err(e)),
        };
        let waiting = vec![Wait::Promise { index }];
        self.parts.journal.reached_wait(&waiting);
        let book = self.parts.waits.book.clone();
        let suspend_after = self.parts.waits.suspend_after;
        let ready = book.wait(index);
        let payload =
            wait_or_suspend(ready, Some(waiting), suspend_after, self.parts.deadline).await?;
        Ok(Ok(payload))
    }

    fn poll(&mut self, id: String) -> wasmtime::Result<Result<Option<Vec<u8>>, String>> {
        let index = match self.own(&id) {
            Ok(index) => index,
            Err(e) => return Ok(Err(e)),
        };
        let book = &self.parts.waits.book;
        let payload = self
            .parts
            .journal
            .read::<PromisePoll>(index, || book.get(index))?;
        Ok(Ok(payload))
    }

    fn subscribe(&mut self, id: String) -> wasmtime::Result<Result<Resource<DynPollable>, String>> {
        let index = match self.own(&id) {
            Ok(index) => index,
            Err(e) => return Ok(Err(e)),
        };
        let pollable = promise_pollable(self.parts.table, self.parts.waits, index)?;
        Ok(Ok(pollable))
    }

    async fn complete(
        &mut self,
        id: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<bool, String>> {
        let target: PromiseId = match id.parse() {
            Ok(target) => target,
            Err(e) => return Ok(Err(format!("{e}"))),
        };
        let journal = self.parts.journal;
        let (begin, recorded) = journal.begin_write::<PromiseComplete>(id)?;
        if let Some(answer) = recorded {
            return Ok(answer);
        }
        // Output commit: the completion leaves only once what led to it is durable.
        journal.commit().await?;
        let answer = match self
            .parts
            .waits
            .nats
            .promises()
            .complete(&target, payload.into())
            .await
        {
            Ok(completion) => Ok(completion.completed()),
            Err(e @ (PromiseError::Unknown(_) | PromiseError::TooLarge { .. })) => {
                Err(e.to_string())
            }
            // NATS is unreachable: a trap, retried with the invocation.
            Err(PromiseError::Other(e)) => return Err(e.into()),
        };
        journal.end_write::<PromiseComplete>(begin, answer.clone());
        Ok(answer)
    }
}

struct HasPromises;

impl HasData for HasPromises {
    type Data<'a> = Promises<'a>;
}

/// Registers `revenant:api/promises`.
pub fn add_to_linker<T: CanWait>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    promises::add_to_linker::<T, HasPromises>(linker, |t: &mut T| Promises {
        parts: t.wait_parts(),
    })
}
