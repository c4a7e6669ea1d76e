//! Giving freed heap back to the operating system. A worker suspended after its
//! idle timeout frees everything it had (store, instance, journal, outcomes), but
//! glibc's allocator keeps freed small allocations in its arenas, so without this
//! the executor's RSS stays at its high-water mark of live workers: ~30–50 KiB
//! per suspended worker in `revenant bench`'s memory section. Trimming after many
//! workers were dropped makes a suspended worker cost (nearly) nothing resident.
//! (The `revenant` binary runs on mimalloc, set to purge freed memory at once, so
//! there this only trims what C code allocated through glibc; a program embedding
//! the executor on glibc's allocator gets the trim.)

/// Returns free heap pages to the OS (`malloc_trim(0)` on glibc; a no-op elsewhere).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes a plain integer, touches only the allocator's own
        // state under its own locks, and is documented safe to call at any time.
        #[allow(unsafe_code)]
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// Turns transparent huge pages off for this process (`prctl(PR_SET_THP_DISABLE)`; a
/// no-op elsewhere than Linux). Freed memory the allocator returns to the OS and
/// faults back in would otherwise come back as 2 MiB pages, each zeroed on the fault.
pub fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE only sets a flag on the calling process's memory
        // map, read at later page faults; no pointer is passed.
        #[allow(unsafe_code)]
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
}

/// Decides when to trim: after at least `every` workers left memory since the last trim.
#[derive(Debug)]
pub struct TrimPolicy {
    every: u64,
    dropped: u64,
    last_in_memory: u64,
}

impl TrimPolicy {
    pub fn new(every: u64) -> Self {
        Self {
            every: every.max(1),
            dropped: 0,
            last_in_memory: 0,
        }
    }

    /// Takes the current count of workers in memory; true when it is time to trim:
    /// every `every` workers dropped, and once a wave of drops has ended (the count
    /// stopped falling), so what the last ones freed is given back too.
    pub fn observe(&mut self, in_memory: u64) -> bool {
        let steady = in_memory == self.last_in_memory;
        self.dropped += self.last_in_memory.saturating_sub(in_memory);
        self.last_in_memory = in_memory;
        let wave_ended = steady && self.dropped > 0;
        if self.dropped >= self.every || wave_ended {
            self.dropped = 0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_enough_workers_left_memory() {
        let mut p = TrimPolicy::new(100);
        assert!(!p.observe(500)); // workers arriving is no reason
        assert!(!p.observe(450));
        assert!(!p.observe(600));
        assert!(p.observe(520), "50 + 80 left");
        assert!(!p.observe(520));
        // A few more leave, then the count stays: what they freed is given back too.
        assert!(!p.observe(510));
        assert!(p.observe(510), "the wave of 10 ended");
        assert!(!p.observe(510));
        release_free_memory();
    }
}
