//! Deterministic archive writers and safe readers.
//!
//! Writers follow DESIGN.md's reproducibility rules: bytewise-sorted entries, parents before
//! children, mtimes clamped to SOURCE_DATE_EPOCH, numeric owner 0, empty user/group names,
//! normalized modes, PAX headers only for names ustar cannot hold; gzip with header mtime 0,
//! no file name, flate2's Rust backend at level 9; zip with fixed timestamps and modes.

pub mod normalize;
pub mod safe;
pub mod tarw;

/// The compressor identity recorded in provenance.
pub const GZIP_IMPL: &str = concat!(
    "flate2/miniz_oxide level 9 (relsign ",
    env!("CARGO_PKG_VERSION"),
    ")"
);

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{archive}: entry {entry:?}: {reason}")]
    Entry {
        archive: String,
        entry: String,
        reason: String,
    },
    #[error("{archive}: {reason}")]
    Archive { archive: String, reason: String },
    #[error("{archive}: {source}")]
    Io {
        archive: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Fs(#[from] crate::fsutil::FsError),
}
