//! An image artifact, checked as `skopeo copy oci:…` or `relsign run` would use it: the
//! layout's `index.json` names exactly one manifest, the signed one (digest, size, media
//! type); the manifest blob hashes to the provenance subject; its config and every layer are
//! present as regular files with the size and sha256 the manifest gives.

use super::check::parallel_map;
use super::check::{refused, VerifyError};
use super::parse::read_untrusted;
use crate::digest::Sha256Hex;
use crate::fsutil;
use crate::model::Artifact;
use crate::oci;
use std::path::{Path, PathBuf};

/// Check an image layout; returns the files it bound (relative paths): `oci-layout`,
/// `index.json`, the manifest, config and layer blobs (any other blob is then an unsigned
/// file).
pub(super) fn check_layout(
    dir: &Path,
    a: &Artifact,
    subject: &Sha256Hex,
) -> Result<Vec<PathBuf>, VerifyError> {
    let Some(rel) = fsutil::relative_path(&a.file) else {
        return Err(refused(
            "artifact digest",
            format!(
                "release.json names the image {:?}, not a relative path",
                a.file
            ),
        ));
    };
    let root = dir.join(&rel);
    let desc = signed_index(&root, subject)?;
    let blobs = rel.join("blobs/sha256");
    let m = signed_manifest(dir, &root, &blobs, subject, &desc)?;
    let mut bound = vec![
        rel.join("oci-layout"),
        rel.join("index.json"),
        blobs.join(subject.as_str()),
    ];
    bound.extend(blobs_of(dir, &root, &blobs, subject, &m)?);
    Ok(bound)
}

/// An `image layout` refusal about the layout at `root`.
fn bad(root: &Path, why: String) -> VerifyError {
    refused("image layout", format!("{}: {why}", root.display()))
}

/// `oci-layout` says 1.0.0, and `index.json` names exactly the signed manifest: returns its
/// descriptor.
fn signed_index(root: &Path, subject: &Sha256Hex) -> Result<oci::Descriptor, VerifyError> {
    let layout_file = root.join("oci-layout");
    let v = crate::json::value(&read_untrusted(&layout_file, 4096, "image layout")?, 4096)
        .map_err(|e| bad(root, format!("oci-layout: {e}")))?;
    if v.get("imageLayoutVersion")
        .and_then(serde_json::Value::as_str)
        != Some("1.0.0")
    {
        return Err(bad(
            root,
            "oci-layout: imageLayoutVersion is not \"1.0.0\"".into(),
        ));
    }
    let idx_bytes = read_untrusted(
        &root.join("index.json"),
        crate::json::limit::OCI,
        "image layout",
    )?;
    let idx: oci::Index = crate::json::from_slice(&idx_bytes, crate::json::limit::OCI)
        .map_err(|e| bad(root, format!("index.json: {e}")))?;
    let want = format!("sha256:{subject}");
    let desc = match idx.manifests.as_slice() {
        [d] if d.digest == want => d,
        [] => {
            return Err(bad(
                root,
                format!("index.json names no manifest; it must name the signed manifest {want}"),
            ))
        }
        list => {
            let others: Vec<&str> = list
                .iter()
                .filter(|d| d.digest != want)
                .map(|d| d.digest.as_str())
                .collect();
            return Err(bad(
                root,
                format!(
                    "index.json names {} manifest(s); it must name only the signed manifest \
                     {want}, and also names {} that no signature covers",
                    list.len(),
                    others.join(", ")
                ),
            ));
        }
    };
    if desc.media_type != oci::MEDIA_MANIFEST {
        return Err(bad(
            root,
            format!(
                "index.json: the manifest's mediaType expected={}, got={}",
                oci::MEDIA_MANIFEST,
                desc.media_type
            ),
        ));
    }
    Ok(desc.clone())
}

/// The manifest blob: present, hashing to the subject, of the size the index gives, an OCI
/// image manifest.
fn signed_manifest(
    dir: &Path,
    root: &Path,
    blobs: &Path,
    subject: &Sha256Hex,
    desc: &oci::Descriptor,
) -> Result<oci::Manifest, VerifyError> {
    let want = format!("sha256:{subject}");
    let mpath = dir.join(blobs).join(subject.as_str());
    if !mpath.is_file() {
        return Err(refused(
            "artifact digest",
            format!(
                "{}: the image manifest sha256:{subject} is missing",
                mpath.display()
            ),
        ));
    }
    let mbytes = read_untrusted(&mpath, crate::json::limit::OCI, "image layout")?;
    let got = Sha256Hex::of(&mbytes);
    if got != *subject {
        return Err(refused(
            "artifact digest",
            format!(
                "{}: sha256 expected={subject} (provenance subject), got={got}",
                mpath.display()
            ),
        ));
    }
    if desc.size != mbytes.len() as u64 {
        return Err(bad(
            root,
            format!(
                "index.json gives the manifest size {}, the blob has {} bytes",
                desc.size,
                mbytes.len()
            ),
        ));
    }
    let m: oci::Manifest = crate::json::from_slice(&mbytes, crate::json::limit::OCI)
        .map_err(|e| bad(root, format!("manifest {want}: {e}")))?;
    if m.schema_version != 2 || m.media_type != oci::MEDIA_MANIFEST {
        return Err(bad(
            root,
            format!(
                "manifest {want}: schemaVersion {} mediaType {}, expected 2 {}",
                m.schema_version,
                m.media_type,
                oci::MEDIA_MANIFEST
            ),
        ));
    }
    Ok(m)
}

/// The config and layer blobs the manifest names: regular files of the size it gives (checked
/// before any is read), then hashed in parallel. Returns them (relative paths).
fn blobs_of(
    dir: &Path,
    root: &Path,
    blobs: &Path,
    subject: &Sha256Hex,
    m: &oci::Manifest,
) -> Result<Vec<PathBuf>, VerifyError> {
    let want = format!("sha256:{subject}");
    let mut named = vec![("config".to_string(), &m.config)];
    named.extend(
        m.layers
            .iter()
            .enumerate()
            .map(|(i, l)| (format!("layers[{i}]"), l)),
    );
    let mut bound = Vec::new();
    let mut jobs = Vec::new();
    for (what, d) in named {
        let hex = d
            .digest
            .strip_prefix("sha256:")
            .and_then(|h| Sha256Hex::parse(h).ok())
            .ok_or_else(|| {
                bad(
                    root,
                    format!(
                        "manifest {want}: {what} digest {:?} is not sha256:<64 hex>",
                        d.digest
                    ),
                )
            })?;
        let path = dir.join(blobs).join(hex.as_str());
        blob_present(&path, &what, d)?;
        bound.push(blobs.join(hex.as_str()));
        jobs.push((what, hex, path));
    }
    for ((what, hex, path), res) in parallel_map(jobs, |(_, _, p)| fsutil::hash_regular(p)) {
        let (got, _) = res.map_err(|e| refused("artifact digest", e.to_string()))?;
        if got != hex {
            return Err(refused(
                "artifact digest",
                format!(
                    "{}: {what} sha256 expected={hex} (signed manifest), got={got}",
                    path.display()
                ),
            ));
        }
    }
    Ok(bound)
}

/// A blob the signed manifest names (`what`: config, layers[i]): a regular file of its size.
fn blob_present(path: &Path, what: &str, d: &oci::Descriptor) -> Result<(), VerifyError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => {
            if meta.len() != d.size {
                return Err(refused(
                    "artifact digest",
                    format!(
                        "{}: {what} size expected={} (signed manifest), got={}",
                        path.display(),
                        d.size,
                        meta.len()
                    ),
                ));
            }
            Ok(())
        }
        Ok(_) => Err(refused(
            "artifact digest",
            format!("{}: {what} is not a regular file", path.display()),
        )),
        Err(_) => Err(refused(
            "artifact digest",
            format!(
                "{}: missing: the signed manifest names {what} {} ({} bytes)",
                path.display(),
                d.digest,
                d.size
            ),
        )),
    }
}
