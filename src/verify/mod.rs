//! `relsign verify`: parse → checked types → crypto → policy.
//!
//! 1. **Parse** ([`parse`]): find the release directory from the target, read `release.json`,
//!    the DSSE envelope, the Sigstore bundles, the policy chain (each policy version's
//!    signatures are checked against the previous version's root keys before its payload is
//!    parsed) and the named statements' envelopes, each with its size limit, into typed values.
//! 2. **Crypto**: the provenance envelope's signatures over the PAE by the policy's release keys
//!    (before the payload is parsed into a typed statement); each DSSE bundle; each artifact's
//!    SHA-256 against its subject, with the message-signature bundles verified over the same
//!    bytes in one read.
//! 3. **Policy**: key validity windows judged at the statement's self-asserted signing time,
//!    revocations, thresholds, the claims against the expectations, the named statements
//!    (their signatures checked before their payloads are read as typed statements), and the
//!    last-seen state.
//!
//! Each check is a small function returning a [`Check`] (its name, passed or refused, the
//! message, the files it bound); [`verify`] runs them in order and stops at the first refusal.
//! Every refusal is a [`VerifyError::Refused`] naming the check; any other problem (an
//! unreadable file, a usage error) is another variant.

mod artifacts;
mod bundles;
mod check;
mod files;
mod keyless;
mod last_seen;
mod layout;
mod parse;
mod provenance;
mod state;
mod statements;
mod tlog;

pub use files::PUBLISH_WORK_DIR;
pub use state::{compare_versions, LastSeen, LogSeen, PolicySeen, STATE_TYPE};

use crate::digest::Sha256Hex;
use crate::keys::PublicKey;
use crate::report::Reporter;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use check::{
    default_state_path, ArtifactReport, CheckReport, VerifyError, VerifyOptions, VerifyReport,
    FUTURE_SKEW_SECS,
};
use check::{ok, refused, Check};

/// The checks run so far: the report's lines and notes, and every file a check bound.
struct Run {
    checks: Vec<CheckReport>,
    notes: Vec<String>,
    covered: BTreeSet<PathBuf>,
}

impl Run {
    /// Take a check's outcome: a refusal ends verification; a pass adds its line and files.
    fn record(&mut self, c: Check) -> Result<(), VerifyError> {
        if !c.passed {
            return Err(refused(c.name, c.message));
        }
        self.covered.extend(c.bound);
        if c.listed {
            self.checks.push(ok(c.name, c.message));
        }
        Ok(())
    }
}

/// Parse, crypto, policy. `r` receives progress. On success the state file (if any) is
/// updated.
pub fn verify(
    target: &Path,
    o: &VerifyOptions,
    r: &dyn Reporter,
) -> Result<VerifyReport, VerifyError> {
    // ---- Phase 1: parse into checked types -------------------------------------------
    let mut inp = parse::Inputs::read(target, o, r)?;
    let mut named = std::mem::take(&mut inp.statements);
    let pol = &inp.trusted.policy;
    let keys: Vec<&PublicKey> = pol.release_keys.iter().map(|k| &k.key).collect();
    let mut run = Run {
        checks: Vec::new(),
        notes: Vec::new(),
        covered: inp.read_files(),
    };
    run.record(inp.policy_chain(o))?;

    // ---- Phase 2: crypto ------------------------------------------------------------
    // Keyless bundles (when the policy names identities): all verified before any payload
    // is parsed; the provenance's counts as a signature over the same payload.
    let kl = keyless::verify_all(&inp, named.keys())?;
    let kl_prov = kl.as_ref().and_then(|k| k.provenance_signer());
    let (check, verified, prov) = provenance::signature(&inp, &keys, kl_prov, &mut run.notes)?;
    run.record(check)?;
    run.record(provenance::release_json_digest(&inp, &prov))?;
    run.record(provenance::names_the_release(&inp, &prov))?;
    let subjects: BTreeMap<&str, &Sha256Hex> = prov
        .subjects
        .iter()
        .map(|s| (s.name.as_str(), &s.sha256))
        .collect();
    // DSSE bundles: the same statement, one valid signature by the hinted key; message
    // bundles sorted by the artifact they sign.
    let classified = bundles::classify(&inp, &keys, &subjects, &mut run.notes)?;
    let in_scope = artifacts::in_scope(&inp, &subjects)?;
    let hashed = artifacts::check(
        &inp,
        &in_scope,
        &subjects,
        &classified,
        &keys,
        r,
        &mut run.notes,
    )?;
    run.record(hashed.digest)?;
    run.record(hashed.bundle)?;
    let artifacts = hashed.reports;

    // ---- Phase 3: policy ------------------------------------------------------------
    run.record(provenance::signing_time(&prov, o.now))?;
    let rule = provenance::KeyRule::new(&inp.trusted, prov.signed_on);
    if let Some(k) = &kl {
        run.record(keyless::bind_artifacts(&inp, k, &subjects)?)?;
    }
    let (check, signers, logged) = provenance::threshold(&inp, &prov, &verified, &rule, kl_prov)?;
    run.record(check)?;
    run.record(provenance::artifact_threshold(
        pol,
        &artifacts,
        &rule,
        kl.as_ref(),
    ))?;
    run.record(provenance::release_revoked(&inp.trusted, &prov))?;
    run.record(provenance::expectation(o, &prov))?;
    let signed = statements::Signed {
        keys: &keys,
        rule: &rule,
        threshold: pol.doc.thresholds.provenance,
        keyless: kl.as_ref(),
    };
    for c in statements::checks(&inp, &mut named, &in_scope, &prov, &signed)? {
        run.record(c)?;
    }
    match files::input_check(&inp.loc.dir, &inp.manifest)? {
        Some(c) => run.record(c)?,
        None => run.notes.push(format!(
            "{}: no inputs/ beside release.json; the recipe, locks and sources were not checked",
            inp.loc.dir.display()
        )),
    }
    if inp.loc.only.is_none() {
        let c = files::unsigned_check(&inp.loc.dir, &run.covered, o.strict, &mut run.notes)?;
        run.record(c)?;
    }
    // Last-seen state: no rollback of the policy, no older release; the log's consistency.
    for c in last_seen::checks(o, &inp.trusted, &prov, logged.as_ref(), &mut run.notes)? {
        run.record(c)?;
    }
    Ok(VerifyReport {
        ok: true,
        target: target.to_path_buf(),
        release: prov.name,
        version: prov.version,
        signed_on: crate::time::format(prov.signed_on),
        policy_version: inp.trusted.version,
        policy_test_only: pol.doc.test_only,
        provenance_signers: signers,
        provenance_threshold: pol.doc.thresholds.provenance,
        artifacts,
        checks: run.checks,
        notes: run.notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn versions_order() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_versions("0.1.0", "0.2.0"), Less);
        assert_eq!(compare_versions("1.10.3", "1.9"), Greater);
        assert_eq!(compare_versions("1.0rc1", "1.0"), Less);
        assert_eq!(compare_versions("1.0", "1.0"), Equal);
    }
}
