//! The error of a build step (sources, the image, Python builds), shared by the steps and
//! the orchestrator in [`super`].

use crate::archive::ArchiveError;
use crate::fsutil::FsError;
use crate::sandbox::SandboxError;
use crate::store::StoreError;
use std::path::PathBuf;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Recipe(#[from] crate::recipe::RecipeError),
    #[error("{file} no longer matches the recipe ({}); run `relsign lock {recipe}`", .reasons.join("; "))]
    StaleLock {
        file: PathBuf,
        recipe: PathBuf,
        reasons: Vec<String>,
    },
    #[error("{} input(s) missing from the store {store}; run `relsign fetch {recipe}`:\n{}", .missing.len(), .missing.join("\n"))]
    MissingInputs {
        store: PathBuf,
        recipe: PathBuf,
        missing: Vec<String>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{context}: {source}")]
    Other {
        context: String,
        #[source]
        source: BoxError,
    },
    #[error("{0}")]
    Message(String),
}

impl BuildError {
    /// A digest or size mismatch: in the store, or a corrupt .deb met under [`BuildError::Other`]
    /// (assembling a rootfs, running the maintainer scripts).
    pub fn is_integrity(&self) -> bool {
        match self {
            BuildError::Store(e) => e.is_integrity(),
            BuildError::Other { source, .. } => {
                source
                    .downcast_ref::<crate::debian::DebError>()
                    .is_some_and(crate::debian::DebError::is_integrity)
                    || source
                        .downcast_ref::<super::scripts::ScriptsError>()
                        .is_some_and(super::scripts::ScriptsError::is_integrity)
            }
            _ => false,
        }
    }
    pub(crate) fn other(context: impl Into<String>) -> impl FnOnce(BoxError) -> BuildError {
        let context = context.into();
        move |source| BuildError::Other { context, source }
    }
}
