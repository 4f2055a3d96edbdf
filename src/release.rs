//! `relsign release`: build → gate → SBOM → sign, as one command that cannot skip the gate.
//!
//! When the gate fails, nothing is signed and the directory says so in `NOT-A-RELEASE.txt`;
//! `relsign sign` refuses such a directory, and `relsign verify` refuses it (no signatures).

pub mod plan;

use crate::attest::{AttestError, Signer, Signing, ATTESTATIONS_DIR};
use crate::dsse;
use crate::fsutil;
use crate::reldir::{is_marked, NOT_A_RELEASE};
use std::path::{Path, PathBuf};

/// Write the marker that says the directory is not a release, and why.
pub fn mark_not_a_release(dir: &Path, why: &str) -> Result<(), fsutil::FsError> {
    let text = format!(
        "THIS DIRECTORY IS NOT A RELEASE.\n\nThe release gate failed, so nothing here was signed and nothing may be published.\n\n{why}\n"
    );
    fsutil::write_atomic(&dir.join(NOT_A_RELEASE), text.as_bytes())
}

/// Where a named attestation's envelope lives: `attestations/<name>.dsse.json`.
pub fn statement_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(ATTESTATIONS_DIR).join(format!("{name}.dsse.json"))
}

/// Sign an in-toto statement as `attestations/<name>.dsse.json` with `signer` (co-signing when
/// an envelope with the same payload exists), writing the signer's bundle (see
/// [`crate::attest::Signer`]). A different statement under the same name replaces the old
/// envelope only when `replace` is set.
pub fn sign_statement(
    dir: &Path,
    name: &str,
    statement: &serde_json::Value,
    signer: &mut dyn Signer,
    replace: bool,
) -> Result<(PathBuf, PathBuf), AttestError> {
    let payload = crate::model::canonical_json(statement);
    let path = statement_path(dir, name);
    let mut env = match fsutil::read(&path) {
        Ok(bytes) => {
            let old = dsse::Envelope::from_json(&bytes).map_err(|e| AttestError::Format {
                file: path.clone(),
                reason: e.to_string(),
            })?;
            if old.payload == payload {
                old
            } else if replace {
                dsse::Envelope::new(dsse::INTOTO_PAYLOAD_TYPE, payload)
            } else {
                return Err(AttestError::Mismatch {
                    file: path,
                    reason: format!("the {name} statement changed"),
                });
            }
        }
        Err(_) => dsse::Envelope::new(dsse::INTOTO_PAYLOAD_TYPE, payload),
    };
    let bp = signer.sign(dir, Signing::Statement(name), &mut env)?;
    fsutil::write_atomic(&path, &env.to_json())?;
    Ok((path, bp))
}

/// Why a directory may not be signed, if it may not: it carries the not-a-release marker, its
/// recipe has a gate that did not pass (or did not run), or an artifact has no SBOM.
pub fn preflight(
    dir: &Path,
    m: &crate::model::ReleaseManifest,
) -> Result<Option<crate::gate::GateReport>, AttestError> {
    let refuse = |reason: String| AttestError::Format {
        file: dir.to_path_buf(),
        reason,
    };
    if is_marked(dir) {
        return Err(refuse(format!(
            "{NOT_A_RELEASE} is present: the release gate failed; refusing to sign"
        )));
    }
    let summary_path = dir.join("test-results/summary.json");
    let gate: Option<crate::gate::GateReport> = match fsutil::read(&summary_path) {
        Ok(bytes) => Some(
            serde_json::from_slice(&bytes).map_err(|e| AttestError::Format {
                file: summary_path.clone(),
                reason: e.to_string(),
            })?,
        ),
        Err(_) => None,
    };
    match (&gate, crate::attest::statement::recipe_has_gate(dir, m)?) {
        (Some(g), _) if !g.ok() => return Err(refuse("the release gate failed (test-results/summary.json); refusing to sign".into())),
        (None, true) => {
            return Err(refuse("the recipe has a [test] gate but test-results/summary.json is missing: run `relsign test` (or `relsign release`) first".into()))
        }
        _ => {}
    }
    vuln_preflight(dir, m)?;
    for a in &m.artifacts {
        let (cdx, spdx) = crate::sbom::sbom_paths(dir, a);
        if !cdx.is_file() || !spdx.is_file() {
            return Err(refuse(format!(
                "no SBOM for {} under sbom/: run `relsign sbom {}` first",
                a.file,
                dir.display()
            )));
        }
    }
    Ok(gate)
}

/// The vulnerability gate's part of [`preflight`]: a recipe with `[vulnerabilities]` needs a
/// passing `scan/vulnerabilities.json`, and a failing report anywhere refuses signing; so does
/// a failing `scan/stable.json`.
fn vuln_preflight(dir: &Path, m: &crate::model::ReleaseManifest) -> Result<(), AttestError> {
    let refuse = |reason: String| AttestError::Format {
        file: dir.join(crate::vulns::REPORT_FILE),
        reason,
    };
    let path = dir.join(crate::vulns::REPORT_FILE);
    if path.is_file() {
        let r = crate::vulns::Report::read(&path).map_err(|e| refuse(e.to_string()))?;
        if !r.passed() {
            return Err(refuse(format!(
                "the vulnerability gate failed; refusing to sign:\n{}",
                r.remediation()
            )));
        }
    } else if crate::attest::statement::recipe_has_vuln_gate(dir, m)? {
        return Err(refuse(
            "missing: the recipe has a [vulnerabilities] gate; run `relsign release`, which scans before signing".into(),
        ));
    }
    let sp = dir.join(crate::stable::REPORT_FILE);
    if sp.is_file() {
        let v: serde_json::Value = crate::json::read_file(&sp, crate::json::limit::SBOM)
            .map_err(|e| refuse(e.to_string()))?;
        if v["offences"].as_array().is_none_or(|o| !o.is_empty()) {
            return Err(AttestError::Format {
                file: sp,
                reason: "the stable-branch policy failed (offences); refusing to sign".into(),
            });
        }
    }
    Ok(())
}

/// The vulnerability attestation, when the release carries a (passing) scan report.
fn sign_vulns(
    dir: &Path,
    m: &crate::model::ReleaseManifest,
    signer: &mut dyn Signer,
) -> Result<Vec<PathBuf>, AttestError> {
    let path = dir.join(crate::vulns::REPORT_FILE);
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let report = crate::vulns::Report::read(&path).map_err(|e| AttestError::Format {
        file: path.clone(),
        reason: e.to_string(),
    })?;
    let (sha, _) = crate::digest::hash_file(&path).map_err(fsutil::err("read", &path))?;
    let st = crate::vulns::statement(m, &report, &sha);
    let (e, b) = sign_statement(dir, crate::vulns::STATEMENT_NAME, &st, signer, false)?;
    Ok(vec![e, b])
}

/// Sign everything a release directory carries with `signer` (a release key, or a keyless
/// session): the provenance and artifact statements, the test-result statement (when the gate
/// ran), the vulnerability statement and the SBOM attestations. Refuses what [`preflight`]
/// refuses.
pub fn sign_all(
    dir: &Path,
    signer: &mut dyn Signer,
    signed_on: i64,
    r: &dyn crate::report::Reporter,
) -> Result<(crate::attest::SignOutcome, Vec<PathBuf>), AttestError> {
    let m = crate::reldir::read_release(dir)?;
    let gate = preflight(dir, &m)?;
    let o = crate::attest::sign_release(dir, signer, signed_on, r)?;
    let mut written = Vec::new();
    if let Some(g) = &gate {
        let summary = dir.join(crate::gate::SUMMARY_FILE);
        let (summary_sha256, _) =
            crate::digest::hash_file(&summary).map_err(fsutil::err("read", &summary))?;
        let (e, b) = sign_statement(
            dir,
            "test-result",
            &crate::gate::test_result_statement(&m, g, &summary_sha256),
            signer,
            false,
        )?;
        written.extend([e, b]);
    }
    written.extend(sign_vulns(dir, &m, signer)?);
    for a in &m.artifacts {
        let (cdx, spdx) = crate::sbom::sbom_paths(dir, a);
        for (kind, path, predicate) in [
            ("cdx", cdx, crate::sbom::CYCLONEDX_PREDICATE),
            ("spdx", spdx, crate::sbom::SPDX_PREDICATE),
        ] {
            let doc: serde_json::Value =
                serde_json::from_slice(&fsutil::read(&path)?).map_err(|e| AttestError::Format {
                    file: path.clone(),
                    reason: e.to_string(),
                })?;
            let st = crate::sbom::statement(a, predicate, doc);
            let (e, b) =
                sign_statement(dir, &format!("sbom-{}.{kind}", a.file), &st, signer, false)?;
            written.extend([e, b]);
        }
    }
    Ok((o, written))
}
