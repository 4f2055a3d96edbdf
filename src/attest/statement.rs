//! in-toto Statement v1 with the SLSA provenance v1 predicate, made from a release directory
//! (its `release.json` and the locks under `inputs/`), and the checked form a verifier reads.

use super::error::AttestError;
use crate::digest::Sha256Hex;
use crate::fsutil;
use crate::model::ReleaseManifest;
use crate::reldir::recipe_copy;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub use crate::model::STATEMENT_TYPE;
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// relsign's build type (documented in the README, "Provenance").
pub const BUILD_TYPE: &str = "https://relsign.dev/buildtypes/release/v1";
/// relsign's builder id.
pub const BUILDER_ID: &str = "https://relsign.dev/builder/relsign";

/// Percent-encode a purl component (everything but unreserved characters).
fn purl_escape(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

pub fn deb_purl(name: &str, version: &str, arch: &str) -> String {
    format!(
        "pkg:deb/debian/{}@{}?arch={}",
        purl_escape(name),
        purl_escape(version),
        purl_escape(arch)
    )
}

pub fn pypi_purl(name: &str, version: &str) -> String {
    format!(
        "pkg:pypi/{}@{}",
        purl_escape(&name.to_ascii_lowercase().replace('_', "-")),
        purl_escape(version)
    )
}

/// Every locked input of the release, as in-toto ResourceDescriptors: each .deb and each
/// Python file (wheels and sdists), deduplicated, in a stable order.
fn resolved_dependencies(dir: &Path, m: &ReleaseManifest) -> Result<Vec<Value>, AttestError> {
    let mut deps: BTreeMap<(String, String, String), Value> = BTreeMap::new();
    for l in &m.locks {
        let path = dir.join(&l.path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".debian.lock.toml") {
            let lock =
                crate::lock::debian::DebianLock::read(&path).map_err(|e| AttestError::Lock {
                    file: path.clone(),
                    reason: e.to_string(),
                })?;
            for p in &lock.packages {
                let file = p.filename.rsplit('/').next().unwrap_or(&p.filename);
                let uri = deb_purl(&p.name, &p.version, &p.architecture);
                deps.insert(
                    (uri.clone(), file.to_string(), p.sha256.to_string()),
                    json!({"name": file, "uri": uri, "digest": {"sha256": p.sha256}}),
                );
            }
        } else if name.starts_with("pylock") && name.ends_with(".toml") {
            let lock = crate::lock::python::PyLock::read(&path).map_err(|e| AttestError::Lock {
                file: path.clone(),
                reason: e.to_string(),
            })?;
            for p in &lock.packages {
                let uri = pypi_purl(&p.name, &p.version);
                for f in p.files() {
                    deps.insert(
                        (uri.clone(), f.name.clone(), f.sha256.to_string()),
                        json!({"name": f.name, "uri": uri, "digest": {"sha256": f.sha256}}),
                    );
                }
            }
        } else {
            return Err(AttestError::Lock {
                file: path,
                reason: "not a known lock kind (expected pylock*.toml or *.debian.lock.toml)"
                    .into(),
            });
        }
    }
    let mut out: Vec<Value> = deps.into_values().collect();
    for s in &m.sources {
        out.push(source_descriptor(s));
    }
    Ok(out)
}

fn source_digest(s: &crate::model::SourceRecord) -> Value {
    if s.kind == "git" {
        json!({ "gitCommit": s.digest })
    } else {
        json!({ "sha256": s.digest })
    }
}

fn source_descriptor(s: &crate::model::SourceRecord) -> Value {
    match s.kind.as_str() {
        "git" => {
            json!({"name": s.package, "uri": format!("git+{}@{}", s.location, s.digest), "digest": source_digest(s)})
        }
        _ => json!({"name": s.location, "digest": source_digest(s),
                     "annotations": {"kind": s.kind, "package": s.package}}),
    }
}

/// Whether the release's recipe (its copy under the release directory, which must have the
/// digest release.json records) has a `[test]` gate. The signer records the answer in the
/// provenance (`externalParameters.gate.required`), so a verifier reads it from signed data.
pub fn recipe_has_gate(dir: &Path, m: &ReleaseManifest) -> Result<bool, AttestError> {
    Ok(recipe_copy(dir, m)?.contains_key("test"))
}

/// Whether the release's recipe copy has a `[vulnerabilities]` gate (recorded in the
/// provenance as `externalParameters.vulnerabilities.required`).
pub fn recipe_has_vuln_gate(dir: &Path, m: &ReleaseManifest) -> Result<bool, AttestError> {
    Ok(recipe_copy(dir, m)?.contains_key("vulnerabilities"))
}

/// The policy reports a release directory carries (`scan/vulnerabilities.json`,
/// `scan/stable.json`): the provenance names them as byproducts, by digest, and records the
/// vulnerability databases among the resolved dependencies and the stable branch's baseline.
fn policy_reports(
    dir: &Path,
    required: bool,
) -> Result<(Value, Vec<Value>, Vec<Value>, Option<Value>), AttestError> {
    let mut vulns = json!({ "required": required });
    let (mut deps, mut byproducts) = (Vec::new(), Vec::new());
    let vp = dir.join(crate::vulns::REPORT_FILE);
    if vp.is_file() {
        let r = crate::vulns::Report::read(&vp).map_err(|e| AttestError::Format {
            file: vp.clone(),
            reason: e.to_string(),
        })?;
        let dbs = crate::vulns::database_descriptors(&r.databases);
        vulns["databases"] = json!(dbs);
        vulns["result"] = json!(r.result);
        deps.extend(dbs);
        let (d, _) = crate::digest::hash_file(&vp).map_err(fsutil::err("read", &vp))?;
        byproducts.push(json!({"name": crate::vulns::REPORT_FILE, "digest": {"sha256": d}}));
    }
    let sp = dir.join(crate::stable::REPORT_FILE);
    let mut stable = None;
    if sp.is_file() {
        let bytes = crate::json::read_limited(&sp, crate::json::limit::SBOM).map_err(|e| {
            AttestError::Format {
                file: sp.clone(),
                reason: e.to_string(),
            }
        })?;
        let v = crate::json::value(&bytes, crate::json::limit::SBOM).map_err(|e| {
            AttestError::Format {
                file: sp.clone(),
                reason: e.to_string(),
            }
        })?;
        stable = Some(json!({
            "branch": v["branch"],
            "baseline": v["baseline"].get("version").map(|ver| json!({
                "version": ver, "releaseJson": {"sha256": v["baseline"]["release_sha256"]}})),
        }));
        byproducts.push(
            json!({"name": crate::stable::REPORT_FILE, "digest": {"sha256": Sha256Hex::of(&bytes)}}),
        );
    }
    Ok((vulns, deps, byproducts, stable))
}

/// The SLSA v1 provenance statement for a release directory. `signed_on` (unix seconds) is the
/// self-asserted signing time, recorded as `runDetails.metadata.finishedOn`.
pub fn provenance(dir: &Path, m: &ReleaseManifest, signed_on: i64) -> Result<Value, AttestError> {
    let gate_required = recipe_has_gate(dir, m)?;
    let (vulns, vuln_deps, reports, stable) = policy_reports(dir, recipe_has_vuln_gate(dir, m)?)?;
    let mut resolved = resolved_dependencies(dir, m)?;
    resolved.extend(vuln_deps);
    let subject: Vec<Value> = m
        .artifacts
        .iter()
        .map(|a| json!({"name": a.file, "digest": {"sha256": a.sha256}}))
        .collect();
    let sources: Vec<Value> = m
        .sources
        .iter()
        .map(|s| {
            json!({"package": s.package, "kind": s.kind, "location": s.location,
                   "digest": source_digest(s), "sourceDateEpoch": s.source_date_epoch})
        })
        .collect();
    let release_json = dir.join("release.json");
    let (release_digest, _) =
        crate::digest::hash_file(&release_json).map_err(fsutil::err("read", &release_json))?;
    let mut byproducts =
        vec![json!({"name": "release.json", "digest": {"sha256": release_digest}})];
    for l in &m.locks {
        byproducts.push(json!({"name": l.path, "digest": {"sha256": l.sha256}}));
    }
    byproducts.extend(reports);
    let mut external = json!({
        "release": {"name": m.name, "version": m.version},
        "recipe": {"path": m.recipe.path, "digest": {"sha256": m.recipe.sha256}},
        "sources": sources,
        "gate": {"required": gate_required},
        "vulnerabilities": vulns,
    });
    if let Some(s) = stable {
        external["stable"] = s;
    }
    Ok(json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": SLSA_PROVENANCE_V1,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": internal_parameters(m),
                "resolvedDependencies": resolved,
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"relsign": env!("CARGO_PKG_VERSION")}},
                "metadata": {"finishedOn": crate::time::format(signed_on)},
                "byproducts": byproducts,
            }
        }
    }))
}

/// `internalParameters`: the epoch, the gzip implementation and, for releases that record
/// them, each package's build environment (backend and locked requirements by sha256).
fn internal_parameters(m: &ReleaseManifest) -> Value {
    let mut v = json!({
        "SOURCE_DATE_EPOCH": m.source_date_epoch.to_string(),
        "gzip": crate::archive::GZIP_IMPL,
    });
    if !m.builds.is_empty() {
        v["builds"] = json!(m
            .builds
            .iter()
            .map(|b| json!({
                "package": b.package,
                "backend": b.backend,
                "group": b.group,
                "requirements": b.requirements.iter().map(|r| json!({
                    "name": r.name, "version": r.version, "file": r.file,
                    "digest": {"sha256": r.sha256},
                })).collect::<Vec<_>>(),
            }))
            .collect::<Vec<_>>());
    }
    v
}

/// PEP 740's publish attestation: one distribution file by name and sha256, no predicate.
pub const PEP740_PUBLISH_V1: &str = "https://docs.pypi.org/attestations/publish/v1";

/// The per-artifact statement relsign signs for each file artifact (PEP 740's publish
/// attestation shape): its signature covers the file's SHA-256 through the statement, so a
/// verifier hashes each file once, with SHA-256.
pub fn publish_statement(file: &str, sha256: &Sha256Hex) -> Value {
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": file, "digest": {"sha256": sha256}}],
        "predicateType": PEP740_PUBLISH_V1,
        "predicate": null,
    })
}

/// Parse a verified publish statement: the one subject's name and sha256.
pub fn parse_publish(payload: &[u8]) -> Result<Subject, String> {
    let v: Value = crate::json::value(payload, crate::json::limit::STATEMENT)
        .map_err(|e| format!("not JSON: {e}"))?;
    if v.get("_type").and_then(Value::as_str) != Some(STATEMENT_TYPE) {
        return Err(format!("_type: expected={STATEMENT_TYPE}"));
    }
    if v.get("predicateType").and_then(Value::as_str) != Some(PEP740_PUBLISH_V1) {
        return Err(format!("predicateType: expected={PEP740_PUBLISH_V1}"));
    }
    let subjects = v
        .get("subject")
        .and_then(Value::as_array)
        .ok_or("subject: missing or not a list")?;
    let [s] = subjects.as_slice() else {
        return Err(format!(
            "subject: expected exactly 1 subject, got {}",
            subjects.len()
        ));
    };
    let name = s
        .get("name")
        .and_then(Value::as_str)
        .ok_or("subject[0].name: missing")?;
    let d = s
        .pointer("/digest/sha256")
        .and_then(Value::as_str)
        .ok_or("subject[0].digest.sha256: missing")?;
    Ok(Subject {
        name: name.to_string(),
        sha256: Sha256Hex::parse(d).map_err(|e| format!("subject[0].digest.sha256: {e}"))?,
    })
}

/// One subject of a checked statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub name: String,
    pub sha256: Sha256Hex,
}

/// A source claim from the provenance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceClaim {
    pub package: String,
    pub kind: String,
    pub location: String,
    pub digest: String,
}

/// The provenance, parsed into the fields a verifier decides on.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub subjects: Vec<Subject>,
    pub name: String,
    pub version: String,
    pub signed_on: i64,
    pub sources: Vec<SourceClaim>,
    pub recipe_sha256: Sha256Hex,
    /// Byproduct name → sha256 (release.json and the locks).
    pub byproducts: BTreeMap<String, Sha256Hex>,
    /// `externalParameters.gate.required`: whether the release must carry a passing signed
    /// test result. `None` in provenance made before relsign recorded it.
    pub gate_required: Option<bool>,
    /// `externalParameters.vulnerabilities.required` (false when absent: made before relsign
    /// had the vulnerability gate).
    pub vulns_required: bool,
    /// `externalParameters.vulnerabilities.databases`: (file name, sha256) of each database
    /// the release was scanned against.
    pub vuln_databases: Vec<(String, Sha256Hex)>,
}

/// Parse a verified payload into a [`Provenance`]. Errors say which field is wrong.
pub fn parse_provenance(payload: &[u8]) -> Result<Provenance, String> {
    let v: Value = crate::json::value(payload, crate::json::limit::STATEMENT)
        .map_err(|e| format!("not JSON: {e}"))?;
    let s = |p: &str| -> Result<String, String> {
        v.pointer(p)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("{p}: missing or not a string"))
    };
    let t = s("/_type")?;
    if t != STATEMENT_TYPE {
        return Err(format!("_type: expected={STATEMENT_TYPE}, got={t}"));
    }
    let pt = s("/predicateType")?;
    if pt != SLSA_PROVENANCE_V1 {
        return Err(format!(
            "predicateType: expected={SLSA_PROVENANCE_V1}, got={pt}"
        ));
    }
    let bt = s("/predicate/buildDefinition/buildType")?;
    if bt != BUILD_TYPE {
        return Err(format!("buildType: expected={BUILD_TYPE}, got={bt}"));
    }
    let mut subjects = Vec::new();
    let mut names = BTreeSet::new();
    for (i, sub) in v
        .get("subject")
        .and_then(Value::as_array)
        .ok_or("subject: missing or not a list")?
        .iter()
        .enumerate()
    {
        let name = sub
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("subject[{i}].name: missing"))?;
        let d = sub
            .pointer("/digest/sha256")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("subject[{i}].digest.sha256: missing"))?;
        let sha256 = Sha256Hex::parse(d).map_err(|e| format!("subject[{i}].digest.sha256: {e}"))?;
        if !names.insert(name.to_string()) {
            return Err(format!("subject[{i}].name: {name:?} appears twice"));
        }
        subjects.push(Subject {
            name: name.to_string(),
            sha256,
        });
    }
    let ext = "/predicate/buildDefinition/externalParameters";
    let name = s(&format!("{ext}/release/name"))?;
    let version = s(&format!("{ext}/release/version"))?;
    let recipe_sha256 = Sha256Hex::parse(&s(&format!("{ext}/recipe/digest/sha256"))?)
        .map_err(|e| format!("externalParameters.recipe.digest.sha256: {e}"))?;
    let mut sources = Vec::new();
    if let Some(list) = v
        .pointer(&format!("{ext}/sources"))
        .and_then(Value::as_array)
    {
        for src in list {
            let f = |k: &str| src.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let digest = src
                .get("digest")
                .and_then(Value::as_object)
                .and_then(|d| d.values().next())
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            sources.push(SourceClaim {
                package: f("package"),
                kind: f("kind"),
                location: f("location"),
                digest,
            });
        }
    }
    let gate_required = match v.pointer(&format!("{ext}/gate")) {
        None => None,
        Some(g) => Some(
            g.get("required")
                .and_then(Value::as_bool)
                .ok_or("externalParameters.gate.required: missing or not a boolean")?,
        ),
    };
    let (vulns_required, vuln_databases) = parse_vulns(&v, ext)?;
    let finished = s("/predicate/runDetails/metadata/finishedOn")?;
    let signed_on = crate::time::parse(&finished)
        .map_err(|e| format!("runDetails.metadata.finishedOn: {e}"))?;
    let mut byproducts = BTreeMap::new();
    if let Some(list) = v
        .pointer("/predicate/runDetails/byproducts")
        .and_then(Value::as_array)
    {
        for (i, b) in list.iter().enumerate() {
            let (Some(n), Some(d)) = (
                b.get("name").and_then(Value::as_str),
                b.pointer("/digest/sha256").and_then(Value::as_str),
            ) else {
                return Err(format!(
                    "runDetails.byproducts[{i}]: needs name and digest.sha256"
                ));
            };
            let d = Sha256Hex::parse(d).map_err(|e| format!("runDetails.byproducts[{i}]: {e}"))?;
            byproducts.insert(n.to_string(), d);
        }
    }
    Ok(Provenance {
        subjects,
        name,
        version,
        signed_on,
        sources,
        recipe_sha256,
        byproducts,
        gate_required,
        vulns_required,
        vuln_databases,
    })
}

/// `externalParameters.vulnerabilities`: whether the gate is required, and the databases.
fn parse_vulns(v: &Value, ext: &str) -> Result<(bool, Vec<(String, Sha256Hex)>), String> {
    let Some(x) = v.pointer(&format!("{ext}/vulnerabilities")) else {
        return Ok((false, Vec::new()));
    };
    let required = x
        .get("required")
        .and_then(Value::as_bool)
        .ok_or("externalParameters.vulnerabilities.required: missing or not a boolean")?;
    let mut dbs = Vec::new();
    for (i, d) in x
        .get("databases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("externalParameters.vulnerabilities.databases[{i}]");
        let name = d
            .get("name")
            .and_then(Value::as_str)
            .ok_or(format!("{at}.name: missing"))?;
        let sha = d
            .pointer("/digest/sha256")
            .and_then(Value::as_str)
            .ok_or(format!("{at}.digest.sha256: missing"))?;
        let sha = Sha256Hex::parse(sha).map_err(|e| format!("{at}.digest.sha256: {e}"))?;
        dbs.push((name.to_string(), sha));
    }
    Ok((required, dbs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reldir::recipe_copy_with_digest;

    #[test]
    fn a_recipe_copy_is_read_only_with_the_recorded_digest() {
        let t = tempfile::tempdir().unwrap();
        let text = "[release]\nname = \"demo\"\nstable = \"lts\"\n";
        std::fs::create_dir(t.path().join("recipe")).unwrap();
        std::fs::write(t.path().join("recipe/demo.toml"), text).unwrap();
        let good = Sha256Hex::of(text.as_bytes());
        let read = |p: &str, d: &Sha256Hex| {
            recipe_copy_with_digest(t.path(), p, d, "the provenance").map_err(|e| e.to_string())
        };
        let tb = read("recipe/demo.toml", &good).unwrap();
        assert_eq!(tb["release"]["stable"].as_str(), Some("lts"));
        let other = Sha256Hex::of(b"another recipe");
        assert_eq!(
            read("recipe/demo.toml", &other).unwrap_err(),
            format!(
                "{}: sha256 expected={other} (the provenance), got={good}",
                t.path().join("recipe/demo.toml").display()
            )
        );
        assert_eq!(
            read("../demo.toml", &good).unwrap_err(),
            format!(
                "{}: recipe.path \"../demo.toml\" is not a relative path",
                t.path().join("release.json").display()
            )
        );
        // Over 1 MiB: refused before it is read, naming the file.
        std::fs::write(t.path().join("recipe/big.toml"), vec![b'#'; (1 << 20) + 1]).unwrap();
        let e = read("recipe/big.toml", &good).unwrap_err();
        assert!(
            e.starts_with(&t.path().join("recipe/big.toml").display().to_string())
                && e.contains("over the limit of 1048576"),
            "{e}"
        );
    }
    #[test]
    fn purls() {
        assert_eq!(
            deb_purl("libc6", "2.41-12+deb13u1", "amd64"),
            "pkg:deb/debian/libc6@2.41-12%2Bdeb13u1?arch=amd64"
        );
        assert_eq!(
            deb_purl("x", "1:2.0", "all"),
            "pkg:deb/debian/x@1%3A2.0?arch=all"
        );
        assert_eq!(pypi_purl("Foo_Bar", "1.0"), "pkg:pypi/foo-bar@1.0");
    }
}
