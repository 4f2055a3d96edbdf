//! Phase 1: every untrusted input of a verification read with its size limit and parsed into
//! checked types: `release.json`, the provenance envelope, the Sigstore bundles, the policy
//! chain, and the named statements' envelopes (SBOMs, test result, vulnerabilities). A named
//! statement that cannot be read keeps its refusal for the check that needs it, so refusals
//! come in the order of the checks. Payloads are parsed only after their signatures verify.

use super::check::{refused, Check, VerifyError, VerifyOptions};
use crate::attest;
use crate::attest::bundle::Bundle;
use crate::dsse::{Envelope, INTOTO_PAYLOAD_TYPE};
use crate::fsutil;
use crate::model::ReleaseManifest;
use crate::policy::{self, TrustedPolicy};
use crate::report::Reporter;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A named statement's envelope as phase 1 read it: `None` when there is no such file, else
/// the envelope or the refusal its check will report.
pub(super) type PreRead = Option<Result<Envelope, VerifyError>>;

/// Every untrusted input, parsed.
pub(super) struct Inputs {
    pub loc: Located,
    pub rel_path: PathBuf,
    pub rel_bytes: Vec<u8>,
    pub manifest: ReleaseManifest,
    pub env_path: PathBuf,
    pub env: Envelope,
    pub bundles: Vec<BundleFile>,
    pub trusted: TrustedPolicy,
    /// Statement name (`attestations/<name>.dsse.json`) → its envelope.
    pub statements: BTreeMap<String, PreRead>,
}

impl Inputs {
    pub fn read(target: &Path, o: &VerifyOptions, r: &dyn Reporter) -> Result<Inputs, VerifyError> {
        let loc = locate(target)?;
        let dir = loc.dir.clone();
        let rel_path = dir.join("release.json");
        let rel_bytes = read_untrusted(&rel_path, crate::json::limit::RELEASE, "format")?;
        let manifest: ReleaseManifest =
            crate::json::from_slice(&rel_bytes, crate::json::limit::RELEASE)
                .map_err(|e| refused("format", format!("{}: {e}", rel_path.display())))?;
        let env_path = attest::provenance_path(&dir);
        let env = read_provenance(&env_path)?;
        let bundles = read_bundles(&dir)?;
        r.step(&format!(
            "checking the trust policy in {}",
            o.policy_dir.display()
        ));
        let trusted: TrustedPolicy = policy::load_chain(&o.policy_dir, o.now)?;
        let statements = read_statements(&dir, &manifest, loc.only.as_deref());
        Ok(Inputs {
            loc,
            rel_path,
            rel_bytes,
            manifest,
            env_path,
            env,
            bundles,
            trusted,
            statements,
        })
    }

    /// The files of the release directory bound by what phase 1 read (relative paths):
    /// release.json, the provenance envelope and every bundle.
    pub fn read_files(&self) -> BTreeSet<PathBuf> {
        let att = Path::new(attest::ATTESTATIONS_DIR);
        let mut covered = BTreeSet::from([
            PathBuf::from("release.json"),
            att.join(attest::PROVENANCE_FILE),
        ]);
        covered.extend(self.bundles.iter().map(|b| att.join(&b.name)));
        covered
    }

    /// The policy chain, verified while it was read.
    pub fn policy_chain(&self, o: &VerifyOptions) -> Check {
        Check::ok(
            "policy chain",
            format!(
                "versions 1..{} of {} verified{}",
                self.trusted.version,
                o.policy_dir.display(),
                if self.trusted.policy.doc.test_only {
                    " (TEST-ONLY policy)"
                } else {
                    ""
                }
            ),
        )
    }
}

/// The provenance envelope (its payload is not parsed here): present, within its limit, an
/// in-toto payload.
fn read_provenance(env_path: &Path) -> Result<Envelope, VerifyError> {
    if !env_path.is_file() {
        return Err(refused(
            "provenance signature",
            format!("{}: missing: the release is not signed", env_path.display()),
        ));
    }
    let env_bytes = read_untrusted(env_path, crate::json::limit::PROVENANCE, "format")?;
    let env = Envelope::from_json(&env_bytes)
        .map_err(|e| refused("format", format!("{}: {e}", env_path.display())))?;
    if env.payload_type != INTOTO_PAYLOAD_TYPE {
        return Err(refused(
            "format",
            format!(
                "{}: payloadType expected={INTOTO_PAYLOAD_TYPE}, got={}",
                env_path.display(),
                env.payload_type
            ),
        ));
    }
    Ok(env)
}

/// The envelopes of the statements the policy phase judges: the SBOMs of the artifacts in
/// scope, the test result and the vulnerability attestation.
fn read_statements(
    dir: &Path,
    m: &ReleaseManifest,
    only: Option<&str>,
) -> BTreeMap<String, PreRead> {
    let mut out = BTreeMap::new();
    let scope = m
        .artifacts
        .iter()
        .filter(|a| only.is_none_or(|f| a.file == f));
    for a in scope {
        for kind in ["cdx", "spdx"] {
            let name = format!("sbom-{}.{kind}", a.file);
            out.insert(name.clone(), read_statement(dir, &name, "sbom"));
        }
    }
    for (name, check) in [
        ("test-result", "test result"),
        (crate::vulns::STATEMENT_NAME, "vulnerabilities"),
    ] {
        out.insert(name.to_string(), read_statement(dir, name, check));
    }
    out
}

/// Read a named statement's envelope (`attestations/<name>.dsse.json`), refusals under
/// `check`.
pub(super) fn read_statement(dir: &Path, name: &str, check: &'static str) -> PreRead {
    let path = crate::release::statement_path(dir, name);
    if !path.is_file() {
        return None;
    }
    Some(
        read_untrusted(&path, crate::json::limit::STATEMENT, check).and_then(|bytes| {
            Envelope::from_json(&bytes)
                .map_err(|e| refused(check, format!("{}: {e}", path.display())))
        }),
    )
}

/// Read untrusted bytes with a size limit: too large is a refusal under `check`.
pub(super) fn read_untrusted(
    path: &Path,
    limit: u64,
    check: &'static str,
) -> Result<Vec<u8>, VerifyError> {
    crate::json::read_limited(path, limit).map_err(|e| match e {
        // A symlink, FIFO or device where a file should be is a refusal, like bad content.
        crate::json::ReadError::Fs(e) if e.source.kind() == std::io::ErrorKind::InvalidData => {
            refused(check, e.to_string())
        }
        crate::json::ReadError::Fs(e) => VerifyError::Fs(e),
        e => refused(check, e.to_string()),
    })
}

/// Where the release is and what part of it the target names.
pub(super) struct Located {
    pub dir: PathBuf,
    /// `None`: the whole release; `Some(file)`: one artifact.
    pub only: Option<String>,
}

fn locate(target: &Path) -> Result<Located, VerifyError> {
    let meta = std::fs::metadata(target).map_err(fsutil::err("stat", target))?;
    if meta.is_dir() {
        if target.join("release.json").is_file() {
            return Ok(Located {
                dir: target.to_path_buf(),
                only: None,
            });
        }
        if target.join("oci-layout").is_file() {
            // An OCI layout inside a release directory (DIR/image): verify it as the release's
            // image artifact. A bare layout, or a registry reference, carries its attestations
            // as referrers: that is the OCI hook for issue 3.
            let parent = fsutil::parent_dir(target);
            let name = target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if parent.join("release.json").is_file() {
                return Ok(Located {
                    dir: parent.to_path_buf(),
                    only: Some(name),
                });
            }
            return Err(VerifyError::Usage(format!(
                "{}: an OCI layout outside a release directory; verifying a bare layout \
                 (attestations stored as OCI referrers) is not supported yet",
                target.display()
            )));
        }
        return Err(VerifyError::Usage(format!(
            "{}: neither a release directory (no release.json) nor an OCI layout",
            target.display()
        )));
    }
    let parent = fsutil::parent_dir(target);
    if !parent.join("release.json").is_file() {
        return Err(VerifyError::Usage(format!(
            "{}: no release.json beside this file; verify needs the release directory's \
             release.json and attestations/",
            target.display()
        )));
    }
    Ok(Located {
        dir: parent.to_path_buf(),
        only: Some(
            target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
    })
}

/// One parsed bundle file.
pub(super) struct BundleFile {
    pub path: PathBuf,
    pub name: String,
    pub bundle: Bundle,
}

fn read_bundles(dir: &Path) -> Result<Vec<BundleFile>, VerifyError> {
    let att = dir.join(attest::ATTESTATIONS_DIR);
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&att)
        .map_err(fsutil::err("read directory", &att))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(fsutil::err("read directory", &att))?
        .into_iter()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sigstore.json"))
        .collect();
    names.sort();
    if names.len() > crate::json::MAX_BUNDLES {
        return Err(refused(
            "format",
            format!(
                "{}: {} bundles, over the limit of {}",
                att.display(),
                names.len(),
                crate::json::MAX_BUNDLES
            ),
        ));
    }
    let mut total = 0u64;
    for name in names {
        let path = att.join(&name);
        let bytes = read_untrusted(&path, crate::json::limit::STATEMENT, "bundle")?;
        total += bytes.len() as u64;
        if total > crate::json::limit::ALL_BUNDLES {
            return Err(refused(
                "format",
                format!(
                    "{}: the bundles hold more than {} bytes in all",
                    att.display(),
                    crate::json::limit::ALL_BUNDLES
                ),
            ));
        }
        let bundle = Bundle::from_json(&bytes)
            .map_err(|e| refused("bundle", format!("{}: {e}", path.display())))?;
        out.push(BundleFile { path, name, bundle });
    }
    Ok(out)
}
