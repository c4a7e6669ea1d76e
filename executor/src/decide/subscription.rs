//! What a subscription's forwarder does (ARCHITECTURE.md "Subscriptions"), pure:
//! given the messages it holds and their invocations' outcomes, which message to
//! publish next, which to acknowledge, which to dead-letter.
//!
//! Messages of one key (the worker the template names) go out one at a time, in
//! stream order: the next is published only once the one before has its outcome.
//! That is what keeps a key in order whatever happens below: the executor may
//! redeliver an invocation late (a takeover, a worker dropped mid-append), and two
//! invocations of one worker in flight could then swap; one at a time cannot.
//! It needs the forwarder to see each message before the next of its key: a
//! delivery lost on the way ends the source stream, and the consumer is taken again
//! from its ack floor (`revenant_nats::deliveries`), so none is seen out of order.
//! Throughput comes from many keys in flight at once (the window), as a Kafka
//! partition's order comes from one consumer per partition. A failure under
//! `block-key` stops the key until the operator retries the message (under a new
//! key) or skips it (to `RVN_DEAD`); under `dead-letter` the message is
//! dead-lettered and the key goes on. Keys never wait for each other: the window
//! (the source consumer's `max_ack_pending`) is the only thing they share.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use revenant_types::subscription::{BlockedKey, OnFailure};

/// What the driver does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Publish the invocation of message `sequence` under its `retry`-th key
    /// ([`revenant_types::subscription::message_key`]), then report
    /// [`Forwarding::published`] once JetStream stored it.
    Publish { sequence: u64, retry: u64 },
    /// Applied: acknowledge the source message.
    Ack(u64),
    /// Record the source message in `RVN_DEAD` with `error`, then acknowledge it.
    DeadLetter { sequence: u64, error: String },
}

#[derive(Debug, Default)]
struct Key {
    /// Arrived, not yet published, in stream order.
    queue: VecDeque<u64>,
    /// Published, JetStream's ack not yet in.
    publishing: Option<u64>,
    /// Published, outcome not yet in.
    awaiting: BTreeSet<u64>,
    /// The failed message holding the key (block-key), with its error.
    blocked: Option<(u64, String)>,
}

impl Key {
    fn is_idle(&self) -> bool {
        self.queue.is_empty()
            && self.publishing.is_none()
            && self.awaiting.is_empty()
            && self.blocked.is_none()
    }
}

/// The forwarder's state: every message delivered and not yet acknowledged.
#[derive(Debug)]
pub struct Forwarding {
    policy: OnFailure,
    keys: HashMap<String, Key>,
    /// Message → its key.
    messages: BTreeMap<u64, String>,
}

impl Forwarding {
    pub fn new(policy: OnFailure) -> Self {
        Self {
            policy,
            keys: HashMap::new(),
            messages: BTreeMap::new(),
        }
    }

    /// The policy changed (the subscription was edited): applies from the next outcome.
    pub fn set_policy(&mut self, policy: OnFailure) {
        self.policy = policy;
    }

    /// Messages held (delivered, not yet acknowledged).
    pub fn held(&self) -> usize {
        self.messages.len()
    }

    /// Whether message `sequence` is held (a redelivery of it is then a duplicate).
    pub fn holds(&self, sequence: u64) -> bool {
        self.messages.contains_key(&sequence)
    }

    /// The key of a held message.
    pub fn key_of(&self, sequence: u64) -> Option<&str> {
        self.messages.get(&sequence).map(String::as_str)
    }

    /// The keys blocked by a failed message, by key.
    pub fn blocked(&self) -> Vec<BlockedKey> {
        let mut out: Vec<BlockedKey> = self
            .keys
            .iter()
            .filter_map(|(k, s)| {
                s.blocked.as_ref().map(|(seq, error)| BlockedKey {
                    worker: k.clone(),
                    sequence: *seq,
                    error: error.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.worker.cmp(&b.worker));
        out
    }

    /// Message `sequence` arrived for `key`, or names no worker (`Err`: why).
    pub fn arrived(&mut self, sequence: u64, key: Result<String, String>) -> Vec<Action> {
        let key = match key {
            Ok(key) => key,
            Err(error) => return vec![Action::DeadLetter { sequence, error }],
        };
        if self.messages.contains_key(&sequence) {
            return Vec::new(); // redelivered while held: it is on its way already
        }
        self.messages.insert(sequence, key.clone());
        self.keys
            .entry(key.clone())
            .or_default()
            .queue
            .push_back(sequence);
        self.pump(&key)
    }

    /// JetStream stored the invocation of `sequence` (or already had it).
    pub fn published(&mut self, sequence: u64) -> Vec<Action> {
        let Some(key) = self.messages.get(&sequence).cloned() else {
            return Vec::new();
        };
        let state = self.keys.entry(key.clone()).or_default();
        if state.publishing == Some(sequence) {
            state.publishing = None;
        }
        state.awaiting.insert(sequence);
        self.pump(&key)
    }

    /// The invocation of `sequence` ended: `Ok` applied, `Err` failed with this error.
    pub fn answered(&mut self, sequence: u64, outcome: Result<(), String>) -> Vec<Action> {
        let Some(key) = self.messages.get(&sequence).cloned() else {
            return Vec::new();
        };
        let state = self.keys.entry(key.clone()).or_default();
        state.awaiting.remove(&sequence);
        let mut actions = match (outcome, self.policy) {
            (Ok(()), _) => vec![Action::Ack(sequence)],
            (Err(error), OnFailure::DeadLetter) => vec![Action::DeadLetter { sequence, error }],
            (Err(error), OnFailure::BlockKey) => {
                state.blocked = Some((sequence, error));
                return Vec::new();
            }
        };
        self.forget(sequence);
        actions.extend(self.pump(&key));
        actions
    }

    /// The failed message of a key is published again under retry `retry`, because an
    /// earlier forwarder had retried it (its outcome is asked for under that key).
    pub fn reissue(&mut self, sequence: u64, retry: u64) -> Vec<Action> {
        let Some(key) = self.messages.get(&sequence).cloned() else {
            return Vec::new();
        };
        let state = self.keys.entry(key).or_default();
        state.awaiting.remove(&sequence);
        state.blocked = None;
        state.publishing = Some(sequence);
        vec![Action::Publish { sequence, retry }]
    }

    /// The operator's retry: every blocked key publishes its failed message again under
    /// retry `retry` (a new key, so it runs again).
    pub fn retry(&mut self, retry: u64) -> Vec<Action> {
        let blocked: Vec<u64> = self
            .keys
            .values()
            .filter_map(|s| s.blocked.as_ref().map(|(seq, _)| *seq))
            .collect();
        blocked
            .into_iter()
            .flat_map(|seq| self.reissue(seq, retry))
            .collect()
    }

    /// The operator's skip: every blocked key dead-letters its failed message and goes on.
    pub fn skip(&mut self) -> Vec<Action> {
        let blocked: Vec<(String, u64, String)> = self
            .keys
            .iter_mut()
            .filter_map(|(k, s)| s.blocked.take().map(|(seq, e)| (k.clone(), seq, e)))
            .collect();
        let mut actions = Vec::new();
        for (key, sequence, error) in blocked {
            actions.push(Action::DeadLetter { sequence, error });
            self.forget(sequence);
            actions.extend(self.pump(&key));
        }
        actions
    }

    /// Forgets an acknowledged or dead-lettered message.
    fn forget(&mut self, sequence: u64) {
        if let Some(key) = self.messages.remove(&sequence)
            && self.keys.get(&key).is_some_and(Key::is_idle)
        {
            self.keys.remove(&key);
        }
    }

    /// Publishes the key's next message when nothing holds it back.
    fn pump(&mut self, key: &str) -> Vec<Action> {
        let Some(state) = self.keys.get_mut(key) else {
            return Vec::new();
        };
        let held_back =
            state.publishing.is_some() || state.blocked.is_some() || !state.awaiting.is_empty();
        if held_back {
            return Vec::new();
        }
        match state.queue.pop_front() {
            Some(sequence) => {
                state.publishing = Some(sequence);
                vec![Action::Publish { sequence, retry: 0 }]
            }
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(sequence: u64) -> Action {
        Action::Publish { sequence, retry: 0 }
    }

    fn key(k: &str) -> Result<String, String> {
        Ok(k.to_owned())
    }

    #[test]
    fn a_keys_messages_go_out_one_at_a_time_in_order_and_keys_do_not_wait_for_each_other() {
        for policy in [OnFailure::DeadLetter, OnFailure::BlockKey] {
            let mut f = Forwarding::new(policy);
            assert_eq!(f.arrived(1, key("a")), vec![publish(1)]);
            assert_eq!(f.arrived(2, key("a")), vec![]);
            assert_eq!(f.arrived(3, key("b")), vec![publish(3)]);
            // Stored is not enough: the next waits for the outcome.
            assert_eq!(f.published(1), vec![]);
            assert_eq!(f.answered(1, Ok(())), vec![Action::Ack(1), publish(2)]);
            assert_eq!(f.held(), 2);
        }
    }

    #[test]
    fn under_block_key_a_key_waits_for_each_outcome_and_a_failure_blocks_it_until_retried() {
        let mut f = Forwarding::new(OnFailure::BlockKey);
        assert_eq!(f.arrived(1, key("a")), vec![publish(1)]);
        assert_eq!(f.arrived(2, key("a")), vec![]);
        assert_eq!(f.published(1), vec![]);
        assert_eq!(f.answered(1, Err("boom".into())), vec![]);
        assert_eq!(
            f.blocked(),
            vec![BlockedKey {
                worker: "a".into(),
                sequence: 1,
                error: "boom".into()
            }]
        );
        // Another key goes on meanwhile.
        assert_eq!(f.arrived(3, key("b")), vec![publish(3)]);
        assert_eq!(
            f.retry(1),
            vec![Action::Publish {
                sequence: 1,
                retry: 1
            }]
        );
        assert!(f.blocked().is_empty());
        assert_eq!(f.published(1), vec![]);
        assert_eq!(f.answered(1, Ok(())), vec![Action::Ack(1), publish(2)]);
    }

    #[test]
    fn a_skip_dead_letters_the_failed_message_and_the_key_goes_on() {
        let mut f = Forwarding::new(OnFailure::BlockKey);
        f.arrived(1, key("a"));
        f.arrived(2, key("a"));
        f.published(1);
        f.answered(1, Err("boom".into()));
        assert_eq!(
            f.skip(),
            vec![
                Action::DeadLetter {
                    sequence: 1,
                    error: "boom".into()
                },
                publish(2)
            ]
        );
    }

    #[test]
    fn under_dead_letter_a_failure_is_dead_lettered_and_the_key_goes_on() {
        let mut f = Forwarding::new(OnFailure::DeadLetter);
        f.arrived(1, key("a"));
        f.published(1);
        assert_eq!(
            f.answered(1, Err("bad".into())),
            vec![Action::DeadLetter {
                sequence: 1,
                error: "bad".into()
            }]
        );
        assert_eq!(f.held(), 0);
    }

    #[test]
    fn a_message_that_names_no_worker_is_dead_lettered_whatever_the_policy() {
        let mut f = Forwarding::new(OnFailure::BlockKey);
        assert_eq!(
            f.arrived(9, Err("no token 3".into())),
            vec![Action::DeadLetter {
                sequence: 9,
                error: "no token 3".into()
            }]
        );
        assert_eq!(f.held(), 0);
    }

    #[test]
    fn a_redelivery_of_a_held_message_is_ignored() {
        let mut f = Forwarding::new(OnFailure::DeadLetter);
        assert_eq!(f.arrived(1, key("a")), vec![publish(1)]);
        assert_eq!(f.arrived(1, key("a")), vec![]);
        assert!(f.holds(1));
        assert_eq!(f.key_of(1), Some("a"));
    }

    #[test]
    fn a_message_retried_by_an_earlier_forwarder_is_reissued_under_that_retry() {
        let mut f = Forwarding::new(OnFailure::BlockKey);
        f.arrived(4, key("a"));
        f.published(4);
        assert_eq!(
            f.reissue(4, 3),
            vec![Action::Publish {
                sequence: 4,
                retry: 3
            }]
        );
        assert_eq!(f.published(4), vec![]);
        assert_eq!(f.answered(4, Ok(())), vec![Action::Ack(4)]);
    }
}
