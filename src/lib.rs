//! relsign: a reproducible release builder and signer.
//!
//! Data flows one way: recipe → lock → fetch → store → plan → sandboxed steps → artifacts →
//! attestations → release directory → verify. The library never prints; progress goes
//! through [`report::Reporter`].
//!
//! # Layers
//!
//! A module uses only modules of its own layer or below, never one above, and no two modules
//! (files or top-level modules) import each other, directly or in a circle.
//! `tests/layering.rs` reads the sources and keeps this true, with the rule that no function
//! outside tests is longer than 120 lines.
//!
//! 1. **Foundations**, which know nothing of releases: [`digest`], [`time`], [`par`],
//!    [`report`], [`sandbox`], [`snapshot`], [`fsutil`], [`json`] (limited, duplicate-refusing
//!    JSON), [`http`] (the one HTTP client), [`keys`], [`store`], [`archive`], [`services`];
//!    and [`model`], the release model (`release.json`'s types and canonical JSON).
//! 2. **Formats**: [`dsse`], [`debian`] (.deb, deb822, versions), [`oci`], [`python`] (PEP 440,
//!    508, wheels, metadata), [`tlog`] (the generic transparency log), [`fetch`] (locations,
//!    mirrors, the store), [`git`], [`reldir`] (a release directory read back), [`compare`].
//! 3. **Inputs**: [`recipe`] (with its `[vulnerabilities]` section), [`policy`] (the trust
//!    policy), [`lock`] (the Debian and Python locks, the index), [`upstream`] (pinned
//!    archives).
//! 4. **Steps**: [`build`] (its plan, the action cache, the sources, the rootfs, maintainer
//!    scripts, the image),
//!    [`packages`], [`gate`] (behave), [`diff`], [`scan`].
//! 5. **Policy checks**: [`stable`], [`vulndb`], [`vulns`].
//! 6. **The release**: [`attest`] (statements, bundles, signing), [`publish`], [`rebuild`],
//!    [`releaselog`] (a release's entries in the log, the monitor), [`sbom`], [`release`] (its
//!    plan: the build's plan, then the stages).
//! 7. [`verify`], which reads a release and checks everything it says.
//! 8. [`error`]: the one error the command line maps to exit codes (1 for a failed check,
//!    2 otherwise), classifying the library's errors where they are converted.
//!
//! Within a module, the parent file declares its children and uses them; a child never
//! imports its parent: what children share lives in a child of its own (`build::error`,
//! `verify::check`, `sbom::model`, `attest::error`, `archive::error`).
#![forbid(unsafe_code)]

pub mod archive;
pub mod attest;
pub mod build;
pub mod compare;
pub mod debian;
pub mod diff;
pub mod digest;
pub mod dsse;
pub mod error;
pub mod fetch;
pub mod fsutil;
pub mod gate;
pub mod git;
pub mod http;
pub mod intoto;
pub mod json;
pub mod keyless;
pub mod keys;
pub mod lock;
pub mod model;
pub mod oci;
pub mod packages;
pub mod par;
pub mod policy;
pub mod publish;
pub mod python;
pub mod rebuild;
pub mod recipe;
pub mod reldir;
pub mod release;
pub mod releaselog;
pub mod report;
pub mod sandbox;
pub mod sbom;
pub mod scan;
pub mod services;
pub mod snapshot;
pub mod stable;
pub mod store;
pub mod time;
pub mod tlog;
pub mod upstream;
pub mod verify;
pub mod vulndb;
pub mod vulns;

pub use error::Error;

/// Exit code for a verification, integrity or policy failure.
pub const EXIT_FAILED_CHECK: i32 = 1;
/// Exit code for any other error.
pub const EXIT_ERROR: i32 = 2;

/// The crash-test hook (publish and the transparency log): a real SIGKILL, as an operator's
/// `kill -9` or the OOM killer would.
pub(crate) fn kill_self() -> ! {
    let pid = std::process::id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status();
    // `kill` is in procps/coreutils on every Debian; should it be missing, abort (SIGABRT)
    // rather than carry on.
    std::process::abort()
}
