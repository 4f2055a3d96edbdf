//! `relsign rebuild`: rebuild a release from its own inputs and prove every digest matches
//! bit for bit, or name the first difference.

use crate::build::error::BuildError;
use crate::build::{self, BuildOptions};
use crate::compare::{compare_paths, Difference};
use crate::digest::Sha256Hex;
use crate::fsutil;
use crate::model::ArtifactKind;
use crate::model::ReleaseManifest;
use crate::recipe::Recipe;
use crate::report::Reporter;
use crate::store::Store;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One artifact's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactCheck {
    pub file: String,
    pub kind: ArtifactKind,
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
    crate::reldir::read_release(dir).map_err(|e| BuildError::Message(e.to_string()))
}

/// What a rebuild must reproduce: from a release directory's release.json, or from a
/// provenance statement alone.
#[derive(Debug, Clone)]
pub struct Expected {
    pub name: String,
    pub version: String,
    /// The recipe's path as recorded (inputs/<name>.toml) and digest.
    pub recipe: (String, Sha256Hex),
    /// Lock paths as recorded (inputs/…) and digests.
    pub locks: Vec<(String, Sha256Hex)>,
    /// (package, location, digest, SOURCE_DATE_EPOCH) per source.
    pub sources: Vec<(String, String, String, u64)>,
    /// (file, kind, sha256) per artifact.
    pub artifacts: Vec<(String, ArtifactKind, Sha256Hex)>,
    /// Where the released files are, when we have them (to explain a difference).
    pub release_dir: Option<PathBuf>,
}

impl Expected {
    pub fn from_release(dir: &Path) -> Result<Expected, BuildError> {
        let m = read_manifest(dir)?;
        Ok(Expected {
            name: m.name,
            version: m.version,
            recipe: (m.recipe.path, m.recipe.sha256),
            locks: m.locks.into_iter().map(|l| (l.path, l.sha256)).collect(),
            sources: m
                .sources
                .into_iter()
                .map(|s| (s.package, s.location, s.digest, s.source_date_epoch))
                .collect(),
            artifacts: m
                .artifacts
                .into_iter()
                .map(|a| (a.file, a.kind, a.sha256))
                .collect(),
            release_dir: Some(dir.to_path_buf()),
        })
    }

    /// From a provenance statement (a DSSE envelope, as `attestations/provenance.dsse.json`).
    /// The signature is not checked here: `relsign verify` does that; a rebuild only needs the
    /// claims, and a forged claim simply fails to reproduce.
    pub fn from_provenance(path: &Path) -> Result<Expected, BuildError> {
        let bad = |why: String| BuildError::Message(format!("{}: {why}", path.display()));
        let env = crate::dsse::Envelope::from_json(&fsutil::read(path)?)
            .map_err(|e| bad(e.to_string()))?;
        let prov = crate::attest::statement::parse_provenance(&env.payload).map_err(bad)?;
        let v: serde_json::Value =
            serde_json::from_slice(&env.payload).map_err(|e| bad(e.to_string()))?;
        let ext = &v["predicate"]["buildDefinition"]["externalParameters"];
        let recipe_path = ext["recipe"]["path"]
            .as_str()
            .ok_or_else(|| bad("externalParameters.recipe.path: missing".into()))?
            .to_string();
        let mut sources = Vec::new();
        for (i, s) in ext["sources"].as_array().into_iter().flatten().enumerate() {
            let f = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            let epoch = s["sourceDateEpoch"].as_u64().ok_or_else(|| {
                bad(format!(
                    "externalParameters.sources[{i}].sourceDateEpoch: missing"
                ))
            })?;
            let digest = prov
                .sources
                .get(i)
                .map(|c| c.digest.clone())
                .unwrap_or_default();
            sources.push((f("package"), f("location"), digest, epoch));
        }
        let locks = prov
            .byproducts
            .iter()
            // The policy reports are byproducts too, but not inputs of the build.
            .filter(|(n, _)| {
                ![
                    "release.json",
                    crate::vulns::REPORT_FILE,
                    crate::stable::REPORT_FILE,
                ]
                .contains(&n.as_str())
            })
            .map(|(n, d)| (n.clone(), d.clone()))
            .collect();
        let artifacts = prov
            .subjects
            .iter()
            .map(|s| {
                let kind = if s.name.ends_with(".whl") {
                    ArtifactKind::Wheel
                } else if s.name.ends_with(".tar.gz") || s.name.ends_with(".zip") {
                    ArtifactKind::Sdist
                } else {
                    ArtifactKind::OciImage
                };
                (s.name.clone(), kind, s.sha256.clone())
            })
            .collect();
        // Beside a release's release.json, the released files can explain a difference.
        let release_dir = path
            .parent()
            .and_then(Path::parent)
            .filter(|d| d.join("release.json").is_file())
            .map(Path::to_path_buf);
        Ok(Expected {
            name: prov.name,
            version: prov.version,
            recipe: (recipe_path, prov.recipe_sha256),
            locks,
            sources,
            artifacts,
            release_dir,
        })
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
    let exp = Expected::from_release(release)?;
    let recipe_path = recipe_override
        .map(Path::to_path_buf)
        .unwrap_or_else(|| release.join(&exp.recipe.0));
    rebuild_expected(&exp, &recipe_path, store, work_out, reporter)
}

/// Rebuild from `recipe_path` (whose digest, and whose locks' digests, must be the expected
/// ones), with the recorded SOURCE_DATE_EPOCHs, and compare every artifact.
pub fn rebuild_expected(
    exp: &Expected,
    recipe_path: &Path,
    store: &Store,
    work_out: &Path,
    reporter: &dyn Reporter,
) -> Result<RebuildReport, BuildError> {
    let recipe = Recipe::load(recipe_path)?;
    let mut inputs = input_mismatches(exp, &recipe, recipe_path);
    if !inputs.is_empty() {
        // Not the recorded recipe or locks: building (or fetching what they name) would prove
        // nothing about the release. Refuse before touching the store.
        reporter.warn("the recipe or a lock is not the one the release recorded: not rebuilding");
        return Ok(RebuildReport {
            name: exp.name.clone(),
            version: exp.version.clone(),
            inputs,
            artifacts: Vec::new(),
        });
    }
    let epochs = exp
        .sources
        .iter()
        .map(|(package, _, _, epoch)| (package.clone(), *epoch))
        .collect();
    reporter.step(&format!(
        "rebuilding {} {} from {}",
        exp.name,
        exp.version,
        recipe_path.display()
    ));
    let opts = BuildOptions {
        out: work_out.to_path_buf(),
        store: store.clone(),
        keep_work: false,
        epochs,
        vary: None,
        // An audit runs every step again: never the cache.
        cache: false,
    };
    let rebuilt = build::build(&recipe, &opts, reporter)?;
    for ((package, location, digest, _), r) in exp.sources.iter().zip(&rebuilt.sources) {
        if *digest != r.digest {
            inputs.push(InputMismatch {
                path: format!("source of {package} ({location})"),
                expected: digest.clone(),
                got: r.digest.clone(),
            });
        }
    }
    let mut artifacts = Vec::new();
    for (file, kind, sha) in &exp.artifacts {
        artifacts.push(check_artifact(exp, &rebuilt, file, *kind, sha, work_out)?);
    }
    Ok(RebuildReport {
        name: exp.name.clone(),
        version: exp.version.clone(),
        inputs,
        artifacts,
    })
}

/// The recipe and the locks it points at must be the ones the release recorded.
fn input_mismatches(exp: &Expected, recipe: &Recipe, recipe_path: &Path) -> Vec<InputMismatch> {
    let mut inputs = Vec::new();
    if recipe.digest() != exp.recipe.1 {
        inputs.push(InputMismatch {
            path: recipe_path.display().to_string(),
            expected: exp.recipe.1.to_string(),
            got: recipe.digest().to_string(),
        });
    }
    for (path, sha) in &exp.locks {
        let rel = path.strip_prefix("inputs/").unwrap_or(path);
        let p = recipe.resolve(Path::new(rel));
        let got = crate::digest::hash_file(&p)
            .map(|(d, _)| d.to_string())
            .unwrap_or_else(|e| format!("unreadable: {e}"));
        if got != sha.as_str() {
            inputs.push(InputMismatch {
                path: p.display().to_string(),
                expected: sha.to_string(),
                got,
            });
        }
    }
    inputs
}

/// One recorded artifact against the rebuild: the same digest (and, when the release's
/// bytes are at hand, still those bytes), or the first difference.
fn check_artifact(
    exp: &Expected,
    rebuilt: &ReleaseManifest,
    file: &String,
    kind: ArtifactKind,
    sha: &Sha256Hex,
    work_out: &Path,
) -> Result<ArtifactCheck, BuildError> {
    let got = rebuilt
        .artifacts
        .iter()
        .find(|b| &b.file == file && b.kind == kind);
    let mut check = ArtifactCheck {
        file: file.clone(),
        kind,
        expected: sha.clone(),
        got: got.map(|b| b.sha256.clone()),
        matches: false,
        difference: None,
    };
    let Some(b) = got else {
        check.difference = Some(Difference {
            location: file.clone(),
            what: "missing".into(),
            left: "in the release".into(),
            right: "not produced by the rebuild".into(),
        });
        return Ok(check);
    };
    // The released bytes, when we have them, must still be what was recorded.
    let published = exp.release_dir.as_ref().map(|d| {
        if kind == ArtifactKind::OciImage {
            (
                d.join(file),
                d.join(file).join("blobs/sha256").join(sha.as_str()),
            )
        } else {
            (d.join(file), d.join(file))
        }
    });
    let on_disk = published
        .as_ref()
        .and_then(|(_, f)| crate::digest::hash_file(f).ok())
        .map(|(d, _)| d);
    if b.sha256 == *sha
        && (published.is_none() || on_disk.is_none() || on_disk.as_ref() == Some(sha))
    {
        check.matches = true;
    } else if let (Some((left, _)), Some(_)) = (&published, &on_disk) {
        check.difference =
            compare_paths(left, &work_out.join(file)).map_err(|e| BuildError::Other {
                context: format!("comparing {file}"),
                source: Box::new(e),
            })?;
        if check.difference.is_none() && on_disk.as_ref() != Some(sha) {
            check.difference = Some(Difference {
                location: file.clone(),
                what: "content".into(),
                left: format!("release.json says sha256:{sha}"),
                right: format!(
                    "the file in the release is sha256:{}",
                    on_disk.map(|d| d.to_string()).unwrap_or_default()
                ),
            });
        }
    } else {
        // Only the digest is known (a provenance alone, or a registry holding just the
        // image): say which digests differ; the rebuilt file is in the output to inspect.
        check.difference = Some(Difference {
            location: file.clone(),
            what: "digest".into(),
            left: format!("recorded sha256:{sha}"),
            right: format!(
                "rebuilt sha256:{} ({})",
                b.sha256,
                work_out.join(file).display()
            ),
        });
    }
    Ok(check)
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
            kind: x.kind,
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
