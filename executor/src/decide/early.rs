//! The early instance of a recovery: while a worker's oplog is read, the executor
//! instantiates the newest version of its component it has loaded, guessing the
//! worker was created plainly (no args, no env) at that version — true of every new
//! worker while no newer version is deployed, and of most existing ones. When the
//! oplog and the component's latest version say otherwise, the instance is thrown
//! away and the recovery instantiates what they say, as it would have anyway; a
//! right guess takes the instantiation off a cold start's critical path.

/// What the early instance was built as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guess {
    pub version: u64,
}

/// What the oplog's `Create` says of the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    pub version: u64,
    /// Created with no args and no env.
    pub plain: bool,
}

/// Whether the early instance built as `guess` can serve the worker: `created` is the
/// oplog's `Create` (`None` for a new worker, which is created at `latest`, the
/// component's latest version read alongside), and `untouched` whether the instance
/// journaled nothing while it was built (it was, before the journal knew where the
/// oplog ends).
pub fn fits(guess: Guess, created: Option<Created>, latest: Option<u64>, untouched: bool) -> bool {
    let version = match created {
        Some(c) if !c.plain => return false,
        Some(c) => Some(c.version),
        None => latest,
    };
    untouched && version == Some(guess.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(version: u64, plain: bool) -> Option<Created> {
        Some(Created { version, plain })
    }

    #[test]
    fn a_new_worker_fits_when_the_guess_is_the_latest_version() {
        let guess = Guess { version: 3 };
        assert!(fits(guess, None, Some(3), true));
        assert!(
            !fits(guess, None, Some(4), true),
            "a newer version was deployed"
        );
        assert!(!fits(guess, None, None, true), "the component is unknown");
    }

    #[test]
    fn an_existing_worker_fits_when_created_plainly_at_the_guessed_version() {
        let guess = Guess { version: 2 };
        // The latest version does not matter for an existing worker: it runs its own.
        assert!(fits(guess, created(2, true), Some(5), true));
        assert!(!fits(guess, created(1, true), Some(2), true));
        assert!(
            !fits(guess, created(2, false), Some(2), true),
            "created with args or env: the instance has none"
        );
    }

    #[test]
    fn an_instance_that_journaled_while_it_was_built_never_fits() {
        let guess = Guess { version: 2 };
        assert!(!fits(guess, None, Some(2), false));
        assert!(!fits(guess, created(2, true), Some(2), false));
    }
}
