//! OCI image layout 1.1: blobs, layers, config, manifest, index. Everything is streamed
//! (a layer is never held in memory) and serialized canonically, so the same tree gives the
//! same digests.

pub mod layer;

use crate::digest::{HashingWriter, Sha256Hex};
use crate::fsutil::{self, FsError};
use crate::model::canonical_json;
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{layout}: {reason}")]
    Layout { layout: PathBuf, reason: String },
    #[error("{layout}: blob {digest}: expected={expected}, got={got}")]
    BlobMismatch {
        layout: PathBuf,
        digest: String,
        expected: String,
        got: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
    #[serde(
        rename = "artifactType",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    pub fn hex(&self) -> &str {
        self.digest.strip_prefix("sha256:").unwrap_or(&self.digest)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", skip_serializing_if = "Option::is_none", default)]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// An OCI image layout directory being written or read.
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    /// Create (or reuse) a layout directory with its `oci-layout` file.
    pub fn create(dir: &Path) -> Result<Layout, OciError> {
        fsutil::create_dir_all(&dir.join("blobs/sha256"))?;
        fsutil::write_atomic(
            &dir.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        Ok(Layout {
            dir: dir.to_path_buf(),
        })
    }

    pub fn open(dir: &Path) -> Result<Layout, OciError> {
        if !dir.join("oci-layout").is_file() || !dir.join("index.json").is_file() {
            return Err(OciError::Layout {
                layout: dir.to_path_buf(),
                reason: "not an OCI image layout (no oci-layout or index.json)".into(),
            });
        }
        Ok(Layout {
            dir: dir.to_path_buf(),
        })
    }

    pub fn blob_path(&self, hex: &str) -> PathBuf {
        self.dir.join("blobs/sha256").join(hex)
    }

    /// Stream a blob into the layout; returns its descriptor.
    pub fn write_blob(
        &self,
        media_type: &str,
        fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<Descriptor, OciError> {
        let blobs = self.dir.join("blobs/sha256");
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&blobs)
            .map_err(fsutil::err("create temp file in", &blobs))?;
        let (digest, size) = {
            let mut w =
                HashingWriter::new(io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut()));
            fill(&mut w).map_err(fsutil::err("write blob in", &blobs))?;
            let (mut inner, d, n) = w.finish();
            inner
                .flush()
                .map_err(fsutil::err("write blob in", &blobs))?;
            (d, n)
        };
        // Temp files are 0600; a layout is published as is (a static mirror served by another
        // user must read it), so blobs are world-readable like every other written file.
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(fsutil::err("chmod blob in", &blobs))?;
        }
        tmp.as_file()
            .sync_all()
            .map_err(fsutil::err("fsync blob in", &blobs))?;
        let dest = self.blob_path(digest.as_str());
        tmp.persist(&dest).map_err(|e| FsError {
            op: "rename into",
            path: dest.clone(),
            source: e.error,
        })?;
        Ok(Descriptor {
            media_type: media_type.into(),
            digest: format!("sha256:{digest}"),
            size,
            annotations: None,
            artifact_type: None,
        })
    }

    pub fn write_json_blob<T: Serialize>(
        &self,
        media_type: &str,
        v: &T,
    ) -> Result<Descriptor, OciError> {
        let bytes = canonical_json(v);
        self.write_blob(media_type, |w| w.write_all(&bytes))
    }

    /// Read a blob, checking its digest.
    pub fn read_blob(&self, d: &Descriptor) -> Result<Vec<u8>, OciError> {
        let p = self.blob_path(d.hex());
        let bytes = fsutil::read(&p)?;
        let got = Sha256Hex::of(&bytes);
        if got.as_str() != d.hex() {
            return Err(OciError::BlobMismatch {
                layout: self.dir.clone(),
                digest: d.digest.clone(),
                expected: d.hex().into(),
                got: got.to_string(),
            });
        }
        Ok(bytes)
    }

    pub fn read_index(&self) -> Result<Index, OciError> {
        let p = self.dir.join("index.json");
        crate::json::from_slice(&fsutil::read(&p)?, crate::json::limit::OCI).map_err(|e| {
            OciError::Layout {
                layout: self.dir.clone(),
                reason: format!("index.json: {e}"),
            }
        })
    }

    /// Write index.json pointing at `manifests` (atomically; last, so readers never see an
    /// index that names missing blobs).
    pub fn write_index(&self, manifests: Vec<Descriptor>) -> Result<(), OciError> {
        let idx = Index {
            schema_version: 2,
            media_type: Some(MEDIA_INDEX.into()),
            manifests,
        };
        Ok(fsutil::write_atomic(
            &self.dir.join("index.json"),
            &canonical_json(&idx),
        )?)
    }

    /// The manifest descriptor for `tag` (or the only one when `tag` is None).
    pub fn find_manifest(&self, tag: Option<&str>) -> Result<Descriptor, OciError> {
        let idx = self.read_index()?;
        let mut found: Vec<&Descriptor> = idx
            .manifests
            .iter()
            .filter(|d| match tag {
                Some(t) => d
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(REF_NAME))
                    .map(|r| r == t)
                    .unwrap_or(false),
                None => true,
            })
            .collect();
        match (found.len(), tag) {
            (1, _) => Ok(found.remove(0).clone()),
            (0, Some(t)) => Err(OciError::Layout {
                layout: self.dir.clone(),
                reason: format!("no manifest tagged {t:?}"),
            }),
            (n, _) => Err(OciError::Layout {
                layout: self.dir.clone(),
                reason: format!("{n} manifests; name one with a tag"),
            }),
        }
    }

    pub fn read_manifest(&self, d: &Descriptor) -> Result<Manifest, OciError> {
        crate::json::from_slice(&self.read_blob(d)?, crate::json::limit::OCI).map_err(|e| {
            OciError::Layout {
                layout: self.dir.clone(),
                reason: format!("manifest {}: {e}", d.digest),
            }
        })
    }
}

/// RFC 3339 UTC time for an epoch (OCI `created`).
pub fn rfc3339(epoch: u64) -> String {
    let (y, m, d) = crate::archive::normalize::civil_from_days((epoch / 86_400) as i64);
    let s = epoch % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        (s % 3600) / 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn rfc3339_formats() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
