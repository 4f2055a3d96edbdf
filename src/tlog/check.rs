//! What `relsign verify` checks of the log: each signature's proof (the checkpoint signed by
//! the policy's log key, the entry rebuilt from the verified provenance included under its
//! root), and that every checkpoint it meets is consistent with the last one seen and, given
//! the log itself, with the log's current checkpoint (consistency proofs built from the log's
//! tiles and verified against both signed roots). A fork (two checkpoints that no
//! consistency proof joins, such as two of the same size with different roots) and a rollback
//! (a log older than a checkpoint already seen) are refusals that say what diverged.

use super::checkpoint::{Checkpoint, Verified};
use super::merkle;
use super::note::NoteKey;
use super::tiles::{Source, TileNodes};
use super::{refused, writer, TlogError, CHECK_FORK, CHECK_LOG, CHECK_ROLLBACK};
use std::path::Path;

/// A checkpoint and where it came from, for messages.
#[derive(Debug, Clone)]
pub struct Seen {
    pub checkpoint: Checkpoint,
    pub from: String,
}

fn show(s: &Seen) -> String {
    format!(
        "the checkpoint of size {} with root {} ({})",
        s.checkpoint.size,
        s.checkpoint.root_b64(),
        s.from
    )
}

/// Read and verify a proof file for `entry`: the entry's index and the checkpoint.
pub fn read_proof(path: &Path, entry: &[u8], key: &NoteKey) -> Result<(u64, Verified), TlogError> {
    let bytes =
        crate::json::read_limited(path, super::proof::MAX_PROOF as u64).map_err(|e| match e {
            crate::json::ReadError::Fs(e) if e.source.kind() != std::io::ErrorKind::InvalidData => {
                TlogError::Fs(e)
            }
            e => refused(CHECK_LOG, e.to_string()),
        })?;
    let (p, v) = super::proof::verify(&bytes, entry, key, &path.display().to_string())?;
    Ok((p.index, v))
}

/// Two checkpoints of the same size must have the same root.
fn same_size(a: &Seen, b: &Seen) -> Result<(), TlogError> {
    if a.checkpoint.size == b.checkpoint.size && a.checkpoint.root != b.checkpoint.root {
        return Err(refused(
            CHECK_FORK,
            format!(
                "{} and {}: two checkpoints of the same size with different roots, both signed \
                 by the log key: the log was forked (it shows different histories to different readers)",
                show(a),
                show(b)
            ),
        ));
    }
    Ok(())
}

/// `old` must be contained in the log's current checkpoint `cur`: not larger, and joined to it
/// by a consistency proof built from the log's tiles.
fn contained(old: &Seen, cur: &Seen, src: &Source) -> Result<(), TlogError> {
    let (m, n) = (old.checkpoint.size, cur.checkpoint.size);
    if m > n {
        return Err(refused(
            CHECK_ROLLBACK,
            format!(
                "{} is larger than {}: the log was rolled back (or this copy of it is stale)",
                show(old),
                show(cur)
            ),
        ));
    }
    same_size(old, cur)?;
    let mut nodes = TileNodes::new(src, n);
    let proof = merkle::consistency_proof(&mut nodes, m, n)?;
    if !merkle::verify_consistency(m, n, &proof, &old.checkpoint.root, &cur.checkpoint.root) {
        return Err(refused(
            CHECK_FORK,
            format!(
                "{} is not contained in {}: the consistency proof built from {} does not join \
                 them: the log was forked or rewritten (or its tiles were changed)",
                show(old),
                show(cur),
                src.describe("tile/")
            ),
        ));
    }
    Ok(())
}

/// The outcome: the checkpoint to record as the last seen, what was checked, and notes.
#[derive(Debug, Clone)]
pub struct Judged {
    pub record: Option<Checkpoint>,
    pub detail: String,
    pub notes: Vec<String>,
}

/// Judge the proofs' checkpoints against the last seen one and, when `log` is given, against
/// the log's current checkpoint (verified with `key`, its tiles hashing to its root).
pub fn judge(
    last: Option<&Seen>,
    proofs: &[Seen],
    log: Option<&Source>,
    key: &NoteKey,
) -> Result<Judged, TlogError> {
    let mut all: Vec<&Seen> = proofs.iter().collect();
    all.extend(last);
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            same_size(a, b)?;
        }
    }
    let mut notes = Vec::new();
    if let Some(src) = log {
        let (_, cur) = writer::read_checkpoint(src, &key.key)?;
        if cur.checkpoint.origin != key.name {
            return Err(refused(
                CHECK_LOG,
                format!(
                    "{}: origin expected={}, got={}",
                    src.describe(super::tiles::CHECKPOINT),
                    key.name,
                    cur.checkpoint.origin
                ),
            ));
        }
        writer::check_tiles(src, &cur.checkpoint)?;
        let cur = Seen {
            checkpoint: cur.checkpoint,
            from: src.describe(super::tiles::CHECKPOINT),
        };
        for s in &all {
            contained(s, &cur, src)?;
        }
        let detail = format!(
            "consistent with the log's checkpoint of size {} ({}){}",
            cur.checkpoint.size,
            cur.from,
            last.map(|l| format!(" and with the last seen, size {}", l.checkpoint.size))
                .unwrap_or_default()
        );
        return Ok(Judged {
            record: Some(cur.checkpoint),
            detail,
            notes,
        });
    }
    let newest = proofs.iter().max_by_key(|s| s.checkpoint.size);
    let (record, detail) = match (last, newest) {
        (None, n) => (
            n.map(|s| s.checkpoint.clone()),
            "no earlier checkpoint to compare with (none recorded yet, or no state)".to_string(),
        ),
        (Some(l), Some(n)) if n.checkpoint.size > l.checkpoint.size => {
            notes.push(format!(
                "the proof's checkpoint (size {}) is newer than the last seen (size {}); their \
                 consistency was not checked: pass --log DIR|URL to check it and record the newer one",
                n.checkpoint.size, l.checkpoint.size
            ));
            (
                Some(l.checkpoint.clone()),
                format!("no fork against the last seen (size {})", l.checkpoint.size),
            )
        }
        (Some(l), _) => (
            Some(l.checkpoint.clone()),
            format!(
                "no fork against the last seen (size {}); consistency needs the log (--log)",
                l.checkpoint.size
            ),
        ),
    };
    Ok(Judged {
        record,
        detail,
        notes,
    })
}
