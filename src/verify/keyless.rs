//! Keyless signatures (issue 14), when the policy has a `keyless` section: the provenance
//! statement and each file artifact's publish statement must carry a keyless bundle under
//! `attestations/keyless/` by one of the policy's identities, verified against the policy's
//! trusted root ([`crate::keyless::verify_bundle`]). The provenance bundle must sign exactly
//! the bytes of the provenance envelope's payload; an artifact's must name that file with its
//! provenance subject digest.

use super::check::{refused, Check, VerifyError};
use super::parse::{read_untrusted, Inputs};
use crate::attest;
use crate::digest::Sha256Hex;
use crate::keyless::{self, bundle::KeylessBundle, Accepted};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const CHECK: &str = "keyless";

/// Phase 1: every keyless bundle the policy requires, read with its limit and parsed.
fn read_all(inp: &Inputs) -> Result<Vec<(PathBuf, Option<String>, KeylessBundle)>, VerifyError> {
    let dir = keyless::keyless_dir(&inp.loc.dir);
    let mut want = vec![(dir.join(keyless::PROVENANCE_BUNDLE), None)];
    for a in inp
        .manifest
        .artifacts
        .iter()
        .filter(|a| attest::is_file_artifact(a))
    {
        want.push((
            dir.join(keyless::artifact_bundle(&a.file)),
            Some(a.file.clone()),
        ));
    }
    let mut out = Vec::new();
    for (path, file) in want {
        if !path.is_file() {
            return Err(refused(
                CHECK,
                format!(
                    "{}: missing (the policy requires keyless signatures)",
                    path.display()
                ),
            ));
        }
        let bytes = read_untrusted(&path, crate::json::limit::STATEMENT, CHECK)?;
        let b = KeylessBundle::from_json(&bytes)
            .map_err(|e| refused(CHECK, format!("{}: {e}", path.display())))?;
        out.push((path, file, b));
    }
    Ok(out)
}

/// Phase 2: crypto and policy for each bundle, then what each signs.
pub(super) fn check(
    inp: &Inputs,
    subjects: &BTreeMap<&str, &Sha256Hex>,
) -> Result<Option<Check>, VerifyError> {
    let pol = &inp.trusted.policy;
    let (Some(kp), Some(root)) = (&pol.doc.keyless, &pol.keyless_root) else {
        return Ok(None);
    };
    let bundles = read_all(inp)?;
    let mut who = BTreeSet::new();
    let mut indexes = Vec::new();
    for (path, file, b) in &bundles {
        let at = path.display();
        let Accepted {
            identity,
            log_index,
            ..
        } = keyless::verify_bundle(b, root, &kp.identities)
            .map_err(|e| refused(CHECK, format!("{at}: {e}")))?;
        match file {
            None if b.env.payload != inp.env.payload
                || b.env.payload_type != inp.env.payload_type =>
            {
                return Err(refused(
                    CHECK,
                    format!(
                        "{at}: signs a statement other than {}",
                        inp.env_path.display()
                    ),
                ));
            }
            None => {}
            Some(f) => {
                let s = attest::statement::parse_publish(&b.env.payload)
                    .map_err(|e| refused(CHECK, format!("{at}: {e}")))?;
                let want = subjects.get(f.as_str());
                if s.name != *f || want != Some(&&s.sha256) {
                    return Err(refused(
                        CHECK,
                        format!(
                            "{at}: names {} sha256:{}, expected {f} with its provenance subject digest",
                            s.name, s.sha256
                        ),
                    ));
                }
            }
        }
        who.insert(identity.to_string());
        indexes.push(log_index);
    }
    let who: Vec<String> = who.into_iter().collect();
    Ok(Some(
        Check::ok(
            CHECK,
            format!(
                "{} bundle(s) (the provenance and {} file artifact(s)) signed by {}: certificates from the trusted root's CA, DSSE signatures over the PAE, Rekor entries {:?} (promise, inclusion proof, body) within the certificates' validity",
                bundles.len(),
                bundles.len() - 1,
                who.join("; "),
                indexes
            ),
        )
        // Bound as paths relative to the release directory, as every check binds them.
        .binding(bundles.iter().filter_map(|(p, _, _)| {
            p.strip_prefix(&inp.loc.dir).ok().map(PathBuf::from)
        })),
    ))
}
