//! C2SP signed notes with Ed25519 signatures (signature type 0x01).
//!
//! A note is a UTF-8 text ending in a newline, a blank line, then signature lines
//! `— <key name> base64(key ID || signature)`. The key ID is the first four bytes of
//! SHA-256(key name || 0x0A || 0x01 || 32-byte public key). Reading is strict: at most
//! [`MAX_NOTE`] bytes and [`MAX_SIGNATURES`] signature lines, no control character but the
//! newline, a known key's signature that does not verify refuses the note, and so does a
//! known key that signs twice; signatures by unknown keys are ignored (and counted).

use crate::keys::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};

/// The largest note accepted, in bytes (a checkpoint with many cosignatures fits easily).
pub const MAX_NOTE: usize = 64 << 10;
/// The most signature lines accepted (the spec asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;
const DASH: &str = "\u{2014} ";
const ED25519: u8 = 0x01;

/// An Ed25519 note verifier: a key name and a public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteKey {
    pub name: String,
    pub key: PublicKey,
}

impl NoteKey {
    pub fn new(name: &str, key: PublicKey) -> Result<NoteKey, String> {
        check_name(name)?;
        Ok(NoteKey {
            name: name.to_string(),
            key,
        })
    }
    /// SHA-256(name || 0x0A || 0x01 || public key)[:4].
    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, &self.key)
    }
    /// The verifier key in the form Go's `note` package reads:
    /// `<name>+<key ID, 8 hex digits>+base64(0x01 || public key)`.
    pub fn vkey(&self) -> String {
        let mut k = vec![ED25519];
        k.extend_from_slice(&self.key.raw_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            crate::digest::hex(&self.key_id()),
            super::b64(&k)
        )
    }
}

fn key_id(name: &str, key: &PublicKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519]);
    h.update(key.raw_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(format!(
            "key name {name:?}: must be non-empty, without spaces or '+'"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("key name {name:?}: control characters"));
    }
    Ok(())
}

/// Check that `text` may be a note's text: UTF-8 without control characters but newlines,
/// non-empty, ending in a newline.
fn check_text(text: &str) -> Result<(), String> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err("the note text must end with a newline".into());
    }
    if let Some(c) = text.chars().find(|c| (*c as u32) < 0x20 && *c != '\n') {
        return Err(format!("control character U+{:04X} in the note", c as u32));
    }
    Ok(())
}

/// Sign `text` (which must end with a newline) as a note with one signature line.
pub fn sign(text: &str, name: &str, key: &SecretKey) -> Result<String, String> {
    check_text(text)?;
    check_name(name)?;
    let sig = key.sign(text.as_bytes());
    let mut blob = key_id(name, key.public()).to_vec();
    blob.extend_from_slice(&sig);
    Ok(format!("{text}\n{DASH}{name} {}\n", super::b64(&blob)))
}

/// A note whose signature by the trusted key verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The signed text, final newline included.
    pub text: String,
    /// Signature lines by other keys, ignored as the spec requires.
    pub ignored_signatures: usize,
}

/// Verify a signed note with `key`; the signed text, or why not.
pub fn open(note: &[u8], key: &NoteKey) -> Result<Opened, String> {
    if note.len() > MAX_NOTE {
        return Err(format!(
            "{} bytes, over the limit of {MAX_NOTE} for a note",
            note.len()
        ));
    }
    let s = std::str::from_utf8(note).map_err(|e| format!("not UTF-8: {e}"))?;
    check_text(s)?;
    let split = s[..s.len() - 1]
        .rfind("\n\n")
        .ok_or("no blank line before the signatures")?;
    let (text, sigs) = (&s[..split + 1], &s[split + 2..]);
    let lines: Vec<&str> = sigs
        .strip_suffix('\n')
        .unwrap_or(sigs)
        .split('\n')
        .collect();
    if lines.len() > MAX_SIGNATURES {
        return Err(format!(
            "{} signature lines, over the limit of {MAX_SIGNATURES}",
            lines.len()
        ));
    }
    let want_id = key.key_id();
    let (mut verified, mut ignored) = (0usize, 0usize);
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        let rest = line.strip_prefix(DASH).ok_or_else(|| {
            format!("signature line {n}: does not start with an em dash and a space")
        })?;
        let (name, b64) = rest.split_once(' ').ok_or_else(|| {
            format!("signature line {n}: no space between key name and signature")
        })?;
        check_name(name).map_err(|e| format!("signature line {n}: {e}"))?;
        let blob = super::b64_strict(b64)
            .ok_or_else(|| format!("signature line {n}: the signature is not standard base64"))?;
        if blob.len() < 5 {
            return Err(format!(
                "signature line {n}: {} bytes, too short",
                blob.len()
            ));
        }
        if name != key.name || blob[..4] != want_id {
            ignored += 1;
            continue;
        }
        if verified > 0 {
            return Err(format!(
                "signature line {n}: a second signature by {} (key ID {}): duplicates are refused",
                key.name,
                crate::digest::hex(&want_id)
            ));
        }
        if blob.len() != 68 || !key.key.verify(text.as_bytes(), &blob[4..]) {
            return Err(format!(
                "signature line {n}: the signature by {} does not verify",
                key.name
            ));
        }
        verified += 1;
    }
    if verified == 0 {
        return Err(format!(
            "no signature by the trusted key {} (key ID {})",
            key.name,
            crate::digest::hex(&want_id)
        ));
    }
    Ok(Opened {
        text: text.to_string(),
        ignored_signatures: ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> (SecretKey, NoteKey) {
        let sk = SecretKey::generate().unwrap();
        let nk = NoteKey::new("relsign.test/log", sk.public().clone()).unwrap();
        (sk, nk)
    }

    #[test]
    fn sign_open_and_refusals() {
        let (sk, nk) = key();
        let text = "relsign.test/log\n3\nAAAA\n";
        let note = sign(text, &nk.name, &sk).unwrap();
        assert!(note.starts_with(text) && note.contains("\n\n\u{2014} relsign.test/log "));
        let o = open(note.as_bytes(), &nk).unwrap();
        assert_eq!(o.text, text);
        assert_eq!(o.ignored_signatures, 0);
        // A foreign signature line is ignored; a second line by the trusted key is refused.
        let (other, ok2) = key();
        let foreign = sign(text, "witness.test", &other).unwrap();
        let foreign_line = foreign.rsplit_once("\n\n").unwrap().1;
        let both = format!("{note}{foreign_line}");
        assert_eq!(open(both.as_bytes(), &nk).unwrap().ignored_signatures, 1);
        let line = note.rsplit_once("\n\n").unwrap().1;
        let twice = format!("{note}{line}");
        assert!(open(twice.as_bytes(), &nk)
            .unwrap_err()
            .contains("duplicates"));
        // The same name under another key: not trusted.
        assert!(open(
            note.as_bytes(),
            &NoteKey {
                name: nk.name.clone(),
                key: ok2.key
            }
        )
        .unwrap_err()
        .contains("no signature by the trusted key"));
        // Every flipped byte of the note is refused.
        for i in 0..note.len() {
            let mut b = note.clone().into_bytes();
            b[i] ^= 0x01;
            assert!(open(&b, &nk).is_err(), "byte {i} flipped was accepted");
        }
        assert!(open(b"x\n\n\x01\n", &nk).is_err());
    }
}
