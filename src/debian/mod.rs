//! Debian packages: .deb parsing and extraction, dpkg `status.d`, rootfs assembly.
//!
//! A .deb is an `ar` archive holding `debian-binary` ("2.0\n"), `control.tar[.xz|.zst|.gz]` and
//! `data.tar[.xz|.zst|.gz]`. Data members are extracted through [`crate::archive::safe`]; no
//! maintainer scripts are ever run.

pub mod ar;
pub mod control;
pub mod version;

pub use control::{parse_paragraphs, Paragraph};
pub use version::deb_version_cmp;

use crate::archive::safe::{self, ExtractOptions, ExtractedEntry, Overwrite};
use crate::archive::ArchiveError;
use crate::fsutil::{self, FsError};
use crate::store::StoreError;
use std::io::{self, Read};
use std::path::Path;

/// Cap on a decompressed control member (control, md5sums, scripts).
const MAX_CONTROL_BYTES: u64 = 64 << 20;
/// Memory the xz decoder of a member may use. dpkg-deb compresses with xz -6 (an 8 MiB
/// dictionary), at most -9 (64 MiB). The stream header declares the dictionary size, up to
/// 4 GiB, and the decoder allocates it before reading any data: a 133-byte member made relsign
/// ask for 4 GiB (found by the decompress fuzz target).
const MAX_XZ_MEMORY: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error(transparent)]
    Ar(#[from] ar::ArError),
    #[error("{deb}: {reason}")]
    Format { deb: String, reason: String },
    #[error("{deb}: member {member}: {source}")]
    Decompress {
        deb: String,
        member: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A locked package could not be taken from the store (missing: run `relsign fetch`).
    #[error("Debian package {package}")]
    Store {
        /// `name (pool path)`.
        package: String,
        #[source]
        source: StoreError,
    },
}

impl DebError {
    /// True for integrity failures (a corrupt store entry).
    pub fn is_integrity(&self) -> bool {
        matches!(self, DebError::Store { source, .. } if source.is_integrity())
    }
    /// The store error, when the package was missing from or corrupt in the store.
    pub fn store_error(&self) -> Option<&StoreError> {
        match self {
            DebError::Store { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The control member of a .deb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlInfo {
    /// The `control` file's fields, in order.
    pub fields: Paragraph,
    /// The `md5sums` file, verbatim, when the package has one.
    pub md5sums: Option<String>,
    /// Whether the package has maintainer scripts or triggers (`preinst`, `postinst`,
    /// `prerm`, `postrm`, `config`, `triggers`).
    pub has_scripts: bool,
}

impl ControlInfo {
    pub fn package(&self) -> Option<&str> {
        self.fields.get("Package")
    }
    pub fn version(&self) -> Option<&str> {
        self.fields.get("Version")
    }
}

fn shown(deb: &Path) -> String {
    deb.display().to_string()
}

/// Open `deb`, check `debian-binary`, and position the ar reader at the member whose name starts
/// with `prefix` (`control.tar` or `data.tar`); returns a decompressing reader of it.
fn open_member<'a>(
    ar: &'a mut ar::ArReader<io::BufReader<std::fs::File>>,
    deb: &Path,
    prefix: &str,
) -> Result<(String, Box<dyn Read + 'a>), DebError> {
    let fmt = |reason: String| DebError::Format {
        deb: shown(deb),
        reason,
    };
    let first = ar
        .next_member()?
        .ok_or_else(|| fmt("empty ar archive".into()))?;
    if first.name != "debian-binary" {
        return Err(fmt(format!(
            "first member is {:?}, expected \"debian-binary\"",
            first.name
        )));
    }
    let mut v = String::new();
    (&mut *ar)
        .take(16)
        .read_to_string(&mut v)
        .map_err(|e| fmt(format!("debian-binary: {e}")))?;
    if !v.starts_with("2.") {
        return Err(fmt(format!(
            "unsupported format version {:?} (expected 2.x)",
            v.trim()
        )));
    }
    loop {
        let m = ar
            .next_member()?
            .ok_or_else(|| fmt(format!("no {prefix}.* member")))?;
        let Some(ext) = m.name.strip_prefix(prefix) else {
            continue;
        };
        let name = m.name.clone();
        let r: Box<dyn Read + 'a> =
            match ext {
                "" => Box::new(&mut *ar),
                ".xz" => {
                    // .xz only (not the legacy .lzma format), with a memory limit.
                    let stream = liblzma::stream::Stream::new_stream_decoder(
                        MAX_XZ_MEMORY,
                        liblzma::stream::CONCATENATED,
                    )
                    .map_err(|e| DebError::Decompress {
                        deb: shown(deb),
                        member: name.clone(),
                        source: e.into(),
                    })?;
                    Box::new(liblzma::read::XzDecoder::new_stream(&mut *ar, stream))
                }
                ".zst" => Box::new(zstd::stream::read::Decoder::new(&mut *ar).map_err(
                    |source| DebError::Decompress {
                        deb: shown(deb),
                        member: name.clone(),
                        source,
                    },
                )?),
                ".gz" => Box::new(flate2::read::MultiGzDecoder::new(&mut *ar)),
                _ => return Err(fmt(format!("member {name:?}: unsupported compression"))),
            };
        return Ok((name, r));
    }
}

fn open_ar(deb: &Path) -> Result<ar::ArReader<io::BufReader<std::fs::File>>, DebError> {
    let f = std::fs::File::open(deb).map_err(fsutil::err("open", deb))?;
    Ok(ar::ArReader::new(
        io::BufReader::with_capacity(1 << 16, f),
        &shown(deb),
    )?)
}

/// A control file's `Source: name` or `Source: name (version)`: the source's name, `None`
/// when it is the binary's own.
pub fn source_name(field: Option<&str>, binary: &str) -> Option<String> {
    field
        .and_then(|s| s.split_whitespace().next())
        .filter(|s| *s != binary)
        .map(str::to_string)
}

/// The version of the source a binary was built from, as dpkg's `${source:Version}` gives it:
/// the version in `Source: name (version)` when the field has one, else the binary's own
/// version without a binNMU suffix (`+bN`). `None` when that is the binary's version.
///
/// Debian's advisories give fixed versions of the source, and a binary's version can differ
/// from its source's, even in epoch (util-linux 2.41-5 builds bsdutils 1:2.41-5; lvm2
/// 2.03.31-2 builds dmsetup 2:1.02.205-2): comparing the binary's version against a source's
/// range would miss the advisory.
pub fn source_version(field: Option<&str>, version: &str) -> Option<String> {
    let from_field = field.and_then(|s| {
        let (_, rest) = s.trim().split_once('(')?;
        let v = rest.strip_suffix(')')?.trim();
        (!v.is_empty()).then_some(v)
    });
    let v = from_field.unwrap_or_else(|| strip_binnmu(version));
    (v != version).then(|| v.to_string())
}

/// A binary's source from its `Source:` field: ([`source_name`], [`source_version`]).
pub fn source_of(
    field: Option<&str>,
    binary: &str,
    version: &str,
) -> (Option<String>, Option<String>) {
    (source_name(field, binary), source_version(field, version))
}

/// `1.2-3+b1` → `1.2-3`: a binNMU rebuilds the binary, not the source.
fn strip_binnmu(version: &str) -> &str {
    match version.rsplit_once("+b") {
        Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => version,
    }
}

/// Read the control fields and the md5sums of a .deb.
pub fn read_control(deb: &Path) -> Result<ControlInfo, DebError> {
    let mut ar = open_ar(deb)?;
    let (member, r) = open_member(&mut ar, deb, "control.tar")?;
    let fmt = |reason: String| DebError::Format {
        deb: shown(deb),
        reason,
    };
    let mut t = tar::Archive::new(r);
    let mut control = None;
    let mut md5sums = None;
    let mut has_scripts = false;
    let dec = |source: io::Error| DebError::Decompress {
        deb: shown(deb),
        member: member.clone(),
        source,
    };
    for e in t.entries().map_err(dec)? {
        let mut e = e.map_err(dec)?;
        let p = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let name = p.trim_start_matches("./");
        if matches!(
            name,
            "preinst" | "postinst" | "prerm" | "postrm" | "config" | "triggers"
        ) {
            has_scripts = true;
        }
        if name != "control" && name != "md5sums" {
            continue;
        }
        if e.header().entry_type() != tar::EntryType::Regular {
            return Err(fmt(format!("{member}: {name} is not a regular file")));
        }
        if e.size() > MAX_CONTROL_BYTES {
            return Err(fmt(format!(
                "{member}: {name} is larger than {MAX_CONTROL_BYTES} bytes"
            )));
        }
        let mut s = String::new();
        (&mut e)
            .take(MAX_CONTROL_BYTES)
            .read_to_string(&mut s)
            .map_err(|e| fmt(format!("{member}: {name}: {e}")))?;
        if name == "control" {
            control = Some(s);
        } else {
            md5sums = Some(s);
        }
    }
    let control = control.ok_or_else(|| fmt(format!("{member} has no control file")))?;
    let mut ps = parse_paragraphs(&control).map_err(|e| fmt(format!("{member}: control: {e}")))?;
    if ps.len() != 1 {
        return Err(fmt(format!(
            "{member}: control has {} paragraphs, expected 1",
            ps.len()
        )));
    }
    let fields = ps.remove(0);
    if fields.get("Package").is_none() {
        return Err(fmt(format!("{member}: control has no Package field")));
    }
    Ok(ControlInfo {
        fields,
        md5sums,
        has_scripts,
    })
}

/// Extract the data member of `deb` into `dest` through the safe reader. `rewrite` maps entry
/// paths (see [`crate::build::rootfs::merged_usr_rewrite`]); later files replace earlier ones.
pub fn extract_data(
    deb: &Path,
    dest: &Path,
    rewrite: Option<safe::Rewrite<'_>>,
) -> Result<Vec<ExtractedEntry>, DebError> {
    let mut ar = open_ar(deb)?;
    let (member, r) = open_member(&mut ar, deb, "data.tar")?;
    extract_member(deb, &member, r, dest, rewrite)
}

/// The data member of `deb` decompressed into memory, when it holds at most `limit` bytes
/// (`None` when it holds more: extract it with [`extract_data`], streaming). For a pipeline
/// that decompresses the next packages while the current one is written.
pub fn data_in_memory(deb: &Path, limit: u64) -> Result<Option<DataMember>, DebError> {
    let mut ar = open_ar(deb)?;
    let (member, r) = open_member(&mut ar, deb, "data.tar")?;
    let mut tar = Vec::new();
    r.take(limit + 1)
        .read_to_end(&mut tar)
        .map_err(|e| DebError::Format {
            deb: shown(deb),
            reason: format!("{member}: {e}"),
        })?;
    if tar.len() as u64 > limit {
        return Ok(None);
    }
    Ok(Some(DataMember { member, tar }))
}

/// A .deb's data member, decompressed (see [`data_in_memory`]).
pub struct DataMember {
    member: String,
    tar: Vec<u8>,
}

impl DataMember {
    /// Extract it as [`extract_data`] would extract the .deb it came from.
    pub fn extract(
        &self,
        deb: &Path,
        dest: &Path,
        rewrite: Option<safe::Rewrite<'_>>,
    ) -> Result<Vec<ExtractedEntry>, DebError> {
        extract_member(deb, &self.member, &self.tar[..], dest, rewrite)
    }
}

fn extract_member(
    deb: &Path,
    member: &str,
    r: impl Read,
    dest: &Path,
    rewrite: Option<safe::Rewrite<'_>>,
) -> Result<Vec<ExtractedEntry>, DebError> {
    // The whole .deb's size bounds the compressed member's: the expansion cap is taken on it.
    let input_size = std::fs::metadata(deb).map(|m| m.len()).ok();
    let name = deb
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| shown(deb));
    let opts = ExtractOptions {
        archive_name: format!("{name}:{member}"),
        rewrite,
        overwrite: Overwrite::Replace,
        input_size,
        ..Default::default()
    };
    Ok(safe::extract_tar(r, dest, &opts)?)
}

#[cfg(test)]
pub(crate) mod testdeb {
    //! Build small .debs in memory for tests.
    use super::ar::write_ar;

    pub fn tar_of(entries: &[(&str, &[u8])], symlinks: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            if name.ends_with('/') {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
            } else {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
            }
            h.set_path(name).unwrap();
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        for (name, target) in symlinks {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            b.append_link(&mut h, name, target).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// A .deb with a gz control member and an xz data member.
    pub fn deb(
        control: &str,
        md5sums: Option<&str>,
        data: &[(&str, &[u8])],
        symlinks: &[(&str, &str)],
    ) -> Vec<u8> {
        use std::io::Write;
        let mut ctl: Vec<(&str, &[u8])> = vec![("./", b""), ("./control", control.as_bytes())];
        if let Some(m) = md5sums {
            ctl.push(("./md5sums", m.as_bytes()));
        }
        let ctar = tar_of(&ctl, &[]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&ctar).unwrap();
        let cgz = gz.finish().unwrap();
        let dtar = tar_of(data, symlinks);
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&dtar).unwrap();
        let dxz = xz.finish().unwrap();
        write_ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", &cgz),
            ("data.tar.xz", &dxz),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_versions_as_dpkg_gives_them() {
        // The field's version wins, even across epochs.
        assert_eq!(
            source_version(Some("util-linux (2.41-5)"), "1:2.41-5").as_deref(),
            Some("2.41-5")
        );
        assert_eq!(
            source_version(Some("lvm2 (2.03.31-2)"), "2:1.02.205-2").as_deref(),
            Some("2.03.31-2")
        );
        // A binNMU's suffix is the binary's own.
        assert_eq!(
            source_version(Some("zlib"), "1:1.3.1-1+b1").as_deref(),
            Some("1:1.3.1-1")
        );
        assert_eq!(source_version(None, "2.0-1+b12").as_deref(), Some("2.0-1"));
        // The same version, or a suffix that is not a binNMU: none.
        assert_eq!(source_version(Some("glibc"), "2.41-12"), None);
        assert_eq!(source_version(Some("glibc (2.41-12)"), "2.41-12"), None);
        assert_eq!(source_version(None, "1.0+dfsg-1"), None);
        assert_eq!(source_version(None, "1.0-1+bx"), None);
        assert_eq!(source_version(Some("x ()"), "1.0-1"), None);
    }

    #[test]
    fn reads_control_and_extracts_data() {
        let d = tempfile::tempdir().unwrap();
        let bytes = testdeb::deb(
            "Package: hello\nVersion: 1.0-1\nArchitecture: amd64\nDescription: hi\n more\n",
            Some("d41d8cd98f00b204e9800998ecf8427e  usr/bin/hello\n"),
            &[
                ("./", b""),
                ("./usr/", b""),
                ("./usr/bin/", b""),
                ("./usr/bin/hello", b"ELF"),
            ],
            &[],
        );
        let p = d.path().join("hello_1.0-1_amd64.deb");
        std::fs::write(&p, &bytes).unwrap();
        let c = read_control(&p).unwrap();
        assert_eq!(c.package(), Some("hello"));
        assert_eq!(c.fields.get("Description"), Some("hi\n more"));
        assert!(c.md5sums.unwrap().contains("usr/bin/hello"));
        let root = d.path().join("root");
        let got = extract_data(&p, &root, None).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(std::fs::read(root.join("usr/bin/hello")).unwrap(), b"ELF");
    }

    #[test]
    fn an_xz_member_may_not_ask_for_gigabytes() {
        // The decompress fuzz target's input: a legacy .lzma header declaring a 4 GiB
        // dictionary, which the auto decoder allocated before reading anything.
        let d = tempfile::tempdir().unwrap();
        let mut lzma = vec![0x00, 0xff, 0xff, 0xff, 0xff];
        lzma.extend_from_slice(&[0xff; 8]);
        lzma.extend_from_slice(&[0; 16]);
        let p = d.path().join("x.deb");
        std::fs::write(
            &p,
            ar::write_ar(&[
                ("debian-binary", b"2.0\n"),
                ("control.tar.xz", &lzma),
                ("data.tar.xz", &lzma),
            ]),
        )
        .unwrap();
        let e = read_control(&p).unwrap_err().to_string();
        assert!(e.contains("control.tar.xz"), "{e}");
        let e = extract_data(&p, &d.path().join("root"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.deb"), "{e}");
        // A real xz member still reads (testdeb's data member is xz).
        let ok = d.path().join("ok.deb");
        std::fs::write(
            &ok,
            testdeb::deb("Package: a\n", None, &[("./a", b"x")], &[]),
        )
        .unwrap();
        assert_eq!(
            extract_data(&ok, &d.path().join("r2"), None).unwrap().len(),
            1
        );
    }

    #[test]
    fn refuses_non_debs() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.deb");
        std::fs::write(&p, ar::write_ar(&[("control.tar.gz", b"")])).unwrap();
        let e = read_control(&p).unwrap_err();
        assert!(
            e.to_string().contains("x.deb") && e.to_string().contains("debian-binary"),
            "{e}"
        );
        std::fs::write(&p, b"PK\x03\x04 not ar").unwrap();
        assert!(read_control(&p)
            .unwrap_err()
            .to_string()
            .contains("not an ar archive"));
    }
}
