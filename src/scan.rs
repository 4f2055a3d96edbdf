//! `relsign scan TARGET --db OSV`: the packages of a release (its CycloneDX SBOMs) against an
//! offline OSV database (a zip of OSV JSON records, as the per-ecosystem OSV exports are, or a
//! directory of them). Nothing here touches the network.
//!
//! * **PyPI**: names normalized (PEP 503), versions in PEP 440 order.
//! * **Debian**: by source package, as Debian's advisories are keyed (the SBOM's
//!   `relsign:debian:source` property, else the binary's name), versions in dpkg's order, and
//!   the release's suite (`Debian:13` matches `distro=debian-13`; a bare `Debian` matches all).
//! * OSV ranges of type `ECOSYSTEM` (events `introduced`, `fixed`, `last_affected`, `limit`)
//!   and explicit `versions` lists; withdrawn records are ignored.
//!
//! A finding names the advisory, the package, the installed version, the first fixed version
//! when the record gives one, the severity when it gives one, and the summary.

use crate::fsutil::{self, FsError};
use crate::packages::{version_cmp, Package};
use crate::recipe::vulns::{check_allow, severity_rank, Allow};
use serde::Serialize;
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Byte limit for one OSV record.
const MAX_RECORD: u64 = 4 << 20;
/// The most records a database may hold.
const MAX_RECORDS: usize = 2_000_000;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{}: {reason}", .path.display())]
    Input { path: PathBuf, reason: String },
}

fn bad(path: &Path, reason: impl Into<String>) -> ScanError {
    ScanError::Input {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A match of an advisory against a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Finding {
    pub id: String,
    pub ecosystem: String,
    pub package: String,
    pub installed: String,
    /// Debian: the installed package's source version when it is not `installed`; the
    /// advisory's range was compared with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    pub fixed: Option<String>,
    pub severity: Option<String>,
    pub summary: String,
}

impl Finding {
    /// The installed version as shown: `1:2.41-5 (source 2.41-5)` when the range was compared
    /// with the source's version.
    pub fn installed_shown(&self) -> String {
        match &self.source_version {
            Some(v) => format!("{} (source {v})", self.installed),
            None => self.installed.clone(),
        }
    }
}

/// Check one record against the OSV schema's required fields and the shapes the scan reads:
/// `id` and `modified` (RFC 3339) strings, `affected` a list of objects whose `package` has an
/// `ecosystem` and a `name`, and whose `ranges` have a `type` and a list of `events`.
fn check_record(v: &Value) -> Result<(), String> {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    let id = s("id").ok_or("not an OSV record: no string `id`")?;
    if id.is_empty() || id.len() > 256 {
        return Err("not an OSV record: `id` is empty or over 256 bytes".into());
    }
    let m =
        s("modified").ok_or_else(|| format!("{id}: not an OSV record: no string `modified`"))?;
    crate::time::parse(m).map_err(|e| format!("{id}: modified: {e}"))?;
    let Some(aff) = v.get("affected") else {
        return Ok(());
    };
    let aff = aff
        .as_array()
        .ok_or_else(|| format!("{id}: affected: not a list"))?;
    for (i, a) in aff.iter().enumerate() {
        let at = format!("{id}: affected[{i}]");
        if let Some(p) = a.get("package") {
            let eco = p.get("ecosystem").and_then(Value::as_str);
            let name = p.get("name").and_then(Value::as_str);
            if eco.is_none() || name.is_none() {
                return Err(format!("{at}.package: needs string ecosystem and name"));
            }
        }
        for (j, r) in a
            .get("ranges")
            .map(|r| r.as_array().ok_or(format!("{at}.ranges: not a list")))
            .transpose()?
            .into_iter()
            .flatten()
            .enumerate()
        {
            let ok = r.get("type").and_then(Value::as_str).is_some()
                && r.get("events").and_then(Value::as_array).is_some_and(|e| {
                    e.iter().all(|x| {
                        x.as_object()
                            .is_some_and(|o| o.len() == 1 && o.values().all(Value::is_string))
                    })
                });
            if !ok {
                return Err(format!(
                    "{at}.ranges[{j}]: needs a type and events of one string each"
                ));
            }
        }
        if let Some(vs) = a.get("versions") {
            if !vs
                .as_array()
                .is_some_and(|l| l.iter().all(Value::is_string))
            {
                return Err(format!("{at}.versions: not a list of strings"));
            }
        }
    }
    Ok(())
}

/// Read the OSV records of a zip or a directory (every `*.json`, recursively). Every record is
/// checked ([`check_record`]); an id that appears twice is refused.
pub fn load_db(path: &Path) -> Result<Vec<Value>, ScanError> {
    let mut out = Vec::new();
    let mut ids = std::collections::HashSet::new();
    let mut add = |name: &str, bytes: &[u8]| -> Result<(), ScanError> {
        if out.len() >= MAX_RECORDS {
            return Err(bad(path, format!("more than {MAX_RECORDS} records")));
        }
        let v =
            crate::json::value(bytes, MAX_RECORD).map_err(|e| bad(path, format!("{name}: {e}")))?;
        check_record(&v).map_err(|e| bad(path, format!("{name}: {e}")))?;
        let id = v["id"].as_str().unwrap_or_default().to_string();
        if !ids.insert(id.clone()) {
            return Err(bad(path, format!("{name}: record {id} appears twice")));
        }
        out.push(v);
        Ok(())
    };
    if path.is_dir() {
        for f in db_files(path)? {
            let bytes = crate::json::read_limited(&f, MAX_RECORD).map_err(|e| match e {
                crate::json::ReadError::Fs(e) => ScanError::Fs(e),
                e => bad(&f, e.to_string()),
            })?;
            add(&f.display().to_string(), &bytes)?;
        }
    } else {
        let f = std::fs::File::open(path).map_err(fsutil::err("open", path))?;
        let shown = path.display().to_string();
        let mut z = crate::archive::open_zip(f, &shown).map_err(|e| bad(path, e.to_string()))?;
        for i in 0..z.len() {
            let mut e = z.by_index(i).map_err(|e| bad(path, e.to_string()))?;
            let name = e.name().map(|n| n.to_string()).unwrap_or_default();
            if e.is_dir() || !name.ends_with(".json") {
                continue;
            }
            if e.size() > MAX_RECORD {
                return Err(bad(path, format!("{name}: over {MAX_RECORD} bytes")));
            }
            let bytes = crate::archive::read_member(&mut e, &shown)
                .map_err(|e| bad(path, e.to_string()))?;
            add(&name, &bytes)?;
        }
    }
    Ok(out)
}

/// Every `*.json` under a directory, recursively, sorted.
fn db_files(dir: &Path) -> Result<Vec<PathBuf>, ScanError> {
    let mut stack = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(fsutil::err("read directory", &d))? {
            let p = e.map_err(fsutil::err("read directory", &d))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                files.push(p);
            }
            if files.len() > MAX_RECORDS {
                return Err(bad(dir, format!("more than {MAX_RECORDS} files")));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Whether `version` is affected by an OSV range's events (ECOSYSTEM semantics), and the first
/// `fixed` event above it.
fn in_range(eco: &str, events: &[Value], version: &str) -> (bool, Option<String>) {
    let mut evs: Vec<(&str, &str)> = events
        .iter()
        .filter_map(|e| {
            let o = e.as_object()?;
            let (k, v) = o.iter().next()?;
            Some((k.as_str(), v.as_str()?))
        })
        .collect();
    // "0" (introduced from the beginning) sorts first; the rest in the ecosystem's order.
    evs.sort_by(|a, b| match (a.1, b.1) {
        ("0", "0") => Ordering::Equal,
        ("0", _) => Ordering::Less,
        (_, "0") => Ordering::Greater,
        (x, y) => version_cmp(eco, x, y),
    });
    let mut affected = false;
    for (kind, v) in &evs {
        let c = if *v == "0" {
            Ordering::Less
        } else {
            version_cmp(eco, v, version)
        };
        match *kind {
            "introduced" if c != Ordering::Greater => affected = true,
            "fixed" | "limit" if c != Ordering::Greater => affected = false,
            "last_affected" if c == Ordering::Less => affected = false,
            _ => {}
        }
    }
    let fixed = evs
        .iter()
        .filter(|(k, v)| *k == "fixed" && version_cmp(eco, v, version) == Ordering::Greater)
        .map(|(_, v)| v.to_string())
        .next();
    (affected, fixed)
}

/// The OSV ecosystem's purl type and, for Debian, its release number.
fn ecosystem(osv: &str) -> Option<(&'static str, Option<&str>)> {
    match osv.split_once(':') {
        None if osv == "PyPI" => Some(("pypi", None)),
        None if osv == "Debian" => Some(("deb", None)),
        Some(("Debian", n)) => Some(("deb", Some(n))),
        _ => None,
    }
}

fn severity(rec: &Value) -> Option<String> {
    rec.pointer("/database_specific/severity")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            rec.get("affected")
                .and_then(Value::as_array)?
                .iter()
                .find_map(|a| {
                    a.pointer("/ecosystem_specific/severity")
                        .and_then(Value::as_str)
                })
                .map(str::to_string)
        })
        .or_else(|| {
            rec.get("severity")
                .and_then(Value::as_array)?
                .first()
                .and_then(|s| s.get("score").and_then(Value::as_str))
                .map(str::to_string)
        })
}

/// The packages by what an advisory names: (purl type, normalized name) for PyPI, (purl type,
/// source package or else the binary's name) for Debian.
fn index(pkgs: &[Package]) -> HashMap<(&str, String), Vec<&Package>> {
    let mut m: HashMap<(&str, String), Vec<&Package>> = HashMap::new();
    for p in pkgs {
        let key = match p.ecosystem.as_str() {
            "pypi" => crate::python::requirements::normalize_name(&p.name),
            _ => p.source.clone().unwrap_or_else(|| p.name.clone()),
        };
        m.entry((p.ecosystem.as_str(), key)).or_default().push(p);
    }
    m
}

/// Whether one `affected` entry (for a package it names) affects `version`, and the first fixed
/// version above it.
fn affects(eco: &str, aff: &Value, version: &str) -> (bool, Option<String>) {
    let mut hit = aff
        .get("versions")
        .and_then(Value::as_array)
        .is_some_and(|v| v.iter().any(|x| x.as_str() == Some(version)));
    let mut fixed = None;
    for r in aff
        .get("ranges")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if r.get("type").and_then(Value::as_str) != Some("ECOSYSTEM") {
            continue;
        }
        let events = r.get("events").and_then(Value::as_array);
        let (a, f) = in_range(eco, events.map_or(&[][..], |v| v), version);
        if a {
            hit = true;
            fixed = fixed.or(f);
        }
    }
    (hit, fixed)
}

/// Every advisory of `db` that affects a package of `pkgs`.
pub fn scan(pkgs: &[Package], db: &[Value]) -> Vec<Finding> {
    let by_name = index(pkgs);
    let mut out = Vec::new();
    for rec in db {
        if rec.get("withdrawn").is_some_and(|w| !w.is_null()) {
            continue;
        }
        let id = rec.get("id").and_then(Value::as_str).unwrap_or("");
        for aff in rec
            .get("affected")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(eco_s), Some(name)) = (
                aff.pointer("/package/ecosystem").and_then(Value::as_str),
                aff.pointer("/package/name").and_then(Value::as_str),
            ) else {
                continue;
            };
            let Some((eco, release)) = ecosystem(eco_s) else {
                continue;
            };
            let key = match eco {
                "pypi" => crate::python::requirements::normalize_name(name),
                _ => name.to_string(),
            };
            let distro = release.map(|n| format!("debian-{n}"));
            for p in by_name.get(&(eco, key)).into_iter().flatten() {
                if eco == "deb" && distro.is_some() && p.distro != distro {
                    continue;
                }
                // Debian's ranges are in source versions.
                let compared = p.source_version.as_deref().unwrap_or(&p.version);
                let (hit, fixed) = affects(eco, aff, compared);
                if hit {
                    out.push(Finding {
                        id: id.to_string(),
                        ecosystem: eco.to_string(),
                        package: p.name.clone(),
                        installed: p.version.clone(),
                        source_version: p.source_version.clone(),
                        fixed,
                        severity: severity(rec),
                        summary: rec
                            .get("summary")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.package, &a.id).cmp(&(&b.package, &b.id)));
    out.dedup();
    out
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowFile {
    #[serde(default)]
    allow: Vec<Allow>,
}

/// Read an allow-list; every entry needs a reason and a valid date.
pub fn read_allow(path: &Path) -> Result<Vec<Allow>, ScanError> {
    let text = fsutil::read_to_string(path)?;
    let f: AllowFile = toml::from_str(&text).map_err(|e| bad(path, e.to_string()))?;
    check_allow(&f.allow).map_err(|(i, reason)| bad(path, format!("allow[{i}]: {reason}")))?;
    Ok(f.allow)
}

/// The policy's verdict on one finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Judged {
    #[serde(flatten)]
    pub finding: Finding,
    /// `fail`, `allowed` or `reported`.
    pub verdict: String,
    pub note: Option<String>,
}

/// What fails: every finding with a fix (`fixed`), every finding (`any`), or nothing (`none`);
/// and, when given, every finding at or above a severity (LOW < MODERATE = MEDIUM < HIGH <
/// CRITICAL). An allow-list entry for the id and package lets a finding pass until it expires.
pub fn judge(
    findings: Vec<Finding>,
    fail_on: &str,
    min_severity: Option<&str>,
    allow: &[Allow],
    today: &str,
) -> Vec<Judged> {
    let rank = severity_rank;
    findings
        .into_iter()
        .map(|f| {
            let by_fix = match fail_on {
                "any" => true,
                "fixed" => f.fixed.is_some(),
                _ => false,
            };
            let by_sev = min_severity.is_some_and(|m| {
                f.severity
                    .as_deref()
                    .is_some_and(|s| rank(s) >= rank(m) && rank(s) > 0)
            });
            let a = allow
                .iter()
                .find(|a| a.id == f.id && a.package == f.package);
            let (verdict, note) = match (by_fix || by_sev, a) {
                (false, _) => ("reported", None),
                (true, Some(a)) if a.expires.as_str() >= today => (
                    "allowed",
                    Some(format!("allowed until {}: {}", a.expires, a.reason)),
                ),
                (true, Some(a)) => (
                    "fail",
                    Some(format!("the allow-list entry expired on {}", a.expires)),
                ),
                (true, None) => ("fail", None),
            };
            Judged {
                finding: f,
                verdict: verdict.to_string(),
                note,
            }
        })
        .collect()
}

/// The findings as a table.
pub fn render(j: &[Judged]) -> String {
    if j.is_empty() {
        return "no known vulnerability\n".into();
    }
    let mut s = String::from("ID  PACKAGE  INSTALLED  FIXED IN  SEVERITY  VERDICT  SUMMARY\n");
    for x in j {
        let f = &x.finding;
        s.push_str(&format!(
            "{}  {} ({})  {}  {}  {}  {}  {}{}\n",
            f.id,
            f.package,
            f.ecosystem,
            f.installed_shown(),
            f.fixed.as_deref().unwrap_or("-"),
            f.severity.as_deref().unwrap_or("-"),
            x.verdict,
            f.summary,
            x.note
                .as_deref()
                .map(|n| format!(" [{n}]"))
                .unwrap_or_default()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pkg(eco: &str, name: &str, v: &str, src: Option<&str>) -> Package {
        Package {
            ecosystem: eco.into(),
            name: name.into(),
            version: v.into(),
            source: src.map(Into::into),
            source_version: None,
            distro: (eco == "deb").then(|| "debian-13".to_string()),
        }
    }

    #[test]
    fn records_need_the_schema_fields_and_shapes() {
        let ok = json!({"id": "A-1", "modified": "2026-01-01T00:00:00Z", "affected": [
            {"package": {"ecosystem": "PyPI", "name": "x"}, "versions": ["1.0"],
             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]});
        check_record(&ok).unwrap();
        for (v, want) in [
            (
                json!({"modified": "2026-01-01T00:00:00Z"}),
                "no string `id`",
            ),
            (
                json!({"id": "A"}),
                "A: not an OSV record: no string `modified`",
            ),
            (json!({"id": "A", "modified": "yesterday"}), "A: modified:"),
            (
                json!({"id": "A", "modified": "2026-01-01T00:00:00Z", "affected": {}}),
                "affected: not a list",
            ),
            (
                json!({"id": "A", "modified": "2026-01-01T00:00:00Z", "affected": [{"package": {"name": "x"}}]}),
                "affected[0].package: needs",
            ),
            (
                json!({"id": "A", "modified": "2026-01-01T00:00:00Z", "affected": [{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0", "fixed": "1"}]}]}]}),
                "affected[0].ranges[0]",
            ),
            (
                json!({"id": "A", "modified": "2026-01-01T00:00:00Z", "affected": [{"versions": [1]}]}),
                "affected[0].versions",
            ),
        ] {
            let e = check_record(&v).unwrap_err();
            assert!(e.contains(want), "{want}: {e}");
        }
    }

    #[test]
    fn debian_ranges_compare_the_source_version() {
        // util-linux 2.41-5 builds bsdutils 1:2.41-5: by the binary's version (epoch 1) the
        // advisory fixed in the source's 2.41-6 would be missed.
        let mut bsdutils = pkg("deb", "bsdutils", "1:2.41-5", Some("util-linux"));
        let db = vec![
            json!({"id": "DSA-9", "summary": "util-linux", "affected": [{"package":
            {"ecosystem": "Debian:13", "name": "util-linux"}, "ranges": [{"type": "ECOSYSTEM",
            "events": [{"introduced": "0"}, {"fixed": "2.41-6"}]}]}]}),
        ];
        assert!(scan(std::slice::from_ref(&bsdutils), &db).is_empty());
        bsdutils.source_version = Some("2.41-5".into());
        let f = scan(&[bsdutils], &db);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].installed_shown(), "1:2.41-5 (source 2.41-5)");
        assert_eq!(f[0].fixed.as_deref(), Some("2.41-6"));
    }

    #[test]
    fn ranges_versions_sources_and_withdrawn() {
        let pkgs = vec![
            pkg("pypi", "jinja2", "3.1.4", None),
            pkg("deb", "libc6", "2.41-12+deb13u4", Some("glibc")),
            pkg("deb", "zlib1g", "1:1.3.dfsg-3", Some("zlib")),
        ];
        let db = vec![
            json!({"id": "PYSEC-1", "summary": "sandbox escape", "affected": [{"package":
                {"ecosystem": "PyPI", "name": "Jinja2"}, "ranges": [{"type": "ECOSYSTEM",
                "events": [{"introduced": "0"}, {"fixed": "3.1.5"}]}]}],
                "database_specific": {"severity": "MODERATE"}}),
            json!({"id": "PYSEC-2", "summary": "old", "affected": [{"package":
                {"ecosystem": "PyPI", "name": "jinja2"}, "ranges": [{"type": "ECOSYSTEM",
                "events": [{"introduced": "2.0"}, {"fixed": "2.11.3"}]}]}]}),
            json!({"id": "DSA-1", "summary": "glibc", "affected": [{"package":
                {"ecosystem": "Debian:13", "name": "glibc"}, "ranges": [{"type": "ECOSYSTEM",
                "events": [{"introduced": "0"}, {"fixed": "2.41-12+deb13u5"}]}]}]}),
            json!({"id": "DSA-2", "summary": "other release", "affected": [{"package":
                {"ecosystem": "Debian:12", "name": "glibc"}, "ranges": [{"type": "ECOSYSTEM",
                "events": [{"introduced": "0"}, {"fixed": "2.99"}]}]}]}),
            json!({"id": "DSA-3", "summary": "by binary name: not how Debian keys it",
                "affected": [{"package": {"ecosystem": "Debian:13", "name": "libc6"},
                "versions": ["2.41-12+deb13u4"]}]}),
            json!({"id": "DLA-4", "summary": "last_affected", "affected": [{"package":
                {"ecosystem": "Debian", "name": "zlib"}, "ranges": [{"type": "ECOSYSTEM",
                "events": [{"introduced": "1:1.2"}, {"last_affected": "1:1.3.dfsg-3"}]}]}]}),
            json!({"id": "PYSEC-5", "withdrawn": "2026-01-01T00:00:00Z", "affected": [{"package":
                {"ecosystem": "PyPI", "name": "jinja2"}, "versions": ["3.1.4"]}]}),
        ];
        let f = scan(&pkgs, &db);
        let got: Vec<(&str, &str, Option<&str>)> = f
            .iter()
            .map(|x| (x.id.as_str(), x.package.as_str(), x.fixed.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("PYSEC-1", "jinja2", Some("3.1.5")),
                ("DSA-1", "libc6", Some("2.41-12+deb13u5")),
                ("DLA-4", "zlib1g", None),
            ]
        );
        let allow = vec![Allow {
            id: "DSA-1".into(),
            package: "libc6".into(),
            reason: "not reachable".into(),
            expires: "2026-12-31".into(),
        }];
        let j = judge(f.clone(), "fixed", None, &allow, "2026-12-02");
        let v: Vec<&str> = j.iter().map(|x| x.verdict.as_str()).collect();
        assert_eq!(v, vec!["fail", "allowed", "reported"]);
        let j = judge(f.clone(), "fixed", None, &allow, "2027-01-01");
        assert_eq!(j[1].verdict, "fail");
        assert!(j[1]
            .note
            .as_deref()
            .unwrap()
            .contains("expired on 2026-12-31"));
        let j = judge(f, "none", Some("HIGH"), &[], "2026-12-02");
        assert!(j.iter().all(|x| x.verdict == "reported"));
    }
}
