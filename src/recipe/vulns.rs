//! The recipe's `[vulnerabilities]` section: the gate's policy (what fails, the databases to
//! lock, the allow-list). Parsed and checked here; taken and judged by `vulndb`, `scan` and
//! `vulns`.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    pub allow: Vec<Allow>,
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
            if severity_rank(s) == 0 {
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
        check_allow(&self.allow)
            .map_err(|(i, reason)| (format!("vulnerabilities.allow[{i}]"), reason))
    }
}

/// An allow-list entry (`--allow FILE`, TOML `[[allow]]`): an advisory accepted for a package
/// until a date, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    pub id: String,
    pub package: String,
    pub reason: String,
    /// `YYYY-MM-DD`: after this day the entry no longer applies, and says so.
    pub expires: String,
}

/// Check allow-list entries: each needs an id, a package, a reason and a `YYYY-MM-DD` expiry;
/// the same id and package twice is refused. `Err((index, reason))`.
pub fn check_allow(entries: &[Allow]) -> Result<(), (usize, String)> {
    let mut seen = std::collections::BTreeSet::new();
    for (i, a) in entries.iter().enumerate() {
        if a.id.trim().is_empty() || a.package.trim().is_empty() {
            return Err((i, "id and package are required".into()));
        }
        if a.reason.trim().is_empty() {
            return Err((i, format!("({}): a reason is required", a.id)));
        }
        let date_ok = a.expires.len() == 10
            && crate::time::parse(&format!("{}T00:00:00Z", a.expires)).is_ok();
        if !date_ok {
            return Err((
                i,
                format!("expires {:?}: not a date (YYYY-MM-DD)", a.expires),
            ));
        }
        if !seen.insert((a.id.as_str(), a.package.as_str())) {
            return Err((i, format!("{} for {} appears twice", a.id, a.package)));
        }
    }
    Ok(())
}

/// A severity's rank: LOW 1, MODERATE = MEDIUM 2, HIGH 3, CRITICAL 4; anything else 0.
pub fn severity_rank(s: &str) -> u8 {
    match s.to_ascii_uppercase().as_str() {
        "LOW" => 1,
        "MODERATE" | "MEDIUM" => 2,
        "HIGH" => 3,
        "CRITICAL" => 4,
        _ => 0,
    }
}
