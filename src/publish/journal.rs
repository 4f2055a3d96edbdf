//! The publish journal: an append-only JSON-lines file recording each step done per
//! destination. A re-run skips what the journal records (and what the destination already
//! has), so a publish killed at any point resumes. Every record is fsynced before the next step
//! starts; a torn last line (a kill in the middle of a write) is ignored on reading.
//!
//! Keys are content-addressed (blob and manifest digests, file names with their sha256, tags with
//! the digest they point at), plus the destination's name and URL: a journal never vouches for
//! other bytes, or for another server.

use crate::fsutil::{self, FsError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
    pub dest: String,
    pub url: String,
    pub step: String,
}

pub struct Journal {
    path: PathBuf,
    done: BTreeSet<Record>,
    file: Option<std::fs::File>,
}

impl Journal {
    /// Open (or start) the journal at `path`. `None` keeps it in memory (dry runs).
    pub fn open(path: Option<&Path>) -> Result<Journal, FsError> {
        let mut done = BTreeSet::new();
        let Some(path) = path else {
            return Ok(Journal {
                path: PathBuf::new(),
                done,
                file: None,
            });
        };
        if path.exists() {
            let text = fsutil::read(path)?;
            for line in text.split(|b| *b == b'\n') {
                // A torn line from a killed write does not parse: it is simply not done.
                if let Ok(r) = serde_json::from_slice::<Record>(line) {
                    done.insert(r);
                }
            }
        }
        fsutil::create_dir_all(fsutil::parent_dir(path))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(fsutil::err("open", path))?;
        Ok(Journal {
            path: path.to_path_buf(),
            done,
            file: Some(file),
        })
    }

    pub fn is_done(&self, r: &Record) -> bool {
        self.done.contains(r)
    }

    pub fn len(&self) -> usize {
        self.done.len()
    }

    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// Record a step as done: appended and fsynced before this returns.
    pub fn record(&mut self, r: Record) -> Result<(), FsError> {
        if let Some(f) = &mut self.file {
            let mut line = serde_json::to_vec(&r).expect("serializable");
            // A torn previous line must not swallow this one.
            line.insert(0, b'\n');
            f.write_all(&line)
                .and_then(|_| f.sync_data())
                .map_err(fsutil::err("append to", &self.path))?;
        }
        self.done.insert(r);
        Ok(())
    }

    /// Forget every record of one destination (a read-back found it incomplete).
    pub fn forget(&mut self, dest: &str) -> Result<(), FsError> {
        self.done.retain(|r| r.dest != dest);
        if self.file.is_some() {
            let mut bytes = Vec::new();
            for r in &self.done {
                bytes.extend(serde_json::to_vec(r).expect("serializable"));
                bytes.push(b'\n');
            }
            fsutil::write_atomic(&self.path, &bytes)?;
            self.file = Some(
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&self.path)
                    .map_err(fsutil::err("open", &self.path))?,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: &str) -> Record {
        Record {
            dest: "d".into(),
            url: "u".into(),
            step: s.into(),
        }
    }

    #[test]
    fn records_survive_reopen_and_a_torn_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j/journal.jsonl");
        let mut j = Journal::open(Some(&p)).unwrap();
        j.record(rec("blob sha256:aa")).unwrap();
        j.record(rec("manifest sha256:bb")).unwrap();
        drop(j);
        // A kill in the middle of the third write.
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"\n{\"dest\":\"d\",\"url\":\"u\",\"st")
            .unwrap();
        drop(f);
        let mut j = Journal::open(Some(&p)).unwrap();
        assert!(j.is_done(&rec("blob sha256:aa")));
        assert!(j.is_done(&rec("manifest sha256:bb")));
        assert_eq!(j.len(), 2);
        j.record(rec("tag 1.0")).unwrap();
        let j = Journal::open(Some(&p)).unwrap();
        assert!(
            j.is_done(&rec("tag 1.0")),
            "a record after a torn line is read"
        );
        assert!(!j.is_done(&Record {
            url: "other".into(),
            ..rec("tag 1.0")
        }));
    }

    #[test]
    fn forget_drops_one_destination() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("journal.jsonl");
        let mut j = Journal::open(Some(&p)).unwrap();
        j.record(rec("a")).unwrap();
        j.record(Record {
            dest: "e".into(),
            ..rec("a")
        })
        .unwrap();
        j.forget("d").unwrap();
        j.record(rec("b")).unwrap();
        let j = Journal::open(Some(&p)).unwrap();
        assert!(!j.is_done(&rec("a")));
        assert!(j.is_done(&rec("b")));
        assert_eq!(j.len(), 2);
    }
}
