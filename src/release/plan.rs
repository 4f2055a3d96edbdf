//! The release plan: what `relsign release` will do, as plain data, decided from the recipe,
//! its locks and the command's options before anything is built. It holds the build's plan
//! (and its digest, the key of the build's inputs) and then the release's stages in the order
//! they run: the reproducibility check, the gate, the SBOMs, the policy gates, signing and the
//! log. `relsign release --plan [--json]` prints it; `relsign release` runs it.

use crate::build::error::BuildError;
use crate::build::plan::BuildPlan;
use crate::digest::Sha256Hex;
use crate::model::canonical_json;
use crate::recipe::Recipe;
use serde::Serialize;
use std::path::PathBuf;

/// The plan's type, in its JSON form.
pub const RELEASE_PLAN_TYPE: &str = "https://relsign.dev/release-plan/v1";

/// What the command adds to the recipe.
#[derive(Debug, Clone, Default)]
pub struct ReleaseOptions {
    /// `--check-reproducible`.
    pub check_reproducible: bool,
    /// How many release keys sign (`--key`, repeated).
    pub keys: usize,
    /// `--keyless`: a keyless session signs too (after the keys).
    pub keyless: bool,
    /// `--log DIR`.
    pub log: Option<PathBuf>,
    /// `--stable-releases` (instead of the recipe's `release.stable-releases`).
    pub stable_releases: Vec<PathBuf>,
}

/// One stage after the build, in order.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "stage", rename_all = "kebab-case")]
pub enum Stage {
    /// Build again with variations and compare every artifact.
    CheckReproducible,
    /// The behave gate against the built artifacts (`[test]`).
    Gate {
        /// The features directory, relative to the recipe.
        features: PathBuf,
        run_in: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        server: Option<ServerGate>,
    },
    /// One CycloneDX and one SPDX document per artifact.
    Sboms { formats: Vec<&'static str> },
    /// The vulnerability gate against the locked databases (`[vulnerabilities]`).
    Vulnerabilities {
        databases: Vec<LockedDatabase>,
        fail_on: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        severity: Option<String>,
        max_age_days: u32,
        allowed: usize,
    },
    /// The stable-branch policy: compared with the branch's last release found in `search`.
    Stable {
        branch: String,
        search: Vec<PathBuf>,
    },
    /// Every statement signed by every key (and keyless, with `--keyless`).
    Sign {
        keys: usize,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        keyless: bool,
        statements: Vec<&'static str>,
    },
    /// The signatures appended to the transparency log.
    Log { dir: PathBuf },
}

/// `[test.server]` as the gate runs it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ServerGate {
    pub archive: String,
    pub features: PathBuf,
    pub gating: usize,
    /// Every scenario runs (the gating ones still decide): the recipe's `all`, or
    /// `--all-scenarios` as the command applied it to the recipe.
    pub all: bool,
}

/// A vulnerability database as the recipe's vulndb lock pins it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LockedDatabase {
    pub name: String,
    pub file: String,
    pub sha256: Sha256Hex,
    pub taken: String,
}

/// Everything `relsign release` does, in order.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReleasePlan {
    #[serde(rename = "_type")]
    pub type_: &'static str,
    pub name: String,
    pub version: String,
    /// The build plan's digest: the inputs of every artifact.
    pub build_digest: Sha256Hex,
    pub build: BuildPlan,
    pub stages: Vec<Stage>,
}

impl ReleasePlan {
    /// The plan's digest: the SHA-256 of its canonical JSON.
    pub fn digest(&self) -> Sha256Hex {
        Sha256Hex::of(&canonical_json(self))
    }

    /// Whether the plan has this stage.
    pub fn has(&self, f: impl Fn(&Stage) -> bool) -> bool {
        self.stages.iter().any(f)
    }
}

/// Why a recipe cannot be released.
#[derive(Debug, thiserror::Error)]
pub enum ReleasePlanError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    VulnDb(#[from] crate::vulndb::VulnDbError),
    #[error("{}: a signed release needs the [test] gate (behave features); add a [test] section", .0.display())]
    NoGate(PathBuf),
}

impl ReleasePlanError {
    /// A lock that does not match its inputs or digests is a failed check.
    pub fn is_integrity(&self) -> bool {
        match self {
            ReleasePlanError::Build(e) => e.is_integrity(),
            ReleasePlanError::VulnDb(e) => e.is_integrity(),
            ReleasePlanError::NoGate(_) => false,
        }
    }
}

/// Plan the release: the build's plan (from the locks), then the stages the recipe and the
/// options call for. Reads the locks (the vulndb lock too) and nothing else.
pub fn plan(recipe: &Recipe, o: &ReleaseOptions) -> Result<ReleasePlan, ReleasePlanError> {
    let Some(test) = &recipe.file.test else {
        return Err(ReleasePlanError::NoGate(recipe.path.clone()));
    };
    let build = crate::build::plan_build(recipe)?;
    let mut stages = Vec::new();
    if o.check_reproducible {
        stages.push(Stage::CheckReproducible);
    }
    stages.push(Stage::Gate {
        features: test.features.clone(),
        run_in: test.run_in.clone(),
        server: test.server.as_ref().map(|s| ServerGate {
            archive: s.archive.clone(),
            features: s.features.clone(),
            gating: s.gating.len(),
            all: s.all,
        }),
    });
    stages.push(Stage::Sboms {
        formats: vec!["cyclonedx", "spdx"],
    });
    if let Some(spec) = &recipe.file.vulnerabilities {
        let (_, lock) = crate::vulndb::read_recipe_lock(recipe, spec)?;
        stages.push(Stage::Vulnerabilities {
            databases: (lock.databases.iter())
                .map(|d| LockedDatabase {
                    name: d.name.clone(),
                    file: d.file.clone(),
                    sha256: d.sha256.clone(),
                    taken: d.taken.clone(),
                })
                .collect(),
            fail_on: spec.fail_on.clone(),
            severity: spec.severity.clone(),
            max_age_days: spec.max_age_days,
            allowed: spec.allow.len(),
        });
    }
    if let Some(branch) = &recipe.file.release.stable {
        let search = if o.stable_releases.is_empty() {
            recipe.file.release.stable_releases.clone()
        } else {
            o.stable_releases.clone()
        };
        stages.push(Stage::Stable {
            branch: branch.clone(),
            search,
        });
    }
    let mut statements = vec!["provenance", "publish (one per artifact)", "test-result"];
    statements.push("sbom (CycloneDX and SPDX, per artifact)");
    if recipe.file.vulnerabilities.is_some() {
        statements.push("vulnerabilities");
    }
    stages.push(Stage::Sign {
        keys: o.keys,
        keyless: o.keyless,
        statements,
    });
    if let Some(dir) = &o.log {
        stages.push(Stage::Log { dir: dir.clone() });
    }
    Ok(ReleasePlan {
        type_: RELEASE_PLAN_TYPE,
        name: build.name.clone(),
        version: build.version.clone(),
        build_digest: build.digest(),
        build,
        stages,
    })
}
