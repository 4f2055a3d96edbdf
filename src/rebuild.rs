//! `relsign rebuild`: rebuild a release from its own inputs and prove every digest matches
//! bit for bit, or name the first difference.

use crate::build::{self, BuildError, BuildOptions, ReleaseManifest};
use crate::compare::{compare_paths, Difference};
use crate::digest::Sha256Hex;
use crate::fsutil;
use crate::recipe::Recipe;
use crate::report::Reporter;
use crate::store::Store;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One artifact's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactCheck {
    pub file: String,
    pub kind: String,
    pub expected: Sha256Hex,
    pub got: Option<Sha256Hex>,
    pub matches: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difference: Option<Difference>,
}

/// An input whose digest does not match what the release recorded.
#[derive(Debug, Clone, Serialize)]
pub struct InputMismatch {
    pub path: String,
    pub expected: String,
    pub got: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    pub name: String,
    pub version: String,
    pub inputs: Vec<InputMismatch>,
    pub artifacts: Vec<ArtifactCheck>,
}

impl RebuildReport {
    pub fn reproducible(&self) -> bool {
        self.inputs.is_empty() && self.artifacts.iter().all(|a| a.matches)
    }
}

pub fn read_manifest(dir: &Path) -> Result<ReleaseManifest, BuildError> {
    let p = dir.join("release.json");
    serde_json::from_slice(&fsutil::read(&p)?)
        .map_err(|e| BuildError::Message(format!("{}: {e}", p.display())))
}

/// The file that holds an artifact's digest: the file itself, or an image's manifest blob.
pub fn artifact_file(dir: &Path, a: &build::Artifact) -> PathBuf {
    if a.kind == "oci-image" {
        dir.join(&a.file)
            .join("blobs/sha256")
            .join(a.sha256.as_str())
    } else {
        dir.join(&a.file)
    }
}

/// Rebuild `release` (a directory with release.json and inputs/) into `work_out`, from the
/// recipe at `recipe` (default: the release's own copy), and compare.
pub fn rebuild(
    release: &Path,
    recipe_override: Option<&Path>,
    store: &Store,
    work_out: &Path,
    reporter: &dyn Reporter,
) -> Result<RebuildReport, BuildError> {
    let m = read_manifest(release)?;
    let recipe_path = recipe_override
        .map(Path::to_path_buf)
        .unwrap_or_else(|| release.join(&m.recipe.path));
    let recipe = Recipe::load(&recipe_path)?;
    let mut inputs = Vec::new();
    if recipe.digest() != m.recipe.sha256 {
        inputs.push(InputMismatch {
            path: recipe_path.display().to_string(),
            expected: m.recipe.sha256.to_string(),
            got: recipe.digest().to_string(),
        });
    }
    // Locks: the release's copies under inputs/ must be the ones the recipe points at.
    for l in &m.locks {
        let rel = l.path.strip_prefix("inputs/").unwrap_or(&l.path);
        let p = recipe.resolve(Path::new(rel));
        let got = crate::digest::hash_file(&p)
            .map(|(d, _)| d.to_string())
            .unwrap_or_else(|e| format!("unreadable: {e}"));
        if got != l.sha256.as_str() {
            inputs.push(InputMismatch {
                path: p.display().to_string(),
                expected: l.sha256.to_string(),
                got,
            });
        }
    }
    let epochs = m
        .sources
        .iter()
        .map(|s| (s.package.clone(), s.source_date_epoch))
        .collect();
    reporter.step(&format!(
        "rebuilding {} {} from {}",
        m.name,
        m.version,
        recipe_path.display()
    ));
    let opts = BuildOptions {
        out: work_out.to_path_buf(),
        store: store.clone(),
        keep_work: false,
        epochs,
        vary: None,
    };
    let rebuilt = build::build(&recipe, &opts, reporter)?;
    for (s, r) in m.sources.iter().zip(&rebuilt.sources) {
        if s.digest != r.digest {
            inputs.push(InputMismatch {
                path: format!("source of {} ({})", s.package, s.location),
                expected: s.digest.clone(),
                got: r.digest.clone(),
            });
        }
    }
    let mut artifacts = Vec::new();
    for a in &m.artifacts {
        let got = rebuilt
            .artifacts
            .iter()
            .find(|b| b.file == a.file && b.kind == a.kind);
        let mut check = ArtifactCheck {
            file: a.file.clone(),
            kind: a.kind.clone(),
            expected: a.sha256.clone(),
            got: got.map(|b| b.sha256.clone()),
            matches: false,
            difference: None,
        };
        // The published bytes must still be what release.json says.
        let published = artifact_file(release, a);
        let on_disk = crate::digest::hash_file(&published).ok().map(|(d, _)| d);
        match (got, on_disk.clone()) {
            (Some(b), Some(d)) if b.sha256 == a.sha256 && d == a.sha256 => check.matches = true,
            (Some(_), _) => {
                let (left, right) = if a.kind == "oci-image" {
                    (release.join(&a.file), work_out.join(&a.file))
                } else {
                    (published.clone(), work_out.join(&a.file))
                };
                check.difference = compare_paths(&left, &right).map_err(|e| BuildError::Other {
                    context: format!("comparing {}", a.file),
                    source: Box::new(e),
                })?;
                if check.difference.is_none() && on_disk.as_ref() != Some(&a.sha256) {
                    check.difference = Some(Difference {
                        location: a.file.clone(),
                        what: "content".into(),
                        left: format!("release.json says sha256:{}", a.sha256),
                        right: format!(
                            "the file in the release is sha256:{}",
                            on_disk
                                .map(|d| d.to_string())
                                .unwrap_or_else(|| "missing".into())
                        ),
                    });
                }
            }
            (None, _) => {
                check.difference = Some(Difference {
                    location: a.file.clone(),
                    what: "missing".into(),
                    left: "in the release".into(),
                    right: "not produced by the rebuild".into(),
                });
            }
        }
        artifacts.push(check);
    }
    Ok(RebuildReport {
        name: m.name,
        version: m.version,
        inputs,
        artifacts,
    })
}

/// Compare the artifacts of two release directories built from the same recipe.
pub fn compare_releases(a: &Path, b: &Path) -> Result<Vec<ArtifactCheck>, BuildError> {
    let (ma, mb) = (read_manifest(a)?, read_manifest(b)?);
    let mut out = Vec::new();
    for x in &ma.artifacts {
        let y = mb
            .artifacts
            .iter()
            .find(|y| y.file == x.file && y.kind == x.kind);
        let mut check = ArtifactCheck {
            file: x.file.clone(),
            kind: x.kind.clone(),
            expected: x.sha256.clone(),
            got: y.map(|y| y.sha256.clone()),
            matches: false,
            difference: None,
        };
        match y {
            Some(y) if y.sha256 == x.sha256 => check.matches = true,
            Some(_) => {
                check.difference =
                    compare_paths(&a.join(&x.file), &b.join(&x.file)).map_err(|e| {
                        BuildError::Other {
                            context: format!("comparing {}", x.file),
                            source: Box::new(e),
                        }
                    })?;
            }
            None => {
                check.difference = Some(Difference {
                    location: x.file.clone(),
                    what: "missing".into(),
                    left: "built".into(),
                    right: "not built".into(),
                });
            }
        }
        out.push(check);
    }
    Ok(out)
}
