//! A consumer's deliveries, in sequence (ARCHITECTURE.md "Order": a worker's
//! invocations run in arrival order; a subscription applies a key's messages in
//! stream order).
//!
//! JetStream numbers a consumer's deliveries 1, 2, 3, … (the consumer sequence in
//! each message's ack subject: one more for every delivery, redeliveries too). A reader
//! that sees a number other than the next lost deliveries on the way: a connection
//! dropped with them in flight, or the server was killed after sending them (a
//! restarted server may also count again from an older saved state: a step back, taken
//! the same way). The consumer counts those as delivered and sends them again only
//! after its ack wait, behind whatever it delivers meanwhile, so later invocations of a
//! worker (later messages of a key) would overtake them. A reader therefore takes nothing out of
//! sequence: [`in_sequence`] ends its stream at the first such delivery, and the reader
//! takes the consumer again — a subscription's anew from its ack floor, a shard's
//! through the takeover that queues what is pending for redelivery and hands it out in
//! stream order — which delivers the lost ones before the one that revealed the loss.

use async_nats::jetstream;
use futures::{Stream, StreamExt};

use crate::error::Result;

/// Where a delivery stands in its consumer's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The next one (or one without a number: taken as it comes).
    Next,
    /// Deliveries before it were lost: `expected` was due.
    Lost { expected: u64 },
}

/// The number the next delivery of one consumer must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deliveries {
    next: Option<u64>,
}

impl Deliveries {
    /// Expecting `first` (a new consumer's first delivery is 1), or whatever comes
    /// first (`None`: a consumer read from the middle, as a shard's is on takeover).
    pub fn new(first: Option<u64>) -> Self {
        Self { next: first }
    }

    /// Delivery number `n` came (0: it carries no number, taken as it comes).
    pub fn check(&mut self, n: u64) -> Delivery {
        if n == 0 {
            return Delivery::Next;
        }
        match self.next {
            Some(expected) if expected != n => Delivery::Lost { expected },
            _ => {
                self.next = Some(n + 1);
                Delivery::Next
            }
        }
    }
}

/// `messages` of consumer `consumer` up to the first delivery out of sequence, which
/// is not yielded: the stream ends there (logged), and its reader takes the consumer
/// again (see the module docs). `first` as in [`Deliveries::new`].
pub(crate) fn in_sequence(
    consumer: String,
    first: Option<u64>,
    messages: impl Stream<Item = Result<jetstream::Message>>,
) -> impl Stream<Item = Result<jetstream::Message>> {
    messages.scan(Deliveries::new(first), move |deliveries, m| {
        let next = match m {
            Ok(m) => {
                let n = m.info().map_or(0, |i| i.consumer_sequence);
                match deliveries.check(n) {
                    Delivery::Next => Some(Ok(m)),
                    Delivery::Lost { expected } => {
                        tracing::warn!(
                            consumer = %consumer,
                            expected,
                            delivery = n,
                            "deliveries were lost on the way (a connection dropped with them, or the server restarted); taking the consumer again"
                        );
                        None
                    }
                }
            }
            Err(e) => Some(Err(e)),
        };
        futures::future::ready(next)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_consumers_deliveries_count_from_one_and_a_gap_or_a_step_back_is_a_loss() {
        let mut d = Deliveries::new(Some(1));
        assert_eq!(d.check(1), Delivery::Next);
        assert_eq!(d.check(2), Delivery::Next);
        // Delivery 3 went down with a connection: 4 must not overtake it.
        assert_eq!(d.check(4), Delivery::Lost { expected: 3 });
        assert_eq!(
            d.check(5),
            Delivery::Lost { expected: 3 },
            "nothing after a loss"
        );
        // A restarted server may number again from an earlier point.
        let mut d = Deliveries::new(Some(1));
        for n in 1..=5 {
            assert_eq!(d.check(n), Delivery::Next);
        }
        assert_eq!(d.check(3), Delivery::Lost { expected: 6 });
        // Lost from the very first: a new consumer's first delivery is 1.
        assert_eq!(
            Deliveries::new(Some(1)).check(2),
            Delivery::Lost { expected: 1 }
        );
    }

    #[test]
    fn a_consumer_read_from_the_middle_counts_from_its_first_delivery() {
        let mut d = Deliveries::new(None);
        assert_eq!(d.check(41), Delivery::Next);
        assert_eq!(d.check(42), Delivery::Next);
        assert_eq!(d.check(44), Delivery::Lost { expected: 43 });
    }

    #[test]
    fn a_delivery_without_a_number_is_taken_as_it_comes() {
        let mut d = Deliveries::new(Some(1));
        assert_eq!(d.check(0), Delivery::Next);
        assert_eq!(d.check(1), Delivery::Next);
        assert_eq!(d.check(0), Delivery::Next);
        assert_eq!(d.check(2), Delivery::Next);
    }
}
