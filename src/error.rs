//! The one error a relsign command fails with, and the exit code it maps to.
//!
//! A command says itself whether its failure is a failed check ([`Error::verification`]:
//! a verification refusal, an integrity failure, a failed policy or gate, a stale lock); a
//! library error is classified once, where it is converted (`?`), by its own
//! `is_integrity()`/`is_refusal()`. Everything else is [`Error::Other`].

use crate::build::error::BuildError;
use crate::debian::DebError;
use crate::fetch::FetchError;
use crate::lock::debian::DebianLockError;
use crate::lock::python::PyLockError;
use crate::policy::PolicyError;
use crate::sbom::SbomError;
use crate::store::StoreError;
use crate::tlog::TlogError;
use crate::upstream::UpstreamError;
use crate::verify::VerifyError;
use crate::vulndb::VulnDbError;
use crate::{EXIT_ERROR, EXIT_FAILED_CHECK};
use serde_json::{Map, Value};
use std::fmt;

/// What a command failed with.
#[derive(Debug)]
pub enum Error {
    /// A verification, integrity or policy failure: exit 1 ([`EXIT_FAILED_CHECK`]). `details`
    /// are added to the `--json` error document (`check`, `failing`, `resume`, …).
    Verification {
        error: anyhow::Error,
        details: Map<String, Value>,
    },
    /// Any other error: exit 2 ([`EXIT_ERROR`]).
    Other(anyhow::Error),
}

/// A command's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A failed check with this message; `details` (a JSON object, else ignored) go into the
    /// `--json` error document.
    pub fn verification(message: impl fmt::Display, details: Value) -> Error {
        Error::Verification {
            error: anyhow::Error::msg(message.to_string()),
            details: match details {
                Value::Object(m) => m,
                _ => Map::new(),
            },
        }
    }

    /// `e` as a failed check (with no details) when `failed`, else as any other error.
    fn classified(e: impl Into<anyhow::Error>, failed: bool) -> Error {
        if failed {
            Error::Verification {
                error: e.into(),
                details: Map::new(),
            }
        } else {
            Error::Other(e.into())
        }
    }

    /// The exit code: [`EXIT_FAILED_CHECK`] for a failed check, [`EXIT_ERROR`] otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Verification { .. } => EXIT_FAILED_CHECK,
            Error::Other(_) => EXIT_ERROR,
        }
    }

    /// What the `--json` error document adds for a failed check.
    pub fn details(&self) -> Option<&Map<String, Value>> {
        match self {
            Error::Verification { details, .. } => Some(details),
            Error::Other(_) => None,
        }
    }

    /// The error and its causes, outermost first.
    pub fn chain(&self) -> anyhow::Chain<'_> {
        self.inner().chain()
    }

    fn inner(&self) -> &anyhow::Error {
        match self {
            Error::Verification { error, .. } | Error::Other(error) => error,
        }
    }

    /// The same error (of the same kind, with the same details) under an outer message.
    pub fn context<C>(self, context: C) -> Error
    where
        C: fmt::Display + Send + Sync + 'static,
    {
        match self {
            Error::Verification { error, details } => Error::Verification {
                error: error.context(context),
                details,
            },
            Error::Other(error) => Error::Other(error.context(context)),
        }
    }
}

/// Shown as the underlying error (`{:#}`: with its causes, `: `-joined).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.inner(), f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner().source()
    }
}

/// `.context(…)` and `.with_context(…)` for any result whose error converts into [`Error`],
/// keeping its kind.
pub trait Context<T> {
    fn context<C>(self, context: C) -> Result<T>
    where
        C: fmt::Display + Send + Sync + 'static;
    fn with_context<C, F>(self, f: F) -> Result<T>
    where
        C: fmt::Display + Send + Sync + 'static,
        F: FnOnce() -> C;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context<C>(self, context: C) -> Result<T>
    where
        C: fmt::Display + Send + Sync + 'static,
    {
        self.map_err(|e| e.into().context(context))
    }
    fn with_context<C, F>(self, f: F) -> Result<T>
    where
        C: fmt::Display + Send + Sync + 'static,
        F: FnOnce() -> C,
    {
        self.map_err(|e| e.into().context(f()))
    }
}

/// An `anyhow::Error` is any other error, unless it carries an [`Error`] (the command's own,
/// under added context): then it keeps that one's kind and details.
impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Error {
        match e.downcast_ref::<Error>() {
            Some(Error::Verification { details, .. }) => Error::Verification {
                details: details.clone(),
                error: e,
            },
            _ => Error::Other(e),
        }
    }
}

/// Library errors that say themselves whether they are a failed check.
macro_rules! classified {
    ($($ty:ty => $method:ident),* $(,)?) => {
        $(impl From<$ty> for Error {
            fn from(e: $ty) -> Error {
                let failed = e.$method();
                Error::classified(e, failed)
            }
        })*
    };
}

classified!(
    StoreError => is_integrity,
    FetchError => is_integrity,
    PyLockError => is_integrity,
    DebianLockError => is_integrity,
    DebError => is_integrity,
    BuildError => is_integrity,
    UpstreamError => is_integrity,
    VulnDbError => is_integrity,
    crate::release::plan::ReleasePlanError => is_integrity,
    VerifyError => is_refusal,
);

/// Errors that are never a failed check.
macro_rules! other {
    ($($ty:ty),* $(,)?) => {
        $(impl From<$ty> for Error {
            fn from(e: $ty) -> Error {
                Error::Other(e.into())
            }
        })*
    };
}

other!(
    std::io::Error,
    serde_json::Error,
    crate::attest::AttestError,
    crate::compare::CompareError,
    crate::diff::DiffError,
    crate::fsutil::FsError,
    crate::git::GitError,
    crate::keys::KeyError,
    crate::packages::PackagesError,
    crate::publish::run::PublishError,
    crate::lock::index::IndexError,
    crate::recipe::RecipeError,
    crate::sandbox::SandboxError,
    crate::scan::ScanError,
    crate::services::ServicesError,
    crate::stable::StableError,
    crate::vulns::VulnsError,
);

other!(crate::keyless::KeylessError);

/// The SBOMs of an image unpacked (a [`BuildError`]) are classified as that error.
impl From<SbomError> for Error {
    fn from(e: SbomError) -> Error {
        let failed = matches!(&e, SbomError::Image { source, .. } if source.is_integrity());
        Error::classified(e, failed)
    }
}

/// A refused policy check names the check (`--json`: `check`).
impl From<PolicyError> for Error {
    fn from(e: PolicyError) -> Error {
        match e {
            PolicyError::Refused { check, reason } => Error::verification(
                format!("policy check `{check}` failed: {reason}"),
                serde_json::json!({ "check": check }),
            ),
            e => Error::Other(e.into()),
        }
    }
}

/// A refusal of the transparency log (a bad proof, a fork, a rollback) names the check.
impl From<TlogError> for Error {
    fn from(e: TlogError) -> Error {
        match e {
            TlogError::Refused { check, reason } => Error::verification(
                format!("security check `{check}` failed: {reason}"),
                serde_json::json!({ "check": check }),
            ),
            e => Error::Other(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_exit_codes() {
        let v = Error::verification("refused", serde_json::json!({"check": "x"}));
        assert_eq!(v.exit_code(), EXIT_FAILED_CHECK);
        assert_eq!(v.details().unwrap()["check"], "x");
        let o = Error::from(anyhow::anyhow!("other"));
        assert_eq!(o.exit_code(), EXIT_ERROR);
        assert!(o.details().is_none());
    }

    #[test]
    fn context_keeps_the_kind_and_the_details() {
        let e = Error::verification("inner", serde_json::json!({"check": "c"})).context("outer");
        assert_eq!(e.exit_code(), EXIT_FAILED_CHECK);
        assert_eq!(format!("{e:#}"), "outer: inner");
        assert_eq!(e.details().unwrap()["check"], "c");
        // Through anyhow and back (a command that returns anyhow::Result).
        let a: anyhow::Error = Error::verification("v", serde_json::json!({"k": 1})).into();
        let back = Error::from(a.context("ctx"));
        assert_eq!(back.exit_code(), EXIT_FAILED_CHECK);
        assert_eq!(back.details().unwrap()["k"], 1);
        assert_eq!(
            back.chain().map(|c| c.to_string()).collect::<Vec<_>>(),
            ["ctx", "v"]
        );
    }

    #[test]
    fn library_errors_are_classified_by_their_own_methods() {
        let corrupt = || StoreError::Corrupt {
            path: "p".into(),
            expected: crate::digest::Sha256Hex::of(b"a"),
            got: crate::digest::Sha256Hex::of(b"b"),
        };
        assert_eq!(Error::from(corrupt()).exit_code(), EXIT_FAILED_CHECK);
        assert_eq!(Error::from(StoreError::NoCacheDir).exit_code(), EXIT_ERROR);
        let build = |e: StoreError| BuildError::Store(e);
        assert_eq!(Error::from(build(corrupt())).exit_code(), EXIT_FAILED_CHECK);
        // A corrupt .deb under BuildError::Other, as when assembling the build rootfs.
        let deb = DebError::Store {
            package: "p".into(),
            source: corrupt(),
        };
        let other = BuildError::Other {
            context: "assembling the build rootfs".into(),
            source: Box::new(deb),
        };
        assert_eq!(Error::from(other).exit_code(), EXIT_FAILED_CHECK);
        let refused = VerifyError::Refused {
            check: "c",
            reason: "r".into(),
        };
        assert_eq!(Error::from(refused).exit_code(), EXIT_FAILED_CHECK);
        assert_eq!(
            Error::from(VerifyError::Usage("u".into())).exit_code(),
            EXIT_ERROR
        );
    }
}
