//! PEP 440 versions and specifiers: enough to compare pins, evaluate markers and check
//! `Requires-Dist` / `Requires-Python` against locked versions.
//!
//! Ordering follows the `packaging` reference implementation: release segments with trailing
//! zeros ignored, then pre-release (`a` < `b` < `rc`), post-release, dev-release, local label.
//! A version with only a dev segment sorts before the pre-releases of its release.

use std::cmp::Ordering;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("invalid version {0:?}")]
    Version(String),
    #[error("invalid version specifier {0:?}: {1}")]
    Specifier(String, String),
}

/// The kind of a pre-release segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pre {
    Alpha,
    Beta,
    Rc,
}

/// One segment of a local version label: numbers sort after strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LocalSeg {
    Num(u64),
    Str(String),
}

impl Ord for LocalSeg {
    fn cmp(&self, o: &Self) -> Ordering {
        match (self, o) {
            (LocalSeg::Num(a), LocalSeg::Num(b)) => a.cmp(b),
            (LocalSeg::Str(a), LocalSeg::Str(b)) => a.cmp(b),
            (LocalSeg::Num(_), LocalSeg::Str(_)) => Ordering::Greater,
            (LocalSeg::Str(_), LocalSeg::Num(_)) => Ordering::Less,
        }
    }
}
impl PartialOrd for LocalSeg {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// A parsed PEP 440 version. Equality and ordering are PEP 440's (so `1.0 == 1.0.0`).
#[derive(Debug, Clone)]
pub struct Version {
    pub epoch: u64,
    pub release: Vec<u64>,
    pub pre: Option<(Pre, u64)>,
    pub post: Option<u64>,
    pub dev: Option<u64>,
    pub local: Vec<LocalSeg>,
}

fn take_num(s: &str) -> (Option<u64>, &str) {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    if end == 0 {
        (None, s)
    } else {
        (s[..end].parse().ok(), &s[end..])
    }
}

fn strip_sep(s: &str) -> &str {
    s.strip_prefix(['.', '-', '_']).unwrap_or(s)
}

/// Match one of `words` (longest first) at the start of `s`.
fn take_word<'a>(s: &'a str, words: &[&str]) -> Option<(&'a str, &'a str)> {
    for w in words {
        // `get`, not slicing: `s` may have a multi-byte character where the word would end.
        if let Some(head) = s.get(..w.len()).filter(|h| h.eq_ignore_ascii_case(w)) {
            return Some((head, &s[w.len()..]));
        }
    }
    None
}

impl Version {
    /// Parse a version, accepting PEP 440's alternative spellings (`v1.0`, `1.0-alpha.1`,
    /// `1.0-1`, `1.0.post`, upper case).
    pub fn parse(input: &str) -> Result<Version, VersionError> {
        let bad = || VersionError::Version(input.to_string());
        let s = input.trim();
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        let (public, local_str) = match s.split_once('+') {
            Some((p, l)) => (p, Some(l)),
            None => (s, None),
        };
        let mut rest = public;
        // epoch
        let mut epoch = 0;
        if let Some(i) = rest.find('!') {
            epoch = rest[..i].parse().map_err(|_| bad())?;
            rest = &rest[i + 1..];
        }
        // release
        let mut release = Vec::new();
        loop {
            let (n, r) = take_num(rest);
            let n = n.ok_or_else(bad)?;
            release.push(n);
            rest = r;
            match rest.strip_prefix('.') {
                Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => rest = r,
                _ => break,
            }
        }
        // pre
        let mut pre = None;
        {
            let r = strip_sep(rest);
            if let Some((w, r)) =
                take_word(r, &["preview", "alpha", "beta", "pre", "rc", "a", "b", "c"])
            {
                let kind = match w.to_ascii_lowercase().as_str() {
                    "a" | "alpha" => Pre::Alpha,
                    "b" | "beta" => Pre::Beta,
                    _ => Pre::Rc,
                };
                let r2 = strip_sep(r);
                let (n, r3) = take_num(r2);
                let (n, r) = match n {
                    Some(n) => (n, r3),
                    None => (0, r),
                };
                pre = Some((kind, n));
                rest = r;
            }
        }
        // post
        let mut post = None;
        {
            if let Some(r) = rest.strip_prefix('-') {
                if let (Some(n), r2) = take_num(r) {
                    post = Some(n);
                    rest = r2;
                }
            }
            if post.is_none() {
                let r = strip_sep(rest);
                if let Some((_, r)) = take_word(r, &["post", "rev", "r"]) {
                    let r2 = strip_sep(r);
                    let (n, r3) = take_num(r2);
                    let (n, r) = match n {
                        Some(n) => (n, r3),
                        None => (0, r),
                    };
                    post = Some(n);
                    rest = r;
                }
            }
        }
        // dev
        let mut dev = None;
        {
            let r = strip_sep(rest);
            if let Some((_, r)) = take_word(r, &["dev"]) {
                let r2 = strip_sep(r);
                let (n, r3) = take_num(r2);
                let (n, r) = match n {
                    Some(n) => (n, r3),
                    None => (0, r),
                };
                dev = Some(n);
                rest = r;
            }
        }
        if !rest.is_empty() {
            return Err(bad());
        }
        let mut local = Vec::new();
        if let Some(l) = local_str {
            for seg in l.split(['.', '-', '_']) {
                if seg.is_empty() || !seg.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(bad());
                }
                local.push(match seg.parse::<u64>() {
                    Ok(n) if seg.bytes().all(|b| b.is_ascii_digit()) => LocalSeg::Num(n),
                    _ => LocalSeg::Str(seg.to_ascii_lowercase()),
                });
            }
        }
        Ok(Version {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }
    pub fn is_postrelease(&self) -> bool {
        self.post.is_some()
    }
    /// The version without its local label.
    pub fn public(&self) -> Version {
        Version {
            local: Vec::new(),
            ..self.clone()
        }
    }
    /// Epoch and release only (`1.2rc1.post3` → `1.2`).
    pub fn base(&self) -> Version {
        Version {
            epoch: self.epoch,
            release: self.release.clone(),
            pre: None,
            post: None,
            dev: None,
            local: Vec::new(),
        }
    }

    fn release_cmp(a: &[u64], b: &[u64]) -> Ordering {
        let n = a.len().max(b.len());
        for i in 0..n {
            let x = a.get(i).copied().unwrap_or(0);
            let y = b.get(i).copied().unwrap_or(0);
            match x.cmp(&y) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        Ordering::Equal
    }

    /// The pre-release key: dev-only releases sort before any pre-release; finals after.
    fn pre_key(&self) -> (i8, Option<(Pre, u64)>) {
        match (self.pre, self.post, self.dev) {
            (None, None, Some(_)) => (-1, None),
            (None, _, _) => (1, None),
            (Some(p), _, _) => (0, Some(p)),
        }
    }
}

impl Ord for Version {
    fn cmp(&self, o: &Self) -> Ordering {
        self.epoch
            .cmp(&o.epoch)
            .then_with(|| Version::release_cmp(&self.release, &o.release))
            .then_with(|| self.pre_key().cmp(&o.pre_key()))
            // no post sorts first: None < Some
            .then_with(|| self.post.cmp(&o.post))
            // no dev sorts last
            .then_with(|| match (self.dev, o.dev) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(&b),
            })
            // no local sorts first; then segment-wise (Vec ordering does exactly that)
            .then_with(|| self.local.cmp(&o.local))
    }
}
impl PartialOrd for Version {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl PartialEq for Version {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Version {}

impl fmt::Display for Version {
    /// The normalized form (`1.0-alpha.1` → `1.0a1`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}!", self.epoch)?;
        }
        let rel: Vec<String> = self.release.iter().map(|n| n.to_string()).collect();
        f.write_str(&rel.join("."))?;
        if let Some((k, n)) = self.pre {
            let k = match k {
                Pre::Alpha => "a",
                Pre::Beta => "b",
                Pre::Rc => "rc",
            };
            write!(f, "{k}{n}")?;
        }
        if let Some(n) = self.post {
            write!(f, ".post{n}")?;
        }
        if let Some(n) = self.dev {
            write!(f, ".dev{n}")?;
        }
        if !self.local.is_empty() {
            let l: Vec<String> = self
                .local
                .iter()
                .map(|s| match s {
                    LocalSeg::Num(n) => n.to_string(),
                    LocalSeg::Str(s) => s.clone(),
                })
                .collect();
            write!(f, "+{}", l.join("."))?;
        }
        Ok(())
    }
}

/// A specifier operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Compatible,
    Eq,
    Ne,
    Le,
    Ge,
    Lt,
    Gt,
    Arbitrary,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Compatible => "~=",
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Le => "<=",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Gt => ">",
            Op::Arbitrary => "===",
        }
    }
    /// Parse the operator at the start of `s`, returning it and the rest.
    pub fn take(s: &str) -> Option<(Op, &str)> {
        for (t, op) in [
            ("===", Op::Arbitrary),
            ("~=", Op::Compatible),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if let Some(r) = s.strip_prefix(t) {
                return Some((op, r));
            }
        }
        None
    }
}

/// One clause: `>=1.0`, `==1.4.*`, `===foo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specifier {
    pub op: Op,
    /// The version text as written (without `.*`).
    pub text: String,
    /// `==1.4.*` / `!=1.4.*`
    pub wildcard: bool,
    /// Parsed version (None only for `===` with a non-PEP 440 string).
    pub version: Option<Version>,
}

impl Specifier {
    pub fn parse(s: &str) -> Result<Specifier, VersionError> {
        let s = s.trim();
        let err = |why: &str| VersionError::Specifier(s.to_string(), why.to_string());
        let (op, rest) =
            Op::take(s).ok_or_else(|| err("no operator (one of ~= == != <= >= < > ===)"))?;
        let rest = rest.trim();
        if rest.is_empty() {
            return Err(err("no version after the operator"));
        }
        if op == Op::Arbitrary {
            return Ok(Specifier {
                op,
                text: rest.into(),
                wildcard: false,
                version: Version::parse(rest).ok(),
            });
        }
        let (text, wildcard) = match rest.strip_suffix(".*") {
            Some(t) => (t, true),
            None => (rest, false),
        };
        if wildcard && !matches!(op, Op::Eq | Op::Ne) {
            return Err(err(".* is only allowed with == and !="));
        }
        let version = Version::parse(text).map_err(|_| err("invalid version"))?;
        if op == Op::Compatible && version.release.len() < 2 {
            return Err(err("~= needs at least two release segments"));
        }
        if !version.local.is_empty() && !matches!(op, Op::Eq | Op::Ne)
            || (wildcard && !version.local.is_empty())
        {
            return Err(err("a local version label is only allowed with == and !="));
        }
        Ok(Specifier {
            op,
            text: text.into(),
            wildcard,
            version: Some(version),
        })
    }

    /// Does `v` satisfy this clause? Pre-releases are not excluded here: relsign checks pins
    /// the user chose, and an exact pin of a pre-release is a request for it.
    pub fn contains(&self, v: &Version) -> bool {
        let Some(sv) = &self.version else {
            return false;
        };
        match self.op {
            Op::Arbitrary => {
                v.to_string().eq_ignore_ascii_case(&self.text)
                    || self.text.eq_ignore_ascii_case(&v.to_string())
            }
            Op::Eq => self.eq_match(sv, v),
            Op::Ne => !self.eq_match(sv, v),
            Op::Le => v.public() <= *sv,
            Op::Ge => v.public() >= *sv,
            Op::Lt => {
                let c = v.public();
                c < *sv && !(!sv.is_prerelease() && c.is_prerelease() && c.base() == sv.base())
            }
            Op::Gt => {
                let c = v.public();
                c > *sv && !(!sv.is_postrelease() && c.is_postrelease() && c.base() == sv.base())
            }
            Op::Compatible => {
                let prefix = &sv.release[..sv.release.len() - 1];
                v.public() >= *sv && v.epoch == sv.epoch && prefix_match(prefix, &v.release)
            }
        }
    }

    fn eq_match(&self, sv: &Version, v: &Version) -> bool {
        if self.wildcard {
            // `==1.4.*`: epoch equal and release prefix (the candidate padded with zeros).
            // Pre/post/dev segments in the spec are compared too when present.
            if v.epoch != sv.epoch || !prefix_match(&sv.release, &v.release) {
                return false;
            }
            if sv.pre.is_some() || sv.post.is_some() || sv.dev.is_some() {
                let mut c = v.public();
                c.release.truncate(sv.release.len());
                return c == *sv || (c.pre == sv.pre && (sv.post.is_none() || c.post == sv.post));
            }
            true
        } else if sv.local.is_empty() {
            v.public() == *sv
        } else {
            v == sv
        }
    }
}

fn prefix_match(prefix: &[u64], release: &[u64]) -> bool {
    (0..prefix.len()).all(|i| release.get(i).copied().unwrap_or(0) == prefix[i])
}

impl fmt::Display for Specifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.op.as_str(),
            self.text,
            if self.wildcard { ".*" } else { "" }
        )
    }
}

/// A comma-separated set of clauses; empty means "any version".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpecifierSet(pub Vec<Specifier>);

impl SpecifierSet {
    pub fn parse(s: &str) -> Result<SpecifierSet, VersionError> {
        let mut v = Vec::new();
        for part in s.split(',') {
            if part.trim().is_empty() {
                if s.trim().is_empty() {
                    continue;
                }
                return Err(VersionError::Specifier(s.into(), "empty clause".into()));
            }
            v.push(Specifier::parse(part)?);
        }
        Ok(SpecifierSet(v))
    }
    pub fn contains(&self, v: &Version) -> bool {
        self.0.iter().all(|s| s.contains(v))
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for SpecifierSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|s| s.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn ordering_follows_pep440() {
        let order = [
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
            "1!0.1",
        ];
        for w in order.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
        }
        assert_eq!(v("1.0"), v("1.0.0"));
        assert_eq!(v("1.0-alpha.1").to_string(), "1.0a1");
        assert_eq!(v("v1.0-1").to_string(), "1.0.post1");
        assert_eq!(v("1.0.RC2").to_string(), "1.0rc2");
        assert_eq!(v("1.0c1"), v("1.0rc1"));
        assert_eq!(v("1.0.post"), v("1.0.post0"));
        assert!(Version::parse("1.0-foo").is_err());
        assert!(Version::parse("").is_err());
    }

    #[test]
    fn multibyte_text_after_the_release_is_an_error_not_a_panic() {
        // Found by the pep440 fuzz target: a word's length ended inside a UTF-8 character.
        for s in [
            "1\u{e9}\u{e9}\u{e9}\u{e9}",
            "1.0r\u{e9}",
            "1.0-\u{30ad}\u{30ad}",
            "1.0.d\u{e9}v",
        ] {
            assert!(Version::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn specifiers() {
        let s = |spec: &str, ver: &str| SpecifierSet::parse(spec).unwrap().contains(&v(ver));
        assert!(s(">=7.0", "8.1.8"));
        assert!(!s(">=7.0,<8", "8.1.8"));
        assert!(s("==8.1.*", "8.1.8"));
        assert!(!s("==8.1.*", "8.2"));
        assert!(s("==8.1.*", "8.1"));
        assert!(s("!=8.0.*", "8.1.0"));
        assert!(s("~=2.2", "2.9"));
        assert!(!s("~=2.2", "3.0"));
        assert!(s("~=1.4.5", "1.4.9"));
        assert!(!s("~=1.4.5", "1.5.0"));
        assert!(s("==1.0", "1.0+local"));
        assert!(!s("==1.0+other", "1.0+local"));
        assert!(!s("<2.0", "2.0rc1"));
        assert!(s("<2.0rc2", "2.0rc1"));
        assert!(!s(">1.7", "1.7.post1"));
        assert!(s(">1.7.post1", "1.7.post2"));
        assert!(s("<=1.0", "1.0+local"));
        assert!(s("===1.0", "1.0"));
        assert!(s("", "0.1"));
        assert!(s(">=3.9", "3.13.0"));
        assert!(!s(">=3.14", "3.13.0"));
        assert!(s("!=3.0.*,!=3.1.*,>=2.7", "3.13"));
        assert!(SpecifierSet::parse(">=1.*").is_err());
        assert!(SpecifierSet::parse("~=1").is_err());
        assert!(SpecifierSet::parse("1.0").is_err());
    }
}
