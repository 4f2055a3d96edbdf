//! The vulnerability database as a locked input (`[vulnerabilities]` in a recipe).
//!
//! `relsign vulndb RECIPE` takes each configured OSV export (a zip of OSV JSON records, as the
//! per-ecosystem exports are) from its locations in order, checks every record, puts the zip in
//! the content-addressed store and pins it in the recipe's vulndb lock by sha256, size, record
//! count and the time it was taken. `relsign release` scans against exactly those bytes, from
//! the store, and refuses a database older than the recipe's `max-age-days`.
//!
//! Locations come only from the recipe and `--from NAME=LOCATION` flags; none is built in.

use crate::digest::Sha256Hex;
use crate::fetch::{FetchError, Http};
use crate::fsutil::{self, FsError};
use crate::recipe::Recipe;
use crate::report::Reporter;
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest database zip accepted.
pub const MAX_DB_BYTES: u64 = 2 << 30;
/// The most databases a recipe may name.
const MAX_DATABASES: usize = 16;

/// `[vulnerabilities]`: the gate `relsign release` runs before signing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VulnSpec {
    /// The vulndb lock, relative to the recipe (written by `relsign vulndb`).
    pub lock: PathBuf,
    /// What fails: `fixed` (a known vulnerability with a fix available), `any` or `none`.
    #[serde(default = "default_fail_on")]
    pub fail_on: String,
    /// Also fail on findings at or above this severity (LOW, MODERATE/MEDIUM, HIGH, CRITICAL).
    pub severity: Option<String>,
    /// A database taken longer ago than this is refused.
    pub max_age_days: u32,
    #[serde(default, rename = "database")]
    pub databases: Vec<DatabaseSpec>,
    /// Accepted findings, each with a reason and an expiry date.
    #[serde(default)]
    pub allow: Vec<crate::scan::Allow>,
}

fn default_fail_on() -> String {
    "fixed".into()
}

/// `[[vulnerabilities.database]]`: one OSV export and where to take it from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSpec {
    /// A short name (`PyPI`, `Debian`): the lock's key and `--from NAME=…`.
    pub name: String,
    /// URLs (`https://…`, `file://…`) or paths relative to the recipe, tried in order.
    #[serde(default)]
    pub locations: Vec<String>,
}

impl VulnSpec {
    /// Check the section; `Err((key, reason))` names the offending key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if !["fixed", "any", "none"].contains(&self.fail_on.as_str()) {
            return Err((
                "vulnerabilities.fail-on".into(),
                format!("{:?} is not one of fixed, any, none", self.fail_on),
            ));
        }
        if let Some(s) = &self.severity {
            if crate::scan::severity_rank(s) == 0 {
                return Err((
                    "vulnerabilities.severity".into(),
                    format!("{s:?} is not one of LOW, MODERATE, MEDIUM, HIGH, CRITICAL"),
                ));
            }
        }
        if self.max_age_days == 0 {
            return Err((
                "vulnerabilities.max-age-days".into(),
                "must be at least 1".into(),
            ));
        }
        if self.databases.is_empty() || self.databases.len() > MAX_DATABASES {
            return Err((
                "vulnerabilities.database".into(),
                format!("name between 1 and {MAX_DATABASES} databases"),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, d) in self.databases.iter().enumerate() {
            let ok = !d.name.is_empty()
                && d.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !ok || !seen.insert(d.name.as_str()) {
                return Err((
                    format!("vulnerabilities.database[{i}].name"),
                    format!("{:?} is not a unique name (letters, digits, . _ -)", d.name),
                ));
            }
        }
        crate::scan::check_allow(&self.allow)
            .map_err(|(i, reason)| (format!("vulnerabilities.allow[{i}]"), reason))
    }
}

/// One pinned database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedDb {
    pub name: String,
    /// The name the store and messages use: `osv-<name>.zip`.
    pub file: String,
    pub sha256: Sha256Hex,
    pub size: u64,
    /// When it was taken (RFC 3339, UTC).
    pub taken: String,
    /// How many OSV records it holds.
    pub records: u64,
}

/// The vulndb lock file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VulnDbLock {
    pub lock_version: u32,
    #[serde(default, rename = "database")]
    pub databases: Vec<LockedDb>,
}

#[derive(Debug, thiserror::Error)]
pub enum VulnDbError {
    #[error("{}: no [vulnerabilities] section: nothing to lock", .0.display())]
    NoSection(PathBuf),
    #[error("{}: {field}: {reason}", .file.display())]
    Input {
        file: PathBuf,
        field: String,
        reason: String,
    },
    #[error("database {name}: no location to take it from: give `locations` in the recipe or --from {name}=URL-OR-PATH")]
    NoLocations { name: String },
    #[error("database {name}: every location failed:\n{}", .attempts.join("\n"))]
    AllFailed { name: String, attempts: Vec<String> },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}: {field}: {name}: {source}", .file.display())]
    Stored {
        file: PathBuf,
        field: String,
        name: String,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Scan(#[from] crate::scan::ScanError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{}: {reason}: run `relsign vulndb {}` to take and lock the recipe's databases, or give --db ZIP-OR-DIR", .recipe.display(), .recipe.display())]
    NoDatabase { recipe: PathBuf, reason: String },
    #[error(transparent)]
    Report(Box<crate::vulns::VulnsError>),
}

impl VulnDbError {
    /// A digest mismatch in the store (exit 1); everything else is an input error (exit 2).
    pub fn is_integrity(&self) -> bool {
        match self {
            VulnDbError::Store(e) | VulnDbError::Stored { source: e, .. } => e.is_integrity(),
            VulnDbError::Fetch(e) => e.is_integrity(),
            _ => false,
        }
    }
}

fn input(file: &Path, field: impl Into<String>, reason: impl Into<String>) -> VulnDbError {
    VulnDbError::Input {
        file: file.to_path_buf(),
        field: field.into(),
        reason: reason.into(),
    }
}

/// The recipe's `[vulnerabilities]` section, or the error that says it has none.
pub fn spec(recipe: &Recipe) -> Result<&VulnSpec, VulnDbError> {
    recipe
        .file
        .vulnerabilities
        .as_ref()
        .ok_or_else(|| VulnDbError::NoSection(recipe.path.clone()))
}

pub fn lock_path(recipe: &Recipe, spec: &VulnSpec) -> PathBuf {
    recipe.resolve(&spec.lock)
}

const LOCK_HEADER: &str = "# Generated by `relsign vulndb`. Do not edit: run `relsign vulndb RECIPE` again to take newer\n# databases. Each is named by sha256, size and the time it was taken; any location may serve it.\n";

impl VulnDbLock {
    /// Read and check a vulndb lock: version, digests, dates, no name twice.
    pub fn read(path: &Path) -> Result<VulnDbLock, VulnDbError> {
        let bytes = crate::json::read_limited(path, 1 << 20).map_err(|e| match e {
            crate::json::ReadError::Fs(e) => VulnDbError::Fs(e),
            e => input(path, "(file)", e.to_string()),
        })?;
        let text = std::str::from_utf8(&bytes).map_err(|_| input(path, "(file)", "not UTF-8"))?;
        let lock: VulnDbLock =
            toml::from_str(text).map_err(|e| input(path, "(file)", e.to_string().trim_end()))?;
        if lock.lock_version != 1 {
            return Err(input(
                path,
                "lock-version",
                format!("expected=1, got={}", lock.lock_version),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, d) in lock.databases.iter().enumerate() {
            if !seen.insert(d.name.as_str()) {
                return Err(input(
                    path,
                    format!("database[{i}].name"),
                    format!("{:?} appears twice", d.name),
                ));
            }
            crate::time::parse(&d.taken)
                .map_err(|e| input(path, format!("database[{i}].taken"), e))?;
        }
        Ok(lock)
    }

    pub fn write(&self, path: &Path) -> Result<(), VulnDbError> {
        let body = toml::to_string(self).map_err(|e| input(path, "(file)", e.to_string()))?;
        fsutil::write_atomic(path, format!("{LOCK_HEADER}{body}").as_bytes())?;
        Ok(())
    }
}

/// The URLs to try for a database: `--from NAME=…` flags first, then the recipe's locations.
fn urls(recipe: &Recipe, d: &DatabaseSpec, from: &[(String, String)]) -> Vec<String> {
    let flags: Vec<String> = from
        .iter()
        .filter(|(n, _)| *n == d.name)
        .map(|(_, l)| l.clone())
        .collect();
    let all: Vec<String> = flags.into_iter().chain(d.locations.clone()).collect();
    crate::upstream::location_urls(recipe, &all, &format!("osv-{}.zip", d.name))
}

/// Take every database of the recipe from its first location that serves a valid OSV export,
/// store it, and write the lock. `now` is recorded as the time taken.
pub fn record(
    recipe: &Recipe,
    from: &[(String, String)],
    http: &Http,
    store: &Store,
    now: i64,
    r: &dyn Reporter,
) -> Result<Vec<LockedDb>, VulnDbError> {
    let spec = spec(recipe)?;
    for (n, _) in from {
        if !spec.databases.iter().any(|d| &d.name == n) {
            return Err(input(
                &recipe.path,
                "vulnerabilities.database",
                format!("--from {n}=…: no database of that name"),
            ));
        }
    }
    let mut out = Vec::new();
    for d in &spec.databases {
        let urls = urls(recipe, d, from);
        if urls.is_empty() {
            return Err(VulnDbError::NoLocations {
                name: d.name.clone(),
            });
        }
        let file = format!("osv-{}.zip", d.name);
        let mut attempts = Vec::new();
        let mut got = None;
        for url in &urls {
            let shown = crate::fetch::redact(url);
            match take_one(http, store, &file, url) {
                Ok((sha256, size, records)) => {
                    r.info(&format!(
                        "database {}: {records} OSV record(s), {size} bytes, sha256:{sha256} from {shown}",
                        d.name
                    ));
                    got = Some((sha256, size, records));
                    break;
                }
                Err(e) => {
                    r.warn(&format!("database {}: {shown}: {e}", d.name));
                    attempts.push(format!("  {shown}: {e}"));
                }
            }
        }
        let Some((sha256, size, records)) = got else {
            return Err(VulnDbError::AllFailed {
                name: d.name.clone(),
                attempts,
            });
        };
        out.push(LockedDb {
            name: d.name.clone(),
            file,
            sha256,
            size,
            taken: crate::time::format(now),
            records,
        });
    }
    VulnDbLock {
        lock_version: 1,
        databases: out.clone(),
    }
    .write(&lock_path(recipe, spec))?;
    Ok(out)
}

/// Download one location into the store (at most [`MAX_DB_BYTES`]) and check every record.
fn take_one(
    http: &Http,
    store: &Store,
    file: &str,
    url: &str,
) -> Result<(Sha256Hex, u64, u64), VulnDbError> {
    let reader = http.open(url)?;
    let (sha256, size) = store.insert(file, None, None, &mut reader.take(MAX_DB_BYTES + 1))?;
    let path = store.get(&sha256, file)?;
    if size > MAX_DB_BYTES {
        let _ = std::fs::remove_file(&path);
        return Err(input(
            Path::new(&crate::fetch::redact(url)),
            "(size)",
            format!("over the limit of {MAX_DB_BYTES} bytes"),
        ));
    }
    let shown = crate::fetch::redact(url);
    let records = crate::scan::load_db(&path).map_err(|e| {
        // Not an OSV export: named by where it came from, and not kept.
        let _ = std::fs::remove_file(&path);
        let store_path = path.display().to_string();
        let reason = e
            .to_string()
            .replace(&format!("{store_path}: "), "")
            .replace(&store_path, file);
        input(Path::new(&shown), file, reason)
    })?;
    if records.is_empty() {
        return Err(input(Path::new(&shown), file, "no OSV record"));
    }
    Ok((sha256, size, records.len() as u64))
}

/// The locked databases, loaded for a scan.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub lock: PathBuf,
    pub databases: Vec<LockedDb>,
    pub records: Vec<Value>,
}

/// Load the locked databases from the store for a release at `now`: every database the
/// recipe names must be locked, present with its digest, valid, and no older than
/// `max-age-days`.
pub fn load(recipe: &Recipe, store: &Store, now: i64) -> Result<Loaded, VulnDbError> {
    let spec = spec(recipe)?;
    let path = lock_path(recipe, spec);
    if !path.is_file() {
        return Err(input(
            &path,
            "(file)",
            "missing: run `relsign vulndb RECIPE` to take and lock the databases",
        ));
    }
    let lock = VulnDbLock::read(&path)?;
    load_pinned(spec, &path, "database", lock.databases, store, now)
}

/// The databases for `relsign scan` without `--db`: the recipe's vulndb lock, as
/// [`load`] takes them for a release; for a release's recipe copy whose lock is not under
/// inputs/, the databases its gate report (`gate_report`, `scan/vulnerabilities.json`) names,
/// by the same checks. Neither: [`VulnDbError::NoDatabase`], naming the recipe and the fix.
pub fn load_for_scan(
    recipe: &Recipe,
    gate_report: Option<&Path>,
    store: &Store,
    now: i64,
) -> Result<Loaded, VulnDbError> {
    let none = |reason: String| VulnDbError::NoDatabase {
        recipe: recipe.path.clone(),
        reason,
    };
    let Some(spec) = recipe.file.vulnerabilities.as_ref() else {
        return Err(none(
            "no [vulnerabilities] section, so no locked vulnerability database (add one: README, \"Vulnerability gate\")".into(),
        ));
    };
    let path = lock_path(recipe, spec);
    if path.is_file() {
        return load(recipe, store, now);
    }
    if let Some(report) = gate_report.filter(|p| p.is_file()) {
        let r = crate::vulns::Report::read(report).map_err(|e| VulnDbError::Report(Box::new(e)))?;
        return load_pinned(spec, report, "databases", r.databases, store, now);
    }
    Err(none(format!(
        "vulnerabilities.lock: {} is missing",
        path.display()
    )))
}

/// The pinned databases (`pinned`, as `source` lists them under `field`) from the store:
/// every database `spec` names must be pinned, have its digest and record count, and be no
/// older than `max-age-days`.
fn load_pinned(
    spec: &VulnSpec,
    source: &Path,
    field: &str,
    pinned: Vec<LockedDb>,
    store: &Store,
    now: i64,
) -> Result<Loaded, VulnDbError> {
    let path = source;
    let mut records = Vec::new();
    for d in &spec.databases {
        let Some((i, l)) = pinned.iter().enumerate().find(|(_, l)| l.name == d.name) else {
            return Err(input(
                path,
                field,
                format!("{} is not locked: run `relsign vulndb RECIPE`", d.name),
            ));
        };
        let taken = crate::time::parse(&l.taken)
            .map_err(|e| input(path, format!("{field}[{i}].taken"), e))?;
        let age = now - taken;
        let limit = i64::from(spec.max_age_days) * 86_400;
        if age > limit {
            return Err(input(
                path,
                format!("{field}[{i}].taken"),
                format!(
                    "{} was taken {}, {} day(s) ago: older than the recipe's vulnerabilities.max-age-days = {}; run `relsign vulndb RECIPE`",
                    l.name, l.taken, age / 86_400, spec.max_age_days
                ),
            ));
        }
        if age < -86_400 {
            return Err(input(
                path,
                format!("{field}[{i}].taken"),
                format!("{} is in the future", l.taken),
            ));
        }
        let p = store
            .get(&l.sha256, &l.file)
            .map_err(|source| VulnDbError::Stored {
                file: path.to_path_buf(),
                field: format!("{field}[{i}]"),
                name: format!("{} ({})", l.name, l.file),
                source,
            })?;
        let recs = crate::scan::load_db(&p).map_err(|e| {
            input(
                path,
                format!("{field}[{i}]"),
                format!("{} ({}, sha256:{}): {e}", l.name, l.file, l.sha256),
            )
        })?;
        if recs.len() as u64 != l.records {
            return Err(input(
                path,
                format!("{field}[{i}].records"),
                format!("expected={}, got={}", l.records, recs.len()),
            ));
        }
        records.extend(recs);
    }
    Ok(Loaded {
        lock: path.to_path_buf(),
        databases: pinned,
        records,
    })
}

/// Put every locked database into the store from its locations, by digest (`relsign fetch`).
pub fn fetch(
    recipe: &Recipe,
    http: &Http,
    store: &Store,
    r: &dyn Reporter,
) -> Result<(), VulnDbError> {
    let Some(spec) = recipe.file.vulnerabilities.as_ref() else {
        return Ok(());
    };
    let path = lock_path(recipe, spec);
    if !path.is_file() {
        return Ok(());
    }
    let lock = VulnDbLock::read(&path)?;
    for l in &lock.databases {
        let Some(d) = spec.databases.iter().find(|d| d.name == l.name) else {
            continue;
        };
        let urls = urls(recipe, d, &[]);
        http.fetch_to_store(store, &l.file, &urls, &l.sha256, Some(l.size), r)?;
    }
    Ok(())
}

/// Parse `NAME=LOCATION` flags.
pub fn parse_from(flags: &[String]) -> Result<Vec<(String, String)>, String> {
    flags
        .iter()
        .map(|f| {
            f.split_once('=')
                .filter(|(n, l)| !n.is_empty() && !l.is_empty())
                .map(|(n, l)| (n.to_string(), l.to_string()))
                .ok_or_else(|| format!("--from {f:?}: expected NAME=URL-OR-PATH"))
        })
        .collect()
}
