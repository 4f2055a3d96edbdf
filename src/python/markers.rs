//! PEP 508 environment markers: a parser and an evaluator for one target environment.
//!
//! Supports `and`, `or`, parentheses, every marker variable of PEP 508, the `extra` variable,
//! and PEP 751's `extras` / `dependency_groups` set variables (`'build' in dependency_groups`).
//! Comparisons use PEP 440 when both sides parse as a version specifier, else string comparison,
//! as the `packaging` library does.

use crate::python::requirements::normalize_name;
use crate::python::version::{Op, Specifier, Version};
use std::collections::BTreeSet;
use std::fmt;

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

    fn var(&self, name: &str) -> Option<&str> {
        Some(match name {
            "python_version" => &self.python_version,
            "python_full_version" => &self.python_full_version,
            "os_name" => &self.os_name,
            "sys_platform" => &self.sys_platform,
            "platform_system" => &self.platform_system,
            "platform_machine" => &self.platform_machine,
            "platform_python_implementation" => &self.platform_python_implementation,
            "implementation_name" => &self.implementation_name,
            "implementation_version" => &self.implementation_version,
            "platform_release" => &self.platform_release,
            "platform_version" => &self.platform_version,
            _ => return None,
        })
    }
}

const VARIABLES: &[&str] = &[
    "python_version",
    "python_full_version",
    "os_name",
    "sys_platform",
    "platform_system",
    "platform_machine",
    "platform_python_implementation",
    "implementation_name",
    "implementation_version",
    "platform_release",
    "platform_version",
    "extra",
    "extras",
    "dependency_groups",
];

/// A marker value: a variable or a quoted string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Var(String),
    Str(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerOp {
    Version(Op),
    In,
    NotIn,
}

/// A parsed marker expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    Compare(Value, MarkerOp, Value),
    And(Box<Marker>, Box<Marker>),
    Or(Box<Marker>, Box<Marker>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Op(Op),
    In,
    NotIn,
    And,
    Or,
    LParen,
    RParen,
}

fn tokenize(s: &str) -> Result<Vec<(usize, Tok)>, MarkerError> {
    let err = |offset: usize, reason: &str| MarkerError {
        marker: s.to_string(),
        reason: reason.to_string(),
        offset,
    };
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'(' {
            out.push((i, Tok::LParen));
            i += 1;
        } else if c == b')' {
            out.push((i, Tok::RParen));
            i += 1;
        } else if c == b'\'' || c == b'"' {
            let end = s[i + 1..]
                .find(c as char)
                .ok_or_else(|| err(i, "unterminated string"))?;
            out.push((i, Tok::Str(s[i + 1..i + 1 + end].to_string())));
            i += end + 2;
        } else if b"<>=!~".contains(&c) {
            let (op, rest) = Op::take(&s[i..]).ok_or_else(|| err(i, "unknown operator"))?;
            out.push((i, Tok::Op(op)));
            i = s.len() - rest.len();
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            let word = &s[start..i];
            let tok = match word {
                "and" => Tok::And,
                "or" => Tok::Or,
                "in" => Tok::In,
                "not" => {
                    let rest = &s[i..];
                    let trimmed = rest.trim_start();
                    if trimmed.starts_with("in")
                        && !trimmed[2..]
                            .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                    {
                        i += rest.len() - trimmed.len() + 2;
                        Tok::NotIn
                    } else {
                        return Err(err(start, "expected `in` after `not`"));
                    }
                }
                w if VARIABLES.contains(&w) => Tok::Ident(w.to_string()),
                // Legacy alias accepted by packaging.
                "os.name"
                | "sys.platform"
                | "platform.version"
                | "platform.machine"
                | "platform.python_implementation" => Tok::Ident(word.replace('.', "_")),
                _ => return Err(err(start, &format!("unknown marker variable {word:?}"))),
            };
            out.push((start, tok));
        } else {
            return Err(err(i, &format!("unexpected character {:?}", c as char)));
        }
    }
    Ok(out)
}

/// The most tokens a marker may have, and the deepest nesting of parentheses: the parser,
/// the evaluator and `Display` recurse over the expression, so an unbounded marker (from a
/// wheel's METADATA or a lock) could overflow the stack. Real markers have a few dozen tokens.
pub const MAX_MARKER_TOKENS: usize = 1000;
pub const MAX_MARKER_DEPTH: usize = 32;

struct Parser<'a> {
    src: &'a str,
    toks: Vec<(usize, Tok)>,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, reason: &str) -> MarkerError {
        let offset = self
            .toks
            .get(self.pos)
            .map(|t| t.0)
            .unwrap_or(self.src.len());
        MarkerError {
            marker: self.src.to_string(),
            reason: reason.to_string(),
            offset,
        }
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.1)
    }
    fn or(&mut self) -> Result<Marker, MarkerError> {
        let mut m = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            m = Marker::Or(Box::new(m), Box::new(self.and()?));
        }
        Ok(m)
    }
    fn and(&mut self) -> Result<Marker, MarkerError> {
        let mut m = self.atom()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            m = Marker::And(Box::new(m), Box::new(self.atom()?));
        }
        Ok(m)
    }
    fn atom(&mut self) -> Result<Marker, MarkerError> {
        if self.peek() == Some(&Tok::LParen) {
            if self.depth >= MAX_MARKER_DEPTH {
                return Err(self.err(&format!(
                    "parentheses nested deeper than {MAX_MARKER_DEPTH}"
                )));
            }
            self.pos += 1;
            self.depth += 1;
            let m = self.or()?;
            self.depth -= 1;
            if self.peek() != Some(&Tok::RParen) {
                return Err(self.err("expected `)`"));
            }
            self.pos += 1;
            return Ok(m);
        }
        let l = self.value()?;
        let op = match self.peek() {
            Some(Tok::Op(op)) => MarkerOp::Version(*op),
            Some(Tok::In) => MarkerOp::In,
            Some(Tok::NotIn) => MarkerOp::NotIn,
            _ => return Err(self.err("expected a comparison operator")),
        };
        self.pos += 1;
        let r = self.value()?;
        if matches!(
            (&l, &r),
            (Value::Var(_), Value::Var(_)) | (Value::Str(_), Value::Str(_))
        ) {
            return Err(self.err("a comparison needs one variable and one string"));
        }
        Ok(Marker::Compare(l, op, r))
    }
    fn value(&mut self) -> Result<Value, MarkerError> {
        let v = match self.peek() {
            Some(Tok::Ident(s)) => Value::Var(s.clone()),
            Some(Tok::Str(s)) => Value::Str(s.clone()),
            _ => return Err(self.err("expected a marker variable or a quoted string")),
        };
        self.pos += 1;
        Ok(v)
    }
}

impl Marker {
    pub fn parse(s: &str) -> Result<Marker, MarkerError> {
        let toks = tokenize(s)?;
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
        let mut p = Parser {
            src: s,
            toks,
            pos: 0,
            depth: 0,
        };
        if p.toks.is_empty() {
            return Err(p.err("empty marker"));
        }
        let m = p.or()?;
        if p.pos != p.toks.len() {
            return Err(p.err("unexpected trailing tokens"));
        }
        Ok(m)
    }

    /// Evaluate for `env`. With several active extras the marker is true when it is true for
    /// any one of them (as installers evaluate it); with none, `extra` is the empty string.
    pub fn evaluate(&self, env: &Env) -> bool {
        if env.extras.is_empty() {
            self.eval(env, "")
        } else {
            env.extras.iter().any(|e| self.eval(env, e))
        }
    }

    fn eval(&self, env: &Env, extra: &str) -> bool {
        match self {
            Marker::And(a, b) => a.eval(env, extra) && b.eval(env, extra),
            Marker::Or(a, b) => a.eval(env, extra) || b.eval(env, extra),
            Marker::Compare(l, op, r) => compare(env, extra, l, *op, r),
        }
    }

    /// Does the marker mention the `extra` variable?
    pub fn uses_extra(&self) -> bool {
        match self {
            Marker::And(a, b) | Marker::Or(a, b) => a.uses_extra() || b.uses_extra(),
            Marker::Compare(l, _, r) => [l, r]
                .iter()
                .any(|v| matches!(v, Value::Var(n) if n == "extra")),
        }
    }
}

fn compare(env: &Env, extra: &str, l: &Value, op: MarkerOp, r: &Value) -> bool {
    // Set variables (PEP 751): `'x' in extras`, `'build' in dependency_groups`.
    if let (Value::Str(item), Value::Var(set)) = (l, r) {
        let set = match set.as_str() {
            "extras" => Some(&env.extras),
            "dependency_groups" => Some(&env.dependency_groups),
            _ => None,
        };
        if let Some(set) = set {
            let has = set.contains(&normalize_name(item));
            return match op {
                MarkerOp::In => has,
                MarkerOp::NotIn => !has,
                MarkerOp::Version(_) => false,
            };
        }
    }
    let resolve = |v: &Value| -> (String, bool) {
        match v {
            Value::Str(s) => (s.clone(), false),
            Value::Var(n) if n == "extra" => (extra.to_string(), true),
            Value::Var(n) => (env.var(n).unwrap_or("").to_string(), false),
        }
    };
    let (mut ls, lextra) = resolve(l);
    let (mut rs, rextra) = resolve(r);
    if lextra || rextra {
        // Extra names are compared normalized (PEP 685).
        ls = normalize_name(&ls);
        rs = normalize_name(&rs);
    }
    match op {
        MarkerOp::In => rs.contains(&ls),
        MarkerOp::NotIn => !rs.contains(&ls),
        MarkerOp::Version(op) => {
            if let (Ok(spec), Ok(v)) = (
                Specifier::parse(&format!("{}{}", op.as_str(), rs)),
                Version::parse(&ls),
            ) {
                return spec.contains(&v);
            }
            match op {
                Op::Eq | Op::Arbitrary => ls == rs,
                Op::Ne => ls != rs,
                Op::Lt => ls < rs,
                Op::Le => ls <= rs,
                Op::Gt => ls > rs,
                Op::Ge => ls >= rs,
                Op::Compatible => false,
            }
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Var(v) => f.write_str(v),
            Value::Str(s) if s.contains('"') => write!(f, "'{s}'"),
            Value::Str(s) => write!(f, "\"{s}\""),
        }
    }
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Marker::Compare(l, op, r) => {
                let op = match op {
                    MarkerOp::Version(o) => o.as_str(),
                    MarkerOp::In => "in",
                    MarkerOp::NotIn => "not in",
                };
                write!(f, "{l} {op} {r}")
            }
            Marker::And(a, b) => {
                let w = |m: &Marker| match m {
                    Marker::Or(..) => format!("({m})"),
                    _ => m.to_string(),
                };
                write!(f, "{} and {}", w(a), w(b))
            }
            Marker::Or(a, b) => write!(f, "{a} or {b}"),
        }
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
