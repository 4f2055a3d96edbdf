//! Planning a publish: destinations × items, in the order a reader may safely observe them.
//! Pure apart from reading the release directory (and, for a mirror, which releases the mirror
//! already holds) and writing the generated blobs (referrer manifests, index pages) into the
//! work directory, named by their digest.
//!
//! Order within a destination: blobs, then manifests, then signatures and attestations, then
//! tags and index pages. A reader never sees a tag, referrers index or index page that points at
//! content not yet there.

use crate::digest::Sha256Hex;
use crate::fsutil::{self, FsError};
use crate::model::{canonical_json, ReleaseManifest};
use crate::oci::{self, Descriptor};
use crate::python::requirements::normalize_name;
use crate::python::simple;
use crate::recipe::PublishSpec;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub const MEDIA_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const MEDIA_BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
pub const ARTIFACT_RELEASE: &str = "application/vnd.relsign.release.v1+json";
/// The release artifact's one layer: a tar of release.json, the DSSE envelopes, the SBOMs, the
/// test summary and the inputs, at their paths in the release directory.
pub const MEDIA_RELEASE_TAR: &str = "application/vnd.relsign.release.layer.v1.tar";
pub const RELEASE_TAR_TITLE: &str = "release-metadata.tar";
pub const TITLE: &str = "org.opencontainers.image.title";
pub const CREATED: &str = "org.opencontainers.image.created";

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{path}: {reason}")]
    Release { path: PathBuf, reason: String },
    #[error("destination {0:?} is not in the recipe's [[publish]] entries (have: {1})")]
    UnknownDestination(String, String),
    #[error("{0}")]
    Usage(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Blobs,
    Manifests,
    Signatures,
    Tags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Pypi,
    Oci,
    Mirror,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Pypi => "pypi",
            Kind::Oci => "oci",
            Kind::Mirror => "mirror",
        })
    }
}

/// One destination, its URL after any `--url` override.
#[derive(Debug, Clone, Serialize)]
pub struct Destination {
    pub name: String,
    pub kind: Kind,
    pub url: String,
    pub index_url: Option<String>,
    pub role: String,
    #[serde(skip)]
    pub credentials: Option<String>,
}

impl Destination {
    /// The destination of a (validated) `[[publish]]` entry. A mirror's relative path is
    /// relative to the recipe's directory (`recipe_dir`), or, given with `--url`, to the
    /// current directory; either way it is made absolute here, so the plan and the journal
    /// name the directory that is written.
    pub fn from_spec(
        s: &PublishSpec,
        url_override: Option<&str>,
        recipe_dir: &Path,
    ) -> Destination {
        let kind = match s.kind.as_str() {
            "pypi" => Kind::Pypi,
            "oci" => Kind::Oci,
            _ => Kind::Mirror,
        };
        let url = match (kind, url_override) {
            (Kind::Mirror, o) => {
                let p = mirror_root(o.unwrap_or(&s.url));
                let base = match o {
                    Some(_) => std::env::current_dir().unwrap_or_default(),
                    None => recipe_dir.to_path_buf(),
                };
                let joined = base.join(p);
                std::path::absolute(&joined)
                    .unwrap_or(joined)
                    .to_string_lossy()
                    .into_owned()
            }
            (_, o) => o.unwrap_or(&s.url).to_string(),
        };
        Destination {
            name: s.name.clone(),
            kind,
            url,
            index_url: s.index_url.clone(),
            role: s.role.clone(),
            credentials: s.credentials.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// An OCI blob (layer, config, or a referrer's content).
    Blob {
        digest: Sha256Hex,
        size: u64,
        path: PathBuf,
    },
    /// An OCI manifest pushed by digest (the image, or a referrer).
    Manifest {
        digest: Sha256Hex,
        media_type: String,
        path: PathBuf,
    },
    /// Referrers of `subject` recorded in the `sha256-<hex>` fallback index when the registry
    /// has no referrers API.
    ReferrersIndex {
        subject: Sha256Hex,
        descriptors: Vec<Descriptor>,
    },
    /// A tag pointing at a manifest already pushed.
    Tag {
        tag: String,
        digest: Sha256Hex,
        media_type: String,
        path: PathBuf,
    },
    /// A file uploaded to a PyPI-style index.
    Upload {
        project: String,
        file: String,
        sha256: Sha256Hex,
        path: PathBuf,
    },
    /// A file copied into a static mirror at `rel`.
    Copy {
        rel: String,
        sha256: Sha256Hex,
        path: PathBuf,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub phase: Phase,
    #[serde(flatten)]
    pub action: Action,
}

impl Step {
    /// The journal key: content-addressed.
    pub fn key(&self) -> String {
        match &self.action {
            Action::Blob { digest, .. } => format!("blob sha256:{digest}"),
            Action::Manifest { digest, .. } => format!("manifest sha256:{digest}"),
            Action::ReferrersIndex {
                subject,
                descriptors,
            } => {
                let ds: Vec<&str> = descriptors.iter().map(|d| d.digest.as_str()).collect();
                format!(
                    "referrers-index sha256-{subject} {}",
                    Sha256Hex::of(ds.join(",").as_bytes())
                )
            }
            Action::Tag { tag, digest, .. } => format!("tag {tag}=sha256:{digest}"),
            Action::Upload { file, sha256, .. } => format!("upload {file} sha256:{sha256}"),
            Action::Copy { rel, sha256, .. } => format!("copy {rel} sha256:{sha256}"),
        }
    }

    /// The action's name, as in the JSON plan and report.
    pub fn kind(&self) -> &'static str {
        match &self.action {
            Action::Blob { .. } => "blob",
            Action::Manifest { .. } => "manifest",
            Action::ReferrersIndex { .. } => "referrers-index",
            Action::Tag { .. } => "tag",
            Action::Upload { .. } => "upload",
            Action::Copy { .. } => "copy",
        }
    }

    pub fn describe(&self) -> String {
        match &self.action {
            Action::Blob { digest, size, .. } => {
                format!("blob sha256:{} ({size} bytes)", &digest.as_str()[..12])
            }
            Action::Manifest {
                digest, media_type, ..
            } => format!("manifest sha256:{} ({media_type})", &digest.as_str()[..12]),
            Action::ReferrersIndex {
                subject,
                descriptors,
            } => format!(
                "referrers of sha256:{} ({} manifests; tag sha256-… when the registry has no referrers API)",
                &subject.as_str()[..12],
                descriptors.len()
            ),
            Action::Tag { tag, digest, .. } => {
                format!("tag {tag} → sha256:{}", &digest.as_str()[..12])
            }
            Action::Upload { file, .. } => format!("upload {file}"),
            Action::Copy { rel, .. } => format!("file {rel}"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DestPlan {
    pub dest: Destination,
    pub steps: Vec<Step>,
}

impl DestPlan {
    /// The journal's record of `step` done at this destination.
    pub fn record(&self, step: &Step) -> super::journal::Record {
        super::journal::Record {
            dest: self.dest.name.clone(),
            url: self.dest.url.clone(),
            step: step.key(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub release: String,
    pub version: String,
    pub destinations: Vec<DestPlan>,
}

/// The release as publish sees it: the manifest and the directory.
pub struct ReleaseDir {
    pub dir: PathBuf,
    pub manifest: ReleaseManifest,
}

impl ReleaseDir {
    pub fn open(dir: &Path) -> Result<ReleaseDir, PlanError> {
        let path = dir.join("release.json");
        let manifest: ReleaseManifest =
            crate::json::read_file(&path, crate::json::limit::RELEASE).map_err(json_err(&path))?;
        Ok(ReleaseDir {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// The image artifact, if any: (file, manifest digest).
    pub fn image(&self) -> Option<(&str, &Sha256Hex)> {
        self.manifest
            .artifacts
            .iter()
            .find(|a| a.kind == crate::model::ArtifactKind::OciImage)
            .map(|a| (a.file.as_str(), &a.sha256))
    }

    /// Every file of the release directory that is published, as sorted relative paths: the
    /// working files of publish (`.relsign-publish/`) and hidden files are not.
    pub fn files(&self) -> Result<Vec<String>, PlanError> {
        let mut out = Vec::new();
        walk(&self.dir, "", &mut out)?;
        out.sort();
        Ok(out)
    }
}

fn walk(root: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), PlanError> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    for e in std::fs::read_dir(&dir).map_err(fsutil::err("read directory", &dir))? {
        let e = e.map_err(fsutil::err("read directory", &dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let ft = e.file_type().map_err(fsutil::err("stat", &e.path()))?;
        if ft.is_dir() {
            walk(root, &r, out)?;
        } else if ft.is_file() {
            out.push(r);
        } else {
            return Err(PlanError::Release {
                path: e.path(),
                reason: "not a regular file or directory; a release holds only those".into(),
            });
        }
    }
    Ok(())
}

/// Writes generated content (referrer manifests, index pages) into the work directory,
/// named by digest, and returns (digest, size, path).
pub struct Gen {
    dir: PathBuf,
}

impl Gen {
    pub fn new(dir: PathBuf) -> Gen {
        Gen { dir }
    }
    pub fn put(&self, bytes: &[u8]) -> Result<(Sha256Hex, u64, PathBuf), FsError> {
        let d = Sha256Hex::of(bytes);
        let p = self.dir.join(d.as_str());
        if !p.is_file() || Sha256Hex::of(&fsutil::read(&p)?) != d {
            fsutil::write_atomic(&p, bytes)?;
        }
        Ok((d, bytes.len() as u64, p))
    }
}

/// Plan every destination.
pub fn plan(
    rel: &ReleaseDir,
    dests: &[Destination],
    policy_dir: Option<&Path>,
    gen: &Gen,
) -> Result<Plan, PlanError> {
    let mut out = Vec::new();
    for d in dests {
        let steps = match d.kind {
            Kind::Pypi => plan_pypi(rel),
            Kind::Oci => plan_oci(rel, &d.name, gen)?,
            Kind::Mirror => plan_mirror(rel, d, policy_dir, gen)?,
        };
        out.push(DestPlan {
            dest: d.clone(),
            steps,
        });
    }
    Ok(Plan {
        release: rel.manifest.name.clone(),
        version: rel.manifest.version.clone(),
        destinations: out,
    })
}

fn plan_pypi(rel: &ReleaseDir) -> Vec<Step> {
    // sdists first: an index that sees the wheel first is fine too, but a stable order keeps
    // journals comparable.
    let mut arts: Vec<_> = rel
        .manifest
        .artifacts
        .iter()
        .filter(|a| {
            a.kind == crate::model::ArtifactKind::Sdist
                || a.kind == crate::model::ArtifactKind::Wheel
        })
        .collect();
    arts.sort_by_key(|a| (a.kind != crate::model::ArtifactKind::Sdist, a.file.clone()));
    arts.iter()
        .map(|a| Step {
            phase: Phase::Blobs,
            action: Action::Upload {
                project: a.package.clone(),
                file: a.file.clone(),
                sha256: a.sha256.clone(),
                path: rel.dir.join(&a.file),
            },
        })
        .collect()
}

/// The image's blobs and manifest, then one referrer per Sigstore bundle about the image and
/// one carrying the release's metadata (release.json, DSSE envelopes, SBOMs, test summary,
/// inputs), then the referrers fallback index, then the version tag.
fn plan_oci(rel: &ReleaseDir, dest: &str, gen: &Gen) -> Result<Vec<Step>, PlanError> {
    let Some((file, digest)) = rel.image() else {
        return Err(PlanError::Usage(format!(
            "destination {dest} is an OCI registry, but the release has no image artifact"
        )));
    };
    let image = Image::open(rel, file, digest)?;
    let mut steps = OciSteps::default();
    for d in std::iter::once(&image.manifest.config).chain(&image.manifest.layers) {
        steps.blob(d, image.layout.blob_path(d.hex()))?;
    }
    steps.push(
        Phase::Manifests,
        Action::Manifest {
            digest: digest.clone(),
            media_type: image.manifest.media_type.clone(),
            path: image.path.clone(),
        },
    );
    let base = ReferrerBase::new(rel, &image, digest, gen, &mut steps)?;
    let files = rel.files()?;
    let mut referrers = bundle_referrers(rel, &files, file, &base, &mut steps)?;
    referrers.push(release_referrer(rel, &files, file, &base, &mut steps)?);
    for (d, path) in &referrers {
        steps.push(
            Phase::Signatures,
            Action::Manifest {
                digest: Sha256Hex::parse(d.hex()).expect("we made it"),
                media_type: oci::MEDIA_MANIFEST.into(),
                path: path.clone(),
            },
        );
    }
    steps.push(
        Phase::Tags,
        Action::ReferrersIndex {
            subject: digest.clone(),
            descriptors: referrers.iter().map(|(d, _)| d.clone()).collect(),
        },
    );
    steps.push(
        Phase::Tags,
        Action::Tag {
            tag: rel.manifest.version.clone(),
            digest: digest.clone(),
            media_type: image.manifest.media_type.clone(),
            path: image.path,
        },
    );
    Ok(steps.steps)
}

/// The release's image: its layout, and its manifest (checked against release.json).
struct Image {
    layout: oci::Layout,
    /// The manifest's blob, its bytes and the manifest.
    path: PathBuf,
    bytes: Vec<u8>,
    manifest: oci::Manifest,
}

impl Image {
    fn open(rel: &ReleaseDir, file: &str, digest: &Sha256Hex) -> Result<Image, PlanError> {
        let layout_dir = rel.dir.join(file);
        let layout = oci::Layout::open(&layout_dir).map_err(|e| PlanError::Release {
            path: layout_dir.clone(),
            reason: e.to_string(),
        })?;
        let path = layout.blob_path(digest.as_str());
        let bytes = read_limited(&path, crate::json::limit::OCI)?;
        if Sha256Hex::of(&bytes) != *digest {
            return Err(PlanError::Release {
                path,
                reason: format!(
                    "manifest sha256 expected={digest} (release.json), got={}",
                    Sha256Hex::of(&bytes)
                ),
            });
        }
        let manifest: oci::Manifest = crate::json::from_slice(&bytes, crate::json::limit::OCI)
            .map_err(|e| PlanError::Release {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        Ok(Image {
            layout,
            path,
            bytes,
            manifest,
        })
    }
}

/// A registry destination's steps, each blob once.
#[derive(Default)]
struct OciSteps {
    steps: Vec<Step>,
    seen: BTreeSet<Sha256Hex>,
}

impl OciSteps {
    fn push(&mut self, phase: Phase, action: Action) {
        self.steps.push(Step { phase, action });
    }

    /// The blob `d` at `path`, unless it is planned already.
    fn blob(&mut self, d: &Descriptor, path: PathBuf) -> Result<(), PlanError> {
        let hex = Sha256Hex::parse(d.hex()).map_err(|e| PlanError::Release {
            path: path.clone(),
            reason: e,
        })?;
        if self.seen.insert(hex.clone()) {
            self.push(
                Phase::Blobs,
                Action::Blob {
                    digest: hex,
                    size: d.size,
                    path,
                },
            );
        }
        Ok(())
    }
}

/// What every referrer of the image shares: the empty config (its blob planned), the subject,
/// the creation time.
struct ReferrerBase<'g> {
    gen: &'g Gen,
    empty: Descriptor,
    subject: Descriptor,
    created: String,
}

impl<'g> ReferrerBase<'g> {
    fn new(
        rel: &ReleaseDir,
        image: &Image,
        digest: &Sha256Hex,
        gen: &'g Gen,
        steps: &mut OciSteps,
    ) -> Result<Self, PlanError> {
        let subject = Descriptor {
            media_type: image.manifest.media_type.clone(),
            digest: format!("sha256:{digest}"),
            size: image.bytes.len() as u64,
            annotations: None,
            artifact_type: None,
        };
        let created = oci::rfc3339(rel.manifest.source_date_epoch);
        let (ed, es, ep) = gen.put(b"{}")?;
        let empty = Descriptor {
            media_type: MEDIA_EMPTY.into(),
            digest: format!("sha256:{ed}"),
            size: es,
            annotations: None,
            artifact_type: None,
        };
        steps.blob(&empty, ep)?;
        Ok(ReferrerBase {
            gen,
            empty,
            subject,
            created,
        })
    }

    /// A referrer with these layers and annotations; see [`referrer`].
    fn referrer(
        &self,
        artifact_type: &str,
        layers: Vec<Descriptor>,
        annotations: BTreeMap<String, String>,
    ) -> Result<(Descriptor, PathBuf), PlanError> {
        referrer(
            self.gen,
            artifact_type,
            &self.empty,
            layers,
            &self.subject,
            annotations,
        )
    }
}

/// One referrer per Sigstore bundle about the image, laid out as cosign's bundle format; the
/// bundles' blobs are planned.
fn bundle_referrers(
    rel: &ReleaseDir,
    files: &[String],
    image_file: &str,
    base: &ReferrerBase<'_>,
    steps: &mut OciSteps,
) -> Result<Vec<(Descriptor, PathBuf)>, PlanError> {
    let mut referrers = Vec::new();
    for f in files {
        let Some(name) = f.strip_prefix("attestations/") else {
            continue;
        };
        if !name.ends_with(".sigstore.json") || !bundle_is_about_image(name, image_file) {
            continue;
        }
        let path = rel.dir.join(f);
        let bytes = read_limited(&path, crate::json::limit::STATEMENT)?;
        let layer = Descriptor {
            media_type: MEDIA_BUNDLE.into(),
            digest: format!("sha256:{}", Sha256Hex::of(&bytes)),
            size: bytes.len() as u64,
            annotations: Some(BTreeMap::from([(TITLE.to_string(), f.clone())])),
            artifact_type: None,
        };
        steps.blob(&layer, path)?;
        let mut ann = BTreeMap::from([
            (CREATED.to_string(), base.created.clone()),
            (
                "dev.sigstore.bundle.content".to_string(),
                "dsse-envelope".to_string(),
            ),
        ]);
        if let Some(pt) = bundle_predicate_type(&bytes) {
            ann.insert("dev.sigstore.bundle.predicateType".into(), pt);
        }
        referrers.push(base.referrer(MEDIA_BUNDLE, vec![layer], ann)?);
    }
    Ok(referrers)
}

/// The referrer carrying the release's metadata, so that `relsign verify` and `relsign
/// rebuild` work from the registry alone: one tar layer (its blob planned), so the number of
/// blobs (each a few round trips) does not grow with the number of files (a source tree in
/// inputs/ can have thousands).
fn release_referrer(
    rel: &ReleaseDir,
    files: &[String],
    image_file: &str,
    base: &ReferrerBase<'_>,
    steps: &mut OciSteps,
) -> Result<(Descriptor, PathBuf), PlanError> {
    let image_prefix = format!("{image_file}/");
    let metadata: Vec<&String> = files
        .iter()
        .filter(|f| {
            (*f == "release.json"
                || (f.starts_with("attestations/") && f.ends_with(".dsse.json"))
                || (f.starts_with("attestations/") && f.ends_with(".tlog-proof"))
                || f.starts_with("sbom/")
                || *f == "test-results/summary.json"
                || f.starts_with("scan/")
                || f.starts_with("inputs/"))
                && !f.starts_with(&image_prefix)
        })
        .collect();
    let tar = metadata_tar(&rel.dir, &metadata, rel.manifest.source_date_epoch)?;
    let (td, ts, tp) = base.gen.put(&tar)?;
    let layer = Descriptor {
        media_type: MEDIA_RELEASE_TAR.into(),
        digest: format!("sha256:{td}"),
        size: ts,
        annotations: Some(BTreeMap::from([(
            TITLE.to_string(),
            RELEASE_TAR_TITLE.to_string(),
        )])),
        artifact_type: None,
    };
    steps.blob(&layer, tp)?;
    let ann = BTreeMap::from([
        (CREATED.to_string(), base.created.clone()),
        (
            "dev.relsign.release".to_string(),
            format!("{} {}", rel.manifest.name, rel.manifest.version),
        ),
    ]);
    base.referrer(ARTIFACT_RELEASE, vec![layer], ann)
}

/// A referrer manifest (OCI 1.1: empty config, artifactType, subject), written to the work
/// directory; returns its descriptor (with artifactType and annotations, as the referrers API
/// lists it) and path.
fn referrer(
    gen: &Gen,
    artifact_type: &str,
    empty: &Descriptor,
    layers: Vec<Descriptor>,
    subject: &Descriptor,
    annotations: BTreeMap<String, String>,
) -> Result<(Descriptor, PathBuf), PlanError> {
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": oci::MEDIA_MANIFEST,
        "artifactType": artifact_type,
        "config": empty,
        "layers": layers,
        "subject": subject,
        "annotations": annotations,
    });
    let bytes = canonical_json(&m);
    let (d, size, path) = gen.put(&bytes)?;
    Ok((
        Descriptor {
            media_type: oci::MEDIA_MANIFEST.into(),
            digest: format!("sha256:{d}"),
            size,
            annotations: Some(annotations),
            artifact_type: Some(artifact_type.into()),
        },
        path,
    ))
}

/// Bundles named `<statement>.<keyid>.sigstore.json`: provenance covers every artifact, the
/// image's SBOMs, the test result and the vulnerability attestation are about the image;
/// per-file bundles of the sdist and wheel are not.
fn bundle_is_about_image(name: &str, image_file: &str) -> bool {
    name.starts_with("provenance.")
        || name.starts_with("test-result.")
        || name.starts_with(&format!("{}.", crate::vulns::STATEMENT_NAME))
        || name.starts_with(&format!("sbom-{image_file}."))
        || name.starts_with(&format!("{image_file}."))
}

/// A release file of at most `limit` bytes. The plan is made before the release is verified
/// (the verification runs beside the first uploads), so what it parses is read with limits.
fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, PlanError> {
    crate::json::read_limited(path, limit).map_err(json_err(path))
}

/// A release file that could not be read (the file system's error as it is) or is not what
/// it must be.
fn json_err(path: &Path) -> impl FnOnce(crate::json::ReadError) -> PlanError {
    let path = path.to_path_buf();
    move |e| match e {
        crate::json::ReadError::Fs(e) => PlanError::Fs(e),
        e => PlanError::Release {
            path,
            reason: e.to_string(),
        },
    }
}

fn bundle_predicate_type(bundle: &[u8]) -> Option<String> {
    use base64::Engine;
    let v = crate::json::value(bundle, crate::json::limit::STATEMENT).ok()?;
    let payload = v["dsseEnvelope"]["payload"].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .ok()?;
    let st = crate::json::value(&bytes, crate::json::limit::STATEMENT).ok()?;
    st["predicateType"].as_str().map(str::to_string)
}

/// A deterministic tar of `files` (paths relative to `dir`): sorted, mode 0644, owner 0,
/// mtime the release's SOURCE_DATE_EPOCH.
fn metadata_tar(dir: &Path, files: &[&String], epoch: u64) -> Result<Vec<u8>, PlanError> {
    use crate::archive::tarw::{sort_key, Kind as TarKind, TarWriter};
    let mut sorted = files.to_vec();
    sorted.sort_by(|a, b| sort_key(a).cmp(sort_key(b)));
    let mut w = TarWriter::new(Vec::new(), epoch);
    let fail = |path: &Path, e: std::io::Error| PlanError::Release {
        path: path.to_path_buf(),
        reason: format!("adding to the release metadata tar: {e}"),
    };
    for f in sorted {
        let path = dir.join(f);
        let bytes = fsutil::read(&path)?;
        w.append(
            f,
            &TarKind::File,
            0o644,
            bytes.len() as u64,
            epoch,
            &mut bytes.as_slice(),
        )
        .map_err(|e| fail(&path, e))?;
    }
    w.finish().map_err(|e| fail(dir, e))
}

/// Where a release lives inside a mirror.
pub fn mirror_release_dir(name: &str, version: &str) -> String {
    format!("releases/{name}/{version}")
}

/// The mirror: the release directory under `releases/<name>/<version>/` (artifacts and image
/// blobs first, attestations next, then image/index.json and release.json), the trust policy
/// under `keys/policy/`, then the PEP 503 project pages and the root page, regenerated from every
/// release the mirror holds plus this one.
fn plan_mirror(
    rel: &ReleaseDir,
    d: &Destination,
    policy_dir: Option<&Path>,
    gen: &Gen,
) -> Result<Vec<Step>, PlanError> {
    let root = mirror_root(&d.url);
    let base = mirror_release_dir(&rel.manifest.name, &rel.manifest.version);
    let mut steps = release_copies(rel, &base)?;
    let Some(pdir) = policy_dir else {
        return Err(PlanError::Usage(format!(
            "destination {} is a mirror: it carries the trust policy; give --policy DIR",
            d.name
        )));
    };
    steps.extend(policy_copies(pdir)?);
    steps.extend(index_pages(rel, &root, &base, gen)?);
    steps.sort_by_key(|s| s.phase);
    Ok(steps)
}

/// The release directory's files, copied under `base`.
fn release_copies(rel: &ReleaseDir, base: &str) -> Result<Vec<Step>, PlanError> {
    let mut steps = Vec::new();
    for f in rel.files()? {
        if f == crate::reldir::NOT_A_RELEASE {
            continue;
        }
        let path = rel.dir.join(&f);
        let (sha, _) = crate::digest::hash_file(&path).map_err(fsutil::err("read", &path))?;
        let phase = if f == "release.json" || f.ends_with("/index.json") && f.starts_with("image") {
            Phase::Tags
        } else if f.starts_with("attestations/") {
            Phase::Signatures
        } else {
            Phase::Blobs
        };
        steps.push(Step {
            phase,
            action: Action::Copy {
                rel: format!("{base}/{f}"),
                sha256: sha,
                path,
            },
        });
    }
    Ok(steps)
}

/// The trust policy's files (`<policy dir>/policy/*.json`), copied under `keys/policy/`.
fn policy_copies(pdir: &Path) -> Result<Vec<Step>, PlanError> {
    let pol = pdir.join("policy");
    let mut pfiles: Vec<_> = std::fs::read_dir(&pol)
        .map_err(fsutil::err("read directory", &pol))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
        .collect();
    pfiles.sort();
    let mut steps = Vec::new();
    for n in pfiles {
        let path = pol.join(&n);
        let (sha, _) = crate::digest::hash_file(&path).map_err(fsutil::err("read", &path))?;
        steps.push(Step {
            phase: Phase::Signatures,
            action: Action::Copy {
                rel: format!("keys/policy/{n}"),
                sha256: sha,
                path,
            },
        });
    }
    Ok(steps)
}

/// Index pages: every wheel/sdist of every release in the mirror (as its release.json says)
/// plus this release's, one page per project and the root page.
fn index_pages(
    rel: &ReleaseDir,
    root: &Path,
    base: &str,
    gen: &Gen,
) -> Result<Vec<Step>, PlanError> {
    let mut by_project: BTreeMap<String, BTreeMap<String, (String, Sha256Hex)>> = BTreeMap::new();
    let mut add = |m: &ReleaseManifest| {
        let base = mirror_release_dir(&m.name, &m.version);
        for a in &m.artifacts {
            if a.kind == crate::model::ArtifactKind::Sdist
                || a.kind == crate::model::ArtifactKind::Wheel
            {
                by_project
                    .entry(normalize_name(&a.package))
                    .or_default()
                    .insert(
                        a.file.clone(),
                        (format!("{base}/{}", a.file), a.sha256.clone()),
                    );
            }
        }
    };
    // This release's own directory is not read: its files are being (re)placed, and a copy
    // step refuses other bytes under its names.
    for m in mirror_releases(root, base)? {
        add(&m);
    }
    add(&rel.manifest);
    let mut steps = Vec::new();
    let mut page_step = |rel: String, page: String| -> Result<(), PlanError> {
        let (sha, _, path) = gen.put(page.as_bytes())?;
        steps.push(Step {
            phase: Phase::Tags,
            action: Action::Copy {
                rel,
                sha256: sha,
                path,
            },
        });
        Ok(())
    };
    for (project, files) in &by_project {
        let links: Vec<(String, String)> = files
            .iter()
            .map(|(file, (target, sha))| {
                (
                    file.clone(),
                    format!(
                        "../../{}#sha256={sha}",
                        target
                            .split('/')
                            .map(simple::percent_encode)
                            .collect::<Vec<_>>()
                            .join("/")
                    ),
                )
            })
            .collect();
        let page = simple::render_project_page(project, &links);
        page_step(format!("simple/{project}/index.html"), page)?;
    }
    let projects: Vec<String> = by_project.keys().cloned().collect();
    page_step(
        "simple/index.html".into(),
        simple::render_root_page(&projects),
    )?;
    Ok(steps)
}

/// A mirror URL (a path or `file://` URL) as a directory.
pub fn mirror_root(url: &str) -> PathBuf {
    PathBuf::from(url.strip_prefix("file://").unwrap_or(url))
}

/// The releases a mirror holds (their release.json), for the index pages.
fn mirror_releases(root: &Path, skip: &str) -> Result<Vec<ReleaseManifest>, PlanError> {
    let mut out = Vec::new();
    let rels = root.join("releases");
    let Ok(names) = std::fs::read_dir(&rels) else {
        return Ok(out);
    };
    for n in names.flatten() {
        let Ok(versions) = std::fs::read_dir(n.path()) else {
            continue;
        };
        for v in versions.flatten() {
            if v.path() == root.join(skip) {
                continue;
            }
            let p = v.path().join("release.json");
            if p.is_file() {
                let m = crate::json::read_file(&p, crate::json::limit::RELEASE)
                    .map_err(json_err(&p))?;
                out.push(m);
            }
        }
    }
    out.sort_by(|a: &ReleaseManifest, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_tar_is_sorted_normalized_and_deterministic() {
        let d = tempfile::tempdir().unwrap();
        for (f, body) in [
            ("sbom/b.cdx.json", "{}"),
            ("release.json", "{\"name\":\"x\"}"),
            ("inputs/src/a.py", "print(1)\n"),
        ] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, body).unwrap();
        }
        let names: Vec<String> = ["sbom/b.cdx.json", "release.json", "inputs/src/a.py"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let refs: Vec<&String> = names.iter().collect();
        let a = metadata_tar(d.path(), &refs, 1_700_000_000).unwrap();
        // Other mtimes and modes on disk change nothing.
        let p = d.path().join("release.json");
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let rev: Vec<&String> = names.iter().rev().collect();
        let b = metadata_tar(d.path(), &rev, 1_700_000_000).unwrap();
        assert_eq!(a, b);
        let mut ar = tar::Archive::new(a.as_slice());
        let got: Vec<(String, u32, u64, u64)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                    h.uid().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("inputs/src/a.py".into(), 0o644, 1_700_000_000, 0),
                ("release.json".into(), 0o644, 1_700_000_000, 0),
                ("sbom/b.cdx.json".into(), 0o644, 1_700_000_000, 0),
            ]
        );
    }
}
