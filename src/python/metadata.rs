//! Core metadata (METADATA in a wheel, PKG-INFO in an sdist): RFC 822-style headers with
//! continuation lines and repeated fields. Only the fields relsign uses are kept.

use std::io::{self, Read};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("reading {archive}: {source}")]
    Io {
        archive: String,
        #[source]
        source: io::Error,
    },
    #[error("{archive}: {reason}")]
    Archive { archive: String, reason: String },
    #[error("{archive}: {file}: missing required field {field}")]
    MissingField {
        archive: String,
        file: String,
        field: &'static str,
    },
}

/// The metadata fields relsign reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub metadata_version: String,
    pub name: String,
    pub version: String,
    pub requires_dist: Vec<String>,
    pub requires_python: Option<String>,
    pub license: Option<String>,
    pub license_expression: Option<String>,
    pub provides_extra: Vec<String>,
    /// `Dynamic` fields (metadata 2.2+, sdists).
    pub dynamic: Vec<String>,
}

impl Metadata {
    /// Parse the header part of a metadata file. The body (description) is ignored.
    pub fn parse(text: &str) -> Metadata {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if line.is_empty() {
                break; // end of headers; the body follows
            }
            if line.starts_with([' ', '\t']) {
                if let Some(last) = fields.last_mut() {
                    last.1.push('\n');
                    last.1.push_str(line.trim());
                }
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let mut m = Metadata::default();
        for (k, v) in fields {
            match k.as_str() {
                "metadata-version" => m.metadata_version = v,
                "name" => m.name = v,
                "version" => m.version = v,
                "requires-dist" => m.requires_dist.push(v),
                "requires-python" => m.requires_python = Some(v),
                "license" => m.license = Some(v),
                "license-expression" => m.license_expression = Some(v),
                "provides-extra" => m.provides_extra.push(v),
                "dynamic" => m.dynamic.push(v.to_ascii_lowercase()),
                _ => {}
            }
        }
        m
    }

    /// Can `Requires-Dist` be trusted as final? (A 2.2+ sdist that does not mark it dynamic,
    /// or any wheel.)
    pub fn requires_dist_is_static(&self) -> bool {
        let v: Vec<u32> = self
            .metadata_version
            .split('.')
            .filter_map(|p| p.parse().ok())
            .collect();
        v.as_slice() >= [2, 2].as_slice() && !self.dynamic.iter().any(|d| d == "requires-dist")
    }

    fn check(self, archive: &str, file: &str) -> Result<Metadata, MetadataError> {
        let missing = |field| MetadataError::MissingField {
            archive: archive.into(),
            file: file.into(),
            field,
        };
        if self.name.is_empty() {
            return Err(missing("Name"));
        }
        if self.version.is_empty() {
            return Err(missing("Version"));
        }
        Ok(self)
    }
}

/// Read `<name>.dist-info/METADATA` from a wheel. The wheel must have exactly one top-level
/// `.dist-info` directory. `shown` names the wheel in errors.
pub fn read_wheel(path: &Path, shown: &str) -> Result<Metadata, MetadataError> {
    let (member, text) = read_wheel_text(path, shown)?;
    Metadata::parse(&text).check(shown, &member)
}

/// The METADATA member of a wheel: (member name, text).
pub fn read_wheel_text(path: &Path, shown: &str) -> Result<(String, String), MetadataError> {
    let f = std::fs::File::open(path).map_err(|source| MetadataError::Io {
        archive: shown.into(),
        source,
    })?;
    let (mut z, names) = open_zip(f, shown)?;
    let mut dist_infos: Vec<String> = Vec::new();
    for name in &names {
        if let Some((top, _)) = name.split_once('/') {
            if top.ends_with(".dist-info") && !dist_infos.iter().any(|d| d == top) {
                dist_infos.push(top.to_string());
            }
        }
    }
    dist_infos.sort();
    let dir = match dist_infos.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(MetadataError::Archive {
                archive: shown.into(),
                reason: "no top-level .dist-info directory".into(),
            })
        }
        many => {
            return Err(MetadataError::Archive {
                archive: shown.into(),
                reason: format!("more than one .dist-info directory: {}", many.join(", ")),
            })
        }
    };
    let member = format!("{dir}/METADATA");
    let mut e = z.by_name(&member).map_err(|e| MetadataError::Archive {
        archive: shown.into(),
        reason: format!("{member}: {e}"),
    })?;
    let mut bytes = Vec::new();
    e.read_to_end(&mut bytes)
        .map_err(|source| MetadataError::Io {
            archive: shown.into(),
            source,
        })?;
    Ok((member, String::from_utf8_lossy(&bytes).into_owned()))
}

fn zip_error(shown: &str, e: zip::result::ZipError) -> MetadataError {
    MetadataError::Archive {
        archive: shown.into(),
        reason: e.to_string(),
    }
}

/// A zip archive and its member names, errors naming `shown`.
type Zip = zip::ZipArchive<io::BufReader<std::fs::File>>;
fn open_zip(f: std::fs::File, shown: &str) -> Result<(Zip, Vec<String>), MetadataError> {
    let z = crate::archive::open_zip(f, shown).map_err(|e| {
        let text = e.to_string();
        MetadataError::Archive {
            archive: shown.into(),
            reason: text
                .strip_prefix(&format!("{shown}: "))
                .unwrap_or(&text)
                .to_string(),
        }
    })?;
    let names = z
        .file_names()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| zip_error(shown, e))?
        .into_iter()
        .map(|n| n.into_owned())
        .collect();
    Ok((z, names))
}

/// Read `<name>-<version>/PKG-INFO` from an sdist (`.tar.gz` or `.zip`).
pub fn read_sdist(path: &Path, shown: &str) -> Result<Metadata, MetadataError> {
    let (member, text) = read_sdist_text(path, shown)?;
    Metadata::parse(&text).check(shown, &member)
}

/// The PKG-INFO member of an sdist: (member name, text).
pub fn read_sdist_text(path: &Path, shown: &str) -> Result<(String, String), MetadataError> {
    let io_err = |source| MetadataError::Io {
        archive: shown.into(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io_err)?;
    let is_pkg_info = |n: &str| {
        let n = n.trim_start_matches("./");
        matches!(n.split_once('/'), Some((_, "PKG-INFO")))
    };
    if shown.ends_with(".zip") {
        let (mut z, names) = open_zip(f, shown)?;
        let name = names.into_iter().find(|n| is_pkg_info(n));
        let name = name.ok_or_else(|| MetadataError::Archive {
            archive: shown.into(),
            reason: "no top-level PKG-INFO".into(),
        })?;
        let mut s = Vec::new();
        z.by_name(&name)
            .map_err(|e| zip_error(shown, e))?
            .read_to_end(&mut s)
            .map_err(io_err)?;
        return Ok((name, String::from_utf8_lossy(&s).into_owned()));
    }
    let gz = flate2::read::MultiGzDecoder::new(io::BufReader::new(f));
    let mut ar = tar::Archive::new(gz);
    for entry in ar.entries().map_err(io_err)? {
        let mut entry = entry.map_err(io_err)?;
        let name = entry.path().map_err(io_err)?.to_string_lossy().into_owned();
        if is_pkg_info(&name) {
            let mut s = Vec::new();
            entry.read_to_end(&mut s).map_err(io_err)?;
            return Ok((name, String::from_utf8_lossy(&s).into_owned()));
        }
    }
    Err(MetadataError::Archive {
        archive: shown.into(),
        reason: "no top-level PKG-INFO".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const META: &str = "Metadata-Version: 2.4\nName: Example.Pkg\nVersion: 1.0\nLicense: BSD\n  with a second line\nLicense-Expression: MIT\nRequires-Python: >=3.9\nRequires-Dist: click>=8\nRequires-Dist: colorama; platform_system == \"Windows\"\nProvides-Extra: socks\nRequires-Dist: pysocks!=1.5.7,>=1.5.6; extra == \"socks\"\n\nName: not-a-header\n";

    #[test]
    fn parses_headers() {
        let m = Metadata::parse(META);
        assert_eq!(m.name, "Example.Pkg");
        assert_eq!(m.requires_dist.len(), 3);
        assert_eq!(m.license.as_deref(), Some("BSD\nwith a second line"));
        assert_eq!(m.license_expression.as_deref(), Some("MIT"));
        assert_eq!(m.requires_python.as_deref(), Some(">=3.9"));
        assert_eq!(m.provides_extra, ["socks"]);
        assert!(m.requires_dist_is_static());
    }

    fn zip_with(entries: &[(&str, &str)]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        {
            let mut z = zip::ZipWriter::new(f.as_file_mut());
            for (n, c) in entries {
                z.start_file(*n, zip::write::SimpleFileOptions::default())
                    .unwrap();
                z.write_all(c.as_bytes()).unwrap();
            }
            z.finish().unwrap();
        }
        f
    }

    #[test]
    fn reads_wheel_metadata() {
        let f = zip_with(&[
            ("ex/__init__.py", ""),
            ("example_pkg-1.0.dist-info/METADATA", META),
            ("example_pkg-1.0.dist-info/RECORD", ""),
        ]);
        let m = read_wheel(f.path(), "example_pkg-1.0-py3-none-any.whl").unwrap();
        assert_eq!(m.version, "1.0");
        let f = zip_with(&[
            ("a-1.dist-info/METADATA", META),
            ("b-1.dist-info/METADATA", META),
        ]);
        let e = read_wheel(f.path(), "x.whl").unwrap_err().to_string();
        assert!(e.contains("more than one .dist-info"), "{e}");
        let f = zip_with(&[("a-1.dist-info/METADATA", "Metadata-Version: 2.1\nName: a\n")]);
        assert!(read_wheel(f.path(), "x.whl")
            .unwrap_err()
            .to_string()
            .contains("Version"));
    }
}
