//! Keyless signatures (issue 14), when the policy has a `keyless` section. A keyless bundle
//! under `attestations/keyless/` by one of the policy's identities, verified against the
//! policy's trusted root ([`crate::keyless::verify_bundle`]), is a signer like a release key:
//! - the provenance bundle must sign exactly the provenance envelope's payload, and counts
//!   toward the provenance threshold;
//! - a file artifact's bundle must name that file with its provenance subject digest, and
//!   counts toward the artifact threshold;
//! - a named statement's bundle (`statements/<name>.sigstore.json`) must sign exactly that
//!   statement's payload, and counts toward its threshold.
//!
//! Its log entry is in the Rekor of the trusted root (its inclusion proof is checked), so it
//! counts as logged when the policy requires relsign's own log, which holds key signatures.
//! When the section is `required` (the default), the provenance and every file artifact must
//! carry a keyless bundle whatever the keys signed.
//!
//! Every bundle is verified in phase 2, before the provenance payload is parsed; what an
//! artifact's bundle names is judged once the provenance's subjects are known.

use super::check::{refused, Check, VerifyError};
use super::parse::{read_untrusted, Inputs};
use crate::attest;
use crate::digest::Sha256Hex;
use crate::keyless::{self, bundle::KeylessBundle, root::TrustedRoot, Accepted, Identity};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CHECK: &str = "keyless";

/// One verified keyless bundle.
struct One {
    rel: PathBuf,
    accepted: Accepted,
    payload: Vec<u8>,
}

/// The keyless signatures of a release, verified.
pub(super) struct KeylessSigs {
    /// The provenance's bundle.
    provenance: Option<One>,
    /// File artifact → its bundle (what it names is checked by [`bind_artifacts`]).
    artifacts: BTreeMap<String, One>,
    /// Named statement → its bundle.
    statements: BTreeMap<String, One>,
    required: bool,
}

/// Read and verify one bundle against the trusted root and identities, if it is there:
/// `None` when there is no such file.
fn read_one(
    inp: &Inputs,
    (root, identities): (&TrustedRoot, &[Identity]),
    rel: &Path,
) -> Result<Option<One>, VerifyError> {
    let path = inp.loc.dir.join(rel);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let bytes = read_untrusted(&path, crate::json::limit::STATEMENT, CHECK)?;
    let at = path.display();
    let b = KeylessBundle::from_json(&bytes).map_err(|e| refused(CHECK, format!("{at}: {e}")))?;
    let accepted = keyless::verify_bundle(&b, root, identities)
        .map_err(|e| refused(CHECK, format!("{at}: {e}")))?;
    if b.env.payload_type != crate::dsse::INTOTO_PAYLOAD_TYPE {
        return Err(refused(
            CHECK,
            format!(
                "{at}: payloadType {:?}, not an in-toto statement",
                b.env.payload_type
            ),
        ));
    }
    Ok(Some(One {
        rel: rel.to_path_buf(),
        accepted,
        payload: b.env.payload,
    }))
}

/// Phase 2 (crypto): every keyless bundle the release carries for the provenance, its file
/// artifacts and the named statements phase 1 read (`statements`), verified; `None` without a keyless section in the
/// policy (the bundles are then files no check binds).
pub(super) fn verify_all<'n>(
    inp: &Inputs,
    statements: impl Iterator<Item = &'n String>,
) -> Result<Option<KeylessSigs>, VerifyError> {
    let pol = &inp.trusted.policy;
    let (Some(kp), Some(root)) = (&pol.doc.keyless, &pol.keyless_root) else {
        return Ok(None);
    };
    let trust = (root, kp.identities.as_slice());
    let dir = Path::new(attest::ATTESTATIONS_DIR).join(keyless::KEYLESS_DIR);
    let prov_rel = dir.join(keyless::PROVENANCE_BUNDLE);
    let provenance = match read_one(inp, trust, &prov_rel)? {
        Some(one) if one.payload != inp.env.payload => {
            return Err(refused(
                CHECK,
                format!(
                    "{}: signs a statement other than {}",
                    inp.loc.dir.join(&one.rel).display(),
                    inp.env_path.display()
                ),
            ));
        }
        Some(one) => Some(one),
        None => None,
    };
    let mut artifacts = BTreeMap::new();
    for a in inp
        .manifest
        .artifacts
        .iter()
        .filter(|a| attest::is_file_artifact(a))
    {
        if let Some(one) = read_one(inp, trust, &dir.join(keyless::artifact_bundle(&a.file)))? {
            artifacts.insert(a.file.clone(), one);
        }
    }
    let statements = {
        let mut out = BTreeMap::new();
        for name in statements {
            if let Some(one) = read_one(inp, trust, &dir.join(keyless::statement_bundle(name)))? {
                out.insert(name.clone(), one);
            }
        }
        out
    };
    Ok(Some(KeylessSigs {
        provenance,
        artifacts,
        statements,
        required: kp.required,
    }))
}

impl KeylessSigs {
    /// The identity whose bundle signs the provenance (its payload was compared).
    pub fn provenance_signer(&self) -> Option<&Identity> {
        self.provenance.as_ref().map(|o| &o.accepted.identity)
    }

    /// The bundle (relative path) that signs the named statement `name` with exactly
    /// `payload`; a bundle that signs another payload is refused.
    pub fn statement_signer(
        &self,
        name: &str,
        payload: &[u8],
        check: &'static str,
        dir: &Path,
    ) -> Result<Option<PathBuf>, VerifyError> {
        let Some(one) = self.statements.get(name) else {
            return Ok(None);
        };
        if one.payload != payload {
            return Err(refused(
                check,
                format!(
                    "{}: signs a statement other than {}",
                    dir.join(&one.rel).display(),
                    crate::release::statement_path(dir, name).display()
                ),
            ));
        }
        Ok(Some(one.rel.clone()))
    }

    /// The identity of `file`'s keyless bundle (bound by [`bind_artifacts`]).
    pub fn artifact_signer(&self, file: &str) -> Option<String> {
        self.artifacts
            .get(file)
            .map(|o| o.accepted.identity.to_string())
    }
}

/// Phase 3: each artifact bundle names its file with the provenance subject digest; with
/// `required`, the provenance and every file artifact carry one. The check lists the signers
/// and log entries and binds the provenance's and artifacts' bundles (the statements' bundles
/// are bound by their checks).
pub(super) fn bind_artifacts(
    inp: &Inputs,
    sigs: &KeylessSigs,
    subjects: &BTreeMap<&str, &Sha256Hex>,
) -> Result<Check, VerifyError> {
    let dir = &inp.loc.dir;
    let missing = |rel: PathBuf| {
        refused(
            CHECK,
            format!(
                "{}: missing (the policy requires keyless signatures)",
                dir.join(rel).display()
            ),
        )
    };
    let kdir = Path::new(attest::ATTESTATIONS_DIR).join(keyless::KEYLESS_DIR);
    if sigs.required && sigs.provenance.is_none() {
        return Err(missing(kdir.join(keyless::PROVENANCE_BUNDLE)));
    }
    for a in inp
        .manifest
        .artifacts
        .iter()
        .filter(|a| attest::is_file_artifact(a))
    {
        let Some(one) = sigs.artifacts.get(&a.file) else {
            if sigs.required {
                return Err(missing(kdir.join(keyless::artifact_bundle(&a.file))));
            }
            continue;
        };
        let at = dir.join(&one.rel);
        let s = attest::statement::parse_publish(&one.payload)
            .map_err(|e| refused(CHECK, format!("{}: {e}", at.display())))?;
        let want = subjects.get(a.file.as_str());
        if s.name != a.file || want != Some(&&s.sha256) {
            return Err(refused(
                CHECK,
                format!(
                    "{}: names {} sha256:{}, expected {} with its provenance subject digest",
                    at.display(),
                    s.name,
                    s.sha256,
                    a.file
                ),
            ));
        }
    }
    let all: Vec<&One> = sigs
        .provenance
        .iter()
        .chain(sigs.artifacts.values())
        .chain(sigs.statements.values())
        .collect();
    let who: BTreeSet<String> = all
        .iter()
        .map(|o| o.accepted.identity.to_string())
        .collect();
    let who: Vec<String> = who.into_iter().collect();
    let indexes: Vec<u64> = all.iter().map(|o| o.accepted.log_index).collect();
    Ok(Check::ok(
        CHECK,
        format!(
            "{} bundle(s) (the provenance{}, {} file artifact(s), {} statement(s)) signed by {}: certificates from the trusted root's CA, DSSE signatures over the PAE, Rekor entries {indexes:?} (promise, inclusion proof, body) within the certificates' validity",
            all.len(),
            if sigs.provenance.is_some() { "" } else { " not" },
            sigs.artifacts.len(),
            sigs.statements.len(),
            if who.is_empty() { "nobody".to_string() } else { who.join("; ") },
        ),
    )
    .binding(
        sigs.provenance
            .iter()
            .chain(sigs.artifacts.values())
            .map(|o| o.rel.clone()),
    ))
}
