//! Install wheels into a venv tree per the wheel spec (PEP 427/491), for an image.
//!
//! The venv is created on the host under `root` (the image rootfs being assembled) at the path
//! the image will see (`venv`, e.g. `/opt/venv`). Files go into
//! `lib/pythonX.Y/site-packages`; `.data/scripts` into `bin` with `#!python` rewritten to the
//! venv's interpreter; console and GUI entry points become scripts; `INSTALLER` is written and
//! `RECORD` is regenerated to list every installed file with its hash. No bytecode is written.

use crate::archive::ArchiveError;
use crate::fsutil::{self, FsError};
use crate::python::wheel::WheelReader;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{wheel}: {reason}")]
    Wheel { wheel: String, reason: String },
    #[error("{path} is installed by both {first} and {second}")]
    Clash {
        path: String,
        first: String,
        second: String,
    },
}

/// One installed distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub wheel: String,
    pub dist_info: String,
    pub files: usize,
    pub scripts: Vec<String>,
}

/// A venv being filled.
pub struct Venv {
    /// Host directory that is the image root.
    pub root: PathBuf,
    /// Absolute path of the venv inside the image.
    pub path: String,
    /// "3.13"
    pub python: String,
    owners: BTreeMap<String, String>,
}

fn urlsafe_b64_nopad(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..=chunk.len() {
            s.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    s
}

/// RECORD's hash field: `sha256=<urlsafe base64 without padding>`.
pub fn record_hash(bytes: &[u8]) -> String {
    format!("sha256={}", urlsafe_b64_nopad(&Sha256::digest(bytes)))
}

impl Venv {
    /// Create the venv skeleton: pyvenv.cfg, bin/python links to the image's interpreter,
    /// lib/pythonX.Y/site-packages, lib64 → lib.
    pub fn create(
        root: &Path,
        path: &str,
        python: &str,
        full_version: &str,
    ) -> Result<Venv, InstallError> {
        let v = Venv {
            root: root.to_path_buf(),
            path: path.trim_end_matches('/').to_string(),
            python: python.to_string(),
            owners: BTreeMap::new(),
        };
        let host = v.host_path("");
        fsutil::create_dir_all(&host.join("bin"))?;
        fsutil::create_dir_all(&v.site())?;
        let cfg = format!(
            "home = /usr/bin\ninclude-system-site-packages = false\nversion = {full_version}\nexecutable = /usr/bin/python{python}\n"
        );
        std::fs::write(host.join("pyvenv.cfg"), cfg)
            .map_err(fsutil::err("write", &host.join("pyvenv.cfg")))?;
        let links = [
            ("bin/python", "/usr/bin/python3".to_string()),
            ("bin/python3", "python".to_string()),
            (&*format!("bin/python{python}"), "python".to_string()),
            ("lib64", "lib".to_string()),
        ];
        for (link, target) in links {
            let p = host.join(link);
            if p.symlink_metadata().is_err() {
                std::os::unix::fs::symlink(&target, &p)
                    .map_err(fsutil::err("create symlink", &p))?;
            }
        }
        Ok(v)
    }

    fn host_path(&self, rel: &str) -> PathBuf {
        let mut p = self.root.join(self.path.trim_start_matches('/'));
        if !rel.is_empty() {
            p = p.join(rel);
        }
        p
    }

    /// Host path of site-packages.
    pub fn site(&self) -> PathBuf {
        self.host_path(&format!("lib/python{}/site-packages", self.python))
    }

    fn interpreter(&self) -> String {
        format!("{}/bin/python", self.path)
    }

    /// Write one file of the install, refusing two wheels that install the same path.
    fn put(
        &mut self,
        wheel: &str,
        venv_rel: &str,
        data: &[u8],
        exec: bool,
        record: &mut Vec<(String, String, usize)>,
        site_rel: String,
    ) -> Result<(), InstallError> {
        self.refuse_symlinks(wheel, venv_rel)?;
        if let Some(first) = self.owners.insert(venv_rel.to_string(), wheel.to_string()) {
            // A namespace package's `__init__.py` shipped by several distributions (pkgutil
            // style: empty, or the extend_path line): the non-empty one is kept, whatever the
            // install order. Two different non-empty files remain a clash.
            if venv_rel.ends_with("/__init__.py") {
                let dest = self.host_path(venv_rel);
                let existing = fsutil::read(&dest)?;
                if data.is_empty() || existing == data {
                    record.push((site_rel, record_hash(data), data.len()));
                    self.owners.insert(venv_rel.to_string(), first);
                    return Ok(());
                }
                if existing.is_empty() {
                    std::fs::write(&dest, data).map_err(fsutil::err("write", &dest))?;
                    record.push((site_rel, record_hash(data), data.len()));
                    return Ok(());
                }
            }
            return Err(InstallError::Clash {
                path: format!("{}/{venv_rel}", self.path),
                first,
                second: wheel.to_string(),
            });
        }
        let dest = self.host_path(venv_rel);
        if let Some(parent) = dest.parent() {
            fsutil::create_dir_all(parent)?;
        }
        std::fs::write(&dest, data).map_err(fsutil::err("write", &dest))?;
        use std::os::unix::fs::PermissionsExt;
        let mode = if exec { 0o755 } else { 0o644 };
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode))
            .map_err(fsutil::err("chmod", &dest))?;
        record.push((site_rel, record_hash(data), data.len()));
        Ok(())
    }

    /// Refuse a path whose existing components include a symlink: the venv's own links
    /// (`bin/python` → `/usr/bin/python3`, `lib64` → `lib`) point at the image's paths, which on
    /// the host are the host's, so writing through one would overwrite a file of the host (a
    /// wheel shipping `<name>.data/scripts/python` would replace the host's python3).
    fn refuse_symlinks(&self, wheel: &str, venv_rel: &str) -> Result<(), InstallError> {
        let mut p = self.host_path("");
        for c in venv_rel.split('/') {
            p.push(c);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(InstallError::Wheel {
                        wheel: wheel.to_string(),
                        reason: format!(
                        "{}/{venv_rel}: {} is a symlink of the venv; refusing to write through it",
                        self.path,
                        p.strip_prefix(self.host_path("")).unwrap_or(&p).display()
                    ),
                    })
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// Install one wheel file.
    pub fn install(&mut self, wheel_path: &Path, shown: &str) -> Result<Installed, InstallError> {
        let f = std::fs::File::open(wheel_path).map_err(fsutil::err("open", wheel_path))?;
        let mut wheel = WheelReader::new(f, shown)?;
        let werr = |reason: String| InstallError::Wheel {
            wheel: shown.to_string(),
            reason,
        };
        let dist_info = one_dist_info(&wheel.names()?).map_err(werr)?;
        let layout = Layout {
            data_dir: format!("{}.data", dist_info.trim_end_matches(".dist-info")),
            site_prefix: format!("lib/python{}/site-packages", self.python),
            dist_info,
        };
        let mut record: Vec<(String, String, usize)> = Vec::new();
        let mut scripts = Vec::new();
        let mut entry_points = None;
        let mut files = 0;
        wheel.for_each_file(|mut file| {
            if layout.is_record(&file.name) {
                return Ok(()); // regenerated below (signatures over the old RECORD no longer apply)
            }
            let mut data = file.read()?;
            if file.name == format!("{}/entry_points.txt", layout.dist_info) {
                entry_points = Some(String::from_utf8_lossy(&data).into_owned());
            }
            let (venv_rel, exec) = self
                .place(&layout, &file.name, file.exec, &mut data, &mut scripts)
                .map_err(werr)?;
            let site_rel = relative_to_site(&layout.site_prefix, &venv_rel);
            self.put(shown, &venv_rel, &data, exec, &mut record, site_rel)?;
            files += 1;
            Ok::<(), InstallError>(())
        })?;
        if let Some(text) = entry_points {
            for name in self.write_entry_points(shown, &text, &layout, &mut record)? {
                scripts.push(name);
            }
        }
        let inst_rel = format!("{}/{}/INSTALLER", layout.site_prefix, layout.dist_info);
        self.put(
            shown,
            &inst_rel,
            b"relsign\n",
            false,
            &mut record,
            format!("{}/INSTALLER", layout.dist_info),
        )?;
        self.write_record(&layout.dist_info, record)?;
        Ok(Installed {
            wheel: shown.to_string(),
            dist_info: layout.dist_info,
            files,
            scripts,
        })
    }

    /// Where a wheel member goes in the venv, and whether it is executable: `.data/purelib`
    /// and `platlib` into site-packages, `scripts` into `bin` (with `#!python` rewritten to
    /// the venv's interpreter, recorded in `scripts`), `data` to the venv root, `headers` under
    /// `include/site`; anything else into site-packages.
    fn place(
        &self,
        layout: &Layout,
        name: &str,
        exec: bool,
        data: &mut Vec<u8>,
        scripts: &mut Vec<String>,
    ) -> Result<(String, bool), String> {
        let site_prefix = &layout.site_prefix;
        let Some(rest) = name.strip_prefix(&format!("{}/", layout.data_dir)) else {
            return Ok((format!("{site_prefix}/{name}"), exec));
        };
        let (kind, path) = rest
            .split_once('/')
            .ok_or_else(|| format!("{name}: malformed .data entry"))?;
        Ok(match kind {
            "purelib" | "platlib" => (format!("{site_prefix}/{path}"), exec),
            "scripts" => {
                if data.starts_with(b"#!python") {
                    let end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
                    let mut new = format!("#!{}", self.interpreter()).into_bytes();
                    new.extend_from_slice(&data[end..]);
                    *data = new;
                }
                scripts.push(path.to_string());
                (format!("bin/{path}"), true)
            }
            "data" => (path.to_string(), exec),
            "headers" => (
                format!(
                    "include/site/python{}/{}/{path}",
                    self.python,
                    layout.dist_info.split('-').next().unwrap_or("")
                ),
                exec,
            ),
            other => return Err(format!("{name}: unknown .data directory {other:?}")),
        })
    }

    /// Write a script in `bin/` for each console and GUI entry point; their names, in file
    /// order.
    fn write_entry_points(
        &mut self,
        shown: &str,
        text: &str,
        layout: &Layout,
        record: &mut Vec<(String, String, usize)>,
    ) -> Result<Vec<String>, InstallError> {
        let mut names = Vec::new();
        for (name, target) in console_scripts(text) {
            let (module, attr) = target.split_once(':').ok_or_else(|| InstallError::Wheel {
                wheel: shown.to_string(),
                reason: format!("entry point {name} = {target}: expected module:attr"),
            })?;
            let attr = attr.split_whitespace().next().unwrap_or(attr);
            let top = attr.split('.').next().unwrap_or(attr);
            let script = format!(
                "#!{interp}\n# Generated by relsign from the entry point {name} = {target}\nimport sys\nfrom {module} import {top}\nif __name__ == \"__main__\":\n    sys.exit({attr}())\n",
                interp = self.interpreter()
            );
            let venv_rel = format!("bin/{name}");
            let site_rel = relative_to_site(&layout.site_prefix, &venv_rel);
            self.put(shown, &venv_rel, script.as_bytes(), true, record, site_rel)?;
            names.push(name);
        }
        Ok(names)
    }

    /// RECORD: every installed file, sorted, then RECORD itself without a hash.
    fn write_record(
        &self,
        dist_info: &str,
        mut record: Vec<(String, String, usize)>,
    ) -> Result<(), InstallError> {
        record.sort();
        let mut text = String::new();
        for (path, hash, size) in &record {
            text.push_str(&format!("{},{hash},{size}\n", csv_field(path)));
        }
        text.push_str(&format!("{dist_info}/RECORD,,\n"));
        let rec_path = self.site().join(dist_info).join("RECORD");
        std::fs::write(&rec_path, text).map_err(fsutil::err("write", &rec_path))?;
        Ok(())
    }
}

/// Where one wheel's files go: its `.dist-info` and `.data` directories and the venv's
/// site-packages (venv-relative).
struct Layout {
    dist_info: String,
    data_dir: String,
    site_prefix: String,
}

impl Layout {
    /// RECORD and its signatures (`RECORD.jws`, `RECORD.p7s`), which the install regenerates.
    fn is_record(&self, name: &str) -> bool {
        name == format!("{}/RECORD", self.dist_info)
            || name.starts_with(&format!("{}/RECORD.", self.dist_info))
    }
}

/// The one `.dist-info` directory among a wheel's member names.
fn one_dist_info(names: &[String]) -> Result<String, String> {
    let dist_infos: BTreeSet<&str> = names
        .iter()
        .filter_map(|n| n.split_once('/'))
        .map(|(top, _)| top)
        .filter(|top| top.ends_with(".dist-info"))
        .collect();
    match dist_infos.len() {
        1 => Ok(dist_infos
            .into_iter()
            .next()
            .unwrap_or_default()
            .to_string()),
        n => Err(format!(
            "expected exactly one .dist-info directory, found {n}"
        )),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A venv-relative path as RECORD writes it: relative to site-packages.
fn relative_to_site(site_prefix: &str, venv_rel: &str) -> String {
    match venv_rel.strip_prefix(&format!("{site_prefix}/")) {
        Some(r) => r.to_string(),
        None => {
            let depth = site_prefix.split('/').count();
            format!("{}{venv_rel}", "../".repeat(depth))
        }
    }
}

/// `[console_scripts]` and `[gui_scripts]` entries of an entry_points.txt, in file order.
pub fn console_scripts(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut in_section = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = matches!(line, "[console_scripts]" | "[gui_scripts]");
            continue;
        }
        if !in_section || line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hex;
    #[test]
    fn record_hash_matches_known_value() {
        // sha256("") in urlsafe base64 without padding.
        assert_eq!(
            record_hash(b""),
            "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
        assert_eq!(hex(&Sha256::digest(b"")).len(), 64);
    }
    #[test]
    fn entry_points_parsed() {
        let t = "[console_scripts]\nfoo = pkg.cli:main\n\n[other]\nx = y:z\n[gui_scripts]\ng=a:b\n";
        assert_eq!(
            console_scripts(t),
            vec![
                ("foo".into(), "pkg.cli:main".into()),
                ("g".into(), "a:b".into())
            ]
        );
    }
    #[test]
    fn refuses_to_write_through_the_venvs_symlinks() {
        // bin/python links to /usr/bin/python3, which on the host is the host's interpreter:
        // a wheel's script or data file at bin/python or under lib64/ must not be written
        // through the link.
        use std::io::Write;
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("python3"), b"host").unwrap();
        for (i, (member, shown)) in [
            ("evil-1.0.data/scripts/python", "bin/python"),
            ("evil-1.0.data/data/bin/python3", "bin/python3"),
            ("evil-1.0.data/data/lib64/x.py", "lib64"),
        ]
        .into_iter()
        .enumerate()
        {
            let root = d.path().join(format!("root{i}"));
            let mut venv = Venv::create(&root, "/opt/venv", "3.13", "3.13.5").unwrap();
            // Point the interpreter link at a file we can watch (really /usr/bin/python3).
            let link = root.join("opt/venv/bin/python");
            std::fs::remove_file(&link).unwrap();
            std::os::unix::fs::symlink(outside.join("python3"), &link).unwrap();
            let whl = d.path().join("evil-1.0-py3-none-any.whl");
            let mut z = zip::ZipWriter::new(std::fs::File::create(&whl).unwrap());
            let o = zip::write::SimpleFileOptions::default();
            z.start_file("evil-1.0.dist-info/METADATA", o).unwrap();
            z.write_all(b"Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n")
                .unwrap();
            z.start_file(member, o).unwrap();
            z.write_all(b"#!/bin/sh\necho pwned\n").unwrap();
            z.finish().unwrap();
            let e = venv.install(&whl, "evil-1.0-py3-none-any.whl").unwrap_err();
            assert!(
                e.to_string()
                    .contains(&format!("{shown} is a symlink of the venv")),
                "{member}: {e}"
            );
            assert!(std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink());
        }
        assert_eq!(std::fs::read(outside.join("python3")).unwrap(), b"host");
    }

    #[test]
    fn record_paths_relative_to_site() {
        let sp = "lib/python3.13/site-packages";
        assert_eq!(
            relative_to_site(sp, "lib/python3.13/site-packages/a/b.py"),
            "a/b.py"
        );
        assert_eq!(relative_to_site(sp, "bin/tool"), "../../../bin/tool");
    }
}
