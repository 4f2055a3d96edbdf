//! The build plan: what `relsign build` will do, as plain data, decided from the recipe and
//! its (checked) locks with no other I/O. The executor in [`super`] runs it; `relsign build
//! --plan` prints it; its digest names exactly the inputs of a build (every step's inputs are
//! in it by digest), so an action cache or a distributed rebuild can key on it.

use super::error::BuildError;
use crate::digest::Sha256Hex;
use crate::lock::debian::DebianLock;
use crate::lock::python::PyLock;
use crate::model::{canonical_json, BuildRequirement, BuildUsed};
use crate::python::requirements::normalize_name;
use crate::recipe::{Recipe, Source};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The plan's type, in its JSON form.
pub const PLAN_TYPE: &str = "https://relsign.dev/build-plan/v1";

/// A file taken from the content-addressed store.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StoreFile {
    pub file: String,
    pub sha256: Sha256Hex,
}

/// A file of the recipe's directory copied into the release's `inputs/` (the recipe, the
/// locks), by its path there and its digest.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PlannedInput {
    /// Relative to `inputs/`.
    pub path: PathBuf,
    /// Where it is read from.
    #[serde(skip)]
    pub from: PathBuf,
    pub sha256: Sha256Hex,
}

/// An upstream archive the recipe pins (`[[archive]]`), fetched from its locations.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ArchiveInput {
    pub name: String,
    pub file: String,
    pub sha256: String,
}

/// Where a package's source comes from.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SourcePlan {
    /// A directory of the recipe's (its digest is taken when it is copied in).
    Dir { path: PathBuf },
    /// A published sdist pinned by digest: it is the release's sdist as it is.
    Sdist { file: String, sha256: Sha256Hex },
    /// A git commit from the store's git cache (the URL without credentials).
    Git { url: String, commit: String },
}

/// One package: its source, its build environment, and the PEP 517 hooks run, in order.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PackagePlan {
    pub package: String,
    pub source: SourcePlan,
    pub environment: BuildUsed,
    /// `build_sdist` then `build_wheel` from that sdist, or `build_wheel` from a pinned sdist.
    pub steps: Vec<&'static str>,
}

/// The image: its locked .debs, the runtime wheels from the Python lock, and the wheels the
/// packages above build.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ImagePlan {
    pub debs: Vec<StoreFile>,
    pub runtime_wheels: Vec<StoreFile>,
    pub built_wheels: Vec<String>,
    /// `image.test-packages`: locked with the image, left out of it (the gate adds them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test_debs: Vec<StoreFile>,
}

/// Everything `relsign build` does, in order.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BuildPlan {
    #[serde(rename = "_type")]
    pub type_: &'static str,
    pub name: String,
    pub version: String,
    pub builder: String,
    /// The recipe and its locks, as copied into `inputs/`.
    pub inputs: Vec<PlannedInput>,
    /// The build rootfs: the toolchain lock's .debs.
    pub rootfs: Vec<StoreFile>,
    pub packages: Vec<PackagePlan>,
    /// Upstream archives (recipe inputs named by digest in release.json and the provenance).
    pub archives: Vec<ArchiveInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImagePlan>,
}

impl BuildPlan {
    /// The plan's digest: the SHA-256 of its canonical JSON.
    pub fn digest(&self) -> Sha256Hex {
        Sha256Hex::of(&canonical_json(self))
    }

    /// Every store file the plan needs, for the preflight that names all missing ones at
    /// once, in the order the build uses them.
    pub fn store_files(&self) -> Vec<StoreFile> {
        let mut out: Vec<StoreFile> = self.rootfs.clone();
        out.extend(self.image.iter().flat_map(|i| i.debs.iter().cloned()));
        for p in &self.packages {
            out.extend(p.environment.requirements.iter().map(|r| StoreFile {
                file: r.file.clone(),
                sha256: r.sha256.clone(),
            }));
        }
        out.extend(
            self.image
                .iter()
                .flat_map(|i| i.runtime_wheels.iter().cloned()),
        );
        for p in &self.packages {
            if let SourcePlan::Sdist { file, sha256 } = &p.source {
                out.push(StoreFile {
                    file: file.clone(),
                    sha256: sha256.clone(),
                });
            }
        }
        out
    }
}

/// The parsed, checked locks a plan is made from.
pub struct Locks<'a> {
    pub debian: &'a DebianLock,
    pub python: &'a PyLock,
    pub python_path: &'a Path,
    pub image: Option<&'a DebianLock>,
    /// The recipe and its locks, read for their digests (`inputs/` path, source path, bytes).
    pub files: &'a [(PathBuf, PathBuf, Sha256Hex)],
}

/// Decide the build: no I/O.
pub fn plan(recipe: &Recipe, locks: &Locks) -> Result<BuildPlan, BuildError> {
    let mut packages = Vec::new();
    for pkg in &recipe.packages {
        packages.push(package_plan(recipe, pkg, locks)?);
    }
    let image = match (&recipe.file.image, locks.image) {
        (Some(spec), Some(lock)) => Some(ImagePlan {
            debs: debs(&lock.without(&spec.test_packages)),
            runtime_wheels: runtime_wheels(recipe, locks)?,
            built_wheels: recipe.packages.iter().map(|p| p.name.clone()).collect(),
            test_debs: store_files(lock.only(&spec.test_packages).map_err(|e| {
                BuildError::Message(format!(
                    "{}: image.test-packages: {e}",
                    recipe.path.display()
                ))
            })?),
        }),
        _ => None,
    };
    Ok(BuildPlan {
        type_: PLAN_TYPE,
        name: recipe.file.release.name.clone(),
        version: recipe.file.release.version.clone(),
        builder: format!("relsign {}", env!("CARGO_PKG_VERSION")),
        inputs: locks
            .files
            .iter()
            .map(|(path, from, sha256)| PlannedInput {
                path: path.clone(),
                from: from.clone(),
                sha256: sha256.clone(),
            })
            .collect(),
        rootfs: debs(locks.debian),
        packages,
        archives: recipe
            .file
            .archives
            .iter()
            .map(|a| ArchiveInput {
                name: a.name.clone(),
                file: a.file.clone(),
                sha256: a.sha256.clone(),
            })
            .collect(),
        image,
    })
}

fn debs(lock: &DebianLock) -> Vec<StoreFile> {
    store_files(&lock.packages)
}

fn store_files<'a>(
    debs: impl IntoIterator<Item = &'a crate::lock::debian::LockedDeb>,
) -> Vec<StoreFile> {
    debs.into_iter()
        .map(|d| StoreFile {
            file: d.file_name().to_string(),
            sha256: d.sha256.clone(),
        })
        .collect()
}

/// A package's plan: its source and its own build environment (its `build-<package>` group).
fn package_plan(
    recipe: &Recipe,
    pkg: &crate::recipe::Package,
    locks: &Locks,
) -> Result<PackagePlan, BuildError> {
    let rec = locks
        .python
        .build_record(&pkg.name)
        .ok_or_else(|| BuildError::StaleLock {
            file: locks.python_path.to_path_buf(),
            recipe: recipe.path.clone(),
            reasons: vec![format!("package {} has no build environment", pkg.name)],
        })?;
    let mut requirements = Vec::new();
    for p in locks.python.group(&rec.group) {
        for f in p.files() {
            requirements.push(BuildRequirement {
                name: p.name.clone(),
                version: p.version.clone(),
                file: f.name.clone(),
                sha256: f.sha256.clone(),
            });
        }
    }
    let (source, steps) = match &pkg.source {
        Source::Dir(path) => (
            SourcePlan::Dir { path: path.clone() },
            vec!["build_sdist", "build_wheel"],
        ),
        Source::Sdist { file, sha256 } => (
            SourcePlan::Sdist {
                file: file.clone(),
                sha256: sha256.clone(),
            },
            vec!["build_wheel"],
        ),
        Source::Git { url, commit, .. } => (
            SourcePlan::Git {
                url: crate::fetch::redact(url),
                commit: commit.clone(),
            },
            vec!["build_sdist", "build_wheel"],
        ),
    };
    Ok(PackagePlan {
        package: pkg.name.clone(),
        source,
        environment: BuildUsed {
            package: pkg.name.clone(),
            backend: rec.backend.clone(),
            group: rec.group.clone(),
            requirements,
        },
        steps,
    })
}

/// The locked runtime wheels the image installs. A dependency published only as an sdist is
/// built from it as a [[package]] of the recipe (pinned by sha256); the image then installs
/// that built wheel.
fn runtime_wheels(recipe: &Recipe, locks: &Locks) -> Result<Vec<StoreFile>, BuildError> {
    let built: std::collections::BTreeSet<String> = recipe
        .packages
        .iter()
        .map(|p| normalize_name(&p.name))
        .collect();
    let mut out = Vec::new();
    for p in locks.python.runtime() {
        if p.wheels.is_empty() && built.contains(&normalize_name(&p.name)) {
            continue;
        }
        match p.wheels.first() {
            Some(w) => out.push(StoreFile {
                file: w.name.clone(),
                sha256: w.sha256.clone(),
            }),
            None => {
                return Err(BuildError::Message(format!(
                    "{}: {} {} is locked as an sdist only; the image needs a wheel for it (build it from its sdist: add it as a [[package]] with sdist = {{ file, sha256 }})",
                    locks.python_path.display(),
                    p.name,
                    p.version
                )))
            }
        }
    }
    Ok(out)
}
