//! Wheel file names (PEP 427/491) and platform compatibility tags for one target:
//! CPython X.Y on manylinux (glibc 2.G) for a machine. The compatible tags come in the order
//! `packaging.tags.sys_tags()` yields them, most specific first, so the lock picks the wheel
//! pip would install on the target.

use crate::python::requirements::normalize_name;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid wheel file name {filename:?}: {reason}")]
pub struct WheelNameError {
    pub filename: String,
    pub reason: String,
}

/// One `python-abi-platform` tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag {
    pub python: String,
    pub abi: String,
    pub platform: String,
}

impl Tag {
    pub fn new(python: &str, abi: &str, platform: &str) -> Tag {
        Tag {
            python: python.into(),
            abi: abi.into(),
            platform: platform.into(),
        }
    }
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}-{}", self.python, self.abi, self.platform)
    }
}

/// The most tags a wheel file name may expand to (python × abi × platform). Real wheels have a
/// handful (`py2.py3-none-any` is 2; a manylinux wheel for six CPythons and two platform tags
/// is 12).
pub const MAX_WHEEL_TAGS: usize = 1024;

/// A parsed wheel file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    /// The distribution name as written in the file name.
    pub name: String,
    pub version: String,
    /// Build tag: (number, rest).
    pub build: Option<(u64, String)>,
    pub python: Vec<String>,
    pub abi: Vec<String>,
    pub platform: Vec<String>,
}

impl WheelName {
    pub fn parse(filename: &str) -> Result<WheelName, WheelNameError> {
        let err = |r: &str| WheelNameError {
            filename: filename.to_string(),
            reason: r.to_string(),
        };
        let stem = filename
            .strip_suffix(".whl")
            .ok_or_else(|| err("does not end in .whl"))?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, py, abi, plat) = match parts.as_slice() {
            [n, v, p, a, pl] => (*n, *v, None, *p, *a, *pl),
            [n, v, b, p, a, pl] => (*n, *v, Some(*b), *p, *a, *pl),
            _ => {
                return Err(err(
                    "expected name-version(-build)?-python-abi-platform.whl",
                ))
            }
        };
        if [name, version, py, abi, plat].iter().any(|s| s.is_empty()) {
            return Err(err("empty component"));
        }
        let build = match build {
            Some(b) => {
                let end = b.find(|c: char| !c.is_ascii_digit()).unwrap_or(b.len());
                if end == 0 {
                    return Err(err("build tag must start with a digit"));
                }
                Some((
                    b[..end]
                        .parse()
                        .map_err(|_| err("build tag number too large"))?,
                    b[end..].to_string(),
                ))
            }
            None => None,
        };
        let split = |s: &str| s.split('.').map(str::to_string).collect::<Vec<_>>();
        let (python, abi, platform) = (split(py), split(abi), split(plat));
        // `tags()` is the product of the three sets: a name from an index page with hundreds
        // of dots in each would expand to millions of tags.
        let n = python
            .len()
            .saturating_mul(abi.len())
            .saturating_mul(platform.len());
        if n > MAX_WHEEL_TAGS {
            return Err(err(&format!(
                "{n} compressed tags, over the limit of {MAX_WHEEL_TAGS}"
            )));
        }
        Ok(WheelName {
            name: name.to_string(),
            version: version.to_string(),
            build,
            python,
            abi,
            platform,
        })
    }

    /// Every tag of a compressed tag set (`py2.py3-none-any` → two tags).
    pub fn tags(&self) -> Vec<Tag> {
        let mut v = Vec::new();
        for p in &self.python {
            for a in &self.abi {
                for pl in &self.platform {
                    v.push(Tag::new(p, a, pl));
                }
            }
        }
        v
    }

    pub fn normalized_name(&self) -> String {
        normalize_name(&self.name)
    }
}

/// Split an sdist file name (`name-version.tar.gz` / `.zip`) into (name, version).
pub fn parse_sdist_name(filename: &str) -> Option<(String, String)> {
    let stem = filename
        .strip_suffix(".tar.gz")
        .or_else(|| filename.strip_suffix(".zip"))?;
    let (name, version) = stem.rsplit_once('-')?;
    if name.is_empty() || version.is_empty() {
        return None;
    }
    Some((name.to_string(), version.to_string()))
}

/// The interpreter and platform a lock is made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// CPython major.minor, (3, 13).
    pub python: (u32, u32),
    /// glibc major.minor, (2, 41).
    pub glibc: (u32, u32),
    /// `x86_64`, `aarch64`, ...
    pub machine: String,
}

impl Target {
    /// From the recipe's strings ("3.13", "2.41", "x86_64").
    pub fn parse(python: &str, glibc: &str, machine: &str) -> Option<Target> {
        let pair = |s: &str| {
            let (a, b) = s.split_once('.')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        };
        Some(Target {
            python: pair(python)?,
            glibc: pair(glibc)?,
            machine: machine.to_string(),
        })
    }

    /// manylinux platform tags, newest glibc first, legacy aliases after their PEP 600 tag,
    /// then `linux_<machine>` (as `packaging` does).
    pub fn platforms(&self) -> Vec<String> {
        let m = &self.machine;
        let mut v = Vec::new();
        if self.glibc.0 == 2 {
            // The oldest manylinux glibc per architecture: 2.5 for x86, 2.17 for the others.
            let oldest = if m == "x86_64" || m == "i686" { 5 } else { 17 };
            let mut minor = self.glibc.1;
            while minor >= oldest {
                v.push(format!("manylinux_2_{minor}_{m}"));
                let legacy = match minor {
                    17 => Some("manylinux2014"),
                    12 if m == "x86_64" || m == "i686" => Some("manylinux2010"),
                    5 if m == "x86_64" || m == "i686" => Some("manylinux1"),
                    _ => None,
                };
                if let Some(l) = legacy {
                    v.push(format!("{l}_{m}"));
                }
                minor -= 1;
            }
        }
        v.push(format!("linux_{m}"));
        v
    }

    /// Every tag the target accepts, most preferred first (packaging's `cpython_tags` followed
    /// by `compatible_tags`).
    pub fn compatible_tags(&self) -> Vec<Tag> {
        let (maj, min) = self.python;
        let plats = self.platforms();
        let cp = format!("cp{maj}{min}");
        let mut v = Vec::new();
        for abi in [cp.as_str(), "abi3", "none"] {
            for p in &plats {
                v.push(Tag::new(&cp, abi, p));
            }
        }
        // abi3 wheels built for older CPython 3 minors.
        if maj == 3 {
            for m in (2..min).rev() {
                for p in &plats {
                    v.push(Tag::new(&format!("cp3{m}"), "abi3", p));
                }
            }
        }
        // Pure-Python tags with a platform.
        let mut pys = vec![format!("py{maj}{min}"), format!("py{maj}")];
        for m in (0..min).rev() {
            pys.push(format!("py{maj}{m}"));
        }
        for py in &pys {
            for p in &plats {
                v.push(Tag::new(py, "none", p));
            }
        }
        v.push(Tag::new(&cp, "none", "any"));
        for py in &pys {
            v.push(Tag::new(py, "none", "any"));
        }
        v
    }

    /// A ranking function: lower is better, None when the wheel does not fit the target.
    pub fn ranker(&self) -> TagRanker {
        TagRanker {
            rank: self
                .compatible_tags()
                .into_iter()
                .enumerate()
                .map(|(i, t)| (t, i))
                .collect(),
        }
    }
}

/// Ranks wheels by the best of their tags.
pub struct TagRanker {
    rank: HashMap<Tag, usize>,
}

impl TagRanker {
    pub fn rank(&self, w: &WheelName) -> Option<usize> {
        w.tags()
            .iter()
            .filter_map(|t| self.rank.get(t).copied())
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::parse("3.13", "2.41", "x86_64").unwrap()
    }

    #[test]
    fn parses_wheel_names() {
        let w = WheelName::parse("click-8.1.8-py3-none-any.whl").unwrap();
        assert_eq!((w.name.as_str(), w.version.as_str()), ("click", "8.1.8"));
        let w = WheelName::parse("six-1.0-1ab-py2.py3-none-any.whl").unwrap();
        assert_eq!(w.build, Some((1, "ab".into())));
        assert_eq!(w.tags().len(), 2);
        let w = WheelName::parse(
            "MarkupSafe-3.0.2-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        )
        .unwrap();
        assert_eq!(w.platform.len(), 2);
        assert_eq!(w.normalized_name(), "markupsafe");
        assert!(WheelName::parse("x-1.0.tar.gz").is_err());
        assert!(WheelName::parse("x-1.0-py3.whl").is_err());
        assert_eq!(
            parse_sdist_name("docassemble.base-1.6.5.tar.gz"),
            Some(("docassemble.base".into(), "1.6.5".into()))
        );
    }

    #[test]
    fn a_name_expanding_to_too_many_tags_is_refused() {
        // 300 dots in each of the three tag sets made tags() build 27 million tags (over 10 s
        // and gigabytes) for one 1.8 KB name on an index page.
        let set = |t: &str| vec![t; 300].join(".");
        let name = format!("a-1-{}-{}-{}.whl", set("py3"), set("none"), set("any"));
        let e = WheelName::parse(&name).unwrap_err();
        assert!(e.to_string().contains("over the limit of 1024"), "{e}");
        let ok = format!("a-1-{}-none-{}.whl", set("py3"), ["any"; 3].join("."));
        assert_eq!(WheelName::parse(&ok).unwrap().tags().len(), 900);
    }

    #[test]
    fn compatible_tag_order() {
        let t = target();
        let plats = t.platforms();
        assert_eq!(plats[0], "manylinux_2_41_x86_64");
        let i = |s: &str| {
            plats
                .iter()
                .position(|p| p == s)
                .unwrap_or_else(|| panic!("{s} missing"))
        };
        assert_eq!(i("manylinux2014_x86_64"), i("manylinux_2_17_x86_64") + 1);
        assert_eq!(i("manylinux2010_x86_64"), i("manylinux_2_12_x86_64") + 1);
        assert_eq!(i("manylinux1_x86_64"), i("manylinux_2_5_x86_64") + 1);
        assert_eq!(plats.last().unwrap(), "linux_x86_64");
        assert!(!plats.iter().any(|p| p.contains("_2_4_")));

        let tags = t.compatible_tags();
        let pos = |s: &str| {
            let p: Vec<&str> = s.split('-').collect();
            tags.iter()
                .position(|t| *t == Tag::new(p[0], p[1], p[2]))
                .unwrap_or_else(|| panic!("{s} missing"))
        };
        assert_eq!(pos("cp313-cp313-manylinux_2_41_x86_64"), 0);
        assert!(pos("cp313-cp313-manylinux2014_x86_64") < pos("cp313-abi3-manylinux_2_41_x86_64"));
        assert!(pos("cp313-abi3-manylinux1_x86_64") < pos("cp312-abi3-manylinux_2_41_x86_64"));
        assert!(pos("cp32-abi3-manylinux1_x86_64") < pos("py313-none-manylinux_2_41_x86_64"));
        assert!(pos("py30-none-linux_x86_64") < pos("cp313-none-any"));
        assert!(pos("cp313-none-any") < pos("py313-none-any"));
        assert!(pos("py313-none-any") < pos("py3-none-any"));
        assert!(pos("py3-none-any") < pos("py30-none-any"));
        assert!(!tags.contains(&Tag::new("cp314", "cp314", "manylinux_2_17_x86_64")));
        assert!(!tags.contains(&Tag::new("cp313", "cp313", "manylinux_2_42_x86_64")));
        assert!(!tags.contains(&Tag::new("py2", "none", "any")));

        let r = t.ranker();
        let rank = |f: &str| r.rank(&WheelName::parse(f).unwrap());
        let native =
            rank("m-1-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl").unwrap();
        let pure = rank("m-1-py3-none-any.whl").unwrap();
        assert!(native < pure);
        assert_eq!(rank("m-1-cp313-cp313-win_amd64.whl"), None);
        assert_eq!(rank("m-1-cp313-cp313-manylinux_2_17_aarch64.whl"), None);
        assert_eq!(rank("m-1-cp312-cp312-manylinux_2_17_x86_64.whl"), None);
        assert!(rank("m-1-py2.py3-none-any.whl").is_some());
        assert!(rank("m-1-cp39-abi3-manylinux_2_28_x86_64.whl").is_some());
    }
}
