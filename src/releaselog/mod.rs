//! A release's signatures in the log: the entry each signature makes, appending the entries of
//! a signed release directory, and the proof files it then carries
//! (`attestations/provenance.<fp>.tlog-proof`, one per signature).

pub mod monitor;

use crate::attest::statement::Provenance;
use crate::digest::Sha256Hex;
use crate::dsse::Envelope;
use crate::fsutil;
use crate::keys::{PublicKey, SecretKey};
use crate::tlog::entry::Entry;
use crate::tlog::tiles::Source;
use crate::tlog::{writer, TlogError};
use std::path::{Path, PathBuf};

/// `provenance.<fingerprint>.tlog-proof`: the proof of the signature by that key.
pub fn proof_name(fingerprint: &str) -> String {
    format!("provenance.{fingerprint}.tlog-proof")
}

/// The entry a signature by `keyid` over the provenance `payload` makes.
pub fn entry_for(payload: &[u8], prov: &Provenance, keyid: &str) -> Entry {
    Entry {
        name: prov.name.clone(),
        version: prov.version.clone(),
        provenance: Sha256Hex::of(payload),
        keyid: keyid.to_string(),
        signed_on: prov.signed_on,
    }
}

/// What logging one signature did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Logged {
    pub keyid: String,
    pub index: u64,
    /// False when the entry was already in the log (a re-run after an interruption).
    pub appended: bool,
    pub proof: PathBuf,
    pub checkpoint_size: u64,
}

fn usage(what: &Path, e: impl std::fmt::Display) -> TlogError {
    TlogError::Usage(format!("{}: {e}", what.display()))
}

/// Log the provenance signatures of `signers` in the release directory `release` to the log
/// in `log_dir` (signed with `log_key`), and write each signature's proof beside it. An entry
/// already in the log is not appended again: its proof is written against the current
/// checkpoint, so a run interrupted after the append and before the proof can be repeated.
pub fn log_release(
    release: &Path,
    log_dir: &Path,
    log_key: &SecretKey,
    signers: &[PublicKey],
) -> Result<Vec<Logged>, TlogError> {
    let env_path = crate::attest::provenance_path(release);
    let env = Envelope::from_json(&fsutil::read(&env_path)?).map_err(|e| usage(&env_path, e))?;
    let prov = crate::attest::statement::parse_provenance(&env.payload)
        .map_err(|e| usage(&env_path, e))?;
    let mut wanted = Vec::new();
    for k in signers {
        let v = env.verify(&[k]);
        if v.keys.is_empty() {
            return Err(usage(
                &env_path,
                format!(
                    "no valid signature by key {}: sign the release with it first",
                    k.key_id()
                ),
            ));
        }
        let e = entry_for(&env.payload, &prov, k.key_id());
        let bytes = e
            .encode()
            .map_err(|e| usage(&env_path, format!("the log entry: {e}")))?;
        let rekor = crate::tlog::rekor::dsse_body(&env, k).expect("verified above");
        wanted.push((k, bytes, rekor));
    }
    let src = Source::Dir(log_dir.to_path_buf());
    let (_, cp) = writer::read_checkpoint(&src, log_key.public())?;
    let mut found = Vec::new();
    let mut new = Vec::new();
    // Each signature is two adjacent leaves: relsign's entry, then the Rekor-style body the
    // provenance bundle carries (see [`crate::tlog::rekor`]).
    for (_, bytes, rekor) in &wanted {
        let at = writer::find(&src, cp.checkpoint.size, bytes)?;
        let at_rekor = writer::find(&src, cp.checkpoint.size, rekor)?;
        for (b, a) in [(bytes, at), (rekor, at_rekor)] {
            if a.is_none() && !new.contains(b) {
                new.push(b.clone());
            }
        }
        found.push((at, at_rekor));
    }
    let (cp, first) = if new.is_empty() {
        (cp, 0)
    } else {
        let a = writer::append(log_dir, log_key, &new)?;
        (a.checkpoint, a.first)
    };
    let mut out = Vec::new();
    let index_of = |at: Option<u64>, bytes: &Vec<u8>| match at {
        Some(i) => i,
        None => first + new.iter().position(|b| b == bytes).expect("appended") as u64,
    };
    let att = release.join(crate::attest::ATTESTATIONS_DIR);
    for ((k, bytes, rekor), (at, at_rekor)) in wanted.iter().zip(found) {
        let index = index_of(at, bytes);
        let proof = writer::prove(&src, index, &cp)?;
        let path = att.join(proof_name(&k.fingerprint()));
        fsutil::write_atomic(&path, proof.encode().as_bytes())?;
        // The provenance bundle of this key carries the Rekor-style leaf with its proof.
        let rproof = writer::prove(&src, index_of(at_rekor, rekor), &cp)?;
        let bpath = att.join(crate::attest::provenance_bundle_name(&k.fingerprint()));
        if bpath.exists() {
            let mut b: serde_json::Value =
                serde_json::from_slice(&fsutil::read(&bpath)?).map_err(|e| usage(&bpath, e))?;
            b["verificationMaterial"]["tlogEntries"] =
                serde_json::json!([crate::tlog::rekor::tlog_entry(
                    rekor,
                    &rproof,
                    &cp.checkpoint,
                    log_key.public()
                )]);
            let mut out = serde_json::to_vec_pretty(&b).expect("json");
            out.push(b'\n');
            fsutil::write_atomic(&bpath, &out)?;
        }
        out.push(Logged {
            keyid: k.key_id().to_string(),
            index,
            appended: at.is_none(),
            proof: path,
            checkpoint_size: cp.checkpoint.size,
        });
    }
    Ok(out)
}

/// Log an advisory (or find it already logged): the index of its entry.
pub fn log_advisory(
    log_dir: &Path,
    log_key: &SecretKey,
    a: &crate::policy::Advisory,
) -> Result<u64, TlogError> {
    let date = crate::time::parse(&a.date).map_err(TlogError::Usage)?;
    let entry = crate::tlog::entry::AdvisoryEntry {
        id: a.id.clone(),
        subject: a.subject(),
        date,
        advisory: a.digest(),
    }
    .encode()
    .map_err(|e| TlogError::Usage(format!("advisory {}: {e}", a.id)))?;
    let src = Source::Dir(log_dir.to_path_buf());
    let (_, cp) = writer::read_checkpoint(&src, log_key.public())?;
    if let Some(i) = writer::find(&src, cp.checkpoint.size, &entry)? {
        return Ok(i);
    }
    Ok(writer::append(log_dir, log_key, &[entry])?.first)
}
