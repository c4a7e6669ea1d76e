//! Group commit of one worker's invocations. A worker runs one invocation at a
//! time, and each ends with a fenced append of its entries; when more are
//! already waiting for the worker, the finished one's completion is left
//! uncommitted and the next one runs at once, so one append (one stored message,
//! one fsync on a `sync_interval: always` server) carries several invocations.
//! Nothing about a grouped invocation leaves — reply, result index, caller
//! inbox, ack, `invocation-finished` — before that append is acknowledged
//! (output commit), and a group is committed before anything else happens to
//! the worker: input that is not a plain invocation, a wait for input, a
//! suspension, a control request.

/// The most invocations one group commit carries.
pub const MAX_GROUP: usize = 16;

/// What the mailbox knows of an invocation that just finished.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    /// It came as a message or was parked in the oplog (not a resumed tail).
    pub plain: bool,
    /// It succeeded and left the worker healthy (a failure's status is written at once).
    pub ok: bool,
    /// The worker is ephemeral (its journal is in memory: nothing to group).
    pub ephemeral: bool,
}

/// Whether the finished invocation's commit waits for the next invocation: only when
/// one is already waiting (`next_ready`) and the group (`grouped` before this one) has
/// room, so grouping never delays an answer for input that has not arrived.
pub fn keep_open(finished: Finished, next_ready: bool, grouped: usize) -> bool {
    finished.plain && finished.ok && !finished.ephemeral && next_ready && grouped + 1 < MAX_GROUP
}

/// Whether the next input may run while a group is open: a plain invocation decided to
/// run as it is (not a timer, result or completion, not a schedule's firing, nothing the
/// results index must be asked about first). Anything else commits the group first.
pub fn joins(plain_invoke: bool, runs: bool, firing: bool, asks_index: bool) -> bool {
    plain_invoke && runs && !firing && !asks_index
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Finished = Finished {
        plain: true,
        ok: true,
        ephemeral: false,
    };

    #[test]
    fn a_group_stays_open_only_while_more_is_waiting_and_it_has_room() {
        assert!(keep_open(OK, true, 0));
        assert!(
            !keep_open(OK, false, 0),
            "nothing waiting: commit and answer now"
        );
        assert!(keep_open(OK, true, MAX_GROUP - 2));
        assert!(!keep_open(OK, true, MAX_GROUP - 1), "the group is full");
    }

    #[test]
    fn failures_tails_and_ephemeral_workers_are_committed_at_once() {
        assert!(!keep_open(Finished { ok: false, ..OK }, true, 0));
        assert!(!keep_open(Finished { plain: false, ..OK }, true, 0));
        assert!(!keep_open(
            Finished {
                ephemeral: true,
                ..OK
            },
            true,
            0
        ));
    }

    #[test]
    fn only_a_plain_invocation_that_runs_joins_an_open_group() {
        assert!(joins(true, true, false, false));
        assert!(
            !joins(false, true, false, false),
            "a timer, result or completion"
        );
        assert!(
            !joins(true, false, false, false),
            "a duplicate, held or rejected one"
        );
        assert!(!joins(true, true, true, false), "a schedule's firing");
        assert!(
            !joins(true, true, false, true),
            "a key to look up in the index first"
        );
    }
}
