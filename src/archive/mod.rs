//! Deterministic archive writers and safe readers.
//!
//! Writers follow DESIGN.md's reproducibility rules: bytewise-sorted entries, parents before
//! children, mtimes clamped to SOURCE_DATE_EPOCH, numeric owner 0, empty user/group names,
//! normalized modes, PAX headers only for names ustar cannot hold; gzip with header mtime 0,
//! no file name, deflated by [`pgzip`] (blocks in parallel, the same bytes on any number of
//! cores); zip with fixed timestamps and modes.

pub mod error;
pub mod normalize;
pub mod pgzip;
pub mod safe;
pub mod tarw;

/// The compressor identity recorded in provenance.
pub const GZIP_IMPL: &str = pgzip::IMPL;

pub use error::ArchiveError;

/// The most entries a zip (wheel) may hold.
pub const MAX_ZIP_ENTRIES: usize = 100_000;

/// Open a zip archive and check it before any member is read: at most [`MAX_ZIP_ENTRIES`]
/// entries, names within the path limits, and declared sizes within
/// [`safe::DEFAULT_MAX_BYTES`] in all and within the expansion cap for the file's size
/// (`max(RATIO_FLOOR, size × DEFAULT_MAX_RATIO)`). Members are then read through
/// [`read_member`], which holds each to its declared size.
pub fn open_zip(
    f: std::fs::File,
    shown: &str,
) -> Result<zip::ZipArchive<std::io::BufReader<std::fs::File>>, ArchiveError> {
    let input_size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let bad = |reason: String| ArchiveError::Archive {
        archive: shown.into(),
        reason,
    };
    let mut z = zip::ZipArchive::new(std::io::BufReader::new(f)).map_err(|e| bad(e.to_string()))?;
    if z.len() > MAX_ZIP_ENTRIES {
        return Err(bad(format!(
            "{} entries, over the limit of {MAX_ZIP_ENTRIES}",
            z.len()
        )));
    }
    let cap = input_size
        .saturating_mul(safe::DEFAULT_MAX_RATIO)
        .clamp(safe::RATIO_FLOOR, safe::DEFAULT_MAX_BYTES);
    let mut total = 0u64;
    for i in 0..z.len() {
        let e = z.by_index_raw(i).map_err(|e| bad(e.to_string()))?;
        let name = String::from_utf8_lossy(e.name_raw());
        if name.len() > safe::MAX_PATH_BYTES
            || name.split('/').any(|c| c.len() > safe::MAX_COMPONENT_BYTES)
        {
            return Err(ArchiveError::Entry {
                archive: shown.into(),
                entry: name.chars().take(80).collect(),
                reason: format!(
                    "the name is over the path limits ({} bytes, {} per component)",
                    safe::MAX_PATH_BYTES,
                    safe::MAX_COMPONENT_BYTES
                ),
            });
        }
        total = total.saturating_add(e.size());
        if total > cap {
            return Err(bad(format!(
                "the members declare more than {cap} bytes from a {input_size}-byte file; \
                 refusing (archive bomb?)"
            )));
        }
    }
    Ok(z)
}

/// Read one zip member, refusing more bytes than it declares.
pub fn read_member(
    e: &mut zip::read::ZipFile<'_, impl std::io::Read>,
    shown: &str,
) -> Result<Vec<u8>, ArchiveError> {
    use std::io::Read;
    let declared = e.size();
    let name = e.name().map(|n| n.to_string()).unwrap_or_default();
    let mut data = Vec::with_capacity(declared.min(1 << 20) as usize);
    e.take(declared.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|source| ArchiveError::Io {
            archive: shown.into(),
            source,
        })?;
    if data.len() as u64 > declared {
        return Err(ArchiveError::Entry {
            archive: shown.into(),
            entry: name,
            reason: format!("expands past its declared size of {declared} bytes"),
        });
    }
    Ok(data)
}
