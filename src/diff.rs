//! `relsign diff OLD NEW`: what an upgrade from OLD to NEW changes, read as a changelog.
//!
//! * **Packages**, per ecosystem (Debian, PyPI, …), from the CycloneDX SBOMs: added, removed,
//!   upgraded and downgraded, with versions (dpkg's order for Debian, PEP 440's for PyPI).
//!   OLD and NEW are release directories (every `sbom/*.cdx.json`) or CycloneDX files.
//! * **Image files**, per layer (layer *i* of OLD against layer *i* of NEW), when both are
//!   release directories with an image: paths added, removed and changed (content, mode, type
//!   or link target), read from the layer tars as a stream, never extracted.
//!
//! This is the check behind a stable branch's promise that an upgrade "will not install any
//! new software dependencies": `--fail-on added` makes it exit 1.

use crate::digest::Sha256Hex;
use crate::fsutil::{self, FsError};
use crate::packages::version_cmp;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Packages(#[from] crate::packages::PackagesError),
    #[error("{}: {reason}", .path.display())]
    Input { path: PathBuf, reason: String },
}

fn bad(path: &Path, reason: impl Into<String>) -> DiffError {
    DiffError::Input {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A package: its ecosystem (the purl type: `deb`, `pypi`, …) and name.
pub type PackageKey = (String, String);

/// What changed for one package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageChange {
    pub ecosystem: String,
    pub name: String,
    /// `added`, `removed`, `upgraded` or `downgraded`.
    pub change: &'static str,
    pub old: Vec<String>,
    pub new: Vec<String>,
}

/// What changed in one layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerChange {
    pub index: usize,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub packages: Vec<PackageChange>,
    /// `None` when OLD and NEW do not both carry an image.
    pub layers: Option<Vec<LayerChange>>,
}

impl Diff {
    /// The number of changes of a kind: `added`, `removed`, `upgraded`, `downgraded` (packages)
    /// or `files` (image paths added, removed or changed).
    pub fn count(&self, kind: &str) -> usize {
        if kind == "files" {
            return self
                .layers
                .iter()
                .flatten()
                .map(|l| l.added.len() + l.removed.len() + l.changed.len())
                .sum();
        }
        self.packages.iter().filter(|p| p.change == kind).count()
    }
}

/// The kinds `--fail-on` accepts.
pub const KINDS: [&str; 5] = ["added", "removed", "upgraded", "downgraded", "files"];

/// The packages of a release directory (all of `sbom/*.cdx.json`) or of one CycloneDX file,
/// by ecosystem and name, with every version listed.
pub fn packages(target: &Path) -> Result<BTreeMap<PackageKey, BTreeSet<String>>, DiffError> {
    let mut out: BTreeMap<PackageKey, BTreeSet<String>> = BTreeMap::new();
    for p in crate::packages::read(target)? {
        out.entry((p.ecosystem, p.name))
            .or_default()
            .insert(p.version);
    }
    Ok(out)
}

/// Packages added, removed, upgraded and downgraded from `old` to `new`.
pub fn diff_packages(
    old: &BTreeMap<PackageKey, BTreeSet<String>>,
    new: &BTreeMap<PackageKey, BTreeSet<String>>,
) -> Vec<PackageChange> {
    let keys: BTreeSet<&PackageKey> = old.keys().chain(new.keys()).collect();
    let mut out = Vec::new();
    for k in keys {
        let (o, n) = (old.get(k), new.get(k));
        let change = match (o, n) {
            (None, Some(_)) => "added",
            (Some(_), None) => "removed",
            (Some(o), Some(n)) if o == n => continue,
            (Some(o), Some(n)) => {
                let max = |s: &BTreeSet<String>| {
                    s.iter()
                        .max_by(|a, b| version_cmp(&k.0, a, b))
                        .cloned()
                        .unwrap_or_default()
                };
                match version_cmp(&k.0, &max(n), &max(o)) {
                    Ordering::Less => "downgraded",
                    _ => "upgraded",
                }
            }
            (None, None) => continue,
        };
        out.push(PackageChange {
            ecosystem: k.0.clone(),
            name: k.1.clone(),
            change,
            old: o.map(|s| s.iter().cloned().collect()).unwrap_or_default(),
            new: n.map(|s| s.iter().cloned().collect()).unwrap_or_default(),
        });
    }
    out
}

/// One path of a layer: its type, mode, owner (uid, gid), and content digest or link target.
type Entry = (u8, u32, (u64, u64), String);

/// The entries of a layer blob, read as a stream (gzip, zstd or plain tar).
fn layer_entries(path: &Path, media_type: &str) -> Result<BTreeMap<String, Entry>, DiffError> {
    let f = std::fs::File::open(path).map_err(fsutil::err("open", path))?;
    let r: Box<dyn Read> = if media_type.ends_with("+gzip") || media_type.ends_with(".gzip") {
        // Every gzip member: container runtimes read them all.
        Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
            f,
        )))
    } else if media_type.ends_with("+zstd") {
        Box::new(zstd::stream::read::Decoder::new(f).map_err(fsutil::err("read", path))?)
    } else {
        Box::new(std::io::BufReader::new(f))
    };
    let io = |e: std::io::Error| bad(path, format!("reading the layer: {e}"));
    let mut ar = tar::Archive::new(r);
    let mut out = BTreeMap::new();
    for (n, e) in ar.entries().map_err(io)?.enumerate() {
        if n as u64 >= crate::archive::safe::DEFAULT_MAX_ENTRIES {
            return Err(bad(path, "too many entries in a layer"));
        }
        let mut e = e.map_err(io)?;
        let name = String::from_utf8_lossy(&e.path_bytes())
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if name.len() > crate::archive::safe::MAX_PATH_BYTES {
            return Err(bad(path, "an entry name over the path limit"));
        }
        let h = e.header();
        let (kind, mode) = (h.entry_type().as_byte(), h.mode().unwrap_or(0));
        let owner = (h.uid().unwrap_or(0), h.gid().unwrap_or(0));
        let is_link = matches!(
            h.entry_type(),
            tar::EntryType::Symlink | tar::EntryType::Link
        );
        // The link name counts for links only; any other entry is hashed whatever its header's
        // linkname field says.
        let what = match e.link_name_bytes().filter(|_| is_link) {
            Some(l) => String::from_utf8_lossy(&l).into_owned(),
            None => {
                let mut w = crate::digest::HashingWriter::new(std::io::sink());
                std::io::copy(&mut e, &mut w).map_err(io)?;
                let (_, d, _) = w.finish();
                d.to_string()
            }
        };
        out.insert(name, (kind, mode, owner, what));
    }
    Ok(out)
}

/// The image layout of a release directory and its layers (blob path, media type).
fn image_layers(dir: &Path) -> Result<Option<Vec<(PathBuf, String)>>, DiffError> {
    let rel = dir.join("release.json");
    if !rel.is_file() {
        return Ok(None);
    }
    let m: crate::model::ReleaseManifest =
        crate::json::from_slice(&fsutil::read(&rel)?, crate::json::limit::RELEASE)
            .map_err(|e| bad(&rel, e.to_string()))?;
    let Some(a) = m
        .artifacts
        .iter()
        .find(|a| a.kind == crate::model::ArtifactKind::OciImage)
    else {
        return Ok(None);
    };
    let layout = dir.join(&a.file);
    let blobs = layout.join("blobs/sha256");
    let mpath = blobs.join(a.sha256.as_str());
    let manifest: crate::oci::Manifest =
        crate::json::from_slice(&fsutil::read(&mpath)?, crate::json::limit::OCI)
            .map_err(|e| bad(&mpath, e.to_string()))?;
    let mut out = Vec::new();
    for l in &manifest.layers {
        let hex = l
            .digest
            .strip_prefix("sha256:")
            .and_then(|h| Sha256Hex::parse(h).ok())
            .ok_or_else(|| bad(&mpath, format!("layer digest {:?}", l.digest)))?;
        out.push((blobs.join(hex.as_str()), l.media_type.clone()));
    }
    Ok(Some(out))
}

/// Paths added, removed and changed, layer by layer.
pub fn diff_layers(old: &Path, new: &Path) -> Result<Option<Vec<LayerChange>>, DiffError> {
    let (Some(a), Some(b)) = (image_layers(old)?, image_layers(new)?) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for i in 0..a.len().max(b.len()) {
        let ea = match a.get(i) {
            Some((p, mt)) => layer_entries(p, mt)?,
            None => BTreeMap::new(),
        };
        let eb = match b.get(i) {
            Some((p, mt)) => layer_entries(p, mt)?,
            None => BTreeMap::new(),
        };
        let mut c = LayerChange {
            index: i + 1,
            added: vec![],
            removed: vec![],
            changed: vec![],
        };
        for (k, v) in &eb {
            match ea.get(k) {
                None => c.added.push(k.clone()),
                Some(o) if o != v => c.changed.push(k.clone()),
                _ => {}
            }
        }
        c.removed = ea
            .keys()
            .filter(|k| !eb.contains_key(*k))
            .cloned()
            .collect();
        out.push(c);
    }
    Ok(Some(out))
}

/// The whole diff of two targets.
pub fn diff(old: &Path, new: &Path) -> Result<Diff, DiffError> {
    let packages = diff_packages(&packages(old)?, &packages(new)?);
    let layers = if old.is_dir() && new.is_dir() {
        diff_layers(old, new)?
    } else {
        None
    };
    Ok(Diff { packages, layers })
}

/// The diff as a changelog: one line per package change, per ecosystem; then the layers.
pub fn render(d: &Diff) -> String {
    let mut s = String::new();
    let ecos: BTreeSet<&str> = d.packages.iter().map(|p| p.ecosystem.as_str()).collect();
    if ecos.is_empty() {
        s.push_str("packages: no change\n");
    }
    for eco in ecos {
        s.push_str(&format!("{eco}:\n"));
        for p in d.packages.iter().filter(|p| p.ecosystem == eco) {
            let line = match p.change {
                "added" => format!("  + {} {}", p.name, p.new.join(", ")),
                "removed" => format!("  - {} {}", p.name, p.old.join(", ")),
                c => format!(
                    "  ~ {} {} -> {} ({c})",
                    p.name,
                    p.old.join(", "),
                    p.new.join(", ")
                ),
            };
            s.push_str(&line);
            s.push('\n');
        }
    }
    if let Some(layers) = &d.layers {
        for l in layers {
            s.push_str(&format!(
                "image layer {}: {} added, {} removed, {} changed\n",
                l.index,
                l.added.len(),
                l.removed.len(),
                l.changed.len()
            ));
            for (sign, list) in [("+", &l.added), ("-", &l.removed), ("~", &l.changed)] {
                for p in list.iter().take(20) {
                    s.push_str(&format!("  {sign} /{p}\n"));
                }
                if list.len() > 20 {
                    s.push_str(&format!("  {sign} … and {} more\n", list.len() - 20));
                }
            }
        }
    }
    s.push_str(&format!(
        "{} added, {} removed, {} upgraded, {} downgraded{}\n",
        d.count("added"),
        d.count("removed"),
        d.count("upgraded"),
        d.count("downgraded"),
        match d.layers {
            Some(_) => format!(", {} image file(s) changed", d.count("files")),
            None => String::new(),
        }
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[(&str, &str, &str)]) -> BTreeMap<PackageKey, BTreeSet<String>> {
        let mut m: BTreeMap<PackageKey, BTreeSet<String>> = BTreeMap::new();
        for (e, n, ver) in v {
            m.entry((e.to_string(), n.to_string()))
                .or_default()
                .insert(ver.to_string());
        }
        m
    }

    #[test]
    fn versions_compare_per_ecosystem() {
        // dpkg: ~ sorts before anything, epochs win.
        let old = set(&[
            ("deb", "libc6", "2.41-12"),
            ("deb", "tzdata", "2025b-4+deb13u1"),
            ("deb", "gone", "1.0"),
            ("pypi", "flask", "3.1.0"),
            ("pypi", "idna", "3.10"),
            ("deb", "same", "1:2.0"),
        ]);
        let new = set(&[
            ("deb", "libc6", "2.41-12+deb13u1"),
            ("deb", "tzdata", "2025b-4~deb13u1"),
            ("deb", "fresh", "0.1"),
            ("pypi", "flask", "3.1.0rc1"),
            ("pypi", "idna", "3.9"),
            ("deb", "same", "1:2.0"),
        ]);
        let d = diff_packages(&old, &new);
        let got: Vec<(&str, &str)> = d.iter().map(|c| (c.name.as_str(), c.change)).collect();
        assert_eq!(
            got,
            vec![
                ("fresh", "added"),
                ("gone", "removed"),
                ("libc6", "upgraded"),
                ("tzdata", "downgraded"),
                ("flask", "downgraded"),
                ("idna", "downgraded"),
            ]
        );
        let text = render(&Diff {
            packages: d,
            layers: None,
        });
        assert!(text.contains("  + fresh 0.1"), "{text}");
        assert!(
            text.contains("  ~ libc6 2.41-12 -> 2.41-12+deb13u1 (upgraded)"),
            "{text}"
        );
        assert!(
            text.ends_with("1 added, 1 removed, 1 upgraded, 3 downgraded\n"),
            "{text}"
        );
    }
}
