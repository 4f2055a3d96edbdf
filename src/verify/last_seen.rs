//! The last-seen checks: a policy or release older than the ones accepted before is
//! refused, and the log stays consistent with what was seen.

use super::check::{refused, Check, VerifyError, VerifyOptions};
use super::state::*;
use super::tlog;
use crate::attest::statement::Provenance;
use crate::policy::TrustedPolicy;
use std::path::Path;

/// With a state file: the last-seen checks (and the log's consistency with the state);
/// without one, the log's consistency alone when the release was logged.
pub(super) fn checks(
    o: &VerifyOptions,
    trusted: &TrustedPolicy,
    prov: &Provenance,
    logged: Option<&tlog::LogProofs>,
    notes: &mut Vec<String>,
) -> Result<Vec<Check>, VerifyError> {
    match (&o.state_file, logged) {
        (Some(state_path), _) => last_seen_check(state_path, o, trusted, prov, logged, notes),
        (None, Some(l)) => Ok(vec![tlog::log_consistency(None, None, l, o, notes)?]),
        (None, None) => Ok(Vec::new()),
    }
}

/// The last-seen state: refuse a policy older than (or rooted elsewhere than) the one accepted
/// before, and a release older than the newest accepted; then record this one.
fn last_seen_check(
    state_path: &Path,
    o: &VerifyOptions,
    trusted: &TrustedPolicy,
    prov: &Provenance,
    logged: Option<&tlog::LogProofs>,
    notes: &mut Vec<String>,
) -> Result<Vec<Check>, VerifyError> {
    let mut state = LastSeen::read(state_path)?;
    let mut out = Vec::new();
    if let Some(l) = logged {
        out.push(tlog::log_consistency(
            Some(&mut state),
            Some(state_path),
            l,
            o,
            notes,
        )?);
    }
    let key = std::fs::canonicalize(&o.policy_dir)
        .unwrap_or_else(|_| o.policy_dir.clone())
        .to_string_lossy()
        .into_owned();
    if let Some(seen) = state.policies.get(&key) {
        if seen.anchor_sha256 != trusted.anchor_sha256 {
            return Err(refused(
                "policy chain",
                format!(
                    "{}: version 1 (sha256 {} of its payload) is not the one accepted before \
                     (sha256 {}, {}); if the policy was really re-rooted, remove it from the state file",
                    o.policy_dir.display(),
                    trusted.anchor_sha256,
                    seen.anchor_sha256,
                    state_path.display()
                ),
            ));
        }
        if seen.version > trusted.version {
            return Err(refused(
                "policy rollback",
                format!(
                    "{}: policy version {} is older than version {} accepted before ({})",
                    o.policy_dir.display(),
                    trusted.version,
                    seen.version,
                    state_path.display()
                ),
            ));
        }
    }
    if let Some(last) = state.releases.get(&prov.name) {
        if compare_versions(&prov.version, last) == std::cmp::Ordering::Less {
            if !o.allow_downgrade {
                return Err(refused(
                    "downgrade",
                    format!(
                        "{} {} is older than {last}, accepted before ({}); pass --allow-downgrade to accept it",
                        prov.name,
                        prov.version,
                        state_path.display()
                    ),
                ));
            }
            notes.push(format!(
                "downgrade from {last} to {} allowed by --allow-downgrade",
                prov.version
            ));
        }
    }
    let newer = state
        .releases
        .get(&prov.name)
        .is_none_or(|last| compare_versions(&prov.version, last) == std::cmp::Ordering::Greater);
    if newer {
        state
            .releases
            .insert(prov.name.clone(), prov.version.clone());
    }
    let pv = state.policies.entry(key).or_insert(PolicySeen {
        version: 0,
        anchor_sha256: trusted.anchor_sha256.clone(),
    });
    pv.version = pv.version.max(trusted.version);
    state.write(state_path)?;
    out.push(Check::ok(
        "downgrade",
        format!("not older than the last seen ({})", state_path.display()),
    ));
    Ok(out)
}
