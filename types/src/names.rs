//! Validated names. Component and worker names become NATS subject tokens and KV
//! keys, so they are restricted to `[A-Za-z0-9_-]{1,128}` and checked at every
//! entry point before any NATS call is made.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest name accepted.
pub const MAX_NAME_LEN: usize = 128;

/// A name that does not fit `[A-Za-z0-9_-]{1,128}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{what} name is empty; expected 1 to 128 characters of [A-Za-z0-9_-]")]
    Empty { what: &'static str },
    #[error(
        "{what} name is {len} characters long; expected at most 128 characters of [A-Za-z0-9_-]"
    )]
    TooLong { what: &'static str, len: usize },
    #[error(
        "{what} name {name:?} contains {ch:?} at position {pos}; expected only letters, digits, '_' and '-' ([A-Za-z0-9_-]{{1,128}})"
    )]
    BadChar {
        what: &'static str,
        name: String,
        ch: char,
        pos: usize,
    },
}

/// Checks `name` against `[A-Za-z0-9_-]{1,128}`; `what` names the kind in the error.
pub fn validate(what: &'static str, name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { what });
    }
    let len = name.chars().count();
    if len > MAX_NAME_LEN {
        return Err(NameError::TooLong { what, len });
    }
    if let Some((pos, ch)) = name
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(NameError::BadChar {
            what,
            name: name.to_owned(),
            ch,
            pos,
        });
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            /// Validates and wraps a name.
            pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
                let name = name.into();
                validate($what, &name)?;
                Ok(Self(name))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                Self::new(s)
            }
        }

        impl From<$ty> for String {
            fn from(n: $ty) -> String {
                n.0
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// The name a component is uploaded under.
    ComponentName,
    "component"
);
name_type!(
    /// A worker's name, unique within its component.
    WorkerName,
    "worker"
);
name_type!(
    /// An executor's identity (lease owner, heartbeat key).
    ExecutorId,
    "executor"
);

/// A worker's full identity: `<component>/<worker>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WorkerId {
    pub component: ComponentName,
    pub worker: WorkerName,
}

impl WorkerId {
    /// Builds an id from already validated names.
    pub fn new(component: ComponentName, worker: WorkerName) -> Self {
        Self { component, worker }
    }

    /// Validates both names.
    pub fn parse(component: &str, worker: &str) -> Result<Self, NameError> {
        Ok(Self {
            component: ComponentName::new(component)?,
            worker: WorkerName::new(worker)?,
        })
    }

    /// Parses the `<component>/<worker>` form used by the CLI and in messages.
    pub fn parse_path(path: &str) -> Result<Self, NameError> {
        match path.split_once('/') {
            Some((c, w)) => Self::parse(c, w),
            None => {
                // Report the bad character '/' is missing: the whole thing is a component name at best.
                ComponentName::new(path)?;
                Err(NameError::Empty { what: "worker" })
            }
        }
    }

    /// `<component>.<worker>`: the form used in subjects and KV keys.
    pub fn dotted(&self) -> String {
        format!("{}.{}", self.component, self.worker)
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.component, self.worker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_token_safe_names() {
        for ok in ["a", "counter", "cart-user_1", &"x".repeat(128)] {
            assert!(WorkerName::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else_with_a_clear_error() {
        assert_eq!(
            WorkerName::new(""),
            Err(NameError::Empty { what: "worker" })
        );
        assert_eq!(
            ComponentName::new("x".repeat(129)),
            Err(NameError::TooLong {
                what: "component",
                len: 129
            })
        );
        for bad in ["a.b", "a b", "a*", "a>", "ä", "a/b"] {
            let err = WorkerName::new(bad).unwrap_err();
            assert!(matches!(err, NameError::BadChar { .. }), "{bad}: {err}");
            assert!(err.to_string().contains("[A-Za-z0-9_-]"), "{err}");
        }
    }

    #[test]
    fn worker_id_paths() {
        let id = WorkerId::parse_path("counter/w1").unwrap();
        assert_eq!(id.to_string(), "counter/w1");
        assert_eq!(id.dotted(), "counter.w1");
        assert!(WorkerId::parse_path("counter").is_err());
        assert!(WorkerId::parse_path("counter/w.1").is_err());
    }

    #[test]
    fn deserializing_validates() {
        let bad: Result<WorkerName, _> = serde_json::from_str("\"a.b\"");
        assert!(bad.is_err());
    }
}
