//! C2SP tlog-proof: an offline proof that an entry is in a log.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! index <N>
//! <base64 hash, the leaf's sibling first, one per line>
//!
//! <the signed checkpoint, verbatim>
//! ```
//!
//! relsign writes no `extra` line and refuses one (unauthenticated bytes it would not check).
//! Verification: the checkpoint's signature by the log key, the origin, then the inclusion of
//! the entry's leaf hash at the index under the checkpoint's root.

use super::checkpoint::{self, Verified};
use super::merkle::{self, Hash};
use super::note::NoteKey;
use super::{refused, TlogError, CHECK_LOG};

pub const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// The largest proof file accepted.
pub const MAX_PROOF: usize = 128 << 10;
/// The most inclusion hashes accepted (a tree of 2^64 leaves needs 64).
pub const MAX_HASHES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub index: u64,
    pub hashes: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

impl Proof {
    pub fn encode(&self) -> String {
        let mut s = format!("{HEADER}\nindex {}\n", self.index);
        for h in &self.hashes {
            s.push_str(&super::b64(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint);
        s
    }

    pub fn parse(bytes: &[u8]) -> Result<Proof, String> {
        if bytes.len() > MAX_PROOF {
            return Err(format!(
                "{} bytes, over the limit of {MAX_PROOF}",
                bytes.len()
            ));
        }
        let s = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
        let (head, checkpoint) = s
            .split_once("\n\n")
            .ok_or("no blank line before the checkpoint")?;
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(format!("the first line is not {HEADER}"));
        }
        let second = lines.next().unwrap_or_default();
        if second.starts_with("extra ") {
            return Err(
                "an `extra` line: relsign's proofs carry none, and it is not authenticated".into(),
            );
        }
        let index = second
            .strip_prefix("index ")
            .and_then(super::parse_decimal)
            .ok_or_else(|| format!("line 2 {second:?}: expected `index N`"))?;
        let mut hashes = Vec::new();
        for (i, l) in lines.enumerate() {
            if hashes.len() == MAX_HASHES {
                return Err(format!("more than {MAX_HASHES} inclusion hashes"));
            }
            let h: Hash = super::b64_strict(l)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("line {}: not base64 of a 32-byte hash", i + 3))?;
            hashes.push(h);
        }
        Ok(Proof {
            index,
            hashes,
            checkpoint: checkpoint.to_string(),
        })
    }
}

/// Verify the proof text `bytes` (from `what`) for `entry` with the log key: the checkpoint
/// it carries, once its signature, origin and the entry's inclusion are checked.
pub fn verify(
    bytes: &[u8],
    entry: &[u8],
    key: &NoteKey,
    what: &str,
) -> Result<(Proof, Verified), TlogError> {
    let p = Proof::parse(bytes).map_err(|e| refused(CHECK_LOG, format!("{what}: {e}")))?;
    let cp = checkpoint::open(p.checkpoint.as_bytes(), key, what)?;
    let c = &cp.checkpoint;
    if p.index >= c.size {
        return Err(refused(
            CHECK_LOG,
            format!(
                "{what}: index {} is not in the checkpoint's tree of {} entries",
                p.index, c.size
            ),
        ));
    }
    if !merkle::verify_inclusion(
        p.index,
        c.size,
        &merkle::leaf_hash(entry),
        &p.hashes,
        &c.root,
    ) {
        return Err(refused(
            CHECK_LOG,
            format!(
                "{what}: the inclusion proof does not lead from the entry at index {} to the root \
                 of {} size {} (the entry, a hash or the checkpoint was changed)",
                p.index, c.origin, c.size
            ),
        ));
    }
    Ok((p, cp))
}
