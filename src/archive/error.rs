//! The error of reading or writing an archive.

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
