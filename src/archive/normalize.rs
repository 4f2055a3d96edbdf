//! Rewrite build outputs into their canonical form: sdists as normalized tar.gz, wheels as
//! normalized zips. Content is never changed, only order and metadata, so RECORD stays valid.

use super::tarw::{gzip_writer, normal_mode, sort_key, Kind, TarWriter};
use super::ArchiveError;
use std::io::{self, Read, Seek, Write};
use std::path::Path;

struct Member {
    name: String,
    kind: Kind,
    mode: u32,
    data: Vec<u8>,
}

fn aerr(path: &Path) -> impl Fn(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        archive: path.display().to_string(),
        source,
    }
}

/// Check a member name: relative, no `..`, no empty or `.` components beyond a trailing slash.
pub fn check_member_name(archive: &Path, name: &str) -> Result<(), ArchiveError> {
    let bad = |reason: &str| ArchiveError::Entry {
        archive: archive.display().to_string(),
        entry: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() || name.starts_with('/') || name.contains('\\') || name.contains('\0') {
        return Err(bad("absolute or malformed path"));
    }
    for c in name.trim_end_matches('/').split('/') {
        if c == ".." {
            return Err(bad("path traversal (..)"));
        }
        if c.is_empty() || c == "." {
            return Err(bad("empty or '.' path component"));
        }
    }
    Ok(())
}

/// Normalize an sdist (`.tar.gz`) into `out`: sorted entries, mtimes clamped to `epoch`,
/// owner 0, normalized modes, deterministic gzip. Only files, directories and symlinks that
/// stay inside the archive are accepted.
pub fn normalize_sdist(input: &Path, out: &mut dyn Write, epoch: u64) -> Result<(), ArchiveError> {
    let f = std::fs::File::open(input).map_err(aerr(input))?;
    let mut ar = tar::Archive::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(f)));
    let mut members = Vec::new();
    let mut dirs = std::collections::BTreeSet::new();
    for e in ar.entries().map_err(aerr(input))? {
        let mut e = e.map_err(aerr(input))?;
        let name =
            String::from_utf8(e.path_bytes().into_owned()).map_err(|_| ArchiveError::Archive {
                archive: input.display().to_string(),
                reason: "non-UTF-8 member name".into(),
            })?;
        check_member_name(input, &name)?;
        let name = name.trim_end_matches('/').to_string();
        let mode = e.header().mode().unwrap_or(0o644);
        let kind = match e.header().entry_type() {
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
            tar::EntryType::Symlink => {
                let t = e
                    .link_name()
                    .map_err(aerr(input))?
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Kind::Symlink(t)
            }
            tar::EntryType::XHeader | tar::EntryType::XGlobalHeader => continue,
            other => {
                return Err(ArchiveError::Entry {
                    archive: input.display().to_string(),
                    entry: name,
                    reason: format!("unsupported entry type {other:?} in an sdist"),
                })
            }
        };
        let mut data = Vec::new();
        if kind == Kind::File {
            e.read_to_end(&mut data).map_err(aerr(input))?;
        }
        // Record every parent so the output lists directories before their children.
        let mut p = name.as_str();
        while let Some(i) = p.rfind('/') {
            p = &p[..i];
            dirs.insert(p.to_string());
        }
        if kind == Kind::Dir {
            dirs.insert(name);
        } else {
            members.push(Member {
                name,
                kind,
                mode,
                data,
            });
        }
    }
    for d in dirs {
        if !members.iter().any(|m| m.name == d) {
            members.push(Member {
                name: d,
                kind: Kind::Dir,
                mode: 0o755,
                data: Vec::new(),
            });
        }
    }
    members.sort_by(|a, b| sort_key(&a.name).cmp(sort_key(&b.name)));
    let mut gz = gzip_writer(out);
    {
        let mut tw = TarWriter::new(&mut gz, epoch);
        for m in &members {
            tw.append(
                &m.name,
                &m.kind,
                normal_mode(&m.kind, m.mode),
                m.data.len() as u64,
                epoch,
                &mut &m.data[..],
            )
            .map_err(aerr(input))?;
        }
        tw.finish().map_err(aerr(input))?;
    }
    gz.finish().map_err(aerr(input))?;
    Ok(())
}

/// The zip timestamp for an epoch: at or after 1980-01-01 (the zip format's start).
pub fn zip_time(epoch: u64) -> zip::DateTime {
    const ZIP_MIN: u64 = 315_532_800; // 1980-01-01T00:00:00Z
    let t = epoch.max(ZIP_MIN);
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    let (y, m, d) = civil_from_days(days);
    zip::DateTime::from_date_and_time(
        y as u16,
        m as u8,
        d as u8,
        (secs / 3600) as u8,
        ((secs % 3600) / 60) as u8,
        // zip stores seconds in 2-second steps
        ((secs % 60) & !1) as u8,
    )
    .unwrap_or_default()
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Order wheel members: everything outside `*.dist-info/` bytewise sorted, then the dist-info
/// files sorted with RECORD last (PEP 427).
pub fn wheel_order(names: &mut [String]) {
    fn rank(n: &str) -> (u8, &str) {
        match n.split_once('/') {
            Some((top, rest)) if top.ends_with(".dist-info") => {
                (if rest == "RECORD" { 2 } else { 1 }, n)
            }
            _ => (0, n),
        }
    }
    names.sort_by(|a, b| rank(a).cmp(&rank(b)));
}

/// Normalize a wheel into `out`: sorted members (dist-info last, RECORD last), deflate,
/// timestamps from `epoch`, modes 0644/0755, no directory entries, no extra fields.
pub fn normalize_wheel<W: Write + Seek>(
    input: &Path,
    out: W,
    epoch: u64,
) -> Result<W, ArchiveError> {
    let f = std::fs::File::open(input).map_err(aerr(input))?;
    let zerr = |e: zip::result::ZipError| ArchiveError::Archive {
        archive: input.display().to_string(),
        reason: e.to_string(),
    };
    let mut zin = zip::ZipArchive::new(io::BufReader::new(f)).map_err(zerr)?;
    let mut names = Vec::new();
    for i in 0..zin.len() {
        let e = zin.by_index(i).map_err(zerr)?;
        let name = e.name().map_err(zerr)?.to_string();
        check_member_name(input, &name)?;
        if e.is_dir() {
            continue;
        }
        if e.is_symlink() {
            return Err(ArchiveError::Entry {
                archive: input.display().to_string(),
                entry: name,
                reason: "symlinks are not allowed in wheels".into(),
            });
        }
        names.push(name);
    }
    wheel_order(&mut names);
    let mut zout = zip::ZipWriter::new(out);
    let time = zip_time(epoch);
    for name in &names {
        let mut e = zin.by_name(name).map_err(zerr)?;
        let mode = e.unix_mode().unwrap_or(0o644);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(9))
            .last_modified_time(time)
            .unix_permissions(normal_mode(&Kind::File, mode))
            .large_file(false);
        zout.start_file(name.clone(), opts).map_err(zerr)?;
        io::copy(&mut e, &mut zout).map_err(aerr(input))?;
    }
    zout.finish().map_err(zerr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn wheel_members_dist_info_last_record_last() {
        let mut v: Vec<String> = [
            "p-1.dist-info/RECORD",
            "p-1.dist-info/METADATA",
            "z.py",
            "p/__init__.py",
            "p-1.dist-info/WHEEL",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        wheel_order(&mut v);
        assert_eq!(
            v,
            [
                "p/__init__.py",
                "z.py",
                "p-1.dist-info/METADATA",
                "p-1.dist-info/WHEEL",
                "p-1.dist-info/RECORD"
            ]
        );
    }

    #[test]
    fn member_names_are_checked() {
        let p = Path::new("x.whl");
        assert!(check_member_name(p, "../evil").is_err());
        assert!(check_member_name(p, "/etc/passwd").is_err());
        assert!(check_member_name(p, "a/./b").is_err());
        assert!(check_member_name(p, "a/b/").is_ok());
    }

    fn make_wheel(order: &[&str]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut z = zip::ZipWriter::new(f.reopen().unwrap());
        for n in order {
            z.start_file(
                *n,
                zip::write::SimpleFileOptions::default().unix_permissions(0o600),
            )
            .unwrap();
            z.write_all(n.as_bytes()).unwrap();
        }
        z.finish().unwrap();
        f
    }

    #[test]
    fn wheel_normalization_is_order_independent() {
        let a = make_wheel(&["p/a.py", "p-1.dist-info/RECORD", "p-1.dist-info/METADATA"]);
        let b = make_wheel(&["p-1.dist-info/METADATA", "p-1.dist-info/RECORD", "p/a.py"]);
        let oa = normalize_wheel(a.path(), io::Cursor::new(Vec::new()), 1_700_000_000)
            .unwrap()
            .into_inner();
        let ob = normalize_wheel(b.path(), io::Cursor::new(Vec::new()), 1_700_000_000)
            .unwrap()
            .into_inner();
        assert_eq!(oa, ob);
    }
}
