//! PEP 440 versions and specifiers, parsed and compared by the `pep440_rs` crate (the parser
//! uv uses). The newtypes keep what relsign adds: its error texts, the clauses of a set in the
//! order written, and each clause's version text as written (a pin's version is recorded as
//! the user wrote it).

use std::fmt;
use std::str::FromStr;

pub use pep440_rs::Operator;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("invalid version {0:?}")]
    Version(String),
    #[error("invalid version specifier {0:?}: {1}")]
    Specifier(String, String),
}

/// A parsed PEP 440 version. Equality and ordering are PEP 440's (so `1.0 == 1.0.0`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub pep440_rs::Version);

impl Version {
    /// Parse a version, accepting PEP 440's alternative spellings (`v1.0`, `1.0-alpha.1`,
    /// `1.0-1`, `1.0.post`, upper case) and surrounding whitespace.
    pub fn parse(input: &str) -> Result<Version, VersionError> {
        pep440_rs::Version::from_str(input.trim())
            .map(Version)
            .map_err(|_| VersionError::Version(input.to_string()))
    }
    /// A pre-release or a development release.
    pub fn is_prerelease(&self) -> bool {
        self.0.any_prerelease()
    }
    /// The version without its local label.
    pub fn public(&self) -> Version {
        Version(self.0.clone().without_local())
    }
    pub fn epoch(&self) -> u64 {
        self.0.epoch()
    }
    pub fn release(&self) -> &[u64] {
        self.0.release()
    }
    pub fn has_local(&self) -> bool {
        !self.0.local().is_empty()
    }
}

impl fmt::Display for Version {
    /// The normalized form (`1.0-alpha.1` → `1.0a1`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One clause: `>=1.0`, `==1.4.*`, `===1.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specifier {
    pub spec: pep440_rs::VersionSpecifier,
    /// The version text as written (without `.*`).
    pub text: String,
}

impl Specifier {
    pub fn parse(s: &str) -> Result<Specifier, VersionError> {
        let s = s.trim();
        let spec = pep440_rs::VersionSpecifier::from_str(s)
            .map_err(|e| VersionError::Specifier(s.to_string(), e.to_string()))?;
        let op = spec.operator().to_string();
        let text = s[op.len()..].trim();
        let text = text.strip_suffix(".*").unwrap_or(text);
        Ok(Specifier {
            text: text.to_string(),
            spec,
        })
    }

    pub fn operator(&self) -> Operator {
        *self.spec.operator()
    }

    /// Does `v` satisfy this clause? Pre-releases are not excluded here: relsign checks pins
    /// the user chose, and an exact pin of a pre-release is a request for it.
    pub fn contains(&self, v: &Version) -> bool {
        // PEP 440: `<V` excludes the pre-releases of V "unless the specified version is itself
        // a pre-release". pep440_rs 0.7 excludes them in that case too (`<2.0rc2` would not
        // contain `2.0rc1`), and compares V's release with the candidate's ignoring the epoch
        // (`<1!1.0` would not contain `1.0rc1`); `<` is decided here, as in `packaging`.
        if self.operator() == Operator::LessThan {
            let (sv, c) = (self.spec.version(), v.0.clone().without_local());
            let base = |x: &pep440_rs::Version| {
                pep440_rs::Version::new(x.release().iter().copied()).with_epoch(x.epoch())
            };
            return c < *sv
                && !(!sv.any_prerelease() && c.any_prerelease() && base(&c) == base(sv));
        }
        self.spec.contains(&v.0)
    }
}

impl fmt::Display for Specifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let star = matches!(
            self.operator(),
            Operator::EqualStar | Operator::NotEqualStar
        );
        write!(
            f,
            "{}{}{}",
            self.operator(),
            self.text,
            if star { ".*" } else { "" }
        )
    }
}

/// A comma-separated set of clauses, in the order written; empty means "any version".
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
        assert!(s("<1!1.0", "1.0rc1"));
        assert!(!s("<1.0", "1.0.dev1"));
        assert!(s("<1.0", "0.9.dev1"));
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

    #[test]
    fn clauses_keep_their_order_and_text() {
        let set = SpecifierSet::parse(" >= 2.8.1 , ==2.8.*,===V1.0").unwrap();
        assert_eq!(set.to_string(), ">=2.8.1,==2.8.*,===V1.0");
        assert_eq!(set.0[2].text, "V1.0");
        assert_eq!(set.0[2].operator(), Operator::ExactEqual);
    }
}
