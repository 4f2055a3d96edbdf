//! in-toto Statement v1 with the SLSA provenance v1 predicate, made from a release directory
//! (its `release.json` and the locks under `inputs/`), and the checked form a verifier reads.

use super::error::AttestError;
use crate::digest::Sha256Hex;
use crate::fsutil;
use crate::intoto::{
    BuildDefinition, BuildParam, BuildRequirementParam, Builder, Descriptor, ExternalParameters,
    GateParam, InternalParameters, RecipeParam, ReleaseParam, RunDetails, RunMetadata,
    SlsaPredicate, SourceParam, StableBaseline, StableParam, Statement, VulnsParam,
};
use crate::model::ReleaseManifest;
use crate::reldir::recipe_copy;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::model::STATEMENT_TYPE;
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
fn resolved_dependencies(dir: &Path, m: &ReleaseManifest) -> Result<Vec<Descriptor>, AttestError> {
    let mut deps: BTreeMap<(String, String, String), Descriptor> = BTreeMap::new();
    let mut add = |file: &str, uri: String, sha256: &Sha256Hex| {
        let d = Descriptor {
            uri: Some(uri.clone()),
            ..Descriptor::file(file, sha256)
        };
        deps.insert((uri, file.to_string(), sha256.to_string()), d);
    };
    for l in &m.locks {
        let path = dir.join(&l.path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bad = |e: String| AttestError::Lock {
            file: path.clone(),
            reason: e,
        };
        if name.ends_with(".debian.lock.toml") {
            let lock =
                crate::lock::debian::DebianLock::read(&path).map_err(|e| bad(e.to_string()))?;
            for p in &lock.packages {
                let file = p.file_name();
                add(
                    file,
                    deb_purl(&p.name, &p.version, &p.architecture),
                    &p.sha256,
                );
            }
        } else if name.starts_with("pylock") && name.ends_with(".toml") {
            let lock = crate::lock::python::PyLock::read(&path).map_err(|e| bad(e.to_string()))?;
            for p in &lock.packages {
                for f in p.files() {
                    add(&f.name, pypi_purl(&p.name, &p.version), &f.sha256);
                }
            }
        } else {
            return Err(bad(
                "not a known lock kind (expected pylock*.toml or *.debian.lock.toml)".into(),
            ));
        }
    }
    let mut out: Vec<Descriptor> = deps.into_values().collect();
    out.extend(m.sources.iter().map(source_descriptor));
    Ok(out)
}

/// A source's one digest: a git commit as `gitCommit`, anything else as `sha256`.
fn source_digest(s: &crate::model::SourceRecord) -> BTreeMap<String, String> {
    let algorithm = if s.kind == "git" {
        "gitCommit"
    } else {
        "sha256"
    };
    BTreeMap::from([(algorithm.to_string(), s.digest.clone())])
}

fn source_descriptor(s: &crate::model::SourceRecord) -> Descriptor {
    match s.kind.as_str() {
        "git" => Descriptor {
            name: Some(s.package.clone()),
            uri: Some(format!("git+{}@{}", s.location, s.digest)),
            digest: source_digest(s),
            ..Descriptor::default()
        },
        _ => Descriptor {
            name: Some(s.location.clone()),
            digest: source_digest(s),
            annotations: Some(json!({"kind": s.kind, "package": s.package})),
            ..Descriptor::default()
        },
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

/// What the policy reports a release directory carries (`scan/vulnerabilities.json`,
/// `scan/stable.json`) add to its provenance.
#[derive(Default)]
struct PolicyReports {
    vulns: VulnsParam,
    /// The vulnerability databases, among the resolved dependencies.
    databases: Vec<Descriptor>,
    /// The reports by digest, as byproducts.
    byproducts: Vec<Descriptor>,
    stable: Option<StableParam>,
}

/// The first fields of `scan/stable.json` the provenance records.
#[derive(serde::Deserialize)]
struct StableHead {
    branch: String,
    baseline: Option<StableHeadBaseline>,
}

#[derive(serde::Deserialize)]
struct StableHeadBaseline {
    version: String,
    release_sha256: Sha256Hex,
}

/// The policy reports: the provenance names them as byproducts, by digest, and records the
/// vulnerability databases among the resolved dependencies and the stable branch's baseline.
fn policy_reports(dir: &Path, required: bool) -> Result<PolicyReports, AttestError> {
    let mut out = PolicyReports {
        vulns: VulnsParam {
            required: Some(required),
            ..VulnsParam::default()
        },
        ..PolicyReports::default()
    };
    let format = |file: &Path, e: String| AttestError::Format {
        file: file.to_path_buf(),
        reason: e,
    };
    let vp = dir.join(crate::vulns::REPORT_FILE);
    if vp.is_file() {
        let r = crate::vulns::Report::read(&vp).map_err(|e| format(&vp, e.to_string()))?;
        let dbs = crate::vulns::database_descriptors(&r.databases);
        out.vulns.databases = Some(dbs.clone());
        out.vulns.result = Some(r.result);
        out.databases = dbs;
        let (d, _) = crate::digest::hash_file(&vp).map_err(fsutil::err("read", &vp))?;
        out.byproducts
            .push(Descriptor::file(crate::vulns::REPORT_FILE, &d));
    }
    let sp = dir.join(crate::stable::REPORT_FILE);
    if sp.is_file() {
        let bytes = crate::json::read_limited(&sp, crate::json::limit::SBOM)
            .map_err(|e| format(&sp, e.to_string()))?;
        let head: StableHead = crate::json::value(&bytes, crate::json::limit::SBOM)
            .map_err(|e| e.to_string())
            .and_then(|v| serde_json::from_value(v).map_err(|e| e.to_string()))
            .map_err(|e| format(&sp, e))?;
        out.stable = Some(StableParam {
            branch: head.branch,
            baseline: head.baseline.map(|b| StableBaseline {
                version: b.version,
                release_json: BTreeMap::from([("sha256".into(), b.release_sha256.to_string())]),
            }),
        });
        out.byproducts.push(Descriptor::file(
            crate::stable::REPORT_FILE,
            &Sha256Hex::of(&bytes),
        ));
    }
    Ok(out)
}

/// The SLSA v1 provenance statement for a release directory. `signed_on` (unix seconds) is the
/// self-asserted signing time, recorded as `runDetails.metadata.finishedOn`.
pub fn provenance(
    dir: &Path,
    m: &ReleaseManifest,
    signed_on: i64,
) -> Result<Statement<SlsaPredicate>, AttestError> {
    let gate_required = recipe_has_gate(dir, m)?;
    let reports = policy_reports(dir, recipe_has_vuln_gate(dir, m)?)?;
    let mut resolved = resolved_dependencies(dir, m)?;
    resolved.extend(reports.databases);
    let subject: Vec<Descriptor> = m
        .artifacts
        .iter()
        .map(|a| Descriptor::file(&a.file, &a.sha256))
        .collect();
    let sources: Vec<SourceParam> = m
        .sources
        .iter()
        .map(|s| SourceParam {
            package: s.package.clone(),
            kind: s.kind.clone(),
            location: s.location.clone(),
            digest: source_digest(s),
            source_date_epoch: Some(s.source_date_epoch),
        })
        .collect();
    let release_json = dir.join("release.json");
    let (release_digest, _) =
        crate::digest::hash_file(&release_json).map_err(fsutil::err("read", &release_json))?;
    let mut byproducts = vec![Descriptor::file("release.json", &release_digest)];
    byproducts.extend(m.locks.iter().map(|l| Descriptor::file(&l.path, &l.sha256)));
    byproducts.extend(reports.byproducts);
    let external = ExternalParameters {
        release: ReleaseParam {
            name: Some(m.name.clone()),
            version: Some(m.version.clone()),
        },
        recipe: RecipeParam {
            path: Some(m.recipe.path.clone()),
            digest: BTreeMap::from([("sha256".into(), m.recipe.sha256.to_string())]),
        },
        sources: Some(sources),
        gate: Some(GateParam {
            required: Some(gate_required),
        }),
        vulnerabilities: Some(reports.vulns),
        stable: reports.stable,
    };
    Ok(Statement {
        type_: STATEMENT_TYPE.into(),
        subject: Some(subject),
        predicate_type: SLSA_PROVENANCE_V1.into(),
        predicate: SlsaPredicate {
            build_definition: BuildDefinition {
                build_type: Some(BUILD_TYPE.into()),
                external_parameters: external,
                internal_parameters: internal_parameters(m),
                resolved_dependencies: resolved,
            },
            run_details: RunDetails {
                builder: Some(Builder {
                    id: BUILDER_ID.into(),
                    version: BTreeMap::from([("relsign".into(), env!("CARGO_PKG_VERSION").into())]),
                }),
                metadata: RunMetadata {
                    finished_on: Some(crate::time::format(signed_on)),
                },
                byproducts,
            },
        },
    })
}

/// `internalParameters`: the epoch, the gzip implementation and, for releases that record
/// them, each package's build environment (backend and locked requirements by sha256).
fn internal_parameters(m: &ReleaseManifest) -> InternalParameters {
    let builds = m.builds.iter().map(|b| BuildParam {
        package: b.package.clone(),
        backend: b.backend.clone(),
        group: b.group.clone(),
        requirements: b
            .requirements
            .iter()
            .map(|r| BuildRequirementParam {
                name: r.name.clone(),
                version: r.version.clone(),
                file: r.file.clone(),
                digest: BTreeMap::from([("sha256".into(), r.sha256.to_string())]),
            })
            .collect(),
    });
    InternalParameters {
        source_date_epoch: Some(m.source_date_epoch.to_string()),
        gzip: Some(crate::archive::GZIP_IMPL.into()),
        builds: (!m.builds.is_empty()).then(|| builds.collect()),
    }
}

/// PEP 740's publish attestation: one distribution file by name and sha256, no predicate.
pub const PEP740_PUBLISH_V1: &str = "https://docs.pypi.org/attestations/publish/v1";

/// The per-artifact statement relsign signs for each file artifact (PEP 740's publish
/// attestation shape): its signature covers the file's SHA-256 through the statement, so a
/// verifier hashes each file once, with SHA-256.
pub fn publish_statement(file: &str, sha256: &Sha256Hex) -> Statement<Value> {
    Statement {
        type_: STATEMENT_TYPE.into(),
        subject: Some(vec![Descriptor::file(file, sha256)]),
        predicate_type: PEP740_PUBLISH_V1.into(),
        predicate: Value::Null,
    }
}

/// Read a verified payload as a statement (size, depth, duplicate keys checked) and check its
/// `_type` and `predicateType`.
fn read_statement<P: serde::de::DeserializeOwned + Default>(
    payload: &[u8],
    predicate_type: &str,
    detailed: bool,
) -> Result<Statement<P>, String> {
    let st: Statement<P> = crate::json::value(payload, crate::json::limit::STATEMENT)
        .map_err(|e| format!("not JSON: {e}"))
        .and_then(|v| serde_json::from_value(v).map_err(|e| format!("not a statement: {e}")))?;
    for (field, got, want) in [
        ("_type", &st.type_, STATEMENT_TYPE),
        ("predicateType", &st.predicate_type, predicate_type),
    ] {
        if got != want {
            return Err(match (detailed, got.is_empty()) {
                (false, _) => format!("{field}: expected={want}"),
                (true, true) => format!("/{field}: missing or not a string"),
                (true, false) => format!("{field}: expected={want}, got={got}"),
            });
        }
    }
    Ok(st)
}

/// Parse a verified publish statement: the one subject's name and sha256.
pub fn parse_publish(payload: &[u8]) -> Result<Subject, String> {
    let st: Statement<Value> = read_statement(payload, PEP740_PUBLISH_V1, false)?;
    let subjects = st.subject.ok_or("subject: missing or not a list")?;
    let [s] = subjects.as_slice() else {
        return Err(format!(
            "subject: expected exactly 1 subject, got {}",
            subjects.len()
        ));
    };
    let name = s.name().ok_or("subject[0].name: missing")?;
    let d = s.sha256().ok_or("subject[0].digest.sha256: missing")?;
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
    let st: Statement<SlsaPredicate> = read_statement(payload, SLSA_PROVENANCE_V1, true)?;
    let def = &st.predicate.build_definition;
    let bt = def
        .build_type
        .as_deref()
        .ok_or("/predicate/buildDefinition/buildType: missing or not a string")?;
    if bt != BUILD_TYPE {
        return Err(format!("buildType: expected={BUILD_TYPE}, got={bt}"));
    }
    let subjects = provenance_subjects(&st)?;
    let ext = &def.external_parameters;
    let missing = |p: &str| {
        format!("/predicate/buildDefinition/externalParameters/{p}: missing or not a string")
    };
    let name = ext
        .release
        .name
        .clone()
        .ok_or_else(|| missing("release/name"))?;
    let version = ext
        .release
        .version
        .clone()
        .ok_or_else(|| missing("release/version"))?;
    let recipe = ext
        .recipe
        .digest
        .get("sha256")
        .ok_or_else(|| missing("recipe/digest/sha256"))?;
    let recipe_sha256 = Sha256Hex::parse(recipe)
        .map_err(|e| format!("externalParameters.recipe.digest.sha256: {e}"))?;
    let sources = ext
        .sources
        .iter()
        .flatten()
        .map(|src| SourceClaim {
            package: src.package.clone(),
            kind: src.kind.clone(),
            location: src.location.clone(),
            digest: src.digest.values().next().cloned().unwrap_or_default(),
        })
        .collect();
    let gate_required = match &ext.gate {
        None => None,
        Some(g) => Some(
            g.required
                .ok_or("externalParameters.gate.required: missing or not a boolean")?,
        ),
    };
    let (vulns_required, vuln_databases) = parse_vulns(ext.vulnerabilities.as_ref())?;
    let run = &st.predicate.run_details;
    let finished = run
        .metadata
        .finished_on
        .as_deref()
        .ok_or("/predicate/runDetails/metadata/finishedOn: missing or not a string")?;
    let signed_on =
        crate::time::parse(finished).map_err(|e| format!("runDetails.metadata.finishedOn: {e}"))?;
    let mut byproducts = BTreeMap::new();
    for (i, b) in run.byproducts.iter().enumerate() {
        let (Some(n), Some(d)) = (b.name(), b.sha256()) else {
            return Err(format!(
                "runDetails.byproducts[{i}]: needs name and digest.sha256"
            ));
        };
        let d = Sha256Hex::parse(d).map_err(|e| format!("runDetails.byproducts[{i}]: {e}"))?;
        byproducts.insert(n.to_string(), d);
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

/// The provenance's subjects: each with a name and a sha256, no name twice.
fn provenance_subjects(st: &Statement<SlsaPredicate>) -> Result<Vec<Subject>, String> {
    let mut subjects = Vec::new();
    let mut names = BTreeSet::new();
    let list = st
        .subject
        .as_ref()
        .ok_or("subject: missing or not a list")?;
    for (i, sub) in list.iter().enumerate() {
        let name = sub
            .name()
            .ok_or_else(|| format!("subject[{i}].name: missing"))?;
        let d = sub
            .sha256()
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
    Ok(subjects)
}

/// `externalParameters.vulnerabilities`: whether the gate is required, and the databases.
fn parse_vulns(x: Option<&VulnsParam>) -> Result<(bool, Vec<(String, Sha256Hex)>), String> {
    let Some(x) = x else {
        return Ok((false, Vec::new()));
    };
    let required = x
        .required
        .ok_or("externalParameters.vulnerabilities.required: missing or not a boolean")?;
    let mut dbs = Vec::new();
    for (i, d) in x.databases.iter().flatten().enumerate() {
        let at = format!("externalParameters.vulnerabilities.databases[{i}]");
        let name = d.name().ok_or(format!("{at}.name: missing"))?;
        let sha = d.sha256().ok_or(format!("{at}.digest.sha256: missing"))?;
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
