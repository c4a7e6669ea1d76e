//! Whether the instance a recovery built while the worker's oplog was being read
//! (its *spare*: the component version the executor last saw as latest, no args or
//! env, see [`crate::worker`]) serves the worker the read found.

/// The spare serves a worker whose instance is of `version` (its oplog's `Create`, or
/// a new worker's latest) when the worker needs an instance now (`needs_instance`: not
/// failed, interrupted or suspended), of the spare's version, with no args or env of
/// its own.
pub fn serves(
    spare_version: u64,
    version: u64,
    own_args_or_env: bool,
    needs_instance: bool,
) -> bool {
    needs_instance && version == spare_version && !own_args_or_env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_needing_an_instance_of_the_same_version_without_args_or_env_takes_it() {
        assert!(serves(3, 3, false, true));
    }

    #[test]
    fn another_version_args_env_or_no_instance_needed_leave_it_unused() {
        assert!(!serves(3, 2, false, true), "an older version");
        assert!(!serves(3, 4, false, true), "a newer version");
        assert!(!serves(3, 3, true, true), "its own args or env");
        assert!(
            !serves(3, 3, false, false),
            "failed, interrupted or suspended"
        );
    }
}
