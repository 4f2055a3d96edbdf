//! Upstream archives (`[[archive]]` in a recipe): files a release needs from its project's
//! repositories (server configs, a test suite), pinned by sha256 and fetched from a list of
//! locations in order: the project's git host, then a fallback host, then a file mirror. This
//! is a security policy's "if GitHub becomes unavailable, Bitbucket will be used": any host
//! may serve the file, only the digest decides.
//!
//! Locations come from the recipe, then `--archive-mirror` flags, then
//! `$RELSIGN_ARCHIVE_MIRRORS` (space-separated); none is built in.

use crate::digest::Sha256Hex;
use crate::fetch::{FetchError, Http};
use crate::fsutil::{self, FsError};
use crate::recipe::{ArchiveSpec, Recipe};
use crate::report::Reporter;
use crate::store::{Store, StoreError};
use std::path::{Path, PathBuf};

/// The environment variable with extra archive locations (space-separated).
pub const MIRRORS_ENV: &str = "RELSIGN_ARCHIVE_MIRRORS";

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("archive {name} ({file}): no location to fetch it from: give `locations` in the recipe, --archive-mirror or ${MIRRORS_ENV}")]
    NoLocations { name: String, file: String },
    #[error("archive {name} ({file}, sha256:{sha256}): {source}")]
    Fetch {
        name: String,
        file: String,
        sha256: String,
        #[source]
        source: Box<FetchError>,
    },
    #[error("archive {name}: {0}", name = .1)]
    Unpack(Box<crate::archive::ArchiveError>, String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("no [[archive]] named {0:?} in the recipe")]
    Unknown(String),
}

impl UpstreamError {
    /// A digest or size mismatch (exit 1).
    pub fn is_integrity(&self) -> bool {
        match self {
            UpstreamError::Fetch { source, .. } => source.is_integrity(),
            UpstreamError::Store(e) => e.is_integrity(),
            _ => false,
        }
    }
}

/// Extra locations: the flags, then `$RELSIGN_ARCHIVE_MIRRORS`.
pub fn extra_locations(flags: &[String]) -> Vec<String> {
    let mut v = flags.to_vec();
    if let Ok(env) = std::env::var(MIRRORS_ENV) {
        v.extend(env.split_whitespace().map(str::to_string));
    }
    v
}

/// The URLs to try for `a`, in order: its own locations, then `extra`.
pub fn urls(recipe: &Recipe, a: &ArchiveSpec, extra: &[String]) -> Vec<String> {
    let all: Vec<String> = a.locations.iter().chain(extra).cloned().collect();
    location_urls(recipe, &all, &a.file)
}

/// Locations as URLs, in order. A location ending in `/`, or a local directory, gets `file`
/// appended; a local path (relative to the recipe) becomes a `file://` URL.
pub fn location_urls(recipe: &Recipe, locations: &[String], file: &str) -> Vec<String> {
    locations
        .iter()
        .map(|loc| {
            if loc.contains("://") {
                if loc.ends_with('/') {
                    crate::fetch::join(loc, file)
                } else {
                    loc.clone()
                }
            } else {
                let p = recipe.resolve(Path::new(loc));
                let p = std::fs::canonicalize(&p).unwrap_or(p);
                let p = if loc.ends_with('/') || p.is_dir() {
                    p.join(file)
                } else {
                    p
                };
                format!("file://{}", p.display())
            }
        })
        .collect()
}

fn digest(a: &ArchiveSpec) -> Sha256Hex {
    // Checked when the recipe was loaded.
    Sha256Hex::parse(&a.sha256).expect("recipe checked")
}

/// What [`fetch`] did, per archive: the location that served it (`None`: already stored).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Fetched {
    pub name: String,
    pub file: String,
    pub sha256: String,
    pub from: Option<String>,
}

/// Put every archive of the recipe into the store, trying its locations in order; a location
/// that fails (unreachable, 404, wrong bytes) is reported and the next one tried.
pub fn fetch(
    recipe: &Recipe,
    extra: &[String],
    http: &Http,
    store: &Store,
    r: &dyn Reporter,
) -> Result<Vec<Fetched>, UpstreamError> {
    let mut out = Vec::new();
    for a in &recipe.file.archives {
        let d = digest(a);
        let mut f = Fetched {
            name: a.name.clone(),
            file: a.file.clone(),
            sha256: a.sha256.clone(),
            from: None,
        };
        if !store.has_verified(&d)? {
            let urls = urls(recipe, a, extra);
            if urls.is_empty() {
                return Err(UpstreamError::NoLocations {
                    name: a.name.clone(),
                    file: a.file.clone(),
                });
            }
            let k = http
                .fetch_to_store_from(store, &a.file, &urls, &d, a.size, r)
                .map_err(|source| UpstreamError::Fetch {
                    name: a.name.clone(),
                    file: a.file.clone(),
                    sha256: a.sha256.clone(),
                    source: Box::new(source),
                })?;
            if let Some(k) = k {
                let shown = crate::fetch::redact(&urls[k]);
                r.info(&format!("archive {}: {} from {shown}", a.name, a.file));
                f.from = Some(shown);
            }
        }
        out.push(f);
    }
    Ok(out)
}

/// The archives missing from the store, as `  file (sha256:…)` lines.
pub fn missing(recipe: &Recipe, store: &Store) -> Result<Vec<String>, StoreError> {
    let mut v = Vec::new();
    for a in &recipe.file.archives {
        if !store.has_verified(&digest(a))? {
            v.push(format!(
                "  {} (sha256:{}, archive {})",
                a.file, a.sha256, a.name
            ));
        }
    }
    Ok(v)
}

/// Copy every archive to `dir/archives/<file>`, so `dir` serves as a file mirror for them.
pub fn export(recipe: &Recipe, store: &Store, dir: &Path) -> Result<(), UpstreamError> {
    for a in &recipe.file.archives {
        let src = store.get(&digest(a), &a.file)?;
        let dest = dir.join("archives").join(&a.file);
        let bytes = fsutil::read(&src)?;
        fsutil::write_atomic(&dest, &bytes)?;
    }
    Ok(())
}

/// Unpack archive `name` from the store into `dest` through the safe tar reader, without its
/// top directory (`git archive` puts everything under `<project>-<ref>/`).
pub fn unpack(
    recipe: &Recipe,
    name: &str,
    store: &Store,
    dest: &Path,
) -> Result<PathBuf, UpstreamError> {
    let a = recipe
        .file
        .archives
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| UpstreamError::Unknown(name.into()))?;
    let path = store.get(&digest(a), &a.file)?;
    let f = std::fs::File::open(&path).map_err(fsutil::err("open", &path))?;
    let opts = crate::archive::safe::ExtractOptions {
        archive_name: a.file.clone(),
        strip_components: 1,
        input_size: f.metadata().map(|m| m.len()).ok(),
        ..Default::default()
    };
    let gz = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f));
    crate::archive::safe::extract_tar(gz, dest, &opts)
        .map_err(|e| UpstreamError::Unpack(Box::new(e), name.into()))?;
    Ok(dest.to_path_buf())
}
