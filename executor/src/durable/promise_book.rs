//! A worker's promise book: which promises it created and the payloads of those
//! completed (re-exported by [`super::waits`], whose pollables wait on it).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use revenant_types::oplog::OplogIndex;
use tokio::sync::Notify;

/// A worker's promises: which it created and the payloads of those completed. Shared
/// by its stores (promise pollables wait on it) and its mailbox (which records
/// completions after journaling them).
#[derive(Default)]
pub struct PromiseBook {
    inner: Mutex<Book>,
    changed: Notify,
}

#[derive(Default)]
struct Book {
    created: HashSet<OplogIndex>,
    completed: HashMap<OplogIndex, Vec<u8>>,
}

impl PromiseBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn created(&self, index: OplogIndex) {
        self.lock().created.insert(index);
    }

    /// The promises created (sorted) and the payloads of those completed (sorted by
    /// index), for a snapshot's host state.
    pub fn contents(&self) -> (Vec<OplogIndex>, Vec<(OplogIndex, Vec<u8>)>) {
        let book = self.lock();
        let mut created: Vec<OplogIndex> = book.created.iter().copied().collect();
        created.sort_unstable();
        let mut completed: Vec<(OplogIndex, Vec<u8>)> = book
            .completed
            .iter()
            .map(|(i, p)| (*i, p.clone()))
            .collect();
        completed.sort_unstable_by_key(|(i, _)| *i);
        (created, completed)
    }

    pub fn is_created(&self, index: OplogIndex) -> bool {
        self.lock().created.contains(&index)
    }

    /// Records a completion; false (and the first payload kept) when it was completed.
    pub fn complete(&self, index: OplogIndex, payload: Vec<u8>) -> bool {
        let fresh = match self.lock().completed.entry(index) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(payload);
                true
            }
        };
        if fresh {
            self.changed.notify_waiters();
        }
        fresh
    }

    /// Moves every entry of `from` into this book, in place of its own (`from` is
    /// left empty): an instance built before its worker's promises were known takes
    /// them without a copy.
    pub fn take_from(&self, from: &PromiseBook) {
        let entries = std::mem::take(&mut *from.lock());
        *self.lock() = entries;
        self.changed.notify_waiters();
    }

    pub fn get(&self, index: OplogIndex) -> Option<Vec<u8>> {
        self.lock().completed.get(&index).cloned()
    }

    pub fn is_completed(&self, index: OplogIndex) -> bool {
        self.lock().completed.contains_key(&index)
    }

    /// Waits until promise `index` is completed; returns its payload.
    pub async fn wait(&self, index: OplogIndex) -> Vec<u8> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(payload) = self.get(index) {
                return payload;
            }
            changed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_book_takes_another_books_entries_and_leaves_it_empty() {
        let filled = PromiseBook::default();
        filled.created(3);
        filled.created(5);
        assert!(filled.complete(5, b"done".to_vec()));
        let taker = PromiseBook::default();
        taker.created(9);
        taker.take_from(&filled);
        assert_eq!(taker.contents(), (vec![3, 5], vec![(5, b"done".to_vec())]));
        assert_eq!(filled.contents(), (vec![], vec![]));
        assert!(!taker.complete(5, b"again".to_vec()), "completed once");
    }
}
