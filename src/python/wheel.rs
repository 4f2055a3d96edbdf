//! Reading wheels: the one loop over a wheel's members (names checked, directories skipped,
//! symlinks refused, each member held to its declared size), used to install a wheel into a
//! venv ([`crate::python::install`]) and to unpack build dependencies into a `site-packages`
//! for the sandbox ([`unpack_into_site`]).

use crate::archive::normalize::check_member_name;
use crate::archive::ArchiveError;
use std::io::BufReader;
use std::path::Path;

type Zip = zip::ZipArchive<BufReader<std::fs::File>>;

/// An open wheel, checked by [`crate::archive::open_zip`] before any member is read.
pub struct WheelReader {
    z: Zip,
    shown: String,
}

/// One regular file of a wheel, handed to [`WheelReader::for_each_file`]; its bytes are read
/// only when asked for.
pub struct WheelFile<'a> {
    /// The member name (checked by `check_member_name`).
    pub name: String,
    /// An executable bit is set in the member's Unix mode.
    pub exec: bool,
    entry: zip::read::ZipFile<'a, BufReader<std::fs::File>>,
    shown: &'a str,
}

impl WheelFile<'_> {
    /// The member's bytes (refusing more than it declares).
    pub fn read(&mut self) -> Result<Vec<u8>, ArchiveError> {
        crate::archive::read_member(&mut self.entry, self.shown)
    }
}

impl WheelReader {
    /// Open `f`, shown in messages as `shown`.
    pub fn new(f: std::fs::File, shown: &str) -> Result<WheelReader, ArchiveError> {
        Ok(WheelReader {
            z: crate::archive::open_zip(f, shown)?,
            shown: shown.to_string(),
        })
    }

    /// Every member name, in archive order (not checked: for listing only).
    pub fn names(&mut self) -> Result<Vec<String>, ArchiveError> {
        let mut out = Vec::with_capacity(self.z.len());
        for i in 0..self.z.len() {
            let name = match self.z.by_index(i) {
                Ok(e) => e.name().map(|n| n.to_string()),
                Err(e) => Err(e),
            };
            out.push(name.map_err(|e| ArchiveError::Archive {
                archive: self.shown.clone(),
                reason: e.to_string(),
            })?);
        }
        Ok(out)
    }

    /// Call `f` for each regular file, in archive order: every member name is checked,
    /// directories are skipped and a symlink is an error.
    pub fn for_each_file<E: From<ArchiveError>>(
        &mut self,
        mut f: impl FnMut(WheelFile<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let shown = self.shown.as_str();
        let zerr = |e: zip::result::ZipError| ArchiveError::Archive {
            archive: shown.into(),
            reason: e.to_string(),
        };
        for i in 0..self.z.len() {
            let entry = self.z.by_index(i).map_err(zerr)?;
            let name = entry.name().map_err(zerr)?.to_string();
            check_member_name(Path::new(shown), &name)?;
            if entry.is_dir() {
                continue;
            }
            if entry.is_symlink() {
                return Err(ArchiveError::Entry {
                    archive: shown.into(),
                    entry: name,
                    reason: "symlinks are not allowed in wheels".into(),
                }
                .into());
            }
            let exec = entry.unix_mode().is_some_and(|m| m & 0o111 != 0);
            f(WheelFile {
                name,
                exec,
                entry,
                shown,
            })?;
        }
        Ok(())
    }
}

/// Unpack a wheel's files into `site`, mapping `<name>.data/purelib|platlib/` to `site`
/// (scripts, headers and data are not needed for build dependencies and are skipped).
pub fn unpack_into_site(wheel: &Path, shown: &str, site: &Path) -> Result<usize, ArchiveError> {
    let f = std::fs::File::open(wheel).map_err(|source| ArchiveError::Io {
        archive: shown.into(),
        source,
    })?;
    let mut count = 0;
    WheelReader::new(f, shown)?.for_each_file(|mut file| {
        let rel = match file.name.split_once('/') {
            Some((top, rest)) if top.ends_with(".data") => match rest.split_once('/') {
                Some(("purelib" | "platlib", r)) => r.to_string(),
                _ => return Ok(()),
            },
            _ => file.name.clone(),
        };
        let dest = site.join(&rel);
        if let Some(parent) = dest.parent() {
            crate::fsutil::create_dir_all(parent)?;
        }
        let data = file.read()?;
        std::fs::write(&dest, data).map_err(crate::fsutil::err("write", &dest))?;
        count += 1;
        Ok::<(), ArchiveError>(())
    })?;
    Ok(count)
}
