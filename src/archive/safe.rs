//! Safe tar extraction for untrusted archives: `.deb` data members and Python sdists.
//!
//! Every entry name is checked before anything is written:
//!
//! - absolute names and names with a `..` component are refused;
//! - symlinks whose target, resolved from the link's own directory (absolute targets against
//!   `dest` as the root: this is a rootfs), leaves `dest` are refused;
//! - hard links must point at a regular file this archive already extracted;
//! - device nodes, fifos, sparse files and unknown entry types are refused;
//! - the total of regular-file bytes and the number of entries are capped (archive bombs).
//!
//! Writing never follows a symlink through the OS: each parent directory is resolved by hand
//! inside `dest` (a symlinked parent is followed only while it stays inside `dest`, absolute
//! targets taken relative to `dest`), files are created with `O_EXCL`, and permissions are set
//! on the open file handle.
//!
//! Modes: files keep `mode & 0o777`, directories `mode & 0o1777` (sticky kept) with the owner
//! always given `rwx` so extraction can continue; setuid and setgid bits are cleared (a build
//! rootfs never needs them, and the sandbox runs with no new privileges). Owners are not kept,
//! unless [`ExtractOptions::owners`] asks for them (an image unpacked by real root to start its
//! services, each under its own user): then every entry gets the tar header's numeric uid and
//! gid, set on the open file or with `lchown` on the entry itself (never through a link).
//! Modification times are not set: the writers normalize them later.

use super::error::ArchiveError;
use crate::digest::{HashingWriter, Sha256Hex};
use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Default cap on the total size of regular files: 4 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 4 << 30;
/// Default cap on the number of entries.
pub const DEFAULT_MAX_ENTRIES: u64 = 1_000_000;
/// Longest entry name (and link target) accepted, in bytes (Linux's PATH_MAX).
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest path component accepted, in bytes (Linux's NAME_MAX).
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Default cap on the expansion ratio (file bytes over compressed input bytes), applied when
/// the caller gives the input size; [`RATIO_FLOOR`] bytes are always allowed. Real sdists and
/// .deb data members expand 3–20×; deflate's ceiling is about 1032×.
pub const DEFAULT_MAX_RATIO: u64 = 200;
/// Bytes of files always allowed whatever the ratio (small archives of zeros are legitimate).
pub const RATIO_FLOOR: u64 = 64 << 20;
/// Symlinks followed while resolving one path before giving up (as the kernel's ELOOP).
const MAX_SYMLINK_HOPS: usize = 40;

/// What to do when an entry's path already exists in `dest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overwrite {
    /// Replace an existing file or symlink (tar semantics: the later entry wins). An existing
    /// directory is kept when the entry is a directory, and is an error otherwise.
    #[default]
    Replace,
    /// Any existing non-directory path is an error.
    Refuse,
}

/// A path-rewrite hook: gets the normalized relative path (`usr/bin/python3`, no leading `./`)
/// and returns the path to extract to, or `None` to skip the entry.
pub type Rewrite<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Options for [`extract_tar`].
#[derive(Clone)]
pub struct ExtractOptions<'a> {
    /// Name of the archive shown in errors (a file name).
    pub archive_name: String,
    /// Leading path components removed from every name (1 for an sdist's top directory).
    /// Entries with no component left are skipped.
    pub strip_components: usize,
    /// Applied after stripping, to entry names and hard-link targets (not to symlink targets).
    pub rewrite: Option<Rewrite<'a>>,
    /// Cap on the total bytes of regular files.
    pub max_bytes: u64,
    /// Cap on the number of entries.
    pub max_entries: u64,
    pub overwrite: Overwrite,
    /// The size of the (compressed) input, when known: the files may then hold at most
    /// `max(RATIO_FLOOR, input_size × max_ratio)` bytes.
    pub input_size: Option<u64>,
    pub max_ratio: u64,
    /// Give every entry the numeric owner its header records (needs root).
    pub owners: bool,
}

impl Default for ExtractOptions<'_> {
    fn default() -> Self {
        ExtractOptions {
            archive_name: "archive".into(),
            strip_components: 0,
            rewrite: None,
            max_bytes: DEFAULT_MAX_BYTES,
            max_entries: DEFAULT_MAX_ENTRIES,
            overwrite: Overwrite::Replace,
            input_size: None,
            max_ratio: DEFAULT_MAX_RATIO,
            owners: false,
        }
    }
}

impl std::fmt::Debug for ExtractOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtractOptions")
            .field("archive_name", &self.archive_name)
            .field("strip_components", &self.strip_components)
            .field("rewrite", &self.rewrite.is_some())
            .field("max_bytes", &self.max_bytes)
            .field("max_entries", &self.max_entries)
            .field("overwrite", &self.overwrite)
            .field("input_size", &self.input_size)
            .field("max_ratio", &self.max_ratio)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    HardLink,
}

/// One entry written to `dest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedEntry {
    /// Relative path after stripping and rewriting, `/`-separated, no leading `./`.
    pub path: String,
    pub kind: EntryKind,
    /// Bytes of a regular file (0 otherwise).
    pub size: u64,
    /// The mode applied (see the module notes).
    pub mode: u32,
    /// Symlink target as stored, or the hard-link target path (after rewriting).
    pub link_target: Option<String>,
    /// Digest of a regular file's (or hard link's) content.
    pub sha256: Option<Sha256Hex>,
}

/// Extract a tar stream into `dest` (created if missing). See the module notes for the rules.
pub fn extract_tar(
    reader: impl Read,
    dest: &Path,
    opts: &ExtractOptions,
) -> Result<Vec<ExtractedEntry>, ArchiveError> {
    crate::fsutil::create_dir_all(dest)?;
    let mut ar = tar::Archive::new(reader);
    let mut x = Extraction::new(dest, opts);
    for entry in ar.entries().map_err(|e| x.io_err(e))? {
        let entry = entry.map_err(|e| x.io_err(e))?;
        x.entry(entry)?;
    }
    x.finish()
}

/// The state of one extraction: what was written so far and what is left to the end.
struct Extraction<'o, 'a> {
    dest: &'o Path,
    opts: &'o ExtractOptions<'a>,
    out: Vec<ExtractedEntry>,
    /// Regular files extracted so far (real components), the only hard-link targets.
    files: HashMap<Vec<String>, Sha256Hex>,
    /// Directories and their modes, set at the end.
    dirs: Vec<(PathBuf, u32)>,
    total_bytes: u64,
    count: u64,
    /// The expansion-ratio cap on `total_bytes`, when the input size is known.
    ratio_cap: Option<u64>,
}

/// Where one entry goes: its name after mapping, its real place under `dest`, and what is
/// there already.
struct Placement {
    rel: String,
    /// Real components of the parent directory under `dest`.
    parent_real: Vec<String>,
    /// Real components of the entry under `dest`.
    target_real: Vec<String>,
    target: PathBuf,
    existing: Option<std::fs::Metadata>,
}

/// Names the archive and entry in errors about one entry.
struct EntryErr<'e> {
    archive: &'e str,
    entry: &'e str,
}

impl EntryErr<'_> {
    fn bad(&self, reason: String) -> ArchiveError {
        ArchiveError::Entry {
            archive: self.archive.into(),
            entry: self.entry.into(),
            reason,
        }
    }
    fn io(&self, source: io::Error) -> ArchiveError {
        io_error(self.archive, source)
    }
}

fn io_error(archive: &str, source: io::Error) -> ArchiveError {
    ArchiveError::Io {
        archive: archive.to_string(),
        source,
    }
}

impl<'o, 'a> Extraction<'o, 'a> {
    fn new(dest: &'o Path, opts: &'o ExtractOptions<'a>) -> Self {
        Extraction {
            dest,
            opts,
            out: Vec::new(),
            files: HashMap::new(),
            dirs: Vec::new(),
            total_bytes: 0,
            count: 0,
            ratio_cap: opts
                .input_size
                .map(|n| n.saturating_mul(opts.max_ratio).max(RATIO_FLOOR)),
        }
    }

    fn io_err(&self, source: io::Error) -> ArchiveError {
        io_error(&self.opts.archive_name, source)
    }

    /// Check, place and write one entry.
    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), ArchiveError> {
        self.count += 1;
        if self.count > self.opts.max_entries {
            return Err(ArchiveError::Archive {
                archive: self.opts.archive_name.clone(),
                reason: format!(
                    "more than {} entries; refusing (archive bomb?)",
                    self.opts.max_entries
                ),
            });
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let e = EntryErr {
            archive: &self.opts.archive_name,
            entry: &raw,
        };
        let Some(kind) = entry_kind(entry.header().entry_type()).map_err(|r| e.bad(r))? else {
            return Ok(());
        };
        let name = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|_| e.bad("the name is not valid UTF-8".into()))?;
        let Some(rel) = map_name(&name, self.opts).map_err(|r| e.bad(r))? else {
            return Ok(());
        };
        let mode = entry
            .header()
            .mode()
            .map_err(|err| e.bad(format!("bad mode field: {err}")))?;
        let owner = entry_owner(entry.header(), self.opts.owners).map_err(|r| e.bad(r))?;
        let place = self.place(rel).map_err(|r| e.bad(r))?;
        let mut rec = ExtractedEntry {
            path: place.rel.clone(),
            kind,
            size: 0,
            mode: 0,
            link_target: None,
            sha256: None,
        };
        if kind == EntryKind::Dir && self.keeps_dir_symlink(&place) {
            rec.mode = dir_mode(mode);
            self.out.push(rec);
            return Ok(());
        }
        if let Some(meta) = &place.existing {
            clear_existing(meta, kind, &place.target, self.opts.overwrite).map_err(|r| e.bad(r))?;
        }
        match kind {
            EntryKind::Dir => self.make_dir(&e, &place, mode, owner, &mut rec)?,
            EntryKind::File => self.write_file(&e, &mut entry, &place, mode, owner, &mut rec)?,
            EntryKind::Symlink => write_symlink(&e, &entry, &place, owner, &mut rec)?,
            EntryKind::HardLink => self.write_hard_link(&e, &entry, &place, &mut rec)?,
        }
        self.out.push(rec);
        Ok(())
    }

    /// Resolve the entry's parent inside `dest` (creating it) and look at what is there.
    fn place(&self, rel: String) -> Result<Placement, String> {
        let comps: Vec<String> = rel.split('/').map(str::to_string).collect();
        let (parent, last) = comps.split_at(comps.len() - 1);
        let parent_real = resolve(self.dest, parent, true)?;
        ensure_dirs(self.dest, &parent_real)?;
        let mut target_real = parent_real.clone();
        target_real.push(last[0].clone());
        let target = join(self.dest, &target_real);
        let existing = std::fs::symlink_metadata(&target).ok();
        Ok(Placement {
            rel,
            parent_real,
            target_real,
            target,
            existing,
        })
    }

    /// As dpkg does: a directory entry where a symlink to a directory (inside dest) already
    /// exists keeps the symlink (merged-/usr style links stay links).
    fn keeps_dir_symlink(&self, place: &Placement) -> bool {
        if !place
            .existing
            .as_ref()
            .is_some_and(|m| m.file_type().is_symlink())
        {
            return false;
        }
        match resolve(self.dest, &place.target_real, true) {
            Ok(real) => std::fs::symlink_metadata(join(self.dest, &real)).is_ok_and(|m| m.is_dir()),
            Err(_) => false,
        }
    }

    fn make_dir(
        &mut self,
        e: &EntryErr,
        place: &Placement,
        mode: u32,
        owner: Option<(u32, u32)>,
        rec: &mut ExtractedEntry,
    ) -> Result<(), ArchiveError> {
        let target = &place.target;
        if place.existing.is_none() {
            std::fs::create_dir(target)
                .map_err(|err| e.bad(format!("creating {}: {err}", target.display())))?;
        }
        rec.mode = dir_mode(mode);
        if let Some((u, g)) = owner {
            std::os::unix::fs::lchown(target, Some(u), Some(g))
                .map_err(|err| e.bad(format!("chown {}: {err}", target.display())))?;
        }
        self.dirs.push((target.clone(), rec.mode));
        Ok(())
    }

    /// Count the file's bytes against the caps, then write it with `O_EXCL` and hash it.
    fn write_file<R: Read>(
        &mut self,
        e: &EntryErr,
        entry: &mut tar::Entry<'_, R>,
        place: &Placement,
        mode: u32,
        owner: Option<(u32, u32)>,
        rec: &mut ExtractedEntry,
    ) -> Result<(), ArchiveError> {
        let size = entry.size();
        self.total_bytes = self.total_bytes.saturating_add(size);
        check_file_bytes(self.total_bytes, self.ratio_cap, self.opts).map_err(|r| e.bad(r))?;
        let target = &place.target;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(target)
            .map_err(|err| e.bad(format!("creating {}: {err}", target.display())))?;
        let mut w = HashingWriter::new(io::BufWriter::new(f));
        let n = io::copy(&mut entry.take(size), &mut w).map_err(|err| e.io(err))?;
        if n != size {
            return Err(e.bad(format!("truncated: expected={size} bytes, got={n} bytes")));
        }
        let (bw, digest, _) = w.finish();
        let f = bw.into_inner().map_err(|err| e.io(err.into_error()))?;
        rec.mode = mode & 0o777;
        if let Some((u, g)) = owner {
            std::os::unix::fs::fchown(&f, Some(u), Some(g)).map_err(|err| e.io(err))?;
        }
        f.set_permissions(std::fs::Permissions::from_mode(rec.mode))
            .map_err(|err| e.io(err))?;
        rec.size = size;
        self.files.insert(place.target_real.clone(), digest.clone());
        rec.sha256 = Some(digest);
        Ok(())
    }

    /// A hard link to a regular file this archive extracted earlier.
    fn write_hard_link<R: Read>(
        &mut self,
        e: &EntryErr,
        entry: &tar::Entry<'_, R>,
        place: &Placement,
        rec: &mut ExtractedEntry,
    ) -> Result<(), ArchiveError> {
        let link = entry
            .link_name_bytes()
            .ok_or_else(|| e.bad("hard link without a target".into()))?
            .into_owned();
        let link = String::from_utf8(link)
            .map_err(|_| e.bad("the hard-link target is not valid UTF-8".into()))?;
        let Some(lrel) = map_name(&link, self.opts)
            .map_err(|why| e.bad(format!("hard-link target {link:?}: {why}")))?
        else {
            return Err(e.bad(format!(
                "hard-link target {link:?} is outside the extracted tree"
            )));
        };
        let lcomps: Vec<String> = lrel.split('/').map(str::to_string).collect();
        let lreal = resolve(self.dest, &lcomps, false)
            .map_err(|why| e.bad(format!("hard-link target {link:?}: {why}")))?;
        let Some(digest) = self.files.get(&lreal).cloned() else {
            return Err(e.bad(format!(
                "hard-link target {link:?} is not a file extracted earlier from this archive"
            )));
        };
        let src = join(self.dest, &lreal);
        let target = &place.target;
        std::fs::hard_link(&src, target).map_err(|err| {
            e.bad(format!(
                "linking {} to {}: {err}",
                target.display(),
                src.display()
            ))
        })?;
        let meta = std::fs::symlink_metadata(target).map_err(|err| e.io(err))?;
        rec.size = meta.len();
        rec.mode = meta.permissions().mode() & 0o7777;
        rec.link_target = Some(lrel);
        self.files.insert(place.target_real.clone(), digest.clone());
        rec.sha256 = Some(digest);
        Ok(())
    }

    /// Directory modes last (children first), so a read-only directory does not stop
    /// extraction.
    fn finish(self) -> Result<Vec<ExtractedEntry>, ArchiveError> {
        for (p, m) in self.dirs.iter().rev() {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(*m))
                .map_err(crate::fsutil::err("chmod", p))?;
        }
        Ok(self.out)
    }
}

/// What kind of entry this is, `None` for a global header (skipped), an error for the kinds
/// refused.
fn entry_kind(etype: tar::EntryType) -> Result<Option<EntryKind>, String> {
    Ok(Some(match etype {
        tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
        tar::EntryType::Directory => EntryKind::Dir,
        tar::EntryType::Symlink => EntryKind::Symlink,
        tar::EntryType::Link => EntryKind::HardLink,
        tar::EntryType::XGlobalHeader => return Ok(None),
        tar::EntryType::Char | tar::EntryType::Block => {
            return Err("device nodes are not allowed".into());
        }
        tar::EntryType::Fifo => return Err("fifos are not allowed".into()),
        tar::EntryType::GNUSparse => return Err("sparse files are not supported".into()),
        other => {
            return Err(format!(
                "unsupported entry type {:?}",
                other.as_byte() as char
            ))
        }
    }))
}

/// The header's numeric owner, when `owners` asks for it.
fn entry_owner(h: &tar::Header, owners: bool) -> Result<Option<(u32, u32)>, String> {
    if !owners {
        return Ok(None);
    }
    let uid = h.uid().map_err(|e| format!("bad uid field: {e}"))?;
    let gid = h.gid().map_err(|e| format!("bad gid field: {e}"))?;
    match (u32::try_from(uid), u32::try_from(gid)) {
        (Ok(u), Ok(g)) => Ok(Some((u, g))),
        _ => Err(format!("owner {uid}:{gid} is out of range")),
    }
}

/// A directory's mode: sticky kept, setuid and setgid cleared, the owner given `rwx`.
fn dir_mode(mode: u32) -> u32 {
    (mode & 0o1777) | 0o700
}

/// The files so far (`total_bytes`) are within the byte cap and the expansion ratio.
fn check_file_bytes(
    total_bytes: u64,
    ratio_cap: Option<u64>,
    opts: &ExtractOptions,
) -> Result<(), String> {
    if total_bytes > opts.max_bytes {
        return Err(format!(
            "the archive holds more than {} bytes of files; refusing (archive bomb?)",
            opts.max_bytes
        ));
    }
    if let (Some(cap), Some(n)) = (ratio_cap, opts.input_size) {
        if total_bytes > cap {
            return Err(format!(
                "the files expand to more than {cap} bytes from {n} bytes of input \
                 (over {}:1); refusing (archive bomb?)",
                opts.max_ratio
            ));
        }
    }
    Ok(())
}

/// Make room for an entry where `meta` exists: two directories merge; a directory is never
/// replaced; anything else is removed, unless overwrites are refused.
fn clear_existing(
    meta: &std::fs::Metadata,
    kind: EntryKind,
    target: &Path,
    overwrite: Overwrite,
) -> Result<(), String> {
    if meta.is_dir() && kind == EntryKind::Dir {
        return Ok(());
    }
    if meta.is_dir() {
        return Err(format!("{} exists as a directory", target.display()));
    }
    if overwrite == Overwrite::Refuse {
        return Err(format!("{} already exists", target.display()));
    }
    std::fs::remove_file(target).map_err(|e| format!("removing {}: {e}", target.display()))
}

/// A symlink whose target, resolved lexically from its directory, stays inside `dest`.
fn write_symlink<R: Read>(
    e: &EntryErr,
    entry: &tar::Entry<'_, R>,
    place: &Placement,
    owner: Option<(u32, u32)>,
    rec: &mut ExtractedEntry,
) -> Result<(), ArchiveError> {
    let link = entry
        .link_name_bytes()
        .ok_or_else(|| e.bad("symlink without a target".into()))?
        .into_owned();
    let link = String::from_utf8(link)
        .map_err(|_| e.bad("the symlink target is not valid UTF-8".into()))?;
    if link.is_empty() {
        return Err(e.bad("symlink with an empty target".into()));
    }
    if link.len() > MAX_PATH_BYTES {
        return Err(e.bad(format!(
            "the symlink target is {} bytes long, over the limit of {MAX_PATH_BYTES}",
            link.len()
        )));
    }
    check_link_target(&place.parent_real, &link)
        .map_err(|why| e.bad(format!("symlink target {link:?} {why}; refusing")))?;
    let target = &place.target;
    std::os::unix::fs::symlink(&link, target)
        .map_err(|err| e.bad(format!("creating symlink {}: {err}", target.display())))?;
    if let Some((u, g)) = owner {
        std::os::unix::fs::lchown(target, Some(u), Some(g))
            .map_err(|err| e.bad(format!("chown {}: {err}", target.display())))?;
    }
    rec.mode = 0o777;
    rec.link_target = Some(link);
    Ok(())
}

fn join(root: &Path, comps: &[String]) -> PathBuf {
    let mut p = root.to_path_buf();
    for c in comps {
        p.push(c);
    }
    p
}

/// Normalize an entry name (strip `./`, trailing `/`), refuse absolute and `..` names, apply
/// strip_components and the rewrite hook. `None` means skip.
fn map_name(name: &str, opts: &ExtractOptions) -> Result<Option<String>, String> {
    if name.len() > MAX_PATH_BYTES {
        return Err(format!(
            "the name is {} bytes long, over the limit of {MAX_PATH_BYTES}",
            name.len()
        ));
    }
    if let Some(c) = name.split('/').find(|c| c.len() > MAX_COMPONENT_BYTES) {
        return Err(format!(
            "a path component is {} bytes long, over the limit of {MAX_COMPONENT_BYTES}",
            c.len()
        ));
    }
    if name.starts_with('/') {
        return Err("absolute paths are not allowed".into());
    }
    let mut comps = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("`..` components are not allowed".into()),
            c => comps.push(c),
        }
    }
    if comps.len() <= opts.strip_components {
        return Ok(None);
    }
    let rel = comps[opts.strip_components..].join("/");
    let rel = match opts.rewrite {
        Some(f) => match f(&rel) {
            Some(r) => r,
            None => return Ok(None),
        },
        None => rel,
    };
    // The rewrite hook's output is checked as well.
    if rel.is_empty()
        || rel.starts_with('/')
        || rel.split('/').any(|c| matches!(c, "" | "." | ".."))
    {
        return Err(format!("rewritten to an invalid path {rel:?}"));
    }
    Ok(Some(rel))
}

/// Resolve `comps` inside `root` without letting the OS follow symlinks: each existing symlink
/// is read and followed by hand (absolute targets from `root`); a path that would leave `root`
/// is an error. Components that do not exist yet are kept as they are. When `follow_last` is
/// false a final symlink is not followed. Returns the real components relative to `root`.
fn resolve(root: &Path, comps: &[String], follow_last: bool) -> Result<Vec<String>, String> {
    let mut queue: std::collections::VecDeque<String> = comps.iter().cloned().collect();
    let mut out: Vec<String> = Vec::new();
    let mut hops = 0;
    let mut exists = true;
    while let Some(c) = queue.pop_front() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                if out.pop().is_none() {
                    return Err(format!("{} leads outside the destination", comps.join("/")));
                }
                continue;
            }
            _ => {}
        }
        out.push(c);
        if !exists || (queue.is_empty() && !follow_last) {
            continue;
        }
        let p = join(root, &out);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(format!(
                        "too many levels of symbolic links at {}",
                        p.display()
                    ));
                }
                let t = std::fs::read_link(&p)
                    .map_err(|e| format!("reading symlink {}: {e}", p.display()))?;
                let t = t
                    .to_str()
                    .ok_or_else(|| format!("symlink {} has a non-UTF-8 target", p.display()))?;
                out.pop();
                if t.starts_with('/') {
                    out.clear();
                }
                for (i, tc) in t.split('/').enumerate() {
                    queue.insert(i, tc.to_string());
                }
            }
            Ok(m) if !m.is_dir() && !queue.is_empty() => {
                return Err(format!("{} is not a directory", p.display()));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => exists = false,
            Err(e) => return Err(format!("stat {}: {e}", p.display())),
        }
    }
    Ok(out)
}

/// Create the (already resolved, symlink-free) directories `comps` under `root`.
fn ensure_dirs(root: &Path, comps: &[String]) -> Result<(), String> {
    let mut p = root.to_path_buf();
    for c in comps {
        p.push(c);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("{} exists and is not a directory", p.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir(&p).map_err(|e| format!("creating {}: {e}", p.display()))?;
            }
            Err(e) => return Err(format!("stat {}: {e}", p.display())),
        }
    }
    Ok(())
}

/// A symlink placed in directory `dir` (real components under the root) with target `link`
/// must stay inside the root when resolved lexically.
fn check_link_target(dir: &[String], link: &str) -> Result<(), String> {
    let mut cur: Vec<&str> = if link.starts_with('/') {
        Vec::new()
    } else {
        dir.iter().map(String::as_str).collect()
    };
    for c in link.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if cur.pop().is_none() {
                    return Err("leads outside the destination".into());
                }
            }
            c => cur.push(c),
        }
    }
    Ok(())
}

/// Convenience: the sum of file sizes of extracted entries.
pub fn total_size(entries: &[ExtractedEntry]) -> u64 {
    entries
        .iter()
        .filter(|e| e.kind == EntryKind::File)
        .map(|e| e.size)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h
    }

    /// Build an archive from (name, kind, data or link target). Names are written raw, so
    /// hostile names (`../x`, `/etc/x`) can be expressed.
    fn archive(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = match kind {
                tar::EntryType::Regular => header(*kind, data.len() as u64, 0o644),
                tar::EntryType::Directory => header(*kind, 0, 0o755),
                _ => header(*kind, 0, 0o777),
            };
            // Set raw bytes: tar::Header::set_path refuses `..`, which is what we want to test.
            let gnu = h.as_old_mut();
            gnu.name = [0; 100];
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            if matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
                gnu.linkname = [0; 100];
                gnu.linkname[..data.len()].copy_from_slice(data);
            }
            h.set_cksum();
            let body: &[u8] = if *kind == tar::EntryType::Regular {
                data
            } else {
                &[]
            };
            b.append(&h, body).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn extract(a: &[u8], dest: &Path) -> Result<Vec<ExtractedEntry>, ArchiveError> {
        extract_tar(
            a,
            dest,
            &ExtractOptions {
                archive_name: "t.tar".into(),
                ..Default::default()
            },
        )
    }

    use tar::EntryType as T;

    #[test]
    fn refuses_dotdot() {
        let d = tempfile::tempdir().unwrap();
        let e = extract(
            &archive(&[("a/../../evil", T::Regular, b"x")]),
            &d.path().join("root"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("a/../../evil") && e.to_string().contains(".."),
            "{e}"
        );
        assert!(!d.path().join("evil").exists());
    }

    #[test]
    fn refuses_absolute() {
        let d = tempfile::tempdir().unwrap();
        let e = extract(&archive(&[("/tmp/evil", T::Regular, b"x")]), d.path()).unwrap_err();
        assert!(e.to_string().contains("absolute"), "{e}");
    }

    #[test]
    fn refuses_escaping_symlink() {
        let d = tempfile::tempdir().unwrap();
        let e = extract(
            &archive(&[("usr/link", T::Symlink, b"../../../etc")]),
            d.path(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("usr/link") && e.to_string().contains("outside"),
            "{e}"
        );
        // Absolute targets resolve against the root and are fine.
        extract(
            &archive(&[
                ("usr/ok", T::Symlink, b"/etc/passwd"),
                ("usr/ok2", T::Symlink, b"../etc"),
            ]),
            d.path(),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_link(d.path().join("usr/ok")).unwrap(),
            Path::new("/etc/passwd")
        );
    }

    #[test]
    fn refuses_file_through_symlink() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        let dest = d.path().join("root");
        std::fs::create_dir(&dest).unwrap();
        std::fs::create_dir(&outside).unwrap();
        // A symlink already in dest that points outside (as if planted earlier).
        std::os::unix::fs::symlink("../outside", dest.join("planted")).unwrap();
        let e = extract(&archive(&[("planted/x", T::Regular, b"pwned")]), &dest).unwrap_err();
        assert!(
            e.to_string().contains("planted/x")
                && e.to_string().contains("outside the destination"),
            "{e}"
        );
        assert!(!outside.join("x").exists());
        // A planted absolute symlink is resolved against dest, never on the host.
        std::os::unix::fs::symlink(&outside, dest.join("planted-abs")).unwrap();
        extract(
            &archive(&[("planted-abs/x", T::Regular, b"contained")]),
            &dest,
        )
        .unwrap();
        assert!(!outside.join("x").exists());
        assert!(dest
            .join(outside.strip_prefix("/").unwrap())
            .join("x")
            .is_file());
        // An archive's own "link then file through it" with an escaping link is refused at the link.
        let e = extract(
            &archive(&[
                ("l", T::Symlink, b"../../.."),
                ("l/x", T::Regular, b"pwned"),
            ]),
            &dest,
        )
        .unwrap_err();
        assert!(e.to_string().contains("\"l\""), "{e}");
        // An absolute symlink is followed inside dest, never on the host.
        let e2 = extract(
            &archive(&[("abs", T::Symlink, b"/tmp"), ("abs/y", T::Regular, b"ok")]),
            &dest,
        )
        .unwrap();
        assert_eq!(e2.len(), 2);
        assert_eq!(std::fs::read(dest.join("tmp/y")).unwrap(), b"ok");
    }

    #[test]
    fn refuses_devices_and_fifos() {
        let d = tempfile::tempdir().unwrap();
        let e = extract(&archive(&[("dev/null", T::Char, b"")]), d.path()).unwrap_err();
        assert!(
            e.to_string().contains("dev/null") && e.to_string().contains("device"),
            "{e}"
        );
        let e = extract(&archive(&[("p", T::Fifo, b"")]), d.path()).unwrap_err();
        assert!(e.to_string().contains("fifo"), "{e}");
    }

    #[test]
    fn refuses_bombs() {
        let d = tempfile::tempdir().unwrap();
        let a = archive(&[
            ("a", T::Regular, &[0u8; 600]),
            ("b", T::Regular, &[0u8; 600]),
        ]);
        let opts = ExtractOptions {
            max_bytes: 1000,
            ..Default::default()
        };
        let e = extract_tar(&a[..], d.path(), &opts).unwrap_err();
        assert!(
            e.to_string().contains("\"b\"") && e.to_string().contains("1000 bytes"),
            "{e}"
        );
        let opts = ExtractOptions {
            max_entries: 1,
            ..Default::default()
        };
        let e = extract_tar(&a[..], &d.path().join("2"), &opts).unwrap_err();
        assert!(e.to_string().contains("more than 1 entries"), "{e}");
    }

    #[test]
    fn refuses_long_names_and_expansion_over_the_ratio() {
        let d = tempfile::tempdir().unwrap();
        // A GNU long name (over the 100-byte field) built with the tar crate's own writer.
        let mut b = tar::Builder::new(Vec::new());
        let long = format!("{}/f", "a".repeat(300));
        let mut h = header(T::Regular, 1, 0o644);
        b.append_data(&mut h, &long, &b"x"[..]).unwrap();
        let a = b.into_inner().unwrap();
        let e = extract(&a, &d.path().join("1")).unwrap_err();
        assert!(e.to_string().contains("over the limit of 255"), "{e}");
        // Within the floor, any ratio is fine: 10 MiB of zeros from "10 kB" of input.
        let opts = ExtractOptions {
            input_size: Some(10_000),
            ..Default::default()
        };
        let a = archive(&[("z", T::Regular, &vec![0u8; 10 << 20])]);
        extract_tar(&a[..], &d.path().join("2"), &opts).unwrap();
        // Past the floor, 10 kB × 200 is the cap: 65 MiB of files is refused.
        let a = archive(&[(
            "z",
            T::Regular,
            &vec![0u8; (RATIO_FLOOR + (1 << 20)) as usize],
        )]);
        let e = extract_tar(&a[..], &d.path().join("3"), &opts).unwrap_err();
        assert!(e.to_string().contains("over 200:1"), "{e}");
        // Without the input size, only max_bytes applies.
        extract_tar(&a[..], &d.path().join("4"), &ExtractOptions::default()).unwrap();
    }

    #[test]
    fn hard_links_must_point_at_extracted_files() {
        let d = tempfile::tempdir().unwrap();
        let e = extract(&archive(&[("h", T::Link, b"etc/passwd")]), d.path()).unwrap_err();
        assert!(
            e.to_string().contains("not a file extracted earlier"),
            "{e}"
        );
        let e = extract(&archive(&[("h", T::Link, b"../x")]), d.path()).unwrap_err();
        assert!(e.to_string().contains("hard-link target"), "{e}");
    }

    #[test]
    fn extracts_a_good_archive_with_strip_and_rewrite() {
        let d = tempfile::tempdir().unwrap();
        let a = archive(&[
            ("./", T::Directory, b""),
            ("./pkg-1.0/", T::Directory, b""),
            ("./pkg-1.0/bin/", T::Directory, b""),
            ("./pkg-1.0/bin/tool", T::Regular, b"#!/bin/sh\n"),
            ("./pkg-1.0/bin/alias", T::Symlink, b"tool"),
            ("./pkg-1.0/bin/hard", T::Link, b"./pkg-1.0/bin/tool"),
            ("./pkg-1.0/README", T::Regular, b"hi"),
        ]);
        let rw = |p: &str| -> Option<String> {
            if p == "bin" {
                None
            } else if let Some(r) = p.strip_prefix("bin/") {
                Some(format!("usr/bin/{r}"))
            } else {
                Some(p.to_string())
            }
        };
        let opts = ExtractOptions {
            strip_components: 1,
            rewrite: Some(&rw),
            ..Default::default()
        };
        let got = extract_tar(&a[..], d.path(), &opts).unwrap();
        let paths: Vec<_> = got.iter().map(|e| (e.path.as_str(), e.kind)).collect();
        assert_eq!(
            paths,
            vec![
                ("usr/bin/tool", EntryKind::File),
                ("usr/bin/alias", EntryKind::Symlink),
                ("usr/bin/hard", EntryKind::HardLink),
                ("README", EntryKind::File)
            ]
        );
        assert_eq!(
            std::fs::read(d.path().join("usr/bin/hard")).unwrap(),
            b"#!/bin/sh\n"
        );
        assert_eq!(got[2].sha256, got[0].sha256);
        assert_eq!(got[0].sha256, Some(Sha256Hex::of(b"#!/bin/sh\n")));
        assert_eq!(
            std::fs::symlink_metadata(d.path().join("README"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o644
        );
        // Replace (default) lets a second archive overwrite; Refuse does not.
        extract_tar(
            &archive(&[("README", T::Regular, b"new")])[..],
            d.path(),
            &ExtractOptions::default(),
        )
        .unwrap();
        assert_eq!(std::fs::read(d.path().join("README")).unwrap(), b"new");
        let opts = ExtractOptions {
            overwrite: Overwrite::Refuse,
            ..Default::default()
        };
        let e = extract_tar(
            &archive(&[("README", T::Regular, b"x")])[..],
            d.path(),
            &opts,
        )
        .unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
    }

    #[test]
    fn setuid_is_cleared() {
        let d = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = header(T::Regular, 1, 0o4755);
        h.set_path("su").unwrap();
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let got = extract(&b.into_inner().unwrap(), d.path()).unwrap();
        assert_eq!(got[0].mode, 0o755);
    }
}
