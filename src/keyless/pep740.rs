//! PEP 740 attestations for PyPI-style uploads: a release signed keyless carries, per file
//! artifact, a DSSE publish statement (`https://docs.pypi.org/attestations/publish/v1`,
//! subject = the file name and its SHA-256) in a keyless bundle; `relsign publish` sends it as
//! the upload's `attestations` form field, a JSON list of one PEP 740 attestation object:
//!
//! ```text
//! {"version": 1,
//!  "verification_material": {"certificate": <base64 DER>,
//!                            "transparency_entries": [<the bundle's tlog entry>]},
//!  "envelope": {"statement": <base64 of the statement>, "signature": <base64>}}
//! ```

use super::bundle::KeylessBundle;
use crate::digest::Sha256Hex;
use crate::dsse::{b64, INTOTO_PAYLOAD_TYPE};
use serde_json::{json, Value};
use std::path::Path;

/// The PEP 740 attestation object of a keyless bundle.
pub fn attestation(b: &KeylessBundle) -> Value {
    json!({
        "version": 1,
        "verification_material": {
            "certificate": b64(&b.cert_der),
            "transparency_entries": [b.entry.to_bundle("dsse", "0.0.1")],
        },
        "envelope": {
            "statement": b64(&b.env.payload),
            "signature": b64(&b.env.signatures[0].sig),
        },
    })
}

/// The `attestations` field for uploading `file` (an artifact of the release in `release`,
/// with digest `sha256`): None when the release has no keyless bundle for it. The bundle must
/// be a publish statement naming exactly this file and digest.
pub fn upload_field(
    release: &Path,
    file: &str,
    sha256: &Sha256Hex,
) -> Result<Option<String>, String> {
    let path = super::names::keyless_dir(release).join(super::names::artifact_bundle(file));
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = crate::json::read_limited(&path, crate::json::limit::STATEMENT)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let b = KeylessBundle::from_json(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    if b.env.payload_type != INTOTO_PAYLOAD_TYPE {
        return Err(format!(
            "{}: payloadType {}",
            path.display(),
            b.env.payload_type
        ));
    }
    let s = crate::attest::statement::parse_publish(&b.env.payload)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if s.name != file || s.sha256 != *sha256 {
        return Err(format!(
            "{}: names {} sha256:{}, not {file} sha256:{sha256}",
            path.display(),
            s.name,
            s.sha256
        ));
    }
    Ok(Some(Value::Array(vec![attestation(&b)]).to_string()))
}
