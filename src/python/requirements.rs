//! PEP 508 requirements, and the exact `==` pins relsign locks: from requirements files
//! (comments, continuations, `-r` includes, extras, markers, `--hash` options) and from a
//! pyproject.toml's `[project].dependencies`.
//!
//! Anything that is not an exact pin (`==` without a wildcard, or `===`) is an error that names
//! the file, the line and the requirement: relsign never resolves versions.

use crate::python::markers::{check_limits, Env, Marker, MarkerError};
use crate::python::version::{Operator, SpecifierSet, Version, VersionError};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RequirementError {
    #[error("reading {file}: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {reason}")]
    Toml { file: PathBuf, reason: String },
    #[error("{origin}: invalid requirement {requirement:?}: {reason}")]
    Syntax {
        origin: String,
        requirement: String,
        reason: String,
    },
    #[error("{origin}: {requirement:?} is not an exact pin; relsign locks only `name==version` (or `===`) requirements")]
    NotPinned { origin: String, requirement: String },
    #[error("{origin}: option {option:?} is not supported in relsign requirements (indexes come from --index-url, the recipe or pip's configuration)")]
    Option { origin: String, option: String },
    #[error("{origin}: `-r {target}` includes a file that is already being read (cycle)")]
    Cycle { origin: String, target: PathBuf },
    #[error("{name} is pinned twice with different versions: {first_version} at {first_origin}, {second_version} at {second_origin}")]
    Duplicate {
        name: String,
        first_version: String,
        first_origin: String,
        second_version: String,
        second_origin: String,
    },
}

pub use crate::python::names::normalize_name;

/// A parsed PEP 508 requirement (parsed by the `pep508_rs` crate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The name, normalized.
    pub name: String,
    /// Requested extras, normalized.
    pub extras: BTreeSet<String>,
    /// The clauses in the order written.
    pub specifier: SpecifierSet,
    /// `name @ url`
    pub url: Option<String>,
    pub marker: Option<Marker>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{0}")]
    Syntax(String),
    #[error(transparent)]
    Version(#[from] VersionError),
    #[error(transparent)]
    Marker(#[from] MarkerError),
}

/// The URL of `name @ url`, kept as written (relsign never fetches it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct RawUrl(String);

impl std::fmt::Display for RawUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl pep508_rs::Pep508Url for RawUrl {
    type Err = std::convert::Infallible;
    fn parse_url(url: &str, _working_dir: Option<&Path>) -> Result<Self, Self::Err> {
        Ok(RawUrl(url.to_string()))
    }
}

/// PEP 508: a name ends with a letter or digit. Checked before the crate parses: pep508_rs
/// 0.9.2 panics on a name ending in `.`, `-` or `_` that some operator follows at once
/// (`docassemble.<ase==1.10.5`, found by the `pep508` fuzz target).
/// The same holds for each extra: 0.9.2 panics on an extra ending in one of them
/// (`dome.51.E[55.`, `a[b-]`). Both are checked here, before the crate sees the string.
fn check_identifier_ends(s: &str) -> Result<(), ParseError> {
    let name_len = s.chars().take_while(|&c| is_ident_char(c)).count();
    if let Some(c) = last_if_not_alnum(&s[..name_len]) {
        return Err(ParseError::Syntax(format!(
            "Package name must end with an alphanumeric character, not '{c}'"
        )));
    }
    let rest = s[name_len..].trim_start();
    let Some(extras) = rest.strip_prefix('[') else {
        return Ok(());
    };
    let extras = extras.split(']').next().unwrap_or("");
    for extra in extras.split(|c: char| !is_ident_char(c)) {
        if let Some(c) = last_if_not_alnum(extra) {
            return Err(ParseError::Syntax(format!(
                "Extra name '{extra}' must end with an alphanumeric character, not '{c}'"
            )));
        }
    }
    Ok(())
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._-".contains(c)
}

fn last_if_not_alnum(ident: &str) -> Option<char> {
    ident.chars().last().filter(|c| !c.is_ascii_alphanumeric())
}

impl Requirement {
    pub fn parse(s: &str) -> Result<Requirement, ParseError> {
        let s = s.trim();
        if let Some((at, c)) = crate::python::markers::first_non_ascii(s) {
            return Err(ParseError::Syntax(format!(
                "non-ASCII character {c:?} (U+{:04X}) at byte {at}; a PEP 508 requirement is ASCII",
                c as u32
            )));
        }
        // The limits first: the crate's marker parser recurses.
        if let Some((_, m)) = s.split_once(';') {
            check_limits(m)?;
        }
        check_identifier_ends(s)?;
        let mut warnings = Vec::new();
        let mut warn = |_: pep508_rs::MarkerWarningKind, w: String| warnings.push(w);
        let r = pep508_rs::Requirement::<RawUrl>::parse_reporter(s, "", &mut warn)
            .map_err(|e| ParseError::Syntax(e.message.to_string()))?;
        if let Some(w) = warnings.first() {
            return Err(ParseError::Syntax(
                w.split_whitespace().collect::<Vec<_>>().join(" "),
            ));
        }
        let (specifier, url) = match r.version_or_url {
            None => (SpecifierSet::default(), None),
            Some(pep508_rs::VersionOrUrl::Url(u)) => (SpecifierSet::default(), Some(u.0)),
            Some(pep508_rs::VersionOrUrl::VersionSpecifier(_)) => {
                (SpecifierSet::parse(specifier_text(s))?, None)
            }
        };
        let marker = match marker_text(s, url.as_deref()) {
            Some(text) if !r.marker.is_true() => Some(Marker::from_requirement(r.marker, text)),
            _ => None,
        };
        Ok(Requirement {
            name: r.name.to_string(),
            extras: r.extras.iter().map(|e| e.to_string()).collect(),
            specifier,
            url,
            marker,
        })
    }

    pub fn normalized_name(&self) -> String {
        normalize_name(&self.name)
    }

    /// Does the requirement apply in `env` (its marker is absent or true)?
    pub fn applies(&self, env: &Env) -> bool {
        self.marker.as_ref().is_none_or(|m| m.evaluate(env))
    }
}

/// The version clauses of a requirement the crate parsed as `name [extras] clauses ; marker`
/// (or with the clauses in parentheses), as written, to keep their order and text.
fn specifier_text(s: &str) -> &str {
    let head = s.split(';').next().unwrap_or(s);
    let rest = head.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || "._-".contains(c));
    let rest = rest.trim_start();
    let rest = match rest.strip_prefix('[') {
        Some(r) => r.split_once(']').map_or(r, |(_, after)| after),
        None => rest,
    };
    let rest = rest.trim();
    rest.strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(rest)
}

/// The marker of a requirement: after the first `;` (after the URL, for `name @ url`).
fn marker_text<'a>(s: &'a str, url: Option<&str>) -> Option<&'a str> {
    let from = url
        .and_then(|u| s.find(u).map(|i| i + u.len()))
        .unwrap_or(0);
    s[from..].find(';').map(|i| &s[from + i + 1..])
}

/// An exact pin: `name[extras]==version ; marker`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// Normalized name.
    pub name: String,
    /// The version as written after `==` / `===`.
    pub version: String,
    /// `===`: an arbitrary string match.
    pub arbitrary: bool,
    pub extras: BTreeSet<String>,
    pub marker: Option<Marker>,
    /// Where it was written: `file:line` or `recipe key`.
    pub origin: String,
}

impl Pin {
    /// Parse one requirement that must be an exact pin.
    pub fn parse(req: &str, origin: &str) -> Result<Pin, RequirementError> {
        let r = Requirement::parse(req).map_err(|e| RequirementError::Syntax {
            origin: origin.to_string(),
            requirement: req.trim().to_string(),
            reason: e.to_string(),
        })?;
        let not_pinned = || RequirementError::NotPinned {
            origin: origin.to_string(),
            requirement: req.trim().to_string(),
        };
        if r.url.is_some() || r.specifier.0.len() != 1 {
            return Err(not_pinned());
        }
        let s = &r.specifier.0[0];
        let arbitrary = match s.operator() {
            Operator::Equal => false,
            #[allow(deprecated)]
            Operator::ExactEqual => true,
            _ => return Err(not_pinned()),
        };
        Ok(Pin {
            name: r.normalized_name(),
            version: s.text.clone(),
            arbitrary,
            extras: r.extras,
            marker: r.marker,
            origin: origin.to_string(),
        })
    }

    /// The parsed version (None for a `===` pin that is not PEP 440).
    pub fn parsed_version(&self) -> Option<Version> {
        Version::parse(&self.version).ok()
    }

    /// Does `version` (from a file name or METADATA) denote this pin's version?
    pub fn matches_version(&self, version: &str) -> bool {
        if self.arbitrary {
            return version.eq_ignore_ascii_case(&self.version);
        }
        match (Version::parse(&self.version), Version::parse(version)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }

    /// `name[extras]==version`, canonical (used in the lock's inputs digest).
    pub fn spec(&self) -> String {
        let extras = if self.extras.is_empty() {
            String::new()
        } else {
            format!(
                "[{}]",
                self.extras.iter().cloned().collect::<Vec<_>>().join(",")
            )
        };
        format!(
            "{}{}{}{}",
            self.name,
            extras,
            if self.arbitrary { "===" } else { "==" },
            self.version
        )
    }
}

/// Read the pins of a requirements file or a pyproject.toml (`[project].dependencies`).
pub fn read_pins(path: &Path) -> Result<Vec<Pin>, RequirementError> {
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    if is_toml {
        read_pyproject(path)
    } else {
        let mut stack = Vec::new();
        let mut out = Vec::new();
        read_requirements_file(path, &mut stack, &mut out)?;
        Ok(out)
    }
}

fn read_pyproject(path: &Path) -> Result<Vec<Pin>, RequirementError> {
    let text = std::fs::read_to_string(path).map_err(|source| RequirementError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let doc: toml::Table = toml::from_str(&text).map_err(|e| RequirementError::Toml {
        file: path.to_path_buf(),
        reason: e.to_string().trim_end().to_string(),
    })?;
    let deps = doc.get("project").and_then(|p| p.get("dependencies"));
    let Some(deps) = deps else {
        return Ok(Vec::new());
    };
    let arr = deps.as_array().ok_or_else(|| RequirementError::Toml {
        file: path.to_path_buf(),
        reason: "key `project.dependencies` must be an array of strings".into(),
    })?;
    let mut out = Vec::new();
    for (i, d) in arr.iter().enumerate() {
        let s = d.as_str().ok_or_else(|| RequirementError::Toml {
            file: path.to_path_buf(),
            reason: format!("key `project.dependencies[{i}]` must be a string"),
        })?;
        out.push(Pin::parse(
            s,
            &format!("{}: project.dependencies[{i}]", path.display()),
        )?);
    }
    Ok(out)
}

/// Strip a `#` comment: at the start of a line or preceded by whitespace (as pip does).
fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'#' && (i == 0 || b[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

fn read_requirements_file(
    path: &Path,
    stack: &mut Vec<PathBuf>,
    out: &mut Vec<Pin>,
) -> Result<(), RequirementError> {
    let text = std::fs::read_to_string(path).map_err(|source| RequirementError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    // A byte-order mark opens some files written on Windows; pip reads past it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    stack.push(canon);
    // Join continuation lines; remember the first line number of each logical line.
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw);
        let (start, mut acc) = cur.take().unwrap_or((i + 1, String::new()));
        if let Some(body) = line.strip_suffix('\\') {
            acc.push_str(body);
            acc.push(' ');
            cur = Some((start, acc));
        } else {
            acc.push_str(line);
            logical.push((start, acc));
        }
    }
    if let Some(c) = cur {
        logical.push(c);
    }
    for (lineno, line) in logical {
        let origin = format!("{}:{lineno}", path.display());
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('-') {
            let (opt, arg) = match line.split_once(|c: char| c.is_whitespace() || c == '=') {
                Some((o, a)) => (o, a.trim()),
                None => (line, ""),
            };
            match opt {
                "-r" | "--requirement" => {
                    if arg.is_empty() {
                        return Err(RequirementError::Syntax {
                            origin,
                            requirement: line.into(),
                            reason: "missing file after -r".into(),
                        });
                    }
                    let target = crate::fsutil::parent_dir(path).join(arg);
                    let canon = std::fs::canonicalize(&target).unwrap_or_else(|_| target.clone());
                    if stack.contains(&canon) {
                        return Err(RequirementError::Cycle { origin, target });
                    }
                    read_requirements_file(&target, stack, out)?;
                }
                _ => {
                    return Err(RequirementError::Option {
                        origin,
                        option: opt.into(),
                    })
                }
            }
            continue;
        }
        // Per-requirement options: `--hash=sha256:...` is accepted and ignored (the lock
        // records the digests); any other option is refused.
        let mut req = String::new();
        let mut rest = line;
        if let Some(i) = find_option(line) {
            req.push_str(&line[..i]);
            rest = &line[i..];
            for tok in rest.split_whitespace() {
                if !(tok.starts_with("--hash=") || tok.starts_with("--hash:")) {
                    return Err(RequirementError::Option {
                        origin,
                        option: tok.split('=').next().unwrap_or(tok).into(),
                    });
                }
            }
        } else {
            req.push_str(rest);
        }
        out.push(Pin::parse(&req, &origin)?);
    }
    stack.pop();
    Ok(())
}

/// Offset of the first ` --option` on a requirement line (outside quotes).
fn find_option(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let mut quote = None;
    for i in 0..b.len() {
        match (quote, b[i]) {
            (None, b'\'' | b'"') => quote = Some(b[i]),
            (Some(q), c) if c == q => quote = None,
            (None, b'-')
                if i > 0 && b[i - 1].is_ascii_whitespace() && b.get(i + 1) == Some(&b'-') =>
            {
                return Some(i)
            }
            _ => {}
        }
    }
    None
}

/// The pins that apply to `env` (markers evaluated), one per name, sorted by name.
/// Pins of the same name must agree on the version; their extras are merged.
pub fn select(pins: Vec<Pin>, env: &Env) -> Result<Vec<Pin>, RequirementError> {
    let mut by_name: BTreeMap<String, Pin> = BTreeMap::new();
    for p in pins {
        if !p.marker.as_ref().is_none_or(|m| m.evaluate(env)) {
            continue;
        }
        match by_name.get_mut(&p.name) {
            Some(first) => {
                if !(first.version == p.version || first.matches_version(&p.version))
                    || first.arbitrary != p.arbitrary
                {
                    return Err(RequirementError::Duplicate {
                        name: p.name.clone(),
                        first_version: first.version.clone(),
                        first_origin: first.origin.clone(),
                        second_version: p.version,
                        second_origin: p.origin,
                    });
                }
                first.extras.extend(p.extras);
            }
            None => {
                by_name.insert(p.name.clone(), Pin { marker: None, ..p });
            }
        }
    }
    Ok(by_name.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_ending_in_punctuation_is_an_error_not_a_panic() {
        for bad in ["docassemble.<ase==1.10.5", "a-<2", "b_>=1", "c.~=1.0", "d."] {
            let e = Requirement::parse(bad).unwrap_err().to_string();
            assert!(e.contains("must end with an alphanumeric"), "{bad}: {e}");
        }
        assert!(Requirement::parse("docassemble.base<2").is_ok());
    }

    #[test]
    fn an_extra_ending_in_punctuation_is_an_error_not_a_panic() {
        for bad in [
            "dome.51.E[55.",
            "a[b-]",
            "a [x, y_]",
            "a[b.,c]==1",
            "a[ok,z-",
        ] {
            let e = Requirement::parse(bad).unwrap_err().to_string();
            assert!(e.contains("must end with an alphanumeric"), "{bad}: {e}");
        }
        let bom = "x>=4.0 ; python_version < \"3.11\" and\u{feff} (os_name == \"nt\")";
        let e = Requirement::parse(bom).unwrap_err().to_string();
        assert!(e.contains("U+FEFF"), "{e}");
        let e =
            crate::python::markers::Marker::parse("os_name == \"nt\" and\u{a0}os_name == \"x\"");
        assert!(e.unwrap_err().reason.contains("U+00A0"));
        let r = Requirement::parse("a[b.c, d-e]>=1").unwrap();
        assert_eq!(r.extras.iter().cloned().collect::<Vec<_>>(), ["b-c", "d-e"]);
    }

    #[test]
    fn parses_pep508() {
        let r = Requirement::parse(
            "requests [security, Socks] (>=2.8.1, ==2.8.*) ; python_version < \"2.7\"",
        )
        .unwrap();
        assert_eq!(r.name, "requests");
        assert_eq!(
            r.extras.iter().cloned().collect::<Vec<_>>(),
            ["security", "socks"]
        );
        assert_eq!(r.specifier.to_string(), ">=2.8.1,==2.8.*");
        assert!(r.marker.is_some());
        let r = Requirement::parse("colorama; platform_system == \"Windows\"").unwrap();
        assert!(r.specifier.is_empty());
        assert!(!r.applies(&Env::cpython_linux("3.13", 0, "x86_64")));
        let r =
            Requirement::parse("pip @ https://h.example/pip.zip ; python_version >= '3'").unwrap();
        assert_eq!(r.url.as_deref(), Some("https://h.example/pip.zip"));
        assert!(Requirement::parse("-bad").is_err());
        assert!(Requirement::parse("x >= 1.0 ; foo == 'a'").is_err());
    }

    #[test]
    fn reads_requirements_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("base.txt"),
            "\u{feff}# base (opens with a byte-order mark)\nClick==8.1.8  # the CLI\n\nsix==1.17.0 \\\n    --hash=sha256:abc \\\n    --hash=sha256:def\n",
        )
        .unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/more.txt"), "-r ../base.txt\nrequests[Socks,security]==2.32.3 ; python_version >= '3.8'\npywin32==306; sys_platform == 'win32'\nclick==8.1.8\n").unwrap();
        let pins = read_pins(&d.path().join("sub/more.txt")).unwrap();
        assert_eq!(pins.len(), 5);
        assert_eq!(pins[0].name, "click");
        assert!(pins[0].origin.ends_with("base.txt:2"), "{}", pins[0].origin);
        assert!(pins[1].origin.ends_with("base.txt:4"), "{}", pins[1].origin);
        let env = Env::cpython_linux("3.13", 0, "x86_64");
        let sel = select(pins, &env).unwrap();
        let specs: Vec<String> = sel.iter().map(|p| p.spec()).collect();
        assert_eq!(
            specs,
            [
                "click==8.1.8",
                "requests[security,socks]==2.32.3",
                "six==1.17.0"
            ]
        );
    }

    #[test]
    fn refuses_unpinned_and_conflicts() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("r.txt");
        std::fs::write(&f, "a==1\nb>=2\n").unwrap();
        let e = read_pins(&f).unwrap_err().to_string();
        assert!(
            e.contains("r.txt:2") && e.contains("b>=2") && e.contains("not an exact pin"),
            "{e}"
        );
        std::fs::write(&f, "a==1.*\n").unwrap();
        assert!(read_pins(&f)
            .unwrap_err()
            .to_string()
            .contains("not an exact pin"));
        std::fs::write(&f, "--index-url https://x.example/simple\n").unwrap();
        assert!(read_pins(&f)
            .unwrap_err()
            .to_string()
            .contains("--index-url"));
        std::fs::write(&f, "-r r.txt\n").unwrap();
        assert!(read_pins(&f).unwrap_err().to_string().contains("cycle"));
        std::fs::write(&f, "Foo_Bar==1.0\nfoo.bar==1.0.0\nfoo-bar==2\n").unwrap();
        let e = select(
            read_pins(&f).unwrap(),
            &Env::cpython_linux("3.13", 0, "x86_64"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("foo-bar is pinned twice") && e.contains("r.txt:3"),
            "{e}"
        );
    }

    #[test]
    fn reads_pyproject_dependencies() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("pyproject.toml");
        std::fs::write(
            &f,
            "[project]\nname='x'\ndependencies = [\"click==8.1.8\", \"rich>=13\"]\n",
        )
        .unwrap();
        let e = read_pins(&f).unwrap_err().to_string();
        assert!(
            e.contains("project.dependencies[1]") && e.contains("rich>=13"),
            "{e}"
        );
        std::fs::write(
            &f,
            "[project]\nname='x'\ndependencies = [\"click==8.1.8\"]\n",
        )
        .unwrap();
        assert_eq!(read_pins(&f).unwrap()[0].spec(), "click==8.1.8");
    }
}
