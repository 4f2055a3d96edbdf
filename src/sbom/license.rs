//! Licenses as packages declare them, mapped to SPDX where the identifier is certain.
//!
//! Nothing is guessed: a declared name becomes an SPDX id only when the mapping is unambiguous
//! (Debian's `GPL-2+` is `GPL-2.0-or-later`, `Expat` is `MIT`; a bare "BSD License" stays a
//! name, since it does not say which BSD). Names that are not SPDX ids are kept as names
//! (CycloneDX `license.name`, SPDX `LicenseRef-…`).

use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// SPDX license identifiers relsign emits (current, non-deprecated ids of the SPDX license
/// list; the tests check each one against the list cyclonedx-python-lib ships).
pub const SPDX_IDS: &[&str] = &[
    "0BSD",
    "AFL-2.1",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-1.1",
    "Apache-2.0",
    "Artistic-1.0",
    "Artistic-1.0-Perl",
    "Artistic-2.0",
    "BSD-1-Clause",
    "BSD-2-Clause",
    "BSD-2-Clause-Patent",
    "BSD-3-Clause",
    "BSD-4-Clause",
    "BSL-1.0",
    "Beerware",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "CDDL-1.0",
    "EPL-1.0",
    "EPL-2.0",
    "EUPL-1.2",
    "FSFAP",
    "FSFUL",
    "FSFULLR",
    "GFDL-1.2-only",
    "GFDL-1.2-or-later",
    "GFDL-1.3-only",
    "GFDL-1.3-or-later",
    "GPL-1.0-only",
    "GPL-1.0-or-later",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "HPND",
    "IJG",
    "ISC",
    "LGPL-2.0-only",
    "LGPL-2.0-or-later",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "Libpng",
    "MIT",
    "MIT-0",
    "MIT-CMU",
    "MPL-1.1",
    "MPL-2.0",
    "MS-PL",
    "NTP",
    "OLDAP-2.8",
    "OpenSSL",
    "PSF-2.0",
    "PostgreSQL",
    "Python-2.0",
    "SGI-B-2.0",
    "Sleepycat",
    "TCL",
    "UPL-1.0",
    "Unicode-3.0",
    "Unicode-DFS-2016",
    "Unlicense",
    "W3C",
    "WTFPL",
    "X11",
    "Zlib",
    "bzip2-1.0.6",
    "curl",
    "libtiff",
];

/// SPDX license exception identifiers relsign accepts after `WITH`.
pub const SPDX_EXCEPTIONS: &[&str] = &[
    "Autoconf-exception-2.0",
    "Autoconf-exception-3.0",
    "Bison-exception-2.2",
    "Classpath-exception-2.0",
    "GCC-exception-2.0",
    "GCC-exception-3.1",
    "LLVM-exception",
];

fn canonical_id(s: &str) -> Option<&'static str> {
    SPDX_IDS
        .iter()
        .copied()
        .find(|id| id.eq_ignore_ascii_case(s))
}

fn canonical_exception(s: &str) -> Option<&'static str> {
    SPDX_EXCEPTIONS
        .iter()
        .copied()
        .find(|id| id.eq_ignore_ascii_case(s))
}

/// A declared name (Debian copyright short name, Python `License` field) → an SPDX id, when
/// the mapping is certain.
fn map_name(s: &str) -> Option<&'static str> {
    let t = s.trim();
    if let Some(id) = canonical_id(t) {
        return Some(id);
    }
    Some(match t.to_ascii_lowercase().as_str() {
        "expat" | "mit license" | "the mit license" | "mit/expat" => "MIT",
        "apache 2.0"
        | "apache 2"
        | "apache-2"
        | "apache license 2.0"
        | "apache license, version 2.0"
        | "apache license version 2.0"
        | "apache software license 2.0" => "Apache-2.0",
        "new bsd license" | "modified bsd license" | "3-clause bsd license" | "bsd-3" => {
            "BSD-3-Clause"
        }
        "simplified bsd" | "simplified bsd license" | "2-clause bsd license" | "bsd-2" => {
            "BSD-2-Clause"
        }
        "gpl-1+" | "gpl" => "GPL-1.0-or-later",
        "gpl-2" => "GPL-2.0-only",
        "gpl-2+" => "GPL-2.0-or-later",
        "gpl-3" => "GPL-3.0-only",
        "gpl-3+" => "GPL-3.0-or-later",
        "lgpl-2" => "LGPL-2.0-only",
        "lgpl-2+" => "LGPL-2.0-or-later",
        "lgpl-2.1" => "LGPL-2.1-only",
        "lgpl-2.1+" => "LGPL-2.1-or-later",
        "lgpl-3" => "LGPL-3.0-only",
        "lgpl-3+" => "LGPL-3.0-or-later",
        "agpl-3" => "AGPL-3.0-only",
        "agpl-3+" => "AGPL-3.0-or-later",
        "gfdl-1.2+" => "GFDL-1.2-or-later",
        "gfdl-1.3+" => "GFDL-1.3-or-later",
        "mpl-2.0" | "mozilla public license 2.0 (mpl 2.0)" => "MPL-2.0",
        "psf" | "psf license" | "python software foundation license" | "psf-2" => "PSF-2.0",
        "isc license" | "isc license (iscl)" => "ISC",
        "zlib/libpng" | "zlib license" => "Zlib",
        "cc0" | "cc0-1.0" => "CC0-1.0",
        _ => return None,
    })
}

/// A trove classifier `License :: …` → an SPDX id when certain, else its last segment as a
/// name ("BSD License"), or nothing for the non-committal "OSI Approved" alone.
fn from_classifier(c: &str) -> Option<Result<&'static str, String>> {
    let rest = c.trim().strip_prefix("License ::")?.trim();
    let last = rest.rsplit("::").next().unwrap_or(rest).trim();
    if last.is_empty() || last == "OSI Approved" {
        return None;
    }
    let id = match last {
        "MIT License" => "MIT",
        "MIT No Attribution License (MIT-0)" => "MIT-0",
        "ISC License (ISCL)" => "ISC",
        "Mozilla Public License 2.0 (MPL 2.0)" => "MPL-2.0",
        "Mozilla Public License 1.1 (MPL 1.1)" => "MPL-1.1",
        "GNU General Public License v2 (GPLv2)" => "GPL-2.0-only",
        "GNU General Public License v2 or later (GPLv2+)" => "GPL-2.0-or-later",
        "GNU General Public License v3 (GPLv3)" => "GPL-3.0-only",
        "GNU General Public License v3 or later (GPLv3+)" => "GPL-3.0-or-later",
        "GNU Lesser General Public License v2 (LGPLv2)" => "LGPL-2.0-only",
        "GNU Lesser General Public License v2 or later (LGPLv2+)" => "LGPL-2.0-or-later",
        "GNU Lesser General Public License v3 (LGPLv3)" => "LGPL-3.0-only",
        "GNU Lesser General Public License v3 or later (LGPLv3+)" => "LGPL-3.0-or-later",
        "GNU Affero General Public License v3" => "AGPL-3.0-only",
        "GNU Affero General Public License v3 or later (AGPLv3+)" => "AGPL-3.0-or-later",
        "Python Software Foundation License" => "PSF-2.0",
        "The Unlicense (Unlicense)" => "Unlicense",
        "Boost Software License 1.0 (BSL-1.0)" => "BSL-1.0",
        "zlib/libpng License" => "Zlib",
        "Universal Permissive License (UPL)" => "UPL-1.0",
        "Eclipse Public License 2.0 (EPL-2.0)" => "EPL-2.0",
        "European Union Public Licence 1.2 (EUPL 1.2)" => "EUPL-1.2",
        "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication" => "CC0-1.0",
        _ => return Some(Err(last.to_string())),
    };
    Some(Ok(id))
}

/// Is `expr` an SPDX expression over the ids relsign knows? Returns it with canonical case.
fn canonical_expression(expr: &str) -> Option<String> {
    let spaced = expr.replace('(', " ( ").replace(')', " ) ");
    let mut out = Vec::new();
    let mut after_with = false;
    let mut depth = 0i32;
    let mut expect_operand = true;
    for t in spaced.split_whitespace() {
        match t {
            "(" if expect_operand => depth += 1,
            ")" if !expect_operand => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            "AND" | "OR" if !expect_operand => expect_operand = true,
            "WITH" if !expect_operand => {
                expect_operand = true;
                after_with = true;
            }
            _ if expect_operand => {
                let id = if after_with {
                    canonical_exception(t)
                } else {
                    canonical_id(t)
                }?;
                out.push(id.to_string());
                after_with = false;
                expect_operand = false;
                continue;
            }
            _ => return None,
        }
        out.push(t.to_string());
    }
    if depth != 0 || expect_operand {
        return None;
    }
    Some(out.join(" ").replace("( ", "(").replace(" )", ")"))
}

/// A package's license.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum License {
    /// Nothing known: no license is invented.
    None,
    /// A valid SPDX expression over known ids.
    Spdx(String),
    /// Licenses as declared, each an SPDX id, an `(a OR b)` of ids, or a name that is not an
    /// SPDX id. `all_apply`: every one applies (a Debian copyright file: different files under
    /// different licenses); otherwise how they combine is not stated (several classifiers).
    Declared { items: Vec<String>, all_apply: bool },
}

impl License {
    /// From Python core metadata: License-Expression (PEP 639); else a short, one-line
    /// `License` field; else the `License ::` classifiers.
    pub fn from_python(
        expression: Option<&str>,
        license: Option<&str>,
        classifiers: &[String],
    ) -> License {
        if let Some(e) = expression.map(str::trim).filter(|e| !e.is_empty()) {
            return match canonical_expression(e) {
                Some(c) => License::Spdx(c),
                None => License::Declared {
                    items: vec![e.to_string()],
                    all_apply: true,
                },
            };
        }
        let short = license.map(str::trim).filter(|l| {
            !l.is_empty()
                && !l.contains('\n')
                && l.len() <= 80
                && !l.eq_ignore_ascii_case("UNKNOWN")
                && !l.to_ascii_lowercase().starts_with("copyright")
        });
        if let Some(l) = short {
            if let Some(c) = canonical_expression(l) {
                return License::Spdx(c);
            }
            return match map_name(l) {
                Some(id) => License::Spdx(id.to_string()),
                None => License::Declared {
                    items: vec![l.to_string()],
                    all_apply: true,
                },
            };
        }
        let items: BTreeSet<String> = classifiers
            .iter()
            .filter_map(|c| from_classifier(c))
            .map(|r| r.map(str::to_string).unwrap_or_else(|name| name))
            .collect();
        License::from_items(items, false)
    }

    fn from_items(items: BTreeSet<String>, all_apply: bool) -> License {
        let items: Vec<String> = items.into_iter().collect();
        // One license: nothing to combine.
        let all_apply = all_apply || items.len() == 1;
        match items.as_slice() {
            [] => License::None,
            [one] if canonical_expression(one).is_some() => License::Spdx(one.clone()),
            _ if all_apply && items.iter().all(|i| canonical_expression(i).is_some()) => {
                License::Spdx(items.join(" AND "))
            }
            _ => License::Declared { items, all_apply },
        }
    }

    /// From a machine-readable (DEP-5) Debian copyright file: every distinct `License:` short
    /// name. Not machine-readable, or absent: [`License::None`].
    pub fn from_debian_copyright(text: &str) -> License {
        if !text.starts_with("Format:") {
            return License::None;
        }
        let mut items = BTreeSet::new();
        for line in text.lines() {
            let Some(v) = line.strip_prefix("License:").map(str::trim) else {
                continue;
            };
            // "GPL-2+ or Artistic", "MIT and BSD-3-clause", "GPL-2+ with OpenSSL exception".
            for conj in v.split(" and ").flat_map(|p| p.split(", and ")) {
                let alts: Vec<&str> = conj
                    .split(" or ")
                    .flat_map(|p| p.split(", or "))
                    .map(|p| p.trim().trim_end_matches(',').trim())
                    .filter(|p| !p.is_empty())
                    .collect();
                let ids: Vec<&str> = alts.iter().filter_map(|a| map_name(a)).collect();
                if alts.len() > 1 && ids.len() == alts.len() {
                    items.insert(format!("({})", ids.join(" OR ")));
                } else {
                    for a in alts {
                        items.insert(map_name(a).map(str::to_string).unwrap_or(a.to_string()));
                    }
                }
            }
        }
        License::from_items(items, true)
    }

    /// Read a copyright file (missing or unreadable: [`License::None`]).
    pub fn from_debian_copyright_file(path: &Path) -> License {
        std::fs::read_to_string(path)
            .map(|t| License::from_debian_copyright(&t))
            .unwrap_or(License::None)
    }

    /// CycloneDX `licenses`: one id, one expression, or a list of ids and names.
    pub fn cyclonedx(&self) -> Option<Value> {
        match self {
            License::None => None,
            License::Spdx(e) if canonical_id(e).is_some() => Some(json!([{"license": {"id": e}}])),
            License::Spdx(e) => Some(json!([{"expression": e}])),
            License::Declared { items, .. } => {
                let mut seen = BTreeSet::new();
                let mut out = Vec::new();
                for i in items {
                    let parts: Vec<&str> =
                        match i.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
                            Some(inner) => inner.split(" OR ").collect(),
                            None => vec![i.as_str()],
                        };
                    for p in parts {
                        let v = match canonical_id(p) {
                            Some(id) => json!({"license": {"id": id}}),
                            None => json!({"license": {"name": p}}),
                        };
                        if seen.insert(v.to_string()) {
                            out.push(v);
                        }
                    }
                }
                Some(Value::Array(out))
            }
        }
    }

    /// SPDX `licenseDeclared`, and a `licenseComments` when the declared licenses do not
    /// make one expression. Names that are not SPDX ids become `LicenseRef-…`, recorded in
    /// `extracted` (id → name).
    pub fn spdx(&self, extracted: &mut Extracted) -> (String, Option<String>) {
        match self {
            License::None => ("NOASSERTION".into(), None),
            License::Spdx(e) => (e.clone(), None),
            License::Declared {
                items,
                all_apply: true,
            } => {
                let terms: Vec<String> = items
                    .iter()
                    .map(|i| match canonical_expression(i) {
                        Some(e) => e,
                        None => extracted.reference(i),
                    })
                    .collect();
                (terms.join(" AND "), None)
            }
            License::Declared {
                items,
                all_apply: false,
            } => (
                "NOASSERTION".into(),
                Some(format!(
                    "The package declares these licenses without saying how they combine: {}",
                    items.join("; ")
                )),
            ),
        }
    }
}

/// `LicenseRef-…` ids for license names, unique per name within one SPDX document.
#[derive(Debug, Default)]
pub struct Extracted {
    by_name: BTreeMap<String, String>,
    by_id: BTreeMap<String, String>,
}

impl Extracted {
    /// The `LicenseRef-` id for a name (letters, digits, `.` and `-`; a suffix when two
    /// names sanitize to the same id).
    pub fn reference(&mut self, name: &str) -> String {
        if let Some(id) = self.by_name.get(name) {
            return id.clone();
        }
        let base: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let mut id = format!("LicenseRef-{base}");
        let mut n = 1;
        while self.by_id.contains_key(&id) {
            n += 1;
            id = format!("LicenseRef-{base}-{n}");
        }
        self.by_name.insert(name.to_string(), id.clone());
        self.by_id.insert(id.clone(), name.to_string());
        id
    }

    /// SPDX `hasExtractedLicensingInfos`, sorted by id.
    pub fn infos(&self) -> Vec<Value> {
        self.by_id
            .iter()
            .map(|(id, name)| {
                json!({
                    "licenseId": id,
                    "name": name,
                    "extractedText": format!("The license named \"{name}\" in the package's own metadata (its text is not reproduced here)."),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_licenses() {
        assert_eq!(
            License::from_python(Some("Apache-2.0"), None, &[]),
            License::Spdx("Apache-2.0".into())
        );
        assert_eq!(
            License::from_python(Some("mit OR (apache-2.0 WITH llvm-exception)"), None, &[]),
            License::Spdx("MIT OR (Apache-2.0 WITH LLVM-exception)".into())
        );
        // Not a valid expression: kept as declared, never guessed.
        assert_eq!(
            License::from_python(Some("MIT AND"), None, &[]),
            License::Declared {
                items: vec!["MIT AND".into()],
                all_apply: true
            }
        );
        assert_eq!(
            License::from_python(None, Some("BSD License"), &[]),
            License::Declared {
                items: vec!["BSD License".into()],
                all_apply: true
            }
        );
        assert_eq!(
            License::from_python(None, Some("Expat"), &[]),
            License::Spdx("MIT".into())
        );
        // A license text in the License field is not a name: fall back to classifiers.
        let cls = vec![
            "License :: OSI Approved :: BSD License".to_string(),
            "Programming Language :: Python".to_string(),
        ];
        assert_eq!(
            License::from_python(
                None,
                Some("Copyright 2014 Pallets\n\nRedistribution..."),
                &cls
            ),
            License::Declared {
                items: vec!["BSD License".into()],
                all_apply: true
            }
        );
        let cls = vec!["License :: OSI Approved :: MIT License".to_string()];
        assert_eq!(
            License::from_python(None, Some("UNKNOWN"), &cls),
            License::Spdx("MIT".into())
        );
        assert_eq!(License::from_python(None, None, &[]), License::None);
        let two = vec![
            "License :: OSI Approved :: MIT License".to_string(),
            "License :: OSI Approved :: Apache Software License".to_string(),
        ];
        let l = License::from_python(None, None, &two);
        let mut ex = Extracted::default();
        let (decl, comment) = l.spdx(&mut ex);
        assert_eq!(decl, "NOASSERTION");
        assert!(comment.unwrap().contains("Apache Software License; MIT"));
    }

    #[test]
    fn debian_names_map_to_spdx() {
        let text = "Format: copyright-format/1.0\n\nFiles: *\nLicense: GPL-2+\n\nFiles: x\nLicense: Expat\n\nFiles: y\nLicense: Apache-2.0 or MIT\n\nLicense: GPL-2+\n text\n";
        assert_eq!(
            License::from_debian_copyright(text),
            License::Spdx("(Apache-2.0 OR MIT) AND GPL-2.0-or-later AND MIT".into())
        );
        let text = "Format: x\n\nFiles: *\nLicense: GPL-2+\n\nFiles: z\nLicense: public-domain\n";
        let l = License::from_debian_copyright(text);
        let mut ex = Extracted::default();
        assert_eq!(
            l.spdx(&mut ex).0,
            "GPL-2.0-or-later AND LicenseRef-public-domain"
        );
        assert_eq!(ex.infos().len(), 1);
        assert_eq!(
            l.cyclonedx().unwrap(),
            json!([{"license": {"id": "GPL-2.0-or-later"}}, {"license": {"name": "public-domain"}}])
        );
        assert_eq!(
            License::from_debian_copyright("This is not DEP-5.\nLicense: MIT\n"),
            License::None
        );
    }

    #[test]
    fn license_refs_are_unique() {
        let mut ex = Extracted::default();
        assert_eq!(ex.reference("a b"), "LicenseRef-a-b");
        assert_eq!(ex.reference("a/b"), "LicenseRef-a-b-2");
        assert_eq!(ex.reference("a b"), "LicenseRef-a-b");
    }
}
