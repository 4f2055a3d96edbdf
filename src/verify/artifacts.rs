//! The artifacts in scope: each file's SHA-256 against its provenance subject and its
//! message-signature bundles over the same bytes, in one read per file (files in parallel);
//! each image layout through [`super::layout`].

use super::bundles::{hinted_key, Classified};
use super::check::parallel_map;
use super::check::{refused, ArtifactReport, Check, VerifyError};
use super::layout;
use super::parse::{BundleFile, Inputs};
use crate::attest;
use crate::attest::bundle::Content;
use crate::digest::{hex, Sha256Hex};
use crate::fsutil;
use crate::keys::{PublicKey, StreamVerifier};
use crate::model::{Artifact, ArtifactKind};
use crate::report::Reporter;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The artifacts the target names (all, or the one file), each a subject of the provenance.
pub(super) fn in_scope<'m>(
    inp: &'m Inputs,
    subjects: &BTreeMap<&str, &Sha256Hex>,
) -> Result<Vec<&'m Artifact>, VerifyError> {
    let manifest = &inp.manifest;
    let in_scope: Vec<&Artifact> = match &inp.loc.only {
        None => manifest.artifacts.iter().collect(),
        Some(f) => {
            let a = manifest
                .artifacts
                .iter()
                .find(|a| &a.file == f)
                .ok_or_else(|| {
                    refused(
                        "artifact digest",
                        format!("{f}: not an artifact of {}", inp.rel_path.display()),
                    )
                })?;
            vec![a]
        }
    };
    if let Some(extra) = manifest
        .artifacts
        .iter()
        .find(|a| !subjects.contains_key(a.file.as_str()))
    {
        return Err(refused(
            "artifact digest",
            format!("{}: not a subject of the provenance", extra.file),
        ));
    }
    Ok(in_scope)
}

/// A message bundle's streaming verifier: the bundle, its key id, the verifier.
type BundleVerifier<'b> = (&'b BundleFile, String, StreamVerifier);

/// One file to read: its artifact, subject, path and the message bundles to check over it.
struct Job<'a, 'b> {
    a: &'a Artifact,
    subject: &'a Sha256Hex,
    path: PathBuf,
    verifiers: Mutex<Option<Vec<BundleVerifier<'b>>>>,
}

/// The artifacts' checks: `artifact digest` (binding the files read) and `bundle`, and the
/// report of each artifact.
pub(super) struct Hashed {
    pub digest: Check,
    pub bundle: Check,
    pub reports: Vec<ArtifactReport>,
}

/// Check the artifacts in scope. With `thresholds.artifact = 0` no decision rests on the
/// message-signature bundles (the provenance's threshold signatures bind every file's
/// SHA-256): their shape, hint and digest are checked, their Ed25519 signatures over the file
/// bytes (SHA-512-bound) are not.
#[allow(clippy::too_many_arguments)]
pub(super) fn check(
    inp: &Inputs,
    in_scope: &[&Artifact],
    subjects: &BTreeMap<&str, &Sha256Hex>,
    classified: &Classified,
    keys: &[&PublicKey],
    r: &dyn Reporter,
    notes: &mut Vec<String>,
) -> Result<Hashed, VerifyError> {
    let check_sigs = inp.trusted.policy.doc.thresholds.artifact > 0;
    // Pass 1: the bundles of each file (cheap checks), and the image layouts.
    let mut bound = Vec::new();
    let mut jobs = Vec::new();
    for a in in_scope {
        let subject = *subjects.get(a.file.as_str()).expect("checked above");
        if a.kind == ArtifactKind::OciImage {
            r.step(&format!("hashing the blobs of {}", a.file));
            bound.extend(layout::check_layout(&inp.loc.dir, a, subject)?);
            continue;
        }
        let bundles = classified.message.get(&a.file).into_iter().flatten();
        let verifiers = message_verifiers(bundles, subject, keys, check_sigs, notes)?;
        let path = artifact_file(&inp.loc.dir, a)?;
        bound.push(PathBuf::from(&a.file));
        jobs.push(Job {
            a,
            subject,
            path,
            verifiers: Mutex::new(Some(verifiers)),
        });
    }
    // Pass 2: read each file once (SHA-256 and the signatures), files in parallel.
    r.step(&format!("hashing {} file(s)", jobs.len()));
    let hashed = parallel_map(jobs, |j| {
        let v = j.verifiers.lock().expect("lock").take().unwrap_or_default();
        hash_and_verify(&j.path, v)
    });
    // Pass 3: judge, in order.
    let mut reports = Vec::new();
    for (j, res) in hashed {
        reports.push(judge(&j, res?, classified)?);
    }
    for a in in_scope.iter().filter(|a| a.kind == ArtifactKind::OciImage) {
        reports.push(ArtifactReport {
            file: a.file.clone(),
            kind: a.kind,
            sha256: subjects[a.file.as_str()].to_string(),
            size: a.size,
            bundle_signers: vec![],
        });
    }
    let digest = Check::ok(
        "artifact digest",
        format!(
            "{} artifact(s) match their provenance subjects",
            reports.len()
        ),
    )
    .binding(bound);
    let bundle = Check::ok("bundle", bundle_detail(classified, check_sigs));
    Ok(Hashed {
        digest,
        bundle,
        reports,
    })
}

/// A file artifact's legacy message-signature bundles: each names the subject digest; those by
/// a release key (others are noted and ignored) get a streaming verifier when their signatures
/// decide something.
fn message_verifiers<'b>(
    bundles: impl Iterator<Item = &'b &'b BundleFile>,
    subject: &Sha256Hex,
    keys: &[&PublicKey],
    check_sigs: bool,
    notes: &mut Vec<String>,
) -> Result<Vec<BundleVerifier<'b>>, VerifyError> {
    let mut verifiers = Vec::new();
    for b in bundles {
        let Content::Message { sha256, signature } = &b.bundle.content else {
            continue;
        };
        if sha256.as_slice() != attest::sha2_bytes(subject).as_slice() {
            return Err(refused(
                "bundle",
                format!(
                    "{}: messageDigest expected={} (provenance), got={}",
                    b.path.display(),
                    subject,
                    hex(sha256)
                ),
            ));
        }
        let Some(key) = hinted_key(keys, b, notes) else {
            continue;
        };
        if !check_sigs {
            continue;
        }
        let sv = key.stream_verifier(signature).ok_or_else(|| {
            refused(
                "bundle",
                format!("{}: not an Ed25519 signature", b.path.display()),
            )
        })?;
        verifiers.push((*b, key.key_id().to_string(), sv));
    }
    Ok(verifiers)
}

/// The path of a file artifact: a relative path, present.
fn artifact_file(dir: &Path, a: &Artifact) -> Result<PathBuf, VerifyError> {
    if fsutil::relative_path(&a.file).is_none() {
        return Err(refused(
            "artifact digest",
            format!(
                "release.json names the artifact {:?}, not a relative path",
                a.file
            ),
        ));
    }
    let path = a.digest_path(dir);
    if !path.is_file() {
        return Err(refused(
            "artifact digest",
            format!(
                "{}: missing: a signed artifact of the release is not there",
                path.display()
            ),
        ));
    }
    Ok(path)
}

/// A file read: its digest must be the subject, its message signatures must verify. Its
/// signers: of its publish statement (checked with the bundles), then of legacy message
/// bundles (checked over the bytes just read).
fn judge(
    j: &Job,
    (got, size, results): Hashes,
    classified: &Classified,
) -> Result<ArtifactReport, VerifyError> {
    let (a, subject, path) = (j.a, j.subject, &j.path);
    if got != *subject {
        return Err(refused(
            "artifact digest",
            format!(
                "{}: sha256 expected={subject} (provenance subject), got={got}",
                path.display()
            ),
        ));
    }
    let mut signers = classified
        .statement_signers
        .get(&a.file)
        .cloned()
        .unwrap_or_default();
    for (b, keyid, valid) in results {
        if !valid {
            return Err(refused(
                "bundle",
                format!(
                    "{}: the signature by {keyid} over {} does not verify",
                    b.path.display(),
                    a.file
                ),
            ));
        }
        if !signers.contains(&keyid) {
            signers.push(keyid);
        }
    }
    Ok(ArtifactReport {
        file: a.file.clone(),
        kind: a.kind,
        sha256: got.to_string(),
        size,
        bundle_signers: signers,
    })
}

/// The `bundle` check's line: what was verified.
fn bundle_detail(classified: &Classified, check_sigs: bool) -> String {
    let statements: usize = classified.statement_signers.values().map(Vec::len).sum();
    let legacy: usize = classified.message.values().map(Vec::len).sum();
    let mut s = format!(
        "{} provenance bundle(s) and {statements} artifact publish \
             statement bundle(s) verified",
        classified.provenance
    );
    if legacy > 0 {
        s.push_str(&if check_sigs {
            format!("; {legacy} legacy message-signature bundle(s) verified over the bytes")
        } else {
            format!(
                "; {legacy} legacy message-signature bundle(s): digests checked, \
                     signatures not (the policy's artifact threshold is 0)"
            )
        });
    }
    s
}

/// A file's SHA-256, its size, and each message bundle with its key id and whether its
/// signature verified over the bytes.
type Hashes<'b> = (Sha256Hex, u64, Vec<(&'b BundleFile, String, bool)>);

/// Read a file once: SHA-256 and every streaming Ed25519 verifier over the same chunks. The
/// hash and the signature checks run on two threads when there are signatures to check.
pub(super) fn hash_and_verify<'b>(
    path: &Path,
    verifiers: Vec<BundleVerifier<'b>>,
) -> Result<Hashes<'b>, VerifyError> {
    const CHUNK: usize = 1 << 20;
    let mut f =
        fsutil::open_regular(path).map_err(|e| refused("artifact digest", e.to_string()))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    if verifiers.is_empty() {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = f.read(&mut buf).map_err(fsutil::err("read", path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        return Ok((
            Sha256Hex::parse(&hex(&hasher.finalize())).expect("hex"),
            size,
            vec![],
        ));
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::sync::Arc<Vec<u8>>>(4);
    let results = std::thread::scope(|s| -> Result<_, VerifyError> {
        let h = s.spawn(move || {
            let mut vs = verifiers;
            for chunk in rx {
                for (_, _, v) in vs.iter_mut() {
                    v.update(&chunk);
                }
            }
            vs.into_iter()
                .map(|(b, k, v)| (b, k, v.finish()))
                .collect::<Vec<_>>()
        });
        loop {
            let mut buf = vec![0u8; CHUNK];
            let mut n = 0;
            while n < CHUNK {
                let m = f.read(&mut buf[n..]).map_err(fsutil::err("read", path))?;
                if m == 0 {
                    break;
                }
                n += m;
            }
            if n == 0 {
                break;
            }
            buf.truncate(n);
            let chunk = std::sync::Arc::new(buf);
            hasher.update(&chunk[..]);
            size += n as u64;
            if tx.send(chunk).is_err() {
                break;
            }
        }
        drop(tx);
        Ok(h.join().expect("verifier thread"))
    })?;
    Ok((
        Sha256Hex::parse(&hex(&hasher.finalize())).expect("hex"),
        size,
        results,
    ))
}
