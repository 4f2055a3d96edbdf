//! Reading a release back from a registry: the image by reference, and the release's metadata
//! from its referrers (the Sigstore bundles and the relsign release artifact), into a release
//! directory that `relsign verify` and `relsign rebuild` read like any other.

use super::plan::{ARTIFACT_RELEASE, MEDIA_BUNDLE, MEDIA_RELEASE_TAR, TITLE};
use super::registry::{self, Registry, Target};
use super::run::PublishError;
use super::Credentials;
use crate::digest::Sha256Hex;
use crate::fsutil;
use crate::http::{redact, Client};
use crate::report::Reporter;
use std::path::{Path, PathBuf};

/// A referrer layer's title, as a path inside the release directory: relative, no `..`, and
/// under one of the places a release keeps its metadata.
pub fn safe_title(title: &str) -> Option<PathBuf> {
    let p = crate::fsutil::relative_path(title)?;
    let allowed = title == "release.json"
        || [
            "attestations/",
            "sbom/",
            "test-results/",
            "scan/",
            "inputs/",
        ]
        .iter()
        .any(|d| title.starts_with(d));
    allowed.then_some(p)
}

/// Pull `reference` (`docker://host/repo:tag` or `…@sha256:…`) into `dir`; returns the path
/// of the image layout inside it (the target to verify).
pub fn pull_release(
    reference: &str,
    dir: &Path,
    r: &dyn Reporter,
) -> Result<PathBuf, PublishError> {
    let t = Client::for_publish()?;
    let bare = reference.strip_prefix("docker://").unwrap_or(reference);
    let (repo, target) = registry::parse_reference(bare)?;
    let creds = Credentials::from_env(super::PULL_CREDENTIALS_ENV);
    let reg = Registry::new(repo, creds, &t);
    let shown = redact(bare);
    let refuse = |reason: String| PublishError::ReadBack {
        dest: shown.clone(),
        reason,
    };
    r.step(&format!("pulling {shown}"));
    let target_ref = match &target {
        Target::Tag(t) => t.clone(),
        Target::Digest(d) => format!("sha256:{d}"),
    };
    // get_manifest checks the bytes against a digest reference (and a tag's announced digest).
    let Some((_, bytes)) = reg.get_manifest(&target_ref, r)? else {
        return Err(refuse(format!("{target_ref}: no such manifest")));
    };
    let digest = Sha256Hex::of(&bytes);
    let mut files = 0;
    for d in reg.list_referrers(&digest, r)? {
        let at = d.artifact_type.as_deref().unwrap_or_default();
        if at != ARTIFACT_RELEASE && at != MEDIA_BUNDLE {
            continue;
        }
        let hex =
            Sha256Hex::parse(d.hex()).map_err(|e| refuse(format!("referrer {}: {e}", d.digest)))?;
        let Some((_, mbytes)) = reg.get_manifest(&format!("sha256:{hex}"), r)? else {
            return Err(refuse(format!(
                "referrer {} is listed but missing",
                d.digest
            )));
        };
        let m: crate::oci::Manifest = serde_json::from_slice(&mbytes)
            .map_err(|e| refuse(format!("referrer {}: {e}", d.digest)))?;
        for l in &m.layers {
            if l.media_type == MEDIA_RELEASE_TAR {
                files += unpack_metadata(&reg, l, dir, &shown, r)?;
                continue;
            }
            let Some(title) = l.annotations.as_ref().and_then(|a| a.get(TITLE)) else {
                continue;
            };
            let Some(rel) = safe_title(title) else {
                return Err(refuse(format!(
                    "referrer {}: layer title {title:?} is not a release metadata path; refused",
                    d.digest
                )));
            };
            let lhex = Sha256Hex::parse(l.hex())
                .map_err(|e| refuse(format!("referrer {}: {e}", d.digest)))?;
            let dest = dir.join(&rel);
            fsutil::create_dir_all(fsutil::parent_dir(&dest))?;
            reg.fetch_blob(&lhex, &dest, r)?;
            files += 1;
        }
    }
    if !dir.join("release.json").is_file() {
        return Err(refuse(format!(
            "sha256:{digest} has no relsign release referrer (release.json, attestations); was it published by relsign publish?"
        )));
    }
    r.info(&format!("{files} release file(s) from the referrers"));
    let m: crate::model::ReleaseManifest =
        serde_json::from_slice(&fsutil::read(&dir.join("release.json"))?)
            .map_err(|e| refuse(format!("release.json: {e}")))?;
    let file = m
        .artifacts
        .iter()
        .find(|a| a.kind == crate::model::ArtifactKind::OciImage)
        .map(|a| a.file.clone())
        .unwrap_or_else(|| "image".into());
    let layout = dir.join(&file);
    reg.pull_layout(&Target::Digest(digest), &layout, r)?;
    Ok(layout)
}

/// Fetch the release artifact's tar layer and unpack it into `dir`. Returns the file count.
fn unpack_metadata(
    reg: &Registry<'_>,
    l: &crate::oci::Descriptor,
    dir: &Path,
    shown: &str,
    r: &dyn Reporter,
) -> Result<usize, PublishError> {
    let refuse = |reason: String| PublishError::ReadBack {
        dest: shown.to_string(),
        reason: format!("release metadata layer {}: {reason}", l.digest),
    };
    let hex = Sha256Hex::parse(l.hex()).map_err(refuse)?;
    let tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(fsutil::err("create a temp file in", dir))?;
    reg.fetch_blob(&hex, tmp.path(), r)?;
    let f = std::fs::File::open(tmp.path()).map_err(fsutil::err("open", tmp.path()))?;
    unpack_metadata_tar(f, dir, &l.digest).map_err(refuse)
}

/// Unpack a release metadata tar into `dir` with the safe extractor: every entry must be a
/// regular file at a release metadata path (see [`safe_title`]); size and count are capped.
pub fn unpack_metadata_tar(
    tar: impl std::io::Read,
    dir: &Path,
    name: &str,
) -> Result<usize, String> {
    use crate::archive::safe::{extract_tar, EntryKind, ExtractOptions, Overwrite};
    let outside = std::cell::RefCell::new(Vec::new());
    let keep = |entry: &str| -> Option<String> {
        if safe_title(entry).is_some() {
            Some(entry.to_string())
        } else {
            outside.borrow_mut().push(entry.to_string());
            None
        }
    };
    let opts = ExtractOptions {
        archive_name: name.to_string(),
        rewrite: Some(&keep),
        // Metadata, not an image: a few MiB for a large project.
        max_bytes: 1 << 30,
        max_entries: 100_000,
        overwrite: Overwrite::Refuse,
        ..Default::default()
    };
    let entries = extract_tar(tar, dir, &opts).map_err(|e| e.to_string())?;
    if let Some(entry) = outside.borrow().first() {
        return Err(format!(
            "entry {entry:?} is not a release metadata path; refused"
        ));
    }
    if let Some(e) = entries.iter().find(|e| e.kind != EntryKind::File) {
        return Err(format!(
            "entry {:?} is a {:?}; only regular files are expected, refused",
            e.path, e.kind
        ));
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_stay_inside_the_release_metadata() {
        assert!(safe_title("release.json").is_some());
        assert!(safe_title("attestations/provenance.dsse.json").is_some());
        assert!(safe_title("inputs/demo/src/x.py").is_some());
        for bad in [
            "",
            "/etc/passwd",
            "../release.json",
            "attestations/../../x",
            "image/blobs/sha256/aa",
            "relsign_demo-0.1.0.tar.gz",
        ] {
            assert!(safe_title(bad).is_none(), "{bad}");
        }
    }

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, body, link) in entries {
            let mut h = tar::Header::new_gnu();
            // Raw name bytes: the tar crate refuses `..` and absolute names when asked nicely.
            let raw = &mut h.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_size(body.len() as u64);
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            h.set_cksum();
            b.append(&h, *body).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn metadata_tar_unpacks_only_regular_files_at_metadata_paths() {
        use tar::EntryType::{Regular, Symlink};
        let d = tempfile::tempdir().unwrap();
        let good = tar_of(&[
            ("release.json", Regular, b"{}", ""),
            ("inputs/src/a.py", Regular, b"x", ""),
        ]);
        assert_eq!(
            unpack_metadata_tar(good.as_slice(), d.path(), "t").unwrap(),
            2
        );
        assert_eq!(
            std::fs::read(d.path().join("inputs/src/a.py")).unwrap(),
            b"x"
        );
        for (bad, word) in [
            (tar_of(&[("../escape", Regular, b"x", "")]), "escape"),
            (tar_of(&[("/etc/x", Regular, b"x", "")]), "/etc/x"),
            (
                tar_of(&[("image/blobs/sha256/aa", Regular, b"x", "")]),
                "image/blobs",
            ),
            (tar_of(&[("sbom/l", Symlink, b"", "/etc/passwd")]), "sbom/l"),
        ] {
            let d = tempfile::tempdir().unwrap();
            let e = unpack_metadata_tar(bad.as_slice(), &d.path().join("rel"), "t").unwrap_err();
            assert!(e.contains(word), "{e}");
            assert!(!d.path().join("escape").exists());
        }
        // Replacing a file already pulled (a bundle layer) is refused too.
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("release.json"), "old").unwrap();
        let e = unpack_metadata_tar(good.as_slice(), d.path(), "t").unwrap_err();
        assert!(e.contains("release.json"), "{e}");
    }
}
