//! The named statements (`attestations/<name>.dsse.json`): the SBOMs, the test result and the
//! vulnerability attestation, each signed by release keys meeting the provenance threshold
//! before its payload is read as a typed in-toto statement; and the stable-branch report the
//! provenance names.

use super::check::{refused, Check, VerifyError};
use super::parse::{read_statement, read_untrusted, PreRead};
use super::provenance::{known_key_failures, KeyRule};
use crate::attest::statement::Provenance;
use crate::digest::Sha256Hex;
use crate::dsse::INTOTO_PAYLOAD_TYPE;
use crate::fsutil;
use crate::intoto::{shown, Statement, TestResultPredicate, VulnsPredicate, VulnsVerdict};
use crate::keys::PublicKey;
use crate::model::{Artifact, ReleaseManifest};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The release keys, the rule for which of them count at the signing time, and the threshold:
/// what a named statement's signatures are judged against.
pub(super) struct Signed<'a> {
    pub keys: &'a [&'a PublicKey],
    pub rule: &'a KeyRule<'a>,
    pub threshold: u32,
    /// The release's keyless bundles, when the policy names identities.
    pub keyless: Option<&'a super::keyless::KeylessSigs>,
}

/// The named statements' envelopes read in phase 1, taken by the check that judges each.
pub(super) struct Named<'a> {
    pub dir: &'a Path,
    pub read: &'a mut BTreeMap<String, PreRead>,
}

impl Named<'_> {
    fn take(&mut self, name: &str, check: &'static str) -> PreRead {
        match self.read.remove(name) {
            Some(pre) => pre,
            None => read_statement(self.dir, name, check),
        }
    }
    fn present(&self, name: &str) -> bool {
        match self.read.get(name) {
            Some(pre) => pre.is_some(),
            None => crate::release::statement_path(self.dir, name).is_file(),
        }
    }
}

/// A verified named statement: its typed form, and the envelope file (bound).
struct Verified {
    st: Statement<Value>,
    path: PathBuf,
    /// The envelope and its keyless bundle, relative to the release directory (bound).
    rel: Vec<PathBuf>,
}

/// Verify a named statement envelope: the PAE signatures by release keys that count at the
/// signing time must meet the threshold; only then is the payload parsed (strictly: no
/// duplicate keys, size and depth limits) into a typed statement.
fn signed_statement(
    named: &mut Named,
    name: &str,
    check: &'static str,
    s: &Signed,
) -> Result<Verified, VerifyError> {
    let path = crate::release::statement_path(named.dir, name);
    let env = match named.take(name, check) {
        None => return Err(refused(check, format!("{}: missing", path.display()))),
        Some(env) => env?,
    };
    if env.payload_type != INTOTO_PAYLOAD_TYPE {
        return Err(refused(
            check,
            format!(
                "{}: payloadType expected={INTOTO_PAYLOAD_TYPE}, got={}",
                path.display(),
                env.payload_type
            ),
        ));
    }
    let v = env.verify(s.keys);
    let bad = known_key_failures(&v);
    if !bad.is_empty() {
        return Err(refused(
            check,
            format!("{}: {}", path.display(), bad.join("; ")),
        ));
    }
    let mut good = v
        .keys
        .iter()
        .filter(|k| s.rule.counts(k.key_id()).is_ok())
        .count() as u32;
    let mut keyless_bundle = None;
    if let Some(k) = s.keyless {
        if let Some(rel) = k.statement_signer(name, &env.payload, check, named.dir)? {
            good += 1;
            keyless_bundle = Some(rel);
        }
    }
    let threshold = s.threshold.max(1);
    if good < threshold {
        return Err(refused(
            check,
            format!(
                "{}: {good} valid signature(s) by release keys or keyless identities, threshold {threshold}",
                path.display()
            ),
        ));
    }
    let st: Statement<Value> = crate::json::from_slice(&env.payload, crate::json::limit::STATEMENT)
        .map_err(|e| refused(check, format!("{}: payload: {e}", path.display())))?;
    let rel = path
        .strip_prefix(named.dir)
        .ok()
        .map(Path::to_path_buf)
        .into_iter()
        .chain(keyless_bundle)
        .collect();
    Ok(Verified { st, path, rel })
}

/// The SBOM attestations (CycloneDX and SPDX, for every artifact in scope) and, when the
/// signed provenance says the release has a gate, the test-result attestation: present,
/// signed, and about these artifacts; the vulnerability attestation likewise; the stable
/// branch report.
pub(super) fn checks(
    inp: &super::parse::Inputs,
    read: &mut BTreeMap<String, PreRead>,
    in_scope: &[&Artifact],
    prov: &Provenance,
    s: &Signed,
) -> Result<Vec<Check>, VerifyError> {
    let dir = inp.loc.dir.as_path();
    let manifest = &inp.manifest;
    let mut named = Named { dir, read };
    let mut out = vec![sbom_check(&mut named, in_scope, s)?];
    let required = match prov.gate_required {
        Some(r) => r,
        None => legacy_gate_required(dir, manifest, prov)?,
    };
    if required || named.present("test-result") {
        out.push(test_result_check(&mut named, manifest, s)?);
    }
    if prov.vulns_required || named.present(crate::vulns::STATEMENT_NAME) {
        out.push(vulns_check(&mut named, manifest, prov, s)?);
    }
    if let Some(c) = stable_check(dir, prov)? {
        out.push(c);
    }
    Ok(out)
}

/// Refuse unless the statement names every artifact of the release with its digest.
fn names_every_artifact(
    st: &Statement<Value>,
    manifest: &ReleaseManifest,
    path: &Path,
    check: &'static str,
) -> Result<(), VerifyError> {
    let subjects: BTreeMap<&str, &str> = st
        .subjects()
        .iter()
        .map(|s| (s.name().unwrap_or(""), s.sha256().unwrap_or("")))
        .collect();
    for a in &manifest.artifacts {
        if subjects.get(a.file.as_str()).copied() != Some(a.sha256.as_str()) {
            return Err(refused(
                check,
                format!(
                    "{}: does not name {} sha256:{}",
                    path.display(),
                    a.file,
                    a.sha256
                ),
            ));
        }
    }
    Ok(())
}

/// A file of the release that a signed statement names by digest: refused when it differs,
/// bound when it matches; `false` when this copy of the release does not carry it.
fn bound_file(
    dir: &Path,
    name: &str,
    want: &str,
    check: &'static str,
    signed_in: &Path,
    bound: &mut Vec<PathBuf>,
) -> Result<bool, VerifyError> {
    let Some(rel) = fsutil::relative_path(name) else {
        return Err(refused(
            check,
            format!(
                "{}: names {name:?}, not a relative path",
                signed_in.display()
            ),
        ));
    };
    let file = dir.join(&rel);
    if !file.is_file() {
        return Ok(false);
    }
    let (got, _) = fsutil::hash_regular(&file).map_err(|e| refused(check, e.to_string()))?;
    if got.as_str() != want {
        return Err(refused(
            check,
            format!(
                "{}: sha256 expected={want} ({}), got={got}",
                file.display(),
                signed_in.display()
            ),
        ));
    }
    bound.push(rel);
    Ok(true)
}

/// The vulnerability attestation: signed, about every artifact, a passing verdict with no
/// failing finding, scanned against the databases the provenance names; the report it names
/// by digest, where the release carries it, is the signed one.
fn vulns_check(
    named: &mut Named,
    manifest: &ReleaseManifest,
    prov: &Provenance,
    s: &Signed,
) -> Result<Check, VerifyError> {
    const CHECK: &str = "vulnerabilities";
    let v = signed_statement(named, crate::vulns::STATEMENT_NAME, CHECK, s)?;
    let path = &v.path;
    let fail = |reason: String| refused(CHECK, format!("{}: {reason}", path.display()));
    if v.st.predicate_type != crate::vulns::VULNS_V01 {
        return Err(fail(format!(
            "predicateType {}",
            shown(Some(&v.st.predicate_type))
        )));
    }
    names_every_artifact(&v.st, manifest, path, CHECK)?;
    let p: VulnsPredicate = v.st.predicate_as().map_err(fail)?;
    let x = &p.relsign;
    if x.result != "PASSED" {
        return Err(fail(format!("the gate's result is {}", x.result)));
    }
    let results = p
        .scanner
        .result
        .as_ref()
        .ok_or_else(|| fail("predicate.scanner.result: missing or not a list".into()))?;
    let verdicts: Vec<&str> = results.iter().map(|f| f.verdict()).collect();
    if let Some(i) = verdicts
        .iter()
        .position(|v| *v != "allowed" && *v != "reported")
    {
        return Err(fail(format!(
            "finding {} has verdict {:?}",
            results[i].id, verdicts[i]
        )));
    }
    let dbs = vuln_databases(x, prov).map_err(fail)?;
    let report = x.report.name().unwrap_or("");
    let want = x.report.sha256().unwrap_or("");
    if report != crate::vulns::REPORT_FILE || want.is_empty() {
        return Err(fail(format!("relsign.report names {report:?}")));
    }
    let mut bound = v.rel.to_vec();
    let present = bound_file(named.dir, report, want, CHECK, path, &mut bound)?;
    let allowed = verdicts.iter().filter(|v| **v == "allowed").count();
    Ok(Check::ok(
        CHECK,
        format!(
            "the vulnerability gate passed, signed, about every artifact: {} finding(s) ({allowed} allowed, {} reported, none failing) against {} (as the provenance names them); {}",
            verdicts.len(),
            verdicts.len() - allowed,
            dbs.join(", "),
            if present {
                format!("{report} matches")
            } else {
                format!("{report} is not in this copy of the release (not checked)")
            }
        ),
    )
    .binding(bound))
}

/// The databases the attestation was scanned against must be the ones the provenance names;
/// returns them as `name sha256:…`.
fn vuln_databases(x: &VulnsVerdict, prov: &Provenance) -> Result<Vec<String>, String> {
    let dbs: Vec<(String, String)> = x
        .databases
        .iter()
        .map(|d| {
            (
                d.name().unwrap_or("").to_string(),
                d.sha256().unwrap_or("").to_string(),
            )
        })
        .collect();
    let named: Vec<(String, String)> = prov
        .vuln_databases
        .iter()
        .map(|(n, d)| (n.clone(), d.to_string()))
        .collect();
    if dbs.is_empty() || dbs != named {
        return Err(format!(
            "databases {dbs:?} are not the ones the provenance names ({named:?})"
        ));
    }
    Ok(dbs.iter().map(|(n, d)| format!("{n} sha256:{d}")).collect())
}

/// The stable-branch report as a verifier reads it.
#[derive(Debug, Default, serde::Deserialize)]
struct StableReport {
    offences: Option<Vec<Value>>,
    #[serde(default)]
    branch: Value,
    #[serde(default)]
    baseline: Value,
}

/// The stable-branch report the provenance names as a byproduct: where the release carries
/// it, it is the signed one.
fn stable_check(dir: &Path, prov: &Provenance) -> Result<Option<Check>, VerifyError> {
    const CHECK: &str = "stable branch";
    let file = crate::stable::REPORT_FILE;
    let Some(want) = prov.byproducts.get(file) else {
        return Ok(None);
    };
    let path = dir.join(file);
    if !path.is_file() {
        return Ok(Some(Check::ok(
            CHECK,
            format!("{file} is not in this copy of the release (not checked)"),
        )));
    }
    // Read once: the bytes hashed are the bytes judged.
    let bytes = read_untrusted(&path, crate::json::limit::SBOM, CHECK)?;
    let got = Sha256Hex::of(&bytes);
    if got != *want {
        return Err(refused(
            CHECK,
            format!(
                "{}: sha256 expected={want} (provenance byproduct), got={got}",
                path.display()
            ),
        ));
    }
    let v: StableReport = crate::json::from_slice(&bytes, crate::json::limit::SBOM)
        .map_err(|e| refused(CHECK, format!("{file}: {e}")))?;
    if v.offences.is_none_or(|o| !o.is_empty()) {
        return Err(refused(CHECK, format!("{file}: the policy found offences")));
    }
    let base = v.baseline["version"]
        .as_str()
        .unwrap_or("none (the branch's first release)");
    Ok(Some(
        Check::ok(
            CHECK,
            format!(
                "{file} matches the provenance: branch {}, baseline {base}, no added dependency or disallowed pin change",
                v.branch
            ),
        )
        .binding([PathBuf::from(file)]),
    ))
}

/// A provenance made before relsign recorded `gate.required`: the answer comes from the
/// recipe copy, whose digest the signed provenance names. Without that copy nothing signed
/// says whether a gate was required, and the release is refused.
fn legacy_gate_required(
    dir: &Path,
    m: &ReleaseManifest,
    prov: &Provenance,
) -> Result<bool, VerifyError> {
    let recipe = crate::reldir::recipe_copy_with_digest(
        dir,
        &m.recipe.path,
        &prov.recipe_sha256,
        "the provenance",
    )
    .map_err(|e| {
        refused(
            "test result",
            format!(
                "the provenance does not record whether the release has a gate (made by an \
                 older relsign), and the recipe copy with the signed digest {} is not there \
                 to tell: {e}",
                prov.recipe_sha256
            ),
        )
    })?;
    Ok(recipe.contains_key("test"))
}

/// The SBOM attestations, CycloneDX and SPDX, of every artifact in scope.
fn sbom_check(named: &mut Named, in_scope: &[&Artifact], s: &Signed) -> Result<Check, VerifyError> {
    let mut bound = Vec::new();
    let mut sbom_files = 0usize;
    for a in in_scope {
        for (kind, predicate) in [
            ("cdx", crate::sbom::CYCLONEDX_PREDICATE),
            ("spdx", crate::sbom::SPDX_PREDICATE),
        ] {
            if sbom_statement(named, a, kind, predicate, s, &mut bound)? {
                sbom_files += 1;
            }
        }
    }
    Ok(Check::ok(
        "sbom",
        format!(
            "CycloneDX and SPDX attestations signed for {} artifact(s); {sbom_files} file(s) under sbom/ equal them",
            in_scope.len()
        ),
    )
    .binding(bound))
}

/// One SBOM attestation: a `predicate` statement about exactly this artifact; the readable
/// copy under sbom/, where present, must be the document that was signed (`true`: it is).
fn sbom_statement(
    named: &mut Named,
    a: &Artifact,
    kind: &str,
    predicate: &str,
    s: &Signed,
    bound: &mut Vec<PathBuf>,
) -> Result<bool, VerifyError> {
    let name = format!("sbom-{}.{kind}", a.file);
    let v = signed_statement(named, &name, "sbom", s)?;
    bound.extend(v.rel.iter().cloned());
    let st = &v.st;
    let subject = st.subjects().first();
    let (sname, ssha) = (
        subject.and_then(|s| s.name()),
        subject.and_then(|s| s.sha256()),
    );
    if st.predicate_type != predicate
        || st.subject.as_ref().map(Vec::len) != Some(1)
        || sname != Some(a.file.as_str())
        || ssha != Some(a.sha256.as_str())
    {
        return Err(refused("sbom", format!("{name}: expected a {predicate} statement about {} sha256:{}, got {} about {} sha256:{}", a.file, a.sha256, shown(Some(&st.predicate_type)), shown(sname), shown(ssha))));
    }
    let (cdx, spdx) = crate::sbom::sbom_paths(named.dir, a);
    let file = if kind == "cdx" { cdx } else { spdx };
    if file.is_file() {
        let bytes = read_untrusted(&file, crate::json::limit::SBOM, "sbom")?;
        let doc = crate::json::value(&bytes, crate::json::limit::SBOM)
            .map_err(|e| refused("sbom", format!("{}: {e}", file.display())))?;
        if doc != st.predicate {
            return Err(refused(
                "sbom",
                format!(
                    "{}: differs from the SBOM signed in {}",
                    file.display(),
                    v.path.display()
                ),
            ));
        }
        if let Ok(rel) = file.strip_prefix(named.dir) {
            bound.push(rel.to_path_buf());
        }
        return Ok(true);
    }
    Ok(false)
}

/// The test-result attestation: signed, passed, about every artifact; the records it names
/// (JUnit files, the summary), where the release carries them, are the signed ones.
fn test_result_check(
    named: &mut Named,
    manifest: &ReleaseManifest,
    s: &Signed,
) -> Result<Check, VerifyError> {
    const CHECK: &str = "test result";
    let v = signed_statement(named, "test-result", CHECK, s)?;
    let path = &v.path;
    if v.st.predicate_type != crate::gate::TEST_RESULT_V01 {
        return Err(refused(
            CHECK,
            format!(
                "{}: predicateType {}",
                path.display(),
                shown(Some(&v.st.predicate_type))
            ),
        ));
    }
    let p: TestResultPredicate =
        v.st.predicate_as()
            .map_err(|e| refused(CHECK, format!("{}: {e}", path.display())))?;
    if p.result != "PASSED" && p.result != "WARNED" {
        return Err(refused(
            CHECK,
            format!("{}: the gate's result is {:?}", path.display(), p.result),
        ));
    }
    names_every_artifact(&v.st, manifest, path, CHECK)?;
    let mut bound: Vec<PathBuf> = v.rel.to_vec();
    let (mut records, mut absent) = (0usize, 0usize);
    for c in &p.configuration {
        let (Some(name), Some(want)) = (c.name(), c.sha256()) else {
            continue;
        };
        if !matches!(
            c.media_type.as_deref(),
            Some("application/xml" | "application/json")
        ) {
            continue;
        }
        if bound_file(named.dir, name, want, CHECK, path, &mut bound)? {
            records += 1;
        } else {
            absent += 1;
        }
    }
    let passed = p.passed_tests.map_or(0, |t| t.len());
    Ok(Check::ok(
        CHECK,
        format!(
            "the gate passed ({passed} scenario run(s)), signed; {records} record(s) (JUnit, summary) match{}",
            if absent > 0 {
                format!(", {absent} not in this copy of the release (not checked)")
            } else {
                String::new()
            }
        ),
    )
    .binding(bound))
}
