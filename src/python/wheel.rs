//! Unpack wheels into a directory (a `site-packages`), checking every member name.
//! Used to provide build dependencies to the sandbox from the store.

use crate::archive::normalize::check_member_name;
use crate::archive::ArchiveError;
use std::path::Path;

/// Unpack a wheel's files into `site`, mapping `<name>.data/purelib|platlib/` to `site`
/// (scripts, headers and data are not needed for build dependencies and are skipped).
pub fn unpack_into_site(wheel: &Path, shown: &str, site: &Path) -> Result<usize, ArchiveError> {
    let f = std::fs::File::open(wheel).map_err(|source| ArchiveError::Io {
        archive: shown.into(),
        source,
    })?;
    let zerr = |e: zip::result::ZipError| ArchiveError::Archive {
        archive: shown.into(),
        reason: e.to_string(),
    };
    let mut z = crate::archive::open_zip(f, shown)?;
    let mut count = 0;
    for i in 0..z.len() {
        let mut e = z.by_index(i).map_err(zerr)?;
        let name = e.name().map_err(zerr)?.to_string();
        check_member_name(Path::new(shown), &name)?;
        if e.is_dir() {
            continue;
        }
        if e.is_symlink() {
            return Err(ArchiveError::Entry {
                archive: shown.into(),
                entry: name,
                reason: "symlink in a wheel".into(),
            });
        }
        let rel = match name.split_once('/') {
            Some((top, rest)) if top.ends_with(".data") => match rest.split_once('/') {
                Some(("purelib" | "platlib", r)) => r.to_string(),
                _ => continue,
            },
            _ => name.clone(),
        };
        let dest = site.join(&rel);
        if let Some(parent) = dest.parent() {
            crate::fsutil::create_dir_all(parent)?;
        }
        let data = crate::archive::read_member(&mut e, shown)?;
        std::fs::write(&dest, data).map_err(crate::fsutil::err("write", &dest))?;
        count += 1;
    }
    Ok(count)
}
