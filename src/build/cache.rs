//! The action cache: each build step's outputs (a package's sdist and wheel, the image's OCI
//! layout), kept in the content-addressed store and found again by the digest of the step's
//! exact inputs.
//!
//! A step's key is the SHA-256 of the canonical JSON of `{step, builder, inputs}`, where
//! `builder` is relsign's version and the digest of the sources it was compiled from (so a
//! changed relsign never reuses what another made) and `inputs` is the step's part of the
//! build plan plus what the plan cannot know before the step runs (a directory source's tree
//! digest and epoch, the built wheels' digests). The record, `<store>/actions/<key>.json`,
//! names each output by path, size and sha256; the outputs are store entries. A hit copies
//! every output out of the store, each checked against its digest as it is read (a corrupt
//! or missing entry is a miss, and the step runs). `--no-cache` skips the cache; `rebuild`
//! and `--check-reproducible` never use it, since they exist to run every step again.

use super::error::BuildError;
use crate::digest::Sha256Hex;
use crate::fsutil;
use crate::model::canonical_json;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The record's type, in its JSON form.
pub const ACTION_TYPE: &str = "https://relsign.dev/action/v1";

/// The largest record read (an image layout names a few hundred files at most).
const MAX_RECORD: u64 = 4 << 20;

/// relsign's version and the digest of the sources this binary was built from.
pub fn builder_id() -> String {
    format!(
        "relsign {} (sources sha256:{})",
        env!("CARGO_PKG_VERSION"),
        env!("RELSIGN_SOURCE_SHA256")
    )
}

/// One output of a step, relative to the directory the step writes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Output {
    pub path: String,
    pub size: u64,
    pub sha256: Sha256Hex,
}

/// `<store>/actions/<key>.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ActionRecord {
    #[serde(rename = "_type")]
    pub type_: String,
    pub step: String,
    pub key: Sha256Hex,
    pub outputs: Vec<Output>,
    /// The artifact the step made, when its outputs are one (the image's layout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<crate::model::Artifact>,
}

/// The cache over a store.
#[derive(Debug, Clone)]
pub struct ActionCache {
    store: Store,
}

/// A step's key: the SHA-256 of `{step, builder, inputs}` as canonical JSON.
pub fn key<T: Serialize>(step: &str, inputs: &T) -> Sha256Hex {
    #[derive(Serialize)]
    struct Keyed<'a, T> {
        step: &'a str,
        builder: String,
        inputs: &'a T,
    }
    Sha256Hex::of(&canonical_json(&Keyed {
        step,
        builder: builder_id(),
        inputs,
    }))
}

impl ActionCache {
    pub fn new(store: &Store) -> ActionCache {
        ActionCache {
            store: store.clone(),
        }
    }

    fn record_path(&self, key: &Sha256Hex) -> PathBuf {
        self.store
            .root()
            .join("actions")
            .join(format!("{key}.json"))
    }

    /// The record for `key`, when there is a well-formed one for this step. Anything else
    /// (missing, unreadable, another key or step inside) is a miss.
    pub fn lookup(&self, step: &str, key: &Sha256Hex) -> Option<ActionRecord> {
        let path = self.record_path(key);
        let bytes = crate::json::read_limited(&path, MAX_RECORD).ok()?;
        let v = crate::json::value(&bytes, MAX_RECORD).ok()?;
        let rec: ActionRecord = serde_json::from_value(v).ok()?;
        let ok = rec.type_ == ACTION_TYPE
            && rec.step == step
            && &rec.key == key
            && rec.outputs.iter().all(|o| safe_path(&o.path).is_some());
        ok.then_some(rec)
    }

    /// Copy a hit's outputs into `dir`, each checked against its digest. False when an entry
    /// is missing or corrupt; what was copied before is removed again, so the step that then
    /// runs writes into a clean place.
    pub fn restore(&self, rec: &ActionRecord, dir: &Path) -> Result<bool, BuildError> {
        let mut written = Vec::new();
        let ok = self.copy_out(rec, dir, &mut written);
        if !matches!(ok, Ok(true)) {
            for p in &written {
                let _ = std::fs::remove_file(p);
            }
        }
        ok
    }

    fn copy_out(
        &self,
        rec: &ActionRecord,
        dir: &Path,
        written: &mut Vec<PathBuf>,
    ) -> Result<bool, BuildError> {
        for o in &rec.outputs {
            let Ok(from) = self.store.get(&o.sha256, &o.path) else {
                return Ok(false);
            };
            let rel = safe_path(&o.path).expect("lookup checked the paths");
            let to = dir.join(rel);
            fsutil::create_dir_all(fsutil::parent_dir(&to))?;
            let mut src = std::fs::File::open(&from).map_err(fsutil::err("open", &from))?;
            let mut dst = std::fs::File::create(&to).map_err(fsutil::err("create", &to))?;
            written.push(to.clone());
            let n = std::io::copy(&mut src, &mut dst).map_err(fsutil::err("write", &to))?;
            dst.flush().map_err(fsutil::err("write", &to))?;
            if n != o.size {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Keep a step's outputs (`paths`, relative to `dir`) in the store and write the record,
    /// atomically, last.
    pub fn save(
        &self,
        step: &str,
        key: &Sha256Hex,
        dir: &Path,
        paths: &[String],
        artifact: Option<&crate::model::Artifact>,
    ) -> Result<ActionRecord, BuildError> {
        let mut outputs = Vec::new();
        for p in paths {
            let (sha256, size) = self.store.insert_file(&dir.join(p), None)?;
            outputs.push(Output {
                path: p.clone(),
                size,
                sha256,
            });
        }
        let rec = ActionRecord {
            type_: ACTION_TYPE.into(),
            step: step.into(),
            key: key.clone(),
            outputs,
            artifact: artifact.cloned(),
        };
        let mut json = canonical_json(&rec);
        json.push(b'\n');
        fsutil::write_atomic(&self.record_path(key), &json)?;
        Ok(rec)
    }
}

/// Every file under `dir`, relative to `base`, sorted; anything but files and directories is
/// refused (a step's outputs are regular files).
pub fn files_under(base: &Path, dir: &Path) -> Result<Vec<String>, BuildError> {
    let mut out = Vec::new();
    for p in fsutil::files_below(dir)? {
        let meta = p.symlink_metadata().map_err(fsutil::err("stat", &p))?;
        if !meta.is_file() {
            return Err(BuildError::Message(format!(
                "{}: not a regular file or directory (a step's output cannot be cached)",
                p.display()
            )));
        }
        let rel = p.strip_prefix(base).unwrap_or(&p);
        out.push(rel.to_string_lossy().into_owned());
    }
    Ok(out)
}

/// A relative path with only normal components.
fn safe_path(p: &str) -> Option<PathBuf> {
    let path = Path::new(p);
    let ok = !p.is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    ok.then(|| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_step_is_found_and_restored_and_a_corrupt_one_is_a_miss() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::at(t.path().join("store"));
        let cache = ActionCache::new(&store);
        let made = t.path().join("made");
        std::fs::create_dir_all(made.join("blobs")).unwrap();
        std::fs::write(made.join("a.whl"), b"wheel").unwrap();
        std::fs::write(made.join("blobs/x"), b"blob").unwrap();
        let k = key("package", &("demo", 1));
        assert_ne!(k, key("package", &("demo", 2)), "inputs are in the key");
        assert_ne!(k, key("image", &("demo", 1)), "the step is in the key");
        assert!(cache.lookup("package", &k).is_none());
        let paths = files_under(&made, &made).unwrap();
        assert_eq!(paths, ["a.whl", "blobs/x"]);
        let rec = cache.save("package", &k, &made, &paths, None).unwrap();
        assert_eq!(cache.lookup("package", &k), Some(rec.clone()));
        assert!(cache.lookup("image", &k).is_none(), "another step's record");
        let back = t.path().join("back");
        assert!(cache.restore(&rec, &back).unwrap());
        assert_eq!(std::fs::read(back.join("blobs/x")).unwrap(), b"blob");
        // A corrupt store entry: a miss, not a wrong output, and nothing restored is left.
        let entry = store.path_for(&rec.outputs[1].sha256);
        std::fs::write(&entry, b"tampered").unwrap();
        let again = t.path().join("again");
        assert!(!cache.restore(&rec, &again).unwrap());
        assert!(
            !again.join("a.whl").exists(),
            "the first output was removed again"
        );
        // A record with a path outside the directory is not used.
        let mut bad = rec.clone();
        bad.outputs[0].path = "../escape".into();
        std::fs::write(cache.record_path(&k), canonical_json(&bad)).unwrap();
        assert!(cache.lookup("package", &k).is_none());
    }
}
