//! relsign: a reproducible release builder and signer.
//!
//! Data flows one way: recipe → lock → fetch → store → plan → sandboxed steps → artifacts.
//! The library never prints; progress goes through [`report::Reporter`].
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
pub mod json;
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
