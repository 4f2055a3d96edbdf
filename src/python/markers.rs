//! PEP 508 environment markers, parsed and evaluated by the `pep508_rs` crate (the parser uv
//! uses), for one target environment.
//!
//! What this module adds around the crate:
//! * **Limits.** The crate's parser recurses over parentheses, so a marker from an untrusted
//!   wheel's METADATA or lock could overflow the stack: a lexical pass refuses markers of more
//!   than [`MAX_MARKER_TOKENS`] tokens or nested deeper than [`MAX_MARKER_DEPTH`] first.
//! * **Strictness.** Expressions the crate would ignore with a warning (two strings compared,
//!   a version variable compared with a non-version) are errors, as an empty marker is.
//! * **PEP 751's set variables** (`'build' in dependency_groups`, `'x' in extras`), which the
//!   crate does not know: each such comparison is handed to the crate as an `extra`
//!   comparison with a name in its own namespace, and the environment's groups and extras are
//!   passed as such names.
//! * **Extras as installers evaluate them:** with several active extras, a marker is true when
//!   it is true for any one of them.

use crate::python::names::normalize_name;
use pep508_rs::{ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder, MarkerTree};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid marker {marker:?}: {reason} (at offset {offset})")]
pub struct MarkerError {
    pub marker: String,
    pub reason: String,
    pub offset: usize,
}

/// The target environment markers are evaluated in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    pub python_version: String,
    pub python_full_version: String,
    pub os_name: String,
    pub sys_platform: String,
    pub platform_system: String,
    pub platform_machine: String,
    pub platform_python_implementation: String,
    pub implementation_name: String,
    pub implementation_version: String,
    pub platform_release: String,
    pub platform_version: String,
    /// Active extras of the package whose `Requires-Dist` is evaluated (normalized).
    pub extras: BTreeSet<String>,
    /// PEP 751 `dependency_groups` (for `packages.marker` in pylock.toml).
    pub dependency_groups: BTreeSet<String>,
}

impl Env {
    /// CPython `python_version` ("3.13") on Linux, machine `machine`. The micro version is
    /// unknown before the toolchain is locked, so `python_full_version` is `<version>.<micro>`.
    pub fn cpython_linux(python_version: &str, micro: u32, machine: &str) -> Env {
        let full = format!("{python_version}.{micro}");
        Env {
            python_version: python_version.to_string(),
            python_full_version: full.clone(),
            os_name: "posix".into(),
            sys_platform: "linux".into(),
            platform_system: "Linux".into(),
            platform_machine: machine.to_string(),
            platform_python_implementation: "CPython".into(),
            implementation_name: "cpython".into(),
            implementation_version: full,
            platform_release: String::new(),
            platform_version: String::new(),
            extras: BTreeSet::new(),
            dependency_groups: BTreeSet::new(),
        }
    }

    pub fn with_extras<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, extras: I) -> Env {
        Env {
            extras: extras
                .into_iter()
                .map(|e| normalize_name(e.as_ref()))
                .collect(),
            ..self.clone()
        }
    }

    /// The crate's environment. A version variable that is not a PEP 440 version (an
    /// environment made only to evaluate `dependency_groups`) is taken as `0`.
    fn marker_environment(&self) -> MarkerEnvironment {
        let version = |s: &str| {
            if pep508_rs::pep440_rs::Version::from_str(s).is_ok() {
                s.to_string()
            } else {
                "0".to_string()
            }
        };
        let (implementation_version, python_full_version, python_version) = (
            version(&self.implementation_version),
            version(&self.python_full_version),
            version(&self.python_version),
        );
        MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: &self.implementation_name,
            implementation_version: &implementation_version,
            os_name: &self.os_name,
            platform_machine: &self.platform_machine,
            platform_python_implementation: &self.platform_python_implementation,
            platform_release: &self.platform_release,
            platform_system: &self.platform_system,
            platform_version: &self.platform_version,
            python_full_version: &python_full_version,
            python_version: &python_version,
            sys_platform: &self.sys_platform,
        })
        .expect("checked versions")
    }
}

/// The most tokens a marker may have, and the deepest nesting of parentheses: the parser
/// recurses over the expression, so an unbounded marker (from a wheel's METADATA or a lock)
/// could overflow the stack. Real markers have a few dozen tokens.
pub const MAX_MARKER_TOKENS: usize = 1000;
pub const MAX_MARKER_DEPTH: usize = 32;

/// PEP 751 set variables, and the `extra` names their members become for the crate.
const SET_VARIABLES: [(&str, &str); 2] = [
    ("extras", "relsign-pep751-extras-"),
    ("dependency_groups", "relsign-pep751-groups-"),
];

/// A parsed marker expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    tree: MarkerTree,
    /// The tokens, whitespace and quotes normalized (for `Display`).
    text: String,
    uses_extra: bool,
    only_groups: bool,
}

/// One lexical token of a marker and its offset: a quoted string (with its quotes), a
/// parenthesis, a run of operator characters, or a word.
fn tokens(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let end = if c.is_whitespace() {
            continue;
        } else if c == '(' || c == ')' {
            i + 1
        } else if c == '\'' || c == '"' {
            // Unterminated: the rest (the crate reports it).
            s[i + 1..].find(c).map_or(s.len(), |e| i + 1 + e + 1)
        } else {
            let op = |c: char| "<>=!~".contains(c);
            let in_op = op(c);
            let same = |d: char| {
                if in_op {
                    op(d)
                } else {
                    !(d.is_whitespace() || "()'\"".contains(d) || op(d))
                }
            };
            let mut e = i + c.len_utf8();
            while let Some(&(j, d)) = it.peek() {
                if !same(d) {
                    break;
                }
                e = j + d.len_utf8();
                it.next();
            }
            e
        };
        while it.peek().is_some_and(|&(j, _)| j < end) {
            it.next();
        }
        out.push((i, &s[i..end]));
    }
    out
}

impl Marker {
    pub fn parse(s: &str) -> Result<Marker, MarkerError> {
        let toks = check_limits(s)?;
        let err = |reason: String, offset: usize| MarkerError {
            marker: s.to_string(),
            reason,
            offset,
        };
        if toks.is_empty() {
            return Err(err("empty marker".into(), s.len()));
        }
        let (crate_text, sets) = rewrite_set_comparisons(&toks);
        let mut warnings = Vec::new();
        let tree = MarkerTree::parse_reporter(crate_text.as_deref().unwrap_or(s), &mut |_, w| {
            warnings.push(w)
        })
        .map_err(|e| err(e.message.to_string(), e.start))?;
        if let Some(w) = warnings.into_iter().next() {
            return Err(err(one_line(&w), 0));
        }
        Ok(Marker::from_tokens(tree, &toks, sets))
    }

    /// A marker the crate parsed as part of a requirement (`text` is the marker's source).
    pub(crate) fn from_requirement(tree: MarkerTree, text: &str) -> Marker {
        Marker::from_tokens(tree, &tokens(text), 0)
    }

    fn from_tokens(tree: MarkerTree, toks: &[(usize, &str)], sets: usize) -> Marker {
        let comparisons = toks
            .iter()
            .filter(|(_, t)| *t == "in" || t.starts_with(|c: char| "<>=!~".contains(c)))
            .count();
        let groups = toks
            .windows(2)
            .filter(|w| matches!(w[0].1, "in") && w[1].1 == "dependency_groups")
            .count();
        Marker {
            tree,
            text: canonical_text(toks),
            uses_extra: toks.iter().any(|(_, t)| *t == "extra"),
            only_groups: sets > 0 && groups == comparisons,
        }
    }

    /// Evaluate for `env`. With several active extras the marker is true when it is true for
    /// any one of them (as installers evaluate it); with none, no `extra` comparison holds.
    pub fn evaluate(&self, env: &Env) -> bool {
        let menv = env.marker_environment();
        let mut sets: Vec<ExtraName> = Vec::new();
        for ((_, prefix), members) in SET_VARIABLES
            .iter()
            .zip([&env.extras, &env.dependency_groups])
        {
            sets.extend(
                members
                    .iter()
                    .filter_map(|m| ExtraName::from_str(&format!("{prefix}{m}")).ok()),
            );
        }
        let extras: Vec<ExtraName> = env
            .extras
            .iter()
            .filter_map(|e| ExtraName::from_str(e).ok())
            .collect();
        if extras.is_empty() {
            return self.tree.evaluate(&menv, &sets);
        }
        extras.into_iter().any(|e| {
            let mut names = sets.clone();
            names.push(e);
            self.tree.evaluate(&menv, &names)
        })
    }

    /// Does the marker mention the `extra` variable?
    pub fn uses_extra(&self) -> bool {
        self.uses_extra
    }

    /// Is every comparison of the marker `'x' in dependency_groups` (or `not in`), so that
    /// group membership can be read from it?
    pub fn mentions_only_groups(&self) -> bool {
        self.only_groups
    }
}

/// PEP 508's grammar is ASCII. Anything else is refused before the crate parses: pep508_rs
/// 0.9.2 slices at a byte offset inside a multi-byte character and panics (a U+FEFF after
/// `and`, found by the `pep508` fuzz target).
pub(crate) fn first_non_ascii(s: &str) -> Option<(usize, char)> {
    s.char_indices().find(|(_, c)| !c.is_ascii())
}

/// The tokens of `s`, or an error when it is over the limits.
pub(crate) fn check_limits(s: &str) -> Result<Vec<(usize, &str)>, MarkerError> {
    if let Some((offset, c)) = first_non_ascii(s) {
        return Err(MarkerError {
            marker: s.chars().take(200).collect(),
            reason: format!("non-ASCII character {c:?} (U+{:04X})", c as u32),
            offset,
        });
    }
    let toks = tokens(s);
    if toks.len() > MAX_MARKER_TOKENS {
        return Err(MarkerError {
            marker: s.chars().take(200).collect(),
            reason: format!(
                "{} tokens, over the limit of {MAX_MARKER_TOKENS}",
                toks.len()
            ),
            offset: toks[MAX_MARKER_TOKENS].0,
        });
    }
    let mut depth = 0usize;
    for &(offset, t) in &toks {
        match t {
            "(" => depth += 1,
            ")" => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_MARKER_DEPTH {
            return Err(MarkerError {
                marker: s.to_string(),
                reason: format!("parentheses nested deeper than {MAX_MARKER_DEPTH}"),
                offset,
            });
        }
    }
    Ok(toks)
}

/// The marker text for the crate with each `'x' [not] in <set variable>` written as
/// `extra ==|!= '<prefix>x'` (None when there is none), and how many were rewritten.
fn rewrite_set_comparisons(toks: &[(usize, &str)]) -> (Option<String>, usize) {
    let mut out: Vec<String> = Vec::new();
    let mut count = 0;
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i].1;
        let quoted = t.len() >= 2 && (t.starts_with('\'') || t.starts_with('"'));
        let negated = toks.get(i + 1).is_some_and(|n| n.1 == "not");
        let (in_at, var_at) = if negated {
            (i + 2, i + 3)
        } else {
            (i + 1, i + 2)
        };
        let set = toks.get(var_at).and_then(|v| {
            SET_VARIABLES
                .iter()
                .find(|(name, _)| *name == v.1)
                .map(|(_, prefix)| prefix)
        });
        match set {
            Some(prefix) if quoted && toks.get(in_at).is_some_and(|n| n.1 == "in") => {
                let member = normalize_name(&t[1..t.len() - 1]);
                let op = if negated { "!=" } else { "==" };
                out.push(format!("extra {op} '{prefix}{member}'"));
                count += 1;
                i = var_at + 1;
            }
            _ => {
                out.push(t.to_string());
                i += 1;
            }
        }
    }
    ((count > 0).then(|| out.join(" ")), count)
}

/// The tokens joined by single spaces (none inside parentheses), strings in double quotes
/// unless they hold one.
fn canonical_text(toks: &[(usize, &str)]) -> String {
    let mut s = String::new();
    let mut prev = "(";
    for &(_, t) in toks {
        if prev != "(" && t != ")" {
            s.push(' ');
        }
        match t.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            Some(inner) if t.len() >= 2 && !inner.contains('"') => {
                s.push('"');
                s.push_str(inner);
                s.push('"');
            }
            _ => s.push_str(t),
        }
        prev = t;
    }
    s
}

/// A crate warning on one line.
fn one_line(w: &str) -> String {
    w.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_or_long_markers_are_errors_not_stack_overflows() {
        // Overflowed the stack in the parser (parentheses) and in Display, evaluation and drop
        // (a long `and` chain) before the limits; found with the pep508 fuzz target.
        let deep = format!(
            "{}os_name == 'posix'{}",
            "(".repeat(50_000),
            ")".repeat(50_000)
        );
        assert!(Marker::parse(&deep).is_err());
        let deep = format!("{}os_name == 'posix'{}", "(".repeat(33), ")".repeat(33));
        let e = Marker::parse(&deep).unwrap_err();
        assert!(e.reason.contains("nested deeper than 32"), "{e}");
        let long = vec!["os_name == 'posix'"; 200_000].join(" and ");
        let e = Marker::parse(&long).unwrap_err();
        assert!(e.reason.contains("over the limit of 1000"), "{e}");
        // Up to the limits, fine.
        let ok = format!("{}os_name == 'posix'{}", "(".repeat(32), ")".repeat(32));
        assert!(Marker::parse(&ok)
            .unwrap()
            .evaluate(&Env::cpython_linux("3.13", 0, "x86_64")));
        let ok = vec!["os_name == 'posix'"; 250].join(" and ");
        assert!(Marker::parse(&ok).is_ok());
    }

    fn env() -> Env {
        Env::cpython_linux("3.13", 0, "x86_64")
    }
    fn ev(m: &str) -> bool {
        Marker::parse(m)
            .unwrap_or_else(|e| panic!("{e}"))
            .evaluate(&env())
    }

    #[test]
    fn evaluates_common_markers() {
        assert!(ev("python_version >= '3.8'"));
        assert!(ev("python_version > '3.9'")); // version comparison, not string ("3.13" < "3.9" as strings)
        assert!(!ev("python_version < \"3.10\""));
        assert!(ev(
            "sys_platform == 'linux' and platform_machine == 'x86_64'"
        ));
        assert!(!ev("platform_system == \"Windows\""));
        assert!(ev("os_name != 'nt'"));
        assert!(ev("(sys_platform == 'win32' or sys_platform == 'linux') and python_full_version >= '3.7.1'"));
        assert!(!ev(
            "sys_platform == 'win32' or sys_platform == 'darwin' and python_version >= '3'"
        ));
        assert!(ev(
            "implementation_name == 'cpython' and platform_python_implementation != 'PyPy'"
        ));
        assert!(ev("'linux' in sys_platform"));
        assert!(ev(
            "'x86' in platform_machine and 'arm' not in platform_machine"
        ));
        assert!(ev("python_version ~= '3.10'"));
        assert!(ev("python_version == '3.13.*'"));
        assert!(ev("python_full_version == '3.13.*'"));
        assert!(ev("'3.13' == python_version"));
        assert!(!ev("platform_release >= '5'")); // unknown release: string comparison of ""
    }

    #[test]
    fn extras_and_groups() {
        let m = Marker::parse("extra == 'Socks_Proxy' and python_version >= '3'").unwrap();
        assert!(m.uses_extra());
        assert!(!m.evaluate(&env()));
        assert!(m.evaluate(&env().with_extras(["socks-proxy"])));
        assert!(m.evaluate(&env().with_extras(["other", "socks.proxy"])));
        let g = Marker::parse("'build' in dependency_groups").unwrap();
        let mut e = env();
        assert!(!g.evaluate(&e));
        e.dependency_groups.insert("build".into());
        assert!(g.evaluate(&e));
        assert_eq!(g.to_string(), "\"build\" in dependency_groups");
    }

    #[test]
    fn pep751_set_variables() {
        let g = Marker::parse("'runtime' in dependency_groups or 'build' in dependency_groups")
            .unwrap();
        assert!(g.mentions_only_groups());
        let mut e = Env::cpython_linux("", 0, "");
        assert!(!g.evaluate(&e));
        e.dependency_groups.insert("build".into());
        assert!(g.evaluate(&e));
        let n = Marker::parse("'test' not in dependency_groups").unwrap();
        assert!(n.mentions_only_groups() && n.evaluate(&e));
        let x = Marker::parse("'Socks' in extras and sys_platform == 'linux'").unwrap();
        assert!(!x.mentions_only_groups());
        assert!(!x.evaluate(&env()));
        assert!(x.evaluate(&env().with_extras(["socks", "b"])));
        assert!(!Marker::parse("sys_platform == 'linux'")
            .unwrap()
            .mentions_only_groups());
    }

    #[test]
    fn rejects_bad_markers() {
        for bad in [
            "",
            "python_version",
            "python_version >= ",
            "foo == '1'",
            "'a' == 'b'",
            "(python_version > '3'",
            "python_version >= '3' and",
        ] {
            let e = Marker::parse(bad).unwrap_err();
            assert!(e.to_string().contains("invalid marker"), "{e}");
        }
    }

    #[test]
    fn display_round_trips() {
        let s = "(python_version < \"3.11\" or extra == \"a\") and sys_platform == \"linux\"";
        let m = Marker::parse(s).unwrap();
        assert_eq!(m.to_string(), s);
        assert_eq!(Marker::parse(&m.to_string()).unwrap(), m);
    }
}
