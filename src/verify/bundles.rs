//! The Sigstore bundles: each DSSE bundle's one signature by its hinted release key, what an
//! artifact's publish statement names, and the legacy message-signature bundles sorted by the
//! artifact file they sign (their signatures are checked over the file's bytes, in
//! [`super::artifacts`]).

use super::check::{refused, VerifyError};
use super::parse::{read_untrusted, BundleFile, Inputs};
use crate::attest;
use crate::attest::bundle::Content;
use crate::digest::Sha256Hex;
use crate::dsse::{Envelope, INTOTO_PAYLOAD_TYPE};
use crate::keys::PublicKey;
use crate::model::{Artifact, ReleaseManifest};
use std::collections::BTreeMap;
use std::path::Path;

/// The release key a bundle's hint names; a hint the policy does not know gets a note and the
/// bundle is ignored (unknown signers never count, and never refuse).
pub(super) fn hinted_key<'k>(
    keys: &[&'k PublicKey],
    b: &BundleFile,
    notes: &mut Vec<String>,
) -> Option<&'k PublicKey> {
    let key = keys.iter().find(|k| k.key_id() == b.bundle.hint).copied();
    if key.is_none() {
        notes.push(format!(
            "{}: hint {} is not a release key; ignored",
            b.name, b.bundle.hint
        ));
    }
    key
}

/// The bundles, sorted: provenance bundles checked, per artifact file the keys whose DSSE
/// publish statement about it verified, and the legacy message-signature bundles.
pub(super) struct Classified<'b> {
    pub provenance: usize,
    pub statement_signers: BTreeMap<String, Vec<String>>,
    pub message: BTreeMap<String, Vec<&'b BundleFile>>,
}

/// The file artifact a bundle's name (`<file>.<16 hex>.sigstore.json`) belongs to.
fn bundle_artifact<'m>(m: &'m ReleaseManifest, bundle_name: &str) -> Option<&'m Artifact> {
    m.artifacts
        .iter()
        .filter(|a| attest::is_file_artifact(a))
        .find(|a| {
            let prefix = format!("{}.", a.file.replace('/', "_"));
            bundle_name
                .strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix(".sigstore.json"))
                .is_some_and(|fp| fp.len() == 16 && fp.bytes().all(|c| c.is_ascii_hexdigit()))
        })
}

/// An artifact's DSSE bundle: a publish statement (PEP 740's shape) signed by its hinted key,
/// naming exactly this file with its provenance subject digest. Returns the signer, or `None`
/// for a key the policy does not know (noted).
fn check_publish_bundle(
    b: &BundleFile,
    be: &Envelope,
    a: &Artifact,
    subject: &Sha256Hex,
    keys: &[&PublicKey],
    notes: &mut Vec<String>,
) -> Result<Option<String>, VerifyError> {
    if be.payload_type != INTOTO_PAYLOAD_TYPE {
        return Err(refused(
            "bundle",
            format!("{}: payloadType {}", b.path.display(), be.payload_type),
        ));
    }
    // What it says is checked whoever signed it: a bundle by an unknown key must still name
    // this file with its signed digest (and, unverified, is then left out of `covered`).
    let s = attest::statement::parse_publish(&be.payload)
        .map_err(|e| refused("bundle", format!("{}: {e}", b.path.display())))?;
    let key = hinted_key(keys, b, notes);
    if let Some(key) = key {
        check_bundle_signature(b, be, key)?;
    }
    if s.name != a.file || s.sha256 != *subject {
        return Err(refused(
            "bundle",
            format!(
                "{}: names {} sha256:{}, expected {} sha256:{subject} (provenance)",
                b.path.display(),
                s.name,
                s.sha256,
                a.file
            ),
        ));
    }
    Ok(key.map(|k| k.key_id().to_string()))
}

/// A DSSE bundle's one signature must verify with its hinted key.
fn check_bundle_signature(
    b: &BundleFile,
    be: &Envelope,
    key: &PublicKey,
) -> Result<(), VerifyError> {
    if be.verify(&[key]).keys.is_empty() {
        return Err(refused(
            "bundle",
            format!(
                "{}: the DSSE signature by {} does not verify",
                b.path.display(),
                b.bundle.hint
            ),
        ));
    }
    Ok(())
}

/// Check every DSSE bundle (it carries its statement's envelope, and its one signature by the
/// hinted release key verifies; an artifact's names that file with its subject digest) and
/// sort the legacy message-signature bundles by the artifact file they name.
pub(super) fn classify<'b>(
    inp: &'b Inputs,
    keys: &[&PublicKey],
    subjects: &BTreeMap<&str, &Sha256Hex>,
    notes: &mut Vec<String>,
) -> Result<Classified<'b>, VerifyError> {
    let manifest = &inp.manifest;
    let mut provenance_bundles = 0;
    let mut message_bundles: BTreeMap<String, Vec<&BundleFile>> = BTreeMap::new();
    let mut statement_signers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for b in &inp.bundles {
        match &b.bundle.content {
            Content::Dsse(be) if bundle_artifact(manifest, &b.name).is_some() => {
                let a = bundle_artifact(manifest, &b.name).expect("matched");
                let subject = subjects.get(a.file.as_str()).ok_or_else(|| {
                    refused(
                        "artifact digest",
                        format!("{}: not a subject of the provenance", a.file),
                    )
                })?;
                if let Some(k) = check_publish_bundle(b, be, a, subject, keys, notes)? {
                    let v = statement_signers.entry(a.file.clone()).or_default();
                    if !v.contains(&k) {
                        v.push(k);
                    }
                }
            }
            Content::Dsse(be) => {
                if statement_bundle(&inp.loc.dir, b, be, &inp.env, keys, notes)? {
                    provenance_bundles += 1;
                }
            }
            Content::Message { .. } => match bundle_artifact(manifest, &b.name) {
                Some(a) => message_bundles.entry(a.file.clone()).or_default().push(b),
                None => {
                    return Err(refused(
                        "bundle",
                        format!(
                            "{}: names no artifact file of the release",
                            b.path.display()
                        ),
                    ))
                }
            },
        }
    }
    Ok(Classified {
        provenance: provenance_bundles,
        statement_signers,
        message: message_bundles,
    })
}

/// A statement's DSSE bundle: the provenance's carries its envelope; another statement's
/// (test result, SBOM) carries that statement's, from the .dsse.json beside it. Its signature
/// by a release key must verify. True for a provenance bundle by a release key.
fn statement_bundle(
    dir: &Path,
    b: &BundleFile,
    be: &Envelope,
    env: &Envelope,
    keys: &[&PublicKey],
    notes: &mut Vec<String>,
) -> Result<bool, VerifyError> {
    let is_provenance = b.name.starts_with("provenance.");
    let other;
    let (expected, what) = if is_provenance {
        (env, "the release's provenance statement".to_string())
    } else {
        let stem = b
            .name
            .strip_suffix(".sigstore.json")
            .and_then(|n| n.rsplit_once('.'))
            .map(|(s, _)| s)
            .unwrap_or("");
        let st_path = crate::release::statement_path(dir, stem);
        other = read_untrusted(&st_path, crate::json::limit::STATEMENT, "bundle")
            .ok()
            .and_then(|bytes| Envelope::from_json(&bytes).ok())
            .ok_or_else(|| {
                refused(
                    "bundle",
                    format!(
                        "{}: no statement {} beside it",
                        b.path.display(),
                        st_path.display()
                    ),
                )
            })?;
        (&other, st_path.display().to_string())
    };
    if be.payload != expected.payload || be.payload_type != expected.payload_type {
        return Err(refused(
            "bundle",
            format!("{}: its envelope is not {what}", b.path.display()),
        ));
    }
    let Some(key) = hinted_key(keys, b, notes) else {
        return Ok(false);
    };
    check_bundle_signature(b, be, key)?;
    Ok(is_provenance)
}
