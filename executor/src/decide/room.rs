//! How many workers an executor holds in memory, and which idle ones leave.
//!
//! A worker in memory holds about seven memory mappings (its linear memory's
//! reservation, guard, image and heap; its fiber stack and guard page), and Linux
//! refuses a process more than `vm.max_map_count` (65530 by default). Past it an
//! instantiation fails with `ENOMEM`, and so can the `munmap` of a worker that
//! leaves (unmapping a region merged with its neighbour splits it), which wasmtime
//! cannot survive. So the number of workers in memory is a hard limit, derived
//! from the map budget when that is lower than `max-workers-in-memory`: a recovery
//! past it waits for room, and while one waits, idle workers leave.

use std::time::Duration;

/// Memory mappings one worker in memory holds, rounded up (seven measured with the
/// on-demand allocator: see the module docs).
pub const MAPS_PER_WORKER: u64 = 8;

/// Mappings kept for everything else in the process (code, thread stacks, the
/// allocator's arenas, compiled components, sockets).
pub const RESERVED_MAPS: u64 = 4_096;

/// The most workers in memory at once: `configured` (`max-workers-in-memory`), lowered
/// to what `max_map_count` (the kernel's `vm.max_map_count`, when known) leaves room
/// for; at least one.
pub fn limit(configured: usize, max_map_count: Option<u64>) -> usize {
    let by_maps = max_map_count.map_or(usize::MAX, |maps| {
        usize::try_from(maps.saturating_sub(RESERVED_MAPS) / MAPS_PER_WORKER).unwrap_or(usize::MAX)
    });
    configured.min(by_maps).max(1)
}

/// Whether an idle worker leaves memory when told the executor is short of room: when
/// the executor is at its limit or a recovery waits for room, and the worker has been
/// idle at least `evict_after`.
pub fn leaves(
    idle: Duration,
    evict_after: Duration,
    in_memory: u64,
    limit: usize,
    waiting: usize,
) -> bool {
    let full = in_memory >= limit as u64 || waiting > 0;
    full && idle >= evict_after
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_map_count_lowers_the_default_limit() {
        // Linux's default vm.max_map_count against the default max-workers-in-memory.
        assert_eq!(limit(10_000, Some(65_530)), (65_530 - 4_096) / 8);
        assert!(limit(10_000, Some(65_530)) * 7 < 65_530 - 1_000);
    }

    #[test]
    fn a_raised_map_count_or_a_lower_setting_leaves_the_setting() {
        assert_eq!(limit(10_000, Some(1_048_576)), 10_000);
        assert_eq!(limit(2, Some(65_530)), 2);
        assert_eq!(limit(10_000, None), 10_000);
    }

    #[test]
    fn there_is_always_room_for_one() {
        assert_eq!(limit(0, None), 1);
        assert_eq!(limit(10_000, Some(100)), 1);
    }

    #[test]
    fn idle_workers_leave_only_when_room_is_short_and_they_idled_long_enough() {
        let s = Duration::from_secs;
        // Below the limit, nobody waiting: stays however long it idled.
        assert!(!leaves(s(60), s(1), 5, 10, 0));
        // At the limit: leaves once idle long enough.
        assert!(leaves(s(1), s(1), 10, 10, 0));
        assert!(!leaves(Duration::from_millis(999), s(1), 10, 10, 0));
        // A recovery waits: the same, even below the limit (workers left meanwhile).
        assert!(leaves(s(2), s(1), 3, 10, 1));
        assert!(!leaves(Duration::ZERO, s(1), 3, 10, 1));
        assert!(leaves(Duration::ZERO, Duration::ZERO, 3, 10, 1));
    }
}
