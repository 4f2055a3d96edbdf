//! Per-package build environments: each package of a recipe is built with the build backend
//! its own `pyproject.toml` declares (`[build-system] requires`), locked into its own
//! dependency group `build-<package>` of the pylock, rather than with one shared set.
//!
//! What a package's group holds, for each requirement its project declares (markers evaluated
//! for the target):
//!
//! 1. a pin of the same name in the package's `build-requirements` (the recipe overrides the
//!    project, and must say why in `build-requirements-reason`; its other pins are added);
//! 2. else the requirement itself when it is an exact pin (`setuptools==82.0.1`);
//! 3. else the recipe's `python.build-requirements` pin of that name, when its version
//!    satisfies the requirement (`setuptools>=61` takes the recipe's `setuptools==83.0.0`);
//! 4. else it is an error naming the file, the requirement and the fix.
//!
//! Then the group is closed over the members' `Requires-Dist` with the recipe's
//! `python.build-requirements` pins (setuptools-scm brings packaging).
//!
//! `[[tool.relsign.builds]]` records, per package, where the declaration was read (an sdist
//! by file name and sha256, a git commit, a directory), the backend, the declared
//! requirements and the pins chosen, so `relsign lock --check` can tell offline when a
//! pyproject's declaration no longer matches the lock.

use super::python_error::PyLockError;
use crate::python::markers::Env;
use crate::python::pyproject::{self, BuildSystem};
use crate::python::requirements::{normalize_name, Pin, Requirement};
use crate::recipe::{Package, Recipe, Source};
use crate::store::Store;

/// The dependency group of a package's build environment.
pub fn group_name(package: &str) -> String {
    format!("build-{}", normalize_name(package))
}

/// One package's build environment as the lock records it (`[[tool.relsign.builds]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRecord {
    /// The recipe's package name.
    pub package: String,
    /// `build-<normalized name>`.
    pub group: String,
    /// Where the declaration was read: `sdist <file> sha256:<hex>`, `git <url> <commit>
    /// [<subdir>]` or `dir <path>`.
    pub source: String,
    /// `build-system.build-backend` (or the legacy setuptools backend).
    pub backend: String,
    /// `build-system.requires` as the project wrote it (or PEP 518's default).
    pub declared: Vec<String>,
    /// The pins chosen for the declared requirements and the recipe's additions (sorted
    /// `name==version`); the group may hold more: the closure from `python.build-requirements`.
    pub requirements: Vec<String>,
    /// `build-requirements-reason`, when the recipe overrides or adds.
    pub reason: Option<String>,
}

/// A package's build environment, resolved from its declaration and the recipe.
#[derive(Debug, Clone)]
pub struct PackageBuild {
    pub record: BuildRecord,
    pub pins: Vec<Pin>,
}

/// Where a package's declaration comes from, as recorded.
pub fn source_identity(pkg: &Package) -> String {
    match &pkg.source {
        Source::Dir(p) => format!("dir {}", p.display()),
        Source::Sdist { file, sha256 } => format!("sdist {file} sha256:{sha256}"),
        Source::Git {
            url,
            commit,
            subdir,
        } => {
            let mut s = format!("git {} {commit}", crate::fetch::redact(url));
            if let Some(d) = subdir {
                s.push_str(&format!(" {}", d.display()));
            }
            s
        }
    }
}

fn declared_error(recipe: &Recipe, pkg: &Package, e: impl std::fmt::Display) -> PyLockError {
    PyLockError::Recipe {
        file: recipe.path.clone(),
        key: format!("package {}", pkg.name),
        reason: format!("reading its build system: {e}"),
    }
}

/// Read a package's `[build-system]` from its source: a directory (offline), an sdist in the
/// store, or a commit in the git cache.
pub fn read_declared(
    recipe: &Recipe,
    pkg: &Package,
    store: &Store,
) -> Result<BuildSystem, PyLockError> {
    match &pkg.source {
        Source::Dir(rel) => {
            pyproject::read_dir(&recipe.resolve(rel)).map_err(|e| declared_error(recipe, pkg, e))
        }
        Source::Sdist { file, sha256 } => {
            let p = store.get(sha256, file)?;
            pyproject::read_sdist(&p, file).map_err(|e| declared_error(recipe, pkg, e))
        }
        Source::Git {
            url,
            commit,
            subdir,
        } => {
            let repo = store.git_cache_dir(url);
            let path = match subdir {
                Some(d) => format!("{}/pyproject.toml", d.display()),
                None => "pyproject.toml".into(),
            };
            let shown = format!("{} {commit}: {path}", crate::fetch::redact(url));
            let out = std::process::Command::new("git")
                .arg("--git-dir")
                .arg(&repo)
                .args(["cat-file", "blob", &format!("{commit}:{path}")])
                .output()
                .map_err(|e| declared_error(recipe, pkg, format!("running git: {e}")))?;
            if out.status.success() {
                return pyproject::parse(&out.stdout, &shown)
                    .map_err(|e| declared_error(recipe, pkg, e));
            }
            // No such file at that commit, or no such commit: tell them apart.
            let has_commit = std::process::Command::new("git")
                .arg("--git-dir")
                .arg(&repo)
                .args(["cat-file", "-e", &format!("{commit}^{{commit}}")])
                .status()
                .is_ok_and(|s| s.success());
            if has_commit {
                Ok(BuildSystem::default_legacy())
            } else {
                Err(declared_error(
                    recipe,
                    pkg,
                    format!("{shown}: the commit is not in the git cache; run `relsign fetch`"),
                ))
            }
        }
    }
}

/// The pins of a package's build environment (see the module documentation), sorted by name.
pub fn resolve(
    recipe: &Recipe,
    index: usize,
    pkg: &Package,
    declared: &BuildSystem,
    shared: &[Pin],
    env: &Env,
) -> Result<PackageBuild, PyLockError> {
    let key = format!("package[{index}].build-requirements");
    let mut overrides = Vec::new();
    for (j, r) in pkg.build_requirements.iter().enumerate() {
        overrides.push(Pin::parse(
            r,
            &format!("{}: {key}[{j}]", recipe.path.display()),
        )?);
    }
    let overrides = crate::python::requirements::select(overrides, env)?;
    let mut pins = overrides.clone();
    let where_ = if declared.defaulted {
        format!("{} (no [build-system]: PEP 518's default)", pkg.name)
    } else {
        format!("{}'s pyproject.toml", pkg.name)
    };
    for (k, text) in declared.requires.iter().enumerate() {
        let req = Requirement::parse(text).map_err(|e| PyLockError::Recipe {
            file: recipe.path.clone(),
            key: format!("package[{index}]"),
            reason: format!("{where_}: build-system.requires[{k}] {text:?}: {e}"),
        })?;
        if !req.applies(env) {
            continue;
        }
        let name = req.normalized_name();
        if overrides.iter().any(|p| p.name == name) {
            continue;
        }
        let origin = format!("{where_}: build-system.requires[{k}]");
        if let Ok(p) = Pin::parse(text, &origin) {
            pins.push(Pin { marker: None, ..p });
            continue;
        }
        let shared_pin = shared.iter().find(|p| p.name == name);
        match shared_pin {
            Some(p)
                if req.url.is_none()
                    && p.parsed_version()
                        .is_some_and(|v| req.specifier.contains(&v)) =>
            {
                let mut p = p.clone();
                p.extras.extend(req.extras.iter().cloned());
                pins.push(p);
            }
            _ => {
                let has = match shared_pin {
                    Some(p) => format!(
                        "python.build-requirements pins {}, which does not satisfy it",
                        p.spec()
                    ),
                    None => format!("python.build-requirements has no pin of {name}"),
                };
                return Err(PyLockError::Recipe {
                    file: recipe.path.clone(),
                    key,
                    reason: format!(
                        "{where_} asks for {text:?} (build-system.requires[{k}]) and {has}; pin it in package[{index}].build-requirements (with build-requirements-reason) or in python.build-requirements"
                    ),
                });
            }
        }
    }
    let pins = crate::python::requirements::select(pins, env)?;
    let record = BuildRecord {
        package: pkg.name.clone(),
        group: group_name(&pkg.name),
        source: source_identity(pkg),
        backend: declared.backend.clone(),
        declared: declared.requires.clone(),
        requirements: pins.iter().map(Pin::spec).collect(),
        reason: pkg.build_requirements_reason.clone(),
    };
    Ok(PackageBuild { record, pins })
}

/// Every package's build environment, reading each declaration from its source (the sdists
/// and git commits must be in the store).
pub fn resolve_all(
    recipe: &Recipe,
    store: &Store,
    shared: &[Pin],
    env: &Env,
) -> Result<Vec<PackageBuild>, PyLockError> {
    let mut out = Vec::new();
    for (i, pkg) in recipe.packages.iter().enumerate() {
        let declared = read_declared(recipe, pkg, store)?;
        out.push(resolve(recipe, i, pkg, &declared, shared, env)?);
    }
    Ok(out)
}

/// Offline, for `relsign lock --check`: each package's build environment from the recipe and
/// the declaration (re-read from a directory source; for an sdist or git source, the recorded
/// one while the source is the same). Stale reasons go to `reasons`; packages that cannot be
/// resolved are left out.
pub fn resolve_recorded(
    recipe: &Recipe,
    records: &[BuildRecord],
    shared: &[Pin],
    env: &Env,
    reasons: &mut Vec<String>,
) -> Result<Vec<PackageBuild>, PyLockError> {
    let mut out = Vec::new();
    for (i, pkg) in recipe.packages.iter().enumerate() {
        let record = records.iter().find(|r| r.package == pkg.name);
        let Some(record) = record else {
            reasons.push(format!(
                "package {} has no build environment in the lock ([[tool.relsign.builds]]; locks made before per-package build groups have none)",
                pkg.name
            ));
            continue;
        };
        let identity = source_identity(pkg);
        let declared = match &pkg.source {
            Source::Dir(rel) => {
                let d = pyproject::read_dir(&recipe.resolve(rel))
                    .map_err(|e| declared_error(recipe, pkg, e))?;
                if d.backend != record.backend {
                    reasons.push(format!(
                        "package {}: its pyproject.toml declares the backend {}, the lock was made for {}",
                        pkg.name, d.backend, record.backend
                    ));
                }
                if d.requires != record.declared {
                    reasons.push(format!(
                        "package {}: its pyproject.toml declares build requirements [{}], the lock was made for [{}]",
                        pkg.name,
                        d.requires.join(", "),
                        record.declared.join(", ")
                    ));
                }
                d
            }
            _ if identity != record.source => {
                reasons.push(format!(
                    "package {}: its source is {identity}, the lock read its build system from {}",
                    pkg.name, record.source
                ));
                continue;
            }
            _ => BuildSystem {
                requires: record.declared.clone(),
                backend: record.backend.clone(),
                backend_path: vec![],
                defaulted: false,
            },
        };
        match resolve(recipe, i, pkg, &declared, shared, env) {
            Ok(b) => {
                if b.record.requirements != record.requirements {
                    reasons.push(format!(
                        "package {}: its build requirements are now [{}], the lock has [{}]",
                        pkg.name,
                        b.record.requirements.join(", "),
                        record.requirements.join(", ")
                    ));
                }
                if b.record.reason != record.reason {
                    reasons.push(format!(
                        "package {}: build-requirements-reason changed",
                        pkg.name
                    ));
                }
                out.push(b);
            }
            Err(e) => reasons.push(e.to_string()),
        }
    }
    for r in records {
        if !recipe.packages.iter().any(|p| p.name == r.package) {
            reasons.push(format!(
                "the lock has a build environment for {}, which is no longer a package of the recipe",
                r.package
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn recipe(extra: &str) -> Recipe {
        let text = format!(
            r#"
[release]
name = "x"
version = "1"
[python]
version = "3.13"
glibc = "2.41"
build-requirements = ["setuptools==83.0.0", "setuptools-scm==9.2.2"]
lock = "pylock.toml"
[[package]]
name = "Docassemble.Base"
sdist = {{ file = "docassemble_base-1.0.tar.gz", sha256 = "{}" }}
{extra}
[toolchain]
suite = "trixie"
packages = ["python3"]
lock = "d.toml"
"#,
            "ab".repeat(32)
        );
        Recipe::parse(Path::new("r.toml"), text.into_bytes()).unwrap()
    }

    fn declared(requires: &[&str]) -> BuildSystem {
        BuildSystem {
            requires: requires.iter().map(|s| s.to_string()).collect(),
            backend: "setuptools.build_meta".into(),
            backend_path: vec![],
            defaulted: false,
        }
    }

    fn shared(r: &Recipe) -> Vec<Pin> {
        r.file
            .python
            .build_requirements
            .iter()
            .map(|s| Pin::parse(s, "t").unwrap())
            .collect()
    }

    #[test]
    fn exact_declared_pins_win_over_the_shared_set() {
        let r = recipe("");
        let env = Env::cpython_linux("3.13", 0, "x86_64");
        let b = resolve(
            &r,
            0,
            &r.packages[0],
            &declared(&["setuptools==82.0.1", "tomli; python_version < '3.11'"]),
            &shared(&r),
            &env,
        )
        .unwrap();
        assert_eq!(b.record.group, "build-docassemble-base");
        assert_eq!(b.record.requirements, ["setuptools==82.0.1"]);
        assert!(b
            .record
            .source
            .starts_with("sdist docassemble_base-1.0.tar.gz sha256:abab"));
    }

    #[test]
    fn ranges_take_the_shared_pin_and_unmet_ones_are_errors() {
        let r = recipe("");
        let env = Env::cpython_linux("3.13", 0, "x86_64");
        let b = resolve(
            &r,
            0,
            &r.packages[0],
            &declared(&["setuptools>=46.1.0", "setuptools_scm[toml]>=5"]),
            &shared(&r),
            &env,
        )
        .unwrap();
        assert_eq!(
            b.record.requirements,
            ["setuptools==83.0.0", "setuptools-scm[toml]==9.2.2"]
        );
        for (req, why) in [
            ("wheel", "has no pin of wheel"),
            (
                "setuptools<80",
                "pins setuptools==83.0.0, which does not satisfy it",
            ),
        ] {
            let e = resolve(&r, 0, &r.packages[0], &declared(&[req]), &shared(&r), &env)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("r.toml: key `package[0].build-requirements`") && e.contains(why),
                "{e}"
            );
        }
    }

    #[test]
    fn the_recipe_overrides_and_adds() {
        let r = recipe(
            "build-requirements = [\"setuptools==80.9.0\", \"wheel==0.46.2\"]\nbuild-requirements-reason = \"because\"",
        );
        let env = Env::cpython_linux("3.13", 0, "x86_64");
        let b = resolve(
            &r,
            0,
            &r.packages[0],
            &declared(&["setuptools==82.0.1", "wheel"]),
            &shared(&r),
            &env,
        )
        .unwrap();
        assert_eq!(
            b.record.requirements,
            ["setuptools==80.9.0", "wheel==0.46.2"]
        );
        assert_eq!(b.record.reason.as_deref(), Some("because"));
    }
}
