//! Debian version ordering (Debian Policy 5.6.12): `[epoch:]upstream[-revision]`, compared
//! epoch numerically, then upstream and revision by alternating non-digit parts (letters before
//! non-letters, `~` before everything, even the end) and digit parts (numerically).

use std::cmp::Ordering;

/// Split a version into (epoch, upstream, revision).
pub fn split_version(v: &str) -> (u64, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), r)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((u, r)) => (epoch, u, r),
        None => (epoch, rest, ""),
    }
}

/// Compare two Debian versions.
pub fn deb_version_cmp(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_version(a);
    let (eb, ub, rb) = split_version(b);
    ea.cmp(&eb)
        .then_with(|| part_cmp(ua, ub))
        .then_with(|| part_cmp(ra, rb))
}

fn order(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

fn part_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digit prefix.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        // Digit part, numerically (skip leading zeros, then longer wins, then lexical).
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let si = i;
        let sj = j;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (da, db) = (&a[si..i], &b[sj..j]);
        let c = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
        if c != Ordering::Equal {
            return c;
        }
    }
    Ordering::Equal
}

/// A version relation in a dependency: `<<`, `<=`, `=`, `>=`, `>>` (and the obsolete `<`, `>`
/// meaning `<=`, `>=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Relation {
    pub fn parse(s: &str) -> Option<Relation> {
        Some(match s {
            "<<" => Relation::Lt,
            "<=" | "<" => Relation::Le,
            "=" => Relation::Eq,
            ">=" | ">" => Relation::Ge,
            ">>" => Relation::Gt,
            _ => return None,
        })
    }
    /// Does `version` satisfy `version <rel> wanted`?
    pub fn holds(self, version: &str, wanted: &str) -> bool {
        let c = deb_version_cmp(version, wanted);
        match self {
            Relation::Lt => c == Ordering::Less,
            Relation::Le => c != Ordering::Greater,
            Relation::Eq => c == Ordering::Equal,
            Relation::Ge => c != Ordering::Less,
            Relation::Gt => c == Ordering::Greater,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Lt => "<<",
            Relation::Le => "<=",
            Relation::Eq => "=",
            Relation::Ge => ">=",
            Relation::Gt => ">>",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn classic_cases() {
        let cases = [
            ("1.0~rc1", "1.0", Less),
            ("1:0.1", "2.0", Greater),
            ("1.0-1", "1.0-1.1", Less),
            ("1.0", "1.0", Equal),
            ("1.0", "1.0-0", Equal),
            ("0:1.0", "1.0", Equal),
            ("1.0a", "1.0", Greater),
            ("1.0a", "1.0+", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.01", "1.1", Equal),
            ("1.10", "1.9", Greater),
            ("2.36-9+deb12u1", "2.36-9", Greater),
            ("3.13.5-1", "3.13.3-1", Greater),
            ("1.2.3-1~bpo12+1", "1.2.3-1", Less),
            ("7.88.1-10+deb12u8", "7.88.1-10+deb12u12", Less),
            ("1:2.0-1", "1:2.0-1", Equal),
            ("a", "b", Less),
            ("1.0-a-1", "1.0-a-2", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(deb_version_cmp(a, b), want, "{a} vs {b}");
            assert_eq!(deb_version_cmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn relations() {
        assert!(Relation::parse(">=").unwrap().holds("2.0", "1.9"));
        assert!(!Relation::parse("<<").unwrap().holds("2.0", "2.0"));
        assert!(Relation::parse("<=").unwrap().holds("2.0", "2.0"));
        assert!(Relation::parse("=").unwrap().holds("1:1.0-1", "1:1.0-1"));
        assert!(Relation::parse(">>").unwrap().holds("1.0-1.1", "1.0-1"));
        assert!(Relation::parse("!=").is_none());
    }
}
