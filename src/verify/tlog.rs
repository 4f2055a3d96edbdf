//! The transparency log: each provenance signature's inclusion proof against the policy's
//! log key, and the checkpoints met against the last seen one and the log's current one.

use super::check::{refused, Check, VerifyError, VerifyOptions};
use super::state::{LastSeen, LogSeen};
use crate::attest;
use crate::attest::statement::Provenance;
use crate::keys::PublicKey;
use crate::policy::CheckedPolicy;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a reason says when a signature is not in a required log.
pub(super) const NOT_LOGGED: &str = "is not in the transparency log";

/// The verified proofs of a release's signatures.
pub(super) struct LogProofs {
    key: crate::tlog::note::NoteKey,
    seen: Vec<crate::tlog::check::Seen>,
    /// Key id → the index of its signature's entry.
    pub indexes: BTreeMap<String, u64>,
    /// One line per logged signature: key, index, checkpoint size.
    lines: Vec<String>,
}

/// Check each provenance signature's proof (`attestations/provenance.<fp>.tlog-proof`)
/// against the policy's log: the entry is rebuilt from the verified payload and the key, the
/// checkpoint's signature by the log key and the inclusion are checked. A proof that is there
/// and does not verify refuses the release; with a required log, a signature without a proof
/// stops counting (its reason names the missing proof).
/// `signers` and `rejected` are the signatures that count and the reasons others do not;
/// the proofs read go into `bound`.
pub(super) fn transparency_proofs(
    dir: &Path,
    pol: &CheckedPolicy,
    payload: &[u8],
    prov: &Provenance,
    keys: &[&PublicKey],
    (signers, rejected): (&mut Vec<String>, &mut Vec<String>),
    bound: &mut Vec<PathBuf>,
) -> Result<Option<LogProofs>, VerifyError> {
    use crate::releaselog as release;
    use crate::tlog::check;
    let Some((key, required)) = &pol.log else {
        return Ok(None);
    };
    let mut seen = Vec::new();
    let mut lines = Vec::new();
    let mut indexes = BTreeMap::new();
    for k in keys {
        let name = release::proof_name(&k.fingerprint());
        let rel = Path::new(attest::ATTESTATIONS_DIR).join(&name);
        let path = dir.join(&rel);
        if std::fs::symlink_metadata(&path).is_err() {
            if *required && signers.iter().any(|s| s == k.key_id()) {
                signers.retain(|s| s != k.key_id());
                rejected.push(format!(
                    "the signature by key {} {NOT_LOGGED} {} (no {}): a release missing from \
                     the log is refused (the policy requires the log)",
                    k.key_id(),
                    key.name,
                    rel.display()
                ));
            }
            continue;
        }
        let entry = release::entry_for(payload, prov, k.key_id())
            .encode()
            .map_err(|e| refused(crate::tlog::CHECK_LOG, format!("the log entry: {e}")))?;
        let (index, v) = check::read_proof(&path, &entry, key).map_err(tlog_err)?;
        bound.push(rel.clone());
        indexes.insert(k.key_id().to_string(), index);
        lines.push(format!(
            "key {} at index {index} under the checkpoint of size {}{}",
            k.key_id(),
            v.checkpoint.size,
            match v.ignored_signatures {
                0 => String::new(),
                n => format!(" ({n} signature line(s) by other keys not checked)"),
            }
        ));
        seen.push(check::Seen {
            checkpoint: v.checkpoint,
            from: format!("in {}", rel.display()),
        });
    }
    Ok(Some(LogProofs {
        key: key.clone(),
        seen,
        indexes,
        lines,
    }))
}

pub(super) fn tlog_err(e: crate::tlog::TlogError) -> VerifyError {
    use crate::tlog::TlogError as T;
    match e {
        T::Refused { check, reason } => VerifyError::Refused { check, reason },
        T::Fs(e) => VerifyError::Fs(e),
        e => VerifyError::Usage(e.to_string()),
    }
}

/// The proofs' checkpoints against the last seen one (from `state`) and, with `o.log`, the
/// log's current checkpoint; records the newest consistent checkpoint in `state`.
pub(super) fn log_consistency(
    state: Option<&mut LastSeen>,
    state_path: Option<&Path>,
    l: &LogProofs,
    o: &VerifyOptions,
    notes: &mut Vec<String>,
) -> Result<Check, VerifyError> {
    let origin = l.key.name.clone();
    let last = match (&state, state_path) {
        (Some(st), Some(p)) => st
            .logs
            .get(&origin)
            .map(|s| s.seen(&origin, p))
            .transpose()?,
        _ => None,
    };
    let src = o
        .log
        .as_deref()
        .map(crate::tlog::tiles::Source::new)
        .transpose()
        .map_err(tlog_err)?;
    let j = crate::tlog::check::judge(last.as_ref(), &l.seen, src.as_ref(), &l.key)
        .map_err(tlog_err)?;
    notes.extend(j.notes);
    if let (Some(st), Some(rec)) = (state, &j.record) {
        st.logs.insert(origin.clone(), LogSeen::of(rec));
    }
    Ok(Check::ok(
        "transparency log",
        format!(
            "{} signature(s) in {origin}, proofs verified with the policy's log key: {}; {}",
            l.lines.len(),
            l.lines.join("; "),
            j.detail
        ),
    ))
}
