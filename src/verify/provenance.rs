//! The provenance: its signatures (crypto), then the policy's judgement of them (key validity
//! at the signing time, revocations, thresholds), and its claims against release.json and the
//! expectations.

use super::check::{ArtifactReport, Check, VerifyError, VerifyOptions, FUTURE_SKEW_SECS};
use super::parse::Inputs;
use super::tlog::{self, NOT_LOGGED};
use crate::attest::statement::{parse_provenance, Provenance};
use crate::digest::Sha256Hex;
use crate::dsse::Verified;
use crate::keys::PublicKey;
use crate::policy::{CheckedPolicy, TrustedPolicy};
use crate::time;
use std::collections::BTreeSet;

/// The failures of an envelope's signatures by keys the caller trusts (a signature by an
/// unknown key is not one: it is ignored).
pub(super) fn known_key_failures<'v>(v: &'v Verified) -> Vec<&'v str> {
    v.failures
        .iter()
        .filter(|f| !f.contains("is not a trusted key"))
        .map(String::as_str)
        .collect()
}

/// The provenance envelope's signatures over the PAE by the policy's release keys: any that
/// does not verify refuses; at least one must, or a keyless bundle by an identity of the
/// policy must sign the same payload (`keyless`, verified before); only then is the payload
/// parsed. Returns the keys with a valid signature and the parsed provenance.
pub(super) fn signature<'k>(
    inp: &Inputs,
    keys: &[&'k PublicKey],
    keyless: Option<&crate::keyless::Identity>,
    notes: &mut Vec<String>,
) -> Result<(Check, Vec<&'k PublicKey>, Provenance), VerifyError> {
    const CHECK: &str = "provenance signature";
    let env_path = inp.env_path.display();
    let v = inp.env.verify(keys);
    let known: BTreeSet<&str> = keys.iter().map(|k| k.key_id()).collect();
    for (i, s) in inp.env.signatures.iter().enumerate() {
        if !s.keyid.is_empty() && !known.contains(s.keyid.as_str()) {
            notes.push(format!(
                "{env_path}: signatures[{i}] by key {} is not a release key of the policy; ignored",
                s.keyid
            ));
        }
    }
    let bad = known_key_failures(&v);
    if !bad.is_empty() {
        return Err(super::check::refused(
            CHECK,
            format!("{env_path}: {}", bad.join("; ")),
        ));
    }
    if v.keys.is_empty() && keyless.is_none() {
        return Err(super::check::refused(
            CHECK,
            format!(
                "{env_path}: no valid signature by a release key{} of the policy",
                if inp.trusted.policy.doc.keyless.is_some() {
                    " or a keyless identity"
                } else {
                    ""
                }
            ),
        ));
    }
    // Only now is the payload parsed.
    let prov = parse_provenance(&inp.env.payload)
        .map_err(|e| super::check::refused("format", format!("{env_path}: payload: {e}")))?;
    let check = Check::ok(
        CHECK,
        match keyless {
            Some(id) => format!(
                "{} valid signature(s) over the PAE by release keys, and a keyless one by {id}",
                v.keys.len()
            ),
            None => format!("{} valid signature(s) over the PAE", v.keys.len()),
        },
    );
    Ok((check, v.keys, prov))
}

/// release.json is bound by the provenance's byproducts.
pub(super) fn release_json_digest(inp: &Inputs, prov: &Provenance) -> Check {
    const CHECK: &str = "release.json digest";
    let got = Sha256Hex::of(&inp.rel_bytes);
    match prov.byproducts.get("release.json") {
        Some(d) if *d == got => Check::quiet(CHECK),
        Some(d) => Check::refused(
            CHECK,
            format!(
                "{}: sha256 expected={d} (provenance), got={got}",
                inp.rel_path.display()
            ),
        ),
        None => Check::refused(CHECK, "the provenance has no release.json byproduct"),
    }
}

/// release.json and the provenance name the same release.
pub(super) fn names_the_release(inp: &Inputs, prov: &Provenance) -> Check {
    let m = &inp.manifest;
    if m.name != prov.name || m.version != prov.version {
        return Check::refused(
            "format",
            format!(
                "release.json names {} {}, the provenance {} {}",
                m.name, m.version, prov.name, prov.version
            ),
        );
    }
    Check::quiet("format")
}

/// The self-asserted signing time may not be in the future (beyond the allowed skew).
pub(super) fn signing_time(prov: &Provenance, now: i64) -> Check {
    if prov.signed_on > now + FUTURE_SKEW_SECS {
        return Check::refused(
            "signing time",
            format!(
                "the statement claims to be signed at {}, in the future",
                time::format(prov.signed_on)
            ),
        );
    }
    Check::quiet("signing time")
}

/// Which release keys count for a statement signed at `at`: known, not revoked, within their
/// validity window, and not revoked by an advisory dated at or before `at`.
pub(super) struct KeyRule<'a> {
    pol: &'a CheckedPolicy,
    version: u64,
    pub at: i64,
}

impl<'a> KeyRule<'a> {
    pub fn new(trusted: &'a TrustedPolicy, at: i64) -> KeyRule<'a> {
        KeyRule {
            pol: &trusted.policy,
            version: trusted.version,
            at,
        }
    }

    /// `Ok` when a signature by `keyid` counts, else why not.
    pub fn counts(&self, keyid: &str) -> Result<(), String> {
        let (pol, at) = (self.pol, self.at);
        let k = pol.release_key(keyid).ok_or("not a release key")?;
        if pol.key_revoked(keyid) {
            return Err(format!(
                "key {keyid} is revoked by policy version {}",
                self.version
            ));
        }
        if at < k.not_before {
            return Err(format!(
                "key {keyid} is not valid before {} (signed at {})",
                time::format(k.not_before),
                time::format(at)
            ));
        }
        if at > k.not_after {
            return Err(format!(
                "key {keyid} expired at {} (signed at {})",
                time::format(k.not_after),
                time::format(at)
            ));
        }
        if let Some((a, _)) = pol
            .key_advisories(keyid)
            .into_iter()
            .find(|(_, d)| at >= *d)
        {
            return Err(format!(
                "key {keyid} is revoked by {} (signed at {})",
                a.describe(),
                time::format(at)
            ));
        }
        Ok(())
    }
}

/// The refusal when fewer signatures count than a threshold requires, named by why the others
/// did not count: a revoked key (`key revoked`), a signature missing from a required log, a key
/// outside its validity window (`key validity`), or none rejected (`fallback`: `threshold`,
/// `artifact threshold`). The reasons are appended to `reason`.
fn short_of_threshold(fallback: &'static str, rejected: &[String], reason: String) -> Check {
    let check = if rejected.iter().any(|e| e.contains("revoked")) {
        "key revoked"
    } else if rejected.iter().any(|e| e.contains(NOT_LOGGED)) {
        crate::tlog::CHECK_LOG
    } else if !rejected.is_empty() {
        "key validity"
    } else {
        fallback
    };
    let mut reason = reason;
    if !rejected.is_empty() {
        reason.push_str(&format!("; {}", rejected.join("; ")));
    }
    Check::refused(check, reason)
}

/// The provenance threshold: the verified signatures whose keys count at the signing time,
/// whose log proofs (when the policy names a log) verify, and which an advisory does not
/// revoke by log order. Returns the check (binding the proofs), the signers that count, and
/// the verified proofs.
pub(super) fn threshold(
    inp: &Inputs,
    prov: &Provenance,
    verified: &[&PublicKey],
    rule: &KeyRule,
    keyless: Option<&crate::keyless::Identity>,
) -> Result<(Check, Vec<String>, Option<tlog::LogProofs>), VerifyError> {
    let pol = &inp.trusted.policy;
    let mut signers = Vec::new();
    let mut rejected = Vec::new();
    for k in verified {
        match rule.counts(k.key_id()) {
            Ok(()) => signers.push(k.key_id().to_string()),
            Err(e) => rejected.push(e),
        }
    }
    let mut bound = Vec::new();
    let logged = tlog::transparency_proofs(
        &inp.loc.dir,
        pol,
        &inp.env.payload,
        prov,
        verified,
        (&mut signers, &mut rejected),
        &mut bound,
    )?;
    advisory_order(pol, logged.as_ref(), &mut signers, &mut rejected);
    // A keyless signer counts as one more: its entry is in the trusted root's Rekor.
    signers.extend(keyless.map(|id| format!("keyless {id}")));
    let threshold = pol.doc.thresholds.provenance;
    let check = if (signers.len() as u32) < threshold {
        short_of_threshold(
            "threshold",
            &rejected,
            format!(
                "provenance: {} signature(s) by valid release keys or keyless identities, threshold {threshold} (policy version {})",
                signers.len(),
                inp.trusted.version
            ),
        )
    } else {
        Check::ok(
            "threshold",
            format!(
                "provenance: {} of threshold {threshold} (keys valid at {}, none revoked)",
                signers.len(),
                time::format(rule.at)
            ),
        )
        .binding(bound)
    };
    Ok((check, signers, logged))
}

/// With `thresholds.artifact` ≥ 1: each file artifact signed (a publish statement, or a legacy
/// message signature) by enough release keys that count at the signing time.
pub(super) fn artifact_threshold(
    pol: &CheckedPolicy,
    artifacts: &[ArtifactReport],
    rule: &KeyRule,
    keyless: Option<&super::keyless::KeylessSigs>,
) -> Check {
    let art_threshold = pol.doc.thresholds.artifact;
    if art_threshold == 0 {
        return Check::quiet("artifact threshold");
    }
    for a in artifacts {
        if a.kind == crate::model::ArtifactKind::OciImage {
            continue;
        }
        // A keyless bundle for the file (bound to its subject digest by the keyless check).
        let mut good = u32::from(keyless.and_then(|k| k.artifact_signer(&a.file)).is_some());
        let mut why = Vec::new();
        for k in &a.bundle_signers {
            match rule.counts(k) {
                Ok(()) => good += 1,
                Err(e) => why.push(e),
            }
        }
        if good < art_threshold {
            return short_of_threshold(
                "artifact threshold",
                &why,
                format!(
                    "{}: {good} bundle(s) by valid release keys or keyless identities, threshold {art_threshold}",
                    a.file
                ),
            );
        }
    }
    Check::ok(
        "artifact threshold",
        format!("each file signed by ≥ {art_threshold} release key(s) or keyless identities"),
    )
}

/// A signature by a key an advisory revokes counts only when its proof shows it was logged
/// before the advisory (its signing time, self-asserted, was already judged against the
/// advisory's date): a stolen key can backdate a statement, not a log position.
fn advisory_order(
    pol: &CheckedPolicy,
    logged: Option<&tlog::LogProofs>,
    signers: &mut Vec<String>,
    rejected: &mut Vec<String>,
) {
    signers.retain(|keyid| {
        for (a, _) in pol.key_advisories(keyid) {
            let Some(at) = a.log_index else { continue };
            let index = logged.and_then(|l| l.indexes.get(keyid)).copied();
            if index.is_none_or(|i| i >= at) {
                rejected.push(format!(
                    "key {keyid} is revoked by {}, logged at index {at}; this signature is {} \
                     so nothing shows it was made before the advisory",
                    a.describe(),
                    match index {
                        Some(i) => format!("logged at index {i}, after it,"),
                        None => "not in the log,".to_string(),
                    }
                ));
                return false;
            }
        }
        true
    });
}

/// The release is not withdrawn by an advisory or revoked by the policy.
pub(super) fn release_revoked(trusted: &TrustedPolicy, prov: &Provenance) -> Check {
    const CHECK: &str = "release revoked";
    let pol = &trusted.policy;
    if let Some(a) = pol.release_advisory(&prov.name, &prov.version) {
        return Check::refused(
            CHECK,
            format!(
                "{} {} is withdrawn by {} (policy version {})",
                prov.name,
                prov.version,
                a.describe(),
                trusted.version
            ),
        );
    }
    if pol.release_revoked(&prov.name, &prov.version) {
        return Check::refused(
            CHECK,
            format!(
                "{} {} is revoked by policy version {}",
                prov.name, prov.version, trusted.version
            ),
        );
    }
    Check::quiet(CHECK)
}

/// `--expect-version` and each `--expect-source` (a source's location, digest, or
/// `location@digest`) against the signed claims.
pub(super) fn expectation(o: &VerifyOptions, prov: &Provenance) -> Check {
    const CHECK: &str = "expectation";
    if let Some(want) = &o.expect_version {
        if *want != prov.version {
            return Check::refused(
                CHECK,
                format!("version expected={want}, got={}", prov.version),
            );
        }
    }
    for want in &o.expect_source {
        let hit = prov.sources.iter().any(|s| {
            *want == s.location
                || *want == s.digest
                || *want == format!("{}@{}", s.location, s.digest)
        });
        if !hit {
            let have: Vec<String> = prov
                .sources
                .iter()
                .map(|s| format!("{}@{}", s.location, s.digest))
                .collect();
            return Check::refused(
                CHECK,
                format!("source expected={want}, got={}", have.join(", ")),
            );
        }
    }
    if !o.expect_source.is_empty() || o.expect_version.is_some() {
        Check::ok(CHECK, "the claims match the expectations")
    } else {
        Check::quiet(CHECK)
    }
}
