//! A project's `[build-system]` (PEP 517/518), read from its `pyproject.toml`: the build
//! requirements it declares and its backend. The file comes from sources that are not ours
//! (published sdists), so it is read within limits: its size, the nesting depth of its arrays
//! and tables, the number and length of the requirements; duplicate keys are refused (as TOML
//! says).

use std::io::Read;
use std::path::Path;

/// The largest `pyproject.toml` read.
pub const MAX_SIZE: u64 = 1024 * 1024;
/// The deepest nesting of arrays and inline tables.
pub const MAX_DEPTH: usize = 32;
/// At most this many build requirements, each at most `MAX_REQUIREMENT` bytes.
pub const MAX_REQUIREMENTS: usize = 64;
pub const MAX_REQUIREMENT: usize = 1024;

/// What pip and `build` assume for a project without `[build-system]` (PEP 517, PEP 518).
pub const DEFAULT_BACKEND: &str = "setuptools.build_meta:__legacy__";
pub const DEFAULT_REQUIRES: &str = "setuptools>=40.8.0";

#[derive(Debug, thiserror::Error)]
#[error("{file}: {field}: {reason}")]
pub struct PyprojectError {
    /// The file as shown to the user (`<sdist>/pyproject.toml`, a path).
    pub file: String,
    /// The TOML key (`build-system.requires`), or `(file)` for the file as a whole.
    pub field: String,
    pub reason: String,
}

/// A project's build system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSystem {
    /// `build-system.requires`, as written (PEP 508 requirements).
    pub requires: Vec<String>,
    /// `build-system.build-backend`, or the legacy setuptools backend.
    pub backend: String,
    /// `build-system.backend-path`.
    pub backend_path: Vec<String>,
    /// True when the project has no `[build-system]` (or no `pyproject.toml`): the defaults.
    pub defaulted: bool,
}

impl BuildSystem {
    /// The defaults for a project without `[build-system]`.
    pub fn default_legacy() -> BuildSystem {
        BuildSystem {
            requires: vec![DEFAULT_REQUIRES.into()],
            backend: DEFAULT_BACKEND.into(),
            backend_path: vec![],
            defaulted: true,
        }
    }
}

fn err(file: &str, field: &str, reason: impl Into<String>) -> PyprojectError {
    PyprojectError {
        file: file.into(),
        field: field.into(),
        reason: reason.into(),
    }
}

/// The deepest nesting of `[`/`{` outside strings and comments (table headers count one).
/// Checked before the TOML parser sees the text, so a hostile file cannot exhaust its stack.
fn nesting_depth(text: &str) -> usize {
    let b = text.as_bytes();
    let (mut i, mut depth, mut max) = (0, 0usize, 0usize);
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            q @ (b'"' | b'\'') => {
                let triple = b[i..].starts_with(if q == b'"' { b"\"\"\"" } else { b"'''" });
                i += if triple { 3 } else { 1 };
                while i < b.len() {
                    if q == b'"' && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == q && (!triple || b[i..].starts_with(&[q, q, q])) {
                        // A closing triple quote may be followed by up to two more quotes
                        // that belong to the string.
                        if triple {
                            i += 3;
                            while i < b.len() && b[i] == q {
                                i += 1;
                            }
                            i -= 1;
                        }
                        break;
                    }
                    if !triple && b[i] == b'\n' {
                        break;
                    }
                    i += 1;
                }
            }
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    max
}

/// Parse a `pyproject.toml`'s `[build-system]`. `file` names it in errors.
pub fn parse(bytes: &[u8], file: &str) -> Result<BuildSystem, PyprojectError> {
    if bytes.len() as u64 > MAX_SIZE {
        return Err(err(
            file,
            "(file)",
            format!("{} bytes, more than the {MAX_SIZE} read", bytes.len()),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| err(file, "(file)", "not UTF-8"))?;
    let depth = nesting_depth(text);
    if depth > MAX_DEPTH {
        return Err(err(
            file,
            "(file)",
            format!("arrays and tables nested {depth} deep, more than {MAX_DEPTH}"),
        ));
    }
    // The toml crate refuses duplicate keys and tables.
    let doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| err(file, "(file)", e.message().trim_end().to_string()))?;
    let Some(bs) = doc.get("build-system") else {
        return Ok(BuildSystem::default_legacy());
    };
    let bs = bs
        .as_table()
        .ok_or_else(|| err(file, "build-system", "not a table"))?;
    let strings = |key: &str, max: usize| -> Result<Option<Vec<String>>, PyprojectError> {
        let field = format!("build-system.{key}");
        let Some(v) = bs.get(key) else {
            return Ok(None);
        };
        let a = v
            .as_array()
            .ok_or_else(|| err(file, &field, "not an array of strings"))?;
        if a.len() > max {
            return Err(err(
                file,
                &field,
                format!("{} entries, more than {max}", a.len()),
            ));
        }
        let mut out = Vec::new();
        for (i, x) in a.iter().enumerate() {
            let s = x
                .as_str()
                .ok_or_else(|| err(file, &format!("{field}[{i}]"), "not a string"))?;
            if s.len() > MAX_REQUIREMENT {
                return Err(err(
                    file,
                    &format!("{field}[{i}]"),
                    format!("{} bytes, more than {MAX_REQUIREMENT}", s.len()),
                ));
            }
            out.push(s.to_string());
        }
        Ok(Some(out))
    };
    // PEP 518: `requires` is mandatory in a [build-system] table (pip refuses the project).
    let requires = strings("requires", MAX_REQUIREMENTS)?.ok_or_else(|| {
        err(
            file,
            "build-system.requires",
            "missing (PEP 518 makes it mandatory in [build-system])",
        )
    })?;
    for (i, r) in requires.iter().enumerate() {
        crate::python::requirements::Requirement::parse(r).map_err(|e| {
            err(
                file,
                &format!("build-system.requires[{i}]"),
                format!("{r:?}: {e}"),
            )
        })?;
    }
    let backend = match bs.get("build-backend") {
        None => DEFAULT_BACKEND.to_string(),
        Some(v) => {
            let s = v
                .as_str()
                .ok_or_else(|| err(file, "build-system.build-backend", "not a string"))?;
            let ok = !s.is_empty()
                && s.len() <= 256
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:".contains(&b));
            if !ok {
                return Err(err(
                    file,
                    "build-system.build-backend",
                    format!("{s:?} is not a module path (module.sub:object)"),
                ));
            }
            s.to_string()
        }
    };
    let backend_path = strings("backend-path", 16)?.unwrap_or_default();
    Ok(BuildSystem {
        requires,
        backend,
        backend_path,
        defaulted: false,
    })
}

/// The build system of a source directory: its `pyproject.toml`, or the defaults without one.
pub fn read_dir(dir: &Path) -> Result<BuildSystem, PyprojectError> {
    let path = dir.join("pyproject.toml");
    let shown = path.display().to_string();
    let f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(BuildSystem::default_legacy())
        }
        Err(e) => return Err(err(&shown, "(file)", e.to_string())),
    };
    let mut bytes = Vec::new();
    f.take(MAX_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(&shown, "(file)", e.to_string()))?;
    parse(&bytes, &shown)
}

/// The build system of an sdist (`.tar.gz` or `.zip`): its top-level `pyproject.toml`, or
/// the defaults without one. `shown` is the sdist's file name.
pub fn read_sdist(path: &Path, shown: &str) -> Result<BuildSystem, PyprojectError> {
    let member = |n: &str| {
        let n = n.trim_start_matches("./");
        matches!(n.split_once('/'), Some((_, "pyproject.toml")))
    };
    let io = |e: std::io::Error| err(shown, "(file)", e.to_string());
    let f = std::fs::File::open(path).map_err(io)?;
    let mut found: Option<(String, Vec<u8>)> = None;
    if shown.ends_with(".zip") {
        let mut z = zip::ZipArchive::new(std::io::BufReader::new(f))
            .map_err(|e| err(shown, "(file)", e.to_string()))?;
        let name = z
            .file_names()
            .filter_map(Result::ok)
            .find(|n| member(n))
            .map(|n| n.into_owned());
        if let Some(name) = name {
            let mut bytes = Vec::new();
            z.by_name(&name)
                .map_err(|e| err(shown, "(file)", e.to_string()))?
                .take(MAX_SIZE + 1)
                .read_to_end(&mut bytes)
                .map_err(io)?;
            found = Some((name, bytes));
        }
    } else {
        let gz = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f));
        let mut ar = tar::Archive::new(gz);
        for entry in ar.entries().map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.path().map_err(io)?.to_string_lossy().into_owned();
            if member(&name) && entry.header().entry_type().is_file() {
                let mut bytes = Vec::new();
                entry
                    .take(MAX_SIZE + 1)
                    .read_to_end(&mut bytes)
                    .map_err(io)?;
                found = Some((name, bytes));
                break;
            }
        }
    }
    match found {
        None => Ok(BuildSystem::default_legacy()),
        Some((name, bytes)) => parse(&bytes, &format!("{shown}: {name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCASSEMBLE: &str = r#"
[build-system]
requires = ["setuptools==82.0.1"]
build-backend = "setuptools.build_meta"
[project]
name = "docassemble.base"
dependencies = ["a==1"]
"#;

    #[test]
    fn reads_requires_and_backend() {
        let b = parse(DOCASSEMBLE.as_bytes(), "p.toml").unwrap();
        assert_eq!(b.requires, ["setuptools==82.0.1"]);
        assert_eq!(b.backend, "setuptools.build_meta");
        assert!(!b.defaulted);
    }

    #[test]
    fn defaults_without_build_system_and_without_backend() {
        let b = parse(b"[project]\nname = \"x\"\n", "p.toml").unwrap();
        assert_eq!(b, BuildSystem::default_legacy());
        let b = parse(b"[build-system]\nrequires = [\"flit_core>=3\"]\n", "p.toml").unwrap();
        assert_eq!(b.backend, DEFAULT_BACKEND);
        assert_eq!(b.requires, ["flit_core>=3"]);
    }

    #[test]
    fn refuses_duplicates_depth_size_and_bad_fields() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"[build-system]\nrequires = []\nrequires = [\"x\"]\n",
                "(file)",
            ),
            (b"[build-system]\nrequires = []\n[build-system]\n", "(file)"),
            (
                b"[build-system]\nbuild-backend = \"x\"\n",
                "build-system.requires",
            ),
            (
                b"[build-system]\nrequires = \"setuptools\"\n",
                "build-system.requires",
            ),
            (
                b"[build-system]\nrequires = [1]\n",
                "build-system.requires[0]",
            ),
            (
                b"[build-system]\nrequires = [\"a b c\"]\n",
                "build-system.requires[0]",
            ),
            (
                b"[build-system]\nrequires = []\nbuild-backend = \"os; rm\"\n",
                "build-system.build-backend",
            ),
            (b"build-system = 3\n", "build-system"),
            (b"\xff\xfe", "(file)"),
        ];
        for (text, field) in cases {
            let e = parse(text, "x/pyproject.toml").unwrap_err();
            assert_eq!(e.field, *field, "{e}");
            assert!(e.to_string().starts_with("x/pyproject.toml: "), "{e}");
        }
        let deep = format!("x = {}{}\n", "[".repeat(200), "]".repeat(200));
        let e = parse(deep.as_bytes(), "p.toml").unwrap_err();
        assert!(e.reason.contains("nested 200 deep"), "{e}");
        // Brackets inside strings and comments do not count.
        let quoted = format!(
            "# {}\nx = \"{}\"\ny = '''{}'''\n[build-system]\nrequires = []\n",
            "[".repeat(100),
            "[".repeat(100),
            "{".repeat(100)
        );
        parse(quoted.as_bytes(), "p.toml").unwrap();
        let big = vec![b'#'; MAX_SIZE as usize + 1];
        assert!(parse(&big, "p.toml").unwrap_err().reason.contains("bytes"));
        let many = format!(
            "[build-system]\nrequires = [{}]\n",
            vec!["\"a\""; MAX_REQUIREMENTS + 1].join(",")
        );
        assert!(parse(many.as_bytes(), "p.toml")
            .unwrap_err()
            .reason
            .contains("entries"));
    }

    #[test]
    fn reads_an_sdist_and_a_directory() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("x-1.0.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut t = tar::Builder::new(gz);
        for (name, body) in [
            (
                "x-1.0/sub/pyproject.toml",
                "[build-system]\nrequires = [\"no\"]\n",
            ),
            ("x-1.0/pyproject.toml", DOCASSEMBLE),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            t.append_data(&mut h, name, body.as_bytes()).unwrap();
        }
        t.into_inner().unwrap().finish().unwrap();
        let b = read_sdist(&path, "x-1.0.tar.gz").unwrap();
        assert_eq!(b.requires, ["setuptools==82.0.1"]);
        assert_eq!(
            read_dir(d.path()).unwrap(),
            BuildSystem::default_legacy(),
            "no pyproject.toml: the defaults"
        );
        std::fs::write(d.path().join("pyproject.toml"), "[build-system\n").unwrap();
        let e = read_dir(d.path()).unwrap_err();
        assert!(e.file.ends_with("pyproject.toml"), "{e}");
    }
}
