//! The stable-branch policy (`[release] stable = "1.10"`): upgrading within a stable branch
//! "will not install any new software dependencies". A release on the branch is compared with
//! the last earlier release of the branch (found in the recipe's `stable-releases`: release
//! directories or static mirrors) and refused when it adds a package (Python or Debian), or
//! changes a pin other than by a patch-level update (PyPI: same epoch, major and minor, higher
//! version) or a Debian update of the same upstream version (a security or stable update,
//! `+debNNuN`). The first release of a branch is its baseline.
//!
//! The verdict goes to `DIR/scan/stable.json`, which the provenance names by digest.

use crate::diff::{PackageChange, PackageKey};
use crate::fsutil::{self, FsError};
use crate::packages::version_cmp;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The report, relative to the release directory.
pub const REPORT_FILE: &str = "scan/stable.json";

#[derive(Debug, thiserror::Error)]
pub enum StableError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Diff(#[from] crate::diff::DiffError),
    #[error("{}: {reason}", .path.display())]
    Input { path: PathBuf, reason: String },
}

/// The release a new one is compared with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub dir: PathBuf,
    pub version: String,
    /// The digest of its release.json.
    pub release_sha256: crate::digest::Sha256Hex,
}

/// One package the policy refuses, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Offence {
    pub ecosystem: String,
    pub name: String,
    pub old: Vec<String>,
    pub new: Vec<String>,
    pub reason: String,
}

/// `scan/stable.json`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    pub branch: String,
    /// `None`: the first release of the branch, its baseline.
    pub baseline: Option<Baseline>,
    /// Allowed changes (patch-level and Debian updates, removals).
    pub changes: Vec<PackageChange>,
    pub offences: Vec<Offence>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.offences.is_empty()
    }

    /// One line per refused package.
    pub fn summary(&self) -> String {
        let base = self
            .baseline
            .as_ref()
            .map(|b| b.version.as_str())
            .unwrap_or("-");
        self.offences
            .iter()
            .map(|o| {
                format!(
                    "  {} ({}): {} [{base}: {}; now: {}]",
                    o.name,
                    o.ecosystem,
                    o.reason,
                    show(&o.old),
                    show(&o.new)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn show(v: &[String]) -> String {
    if v.is_empty() {
        "absent".into()
    } else {
        v.join(", ")
    }
}

/// Whether a version is on the branch: the branch itself or `BRANCH.…`.
fn on_branch(version: &str, branch: &str) -> bool {
    version == branch || version.starts_with(&format!("{branch}."))
}

/// The `release.stable` of a release's recipe copy (how a branch named by a name, not a
/// version, recognizes its releases); `None` when the copy is absent, is not the one
/// `release.json` names by digest, or says nothing.
fn declared_branch(dir: &Path, m: &crate::model::ReleaseManifest) -> Option<String> {
    crate::reldir::recipe_copy(dir, m)
        .ok()?
        .get("release")?
        .get("stable")?
        .as_str()
        .map(str::to_string)
}

/// The release directories a location holds: itself (it has a release.json), a static
/// mirror's `releases/<name>/*/`, or a directory of release directories.
fn candidates(loc: &Path, name: &str) -> Result<Vec<PathBuf>, StableError> {
    if loc.join("release.json").is_file() {
        return Ok(vec![loc.to_path_buf()]);
    }
    if !loc.is_dir() {
        return Err(StableError::Input {
            path: loc.to_path_buf(),
            reason: "not a directory: give a release directory, a static mirror or a directory of releases".into(),
        });
    }
    let mirror = loc.join("releases").join(name);
    let d = if mirror.is_dir() {
        mirror
    } else {
        loc.to_path_buf()
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir(&d).map_err(fsutil::err("read directory", &d))? {
        let p = e.map_err(fsutil::err("read directory", &d))?.path();
        if p.join("release.json").is_file() {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// The last release of `branch` before `version` among `locations`: on the branch when its
/// version is the branch or `BRANCH.…`, or its recipe copy declares the same `stable` (a
/// release marked NOT-A-RELEASE is skipped); `None` when there is none: this release is the baseline.
pub fn find_baseline(
    name: &str,
    version: &str,
    branch: &str,
    locations: &[PathBuf],
) -> Result<Option<Baseline>, StableError> {
    let mut best: Option<Baseline> = None;
    for loc in locations {
        for dir in candidates(loc, name)? {
            if crate::reldir::is_marked(&dir) {
                continue;
            }
            let m = crate::reldir::read_release(&dir).map_err(|e| StableError::Input {
                path: dir.clone(),
                reason: e.to_string(),
            })?;
            let older = version_cmp("pypi", &m.version, version) == Ordering::Less;
            let ours = on_branch(&m.version, branch)
                || declared_branch(&dir, &m).as_deref() == Some(branch);
            if m.name != name || !ours || !older {
                continue;
            }
            if best
                .as_ref()
                .is_some_and(|b| version_cmp("pypi", &b.version, &m.version) != Ordering::Less)
            {
                continue;
            }
            let rj = dir.join("release.json");
            let (sha, _) = crate::digest::hash_file(&rj).map_err(fsutil::err("read", &rj))?;
            best = Some(Baseline {
                dir: dir.clone(),
                version: m.version,
                release_sha256: sha,
            });
        }
    }
    Ok(best)
}

/// A patch-level PyPI update: same epoch, same major and minor, higher.
fn pypi_patch(old: &str, new: &str) -> bool {
    use crate::python::version::Version;
    let (Ok(o), Ok(n)) = (Version::parse(old), Version::parse(new)) else {
        return false;
    };
    let part = |v: &Version, i: usize| v.release().get(i).copied().unwrap_or(0);
    o.epoch() == n.epoch() && part(&o, 0) == part(&n, 0) && part(&o, 1) == part(&n, 1) && n > o
}

/// A Debian update of the same upstream version (a new Debian revision: a security or stable
/// update), higher. For a native package (no revision) the part before `+deb` must be equal.
fn debian_update(old: &str, new: &str) -> bool {
    use crate::debian::version::split_version;
    let base = |v: &str| -> (u64, String) {
        let (e, up, rev) = split_version(v);
        let up = if rev.is_empty() {
            up.split("+deb").next().unwrap_or(up)
        } else {
            up
        };
        (e, up.to_string())
    };
    base(old) == base(new) && version_cmp("deb", new, old) == Ordering::Greater
}

/// Judge the changes from the baseline's packages to the new ones. `own` names the release's
/// own packages (normalized), whose version changes with the release itself.
pub fn judge(
    old: &BTreeMap<PackageKey, BTreeSet<String>>,
    new: &BTreeMap<PackageKey, BTreeSet<String>>,
    own: &BTreeSet<String>,
) -> (Vec<PackageChange>, Vec<Offence>) {
    let (mut allowed, mut offences) = (Vec::new(), Vec::new());
    for c in crate::diff::diff_packages(old, new) {
        if own.contains(&c.name) {
            continue;
        }
        let pairs_ok = |f: fn(&str, &str) -> bool| {
            c.new
                .iter()
                .all(|n| c.old.contains(n) || c.old.iter().any(|o| f(o, n)))
        };
        let reason = match c.change {
            "removed" => None,
            "added" => Some("a new dependency: a stable branch adds none".to_string()),
            "upgraded" if c.ecosystem == "pypi" && pairs_ok(pypi_patch) => None,
            "upgraded" if c.ecosystem == "deb" && pairs_ok(debian_update) => None,
            "upgraded" if c.ecosystem == "deb" => Some(
                "a new upstream version: only a Debian security or stable update of the same upstream version is allowed".into(),
            ),
            "upgraded" => Some("not a patch-level update (same major.minor)".into()),
            other => Some(format!("{other}: a stable branch only moves pins forward")),
        };
        match reason {
            None => allowed.push(c),
            Some(reason) => offences.push(Offence {
                ecosystem: c.ecosystem.clone(),
                name: c.name.clone(),
                old: c.old.clone(),
                new: c.new.clone(),
                reason,
            }),
        }
    }
    (allowed, offences)
}

/// Compare the release in `dir` with its baseline and write `scan/stable.json`.
pub fn run(
    dir: &Path,
    branch: &str,
    baseline: Option<Baseline>,
    own: &BTreeSet<String>,
) -> Result<Report, StableError> {
    let new = crate::diff::packages(dir)?;
    let (changes, offences) = match &baseline {
        Some(b) => judge(&crate::diff::packages(&b.dir)?, &new, own),
        None => (Vec::new(), Vec::new()),
    };
    let report = Report {
        branch: branch.to_string(),
        baseline,
        changes,
        offences,
    };
    let mut bytes = crate::model::canonical_json(&report);
    bytes.push(b'\n');
    fsutil::write_atomic(&dir.join(REPORT_FILE), &bytes)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[(&str, &str, &str)]) -> BTreeMap<PackageKey, BTreeSet<String>> {
        let mut m: BTreeMap<PackageKey, BTreeSet<String>> = BTreeMap::new();
        for (e, n, v) in items {
            m.entry((e.to_string(), n.to_string()))
                .or_default()
                .insert(v.to_string());
        }
        m
    }

    #[test]
    fn patch_and_security_updates_pass_the_rest_is_named() {
        let old = set(&[
            ("pypi", "click", "8.1.8"),
            ("pypi", "jinja2", "3.1.4"),
            ("pypi", "demo", "1.10.4"),
            ("deb", "libc6", "2.41-12"),
            ("deb", "base-files", "13.8+deb13u6"),
            ("deb", "openssl", "3.5.1-1"),
            ("deb", "gone", "1.0-1"),
        ]);
        let new = set(&[
            ("pypi", "click", "8.1.9"),
            ("pypi", "jinja2", "3.2.0"),
            ("pypi", "demo", "1.10.5"),
            ("pypi", "six", "1.17.0"),
            ("deb", "libc6", "2.41-12+deb13u1"),
            ("deb", "base-files", "13.8+deb13u7"),
            ("deb", "openssl", "3.5.4-1"),
        ]);
        let own: BTreeSet<String> = ["demo".to_string()].into();
        let (ok, bad) = judge(&old, &new, &own);
        let ok: Vec<(&str, &str)> = ok.iter().map(|c| (c.name.as_str(), c.change)).collect();
        assert_eq!(
            ok,
            vec![
                ("base-files", "upgraded"),
                ("gone", "removed"),
                ("libc6", "upgraded"),
                ("click", "upgraded")
            ]
        );
        let bad: Vec<&str> = bad.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(bad, vec!["openssl", "jinja2", "six"]);
        // A downgrade is refused too.
        let (_, bad) = judge(&new, &old, &own);
        assert!(bad
            .iter()
            .any(|o| o.name == "click" && o.reason.starts_with("downgraded")));
    }

    /// A release directory of `demo` at `version` whose release.json names the digest of a
    /// recipe declaring `stable = signed`, and whose recipe copy declares `stable = copy`.
    fn release(root: &Path, version: &str, signed: &str, copy: &str) {
        let dir = root.join(version);
        std::fs::create_dir_all(dir.join("recipe")).unwrap();
        let text = |b: &str| format!("[release]\nversion = \"{version}\"\nstable = \"{b}\"\n");
        let m = crate::model::ReleaseManifest {
            type_: crate::model::RELEASE_TYPE.into(),
            name: "demo".into(),
            version: version.into(),
            source_date_epoch: 0,
            recipe: crate::model::InputFile {
                path: "recipe/demo.toml".into(),
                sha256: crate::digest::Sha256Hex::of(text(signed).as_bytes()),
            },
            locks: vec![],
            sources: vec![],
            artifacts: vec![],
            builder: "test".into(),
            builds: vec![],
        };
        std::fs::write(dir.join("recipe/demo.toml"), text(copy)).unwrap();
        std::fs::write(dir.join("release.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    }

    #[test]
    fn a_named_branch_finds_its_releases_by_their_recipe_copy() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("releases");
        let find = |version: &str, branch: &str| {
            find_baseline("demo", version, branch, std::slice::from_ref(&r))
                .unwrap()
                .map(|b| b.version)
        };
        release(&r, "2.0.0", "lts", "lts");
        release(&r, "2.0.3", "lts", "lts");
        // On another branch: newer than 2.0.3, not on `lts`.
        release(&r, "2.1.0", "edge", "edge");
        // A copy edited to say `lts` is not the recipe release.json names: not on `lts`.
        release(&r, "2.1.5", "edge", "lts");
        // Not before the new release.
        release(&r, "2.2.0", "lts", "lts");
        assert_eq!(find("2.2.0", "lts").as_deref(), Some("2.0.3"));
        let b = find_baseline("demo", "2.2.0", "lts", std::slice::from_ref(&r))
            .unwrap()
            .unwrap();
        assert_eq!(b.dir, r.join("2.0.3"));
        assert_eq!(
            b.release_sha256,
            crate::digest::Sha256Hex::of(&std::fs::read(r.join("2.0.3/release.json")).unwrap())
        );
        // Nor on `edge`: nothing signed says what branch 2.1.5 is on.
        assert_eq!(find("2.1.9", "edge").as_deref(), Some("2.1.0"));
        // A branch named by a version needs no recipe copy: 2.1 holds 2.1.0 and 2.1.5.
        assert_eq!(find("2.1.9", "2.1").as_deref(), Some("2.1.5"));
        // The branch's first release is its baseline; another project's name finds nothing.
        assert_eq!(find("2.0.0", "lts"), None);
        assert_eq!(
            find_baseline("other", "2.2.0", "lts", std::slice::from_ref(&r)).unwrap(),
            None
        );
    }

    #[test]
    fn branch_membership() {
        assert!(on_branch("1.10.5", "1.10"));
        assert!(on_branch("1.10", "1.10"));
        assert!(!on_branch("1.100.0", "1.10"));
        assert!(!on_branch("1.1.0", "1.10"));
    }
}
