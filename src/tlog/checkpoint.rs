//! C2SP tlog-checkpoint: the signed tree head, a note whose text is the origin, the tree size
//! and the base64 root hash, one per line. relsign writes no extension lines and refuses a
//! checkpoint that has any (they would be bytes nobody checks).

use super::merkle::Hash;
use super::note::{self, NoteKey};
use super::{refused, TlogError, CHECK_LOG};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The note text.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            super::b64(&self.root)
        )
    }

    /// Parse a checkpoint's note text (already verified).
    pub fn parse_text(text: &str) -> Result<Checkpoint, String> {
        let body = text
            .strip_suffix('\n')
            .ok_or("the text does not end with a newline")?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(format!("{} lines, a checkpoint has 3", lines.len()));
        }
        if lines.len() > 3 {
            return Err(format!(
                "{} extension line(s): relsign's logs write none, and refuses bytes it cannot check",
                lines.len() - 3
            ));
        }
        if lines[0].is_empty() {
            return Err("line 1 (origin) is empty".into());
        }
        let size = super::parse_decimal(lines[1]).ok_or_else(|| {
            format!(
                "line 2 (tree size) {:?}: not a decimal without leading zeroes",
                lines[1]
            )
        })?;
        let root: Hash = super::b64_strict(lines[2])
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("line 3 (root hash) {:?}: not base64 of 32 bytes", lines[2]))?;
        Ok(Checkpoint {
            origin: lines[0].to_string(),
            size,
            root,
        })
    }

    pub fn sign(&self, key: &crate::keys::SecretKey) -> Result<String, String> {
        note::sign(&self.text(), &self.origin, key)
    }

    pub fn root_b64(&self) -> String {
        super::b64(&self.root)
    }
}

/// A checkpoint whose signature by the log key verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub checkpoint: Checkpoint,
    /// The signed note, verbatim.
    pub note: String,
    pub ignored_signatures: usize,
}

/// Verify a signed checkpoint `bytes` (from `what`) with the log's key; its origin must be the
/// key's name.
pub fn open(bytes: &[u8], key: &NoteKey, what: &str) -> Result<Verified, TlogError> {
    let o = note::open(bytes, key)
        .map_err(|e| refused(CHECK_LOG, format!("{what}: checkpoint: {e}")))?;
    let cp = Checkpoint::parse_text(&o.text)
        .map_err(|e| refused(CHECK_LOG, format!("{what}: checkpoint: {e}")))?;
    if cp.origin != key.name {
        return Err(refused(
            CHECK_LOG,
            format!(
                "{what}: checkpoint origin expected={}, got={}",
                key.name, cp.origin
            ),
        ));
    }
    Ok(Verified {
        checkpoint: cp,
        note: String::from_utf8(bytes.to_vec()).expect("checked UTF-8"),
        ignored_signatures: o.ignored_signatures,
    })
}
