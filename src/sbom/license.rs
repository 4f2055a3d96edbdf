//! Licenses as packages declare them, mapped to SPDX where the identifier is known.

use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// SPDX license identifiers relsign recognizes (the SBOM validators check ids against the
/// SPDX list, so anything else is recorded as a license name).
const SPDX_IDS: &[&str] = &[
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
    "BSD-3-Clause",
    "BSD-4-Clause",
    "BSL-1.0",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "CDDL-1.0",
    "EPL-1.0",
    "EPL-2.0",
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
    "ISC",
    "LGPL-2.0-only",
    "LGPL-2.0-or-later",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "MIT",
    "MIT-0",
    "MPL-1.1",
    "MPL-2.0",
    "OpenSSL",
    "PSF-2.0",
    "Python-2.0",
    "Unicode-DFS-2016",
    "Unlicense",
    "X11",
    "Zlib",
    "curl",
    "BSD-2-Clause-Patent",
    "FSFAP",
    "FSFUL",
    "FSFULLR",
    "GPL-2.0-with-autoconf-exception",
    "LGPL-2.0+",
    "MIT-CMU",
    "NTP",
    "OLDAP-2.8",
    "PostgreSQL",
    "Sleepycat",
    "TCL",
    "W3C",
    "WTFPL",
    "Beerware",
    "bzip2-1.0.6",
    "libtiff",
    "Libpng",
    "IJG",
    "SGI-B-2.0",
    "Unicode-3.0",
];

/// Debian copyright short names and common spellings → SPDX ids.
fn map_name(s: &str) -> Option<&'static str> {
    let t = s.trim();
    if let Some(id) = SPDX_IDS.iter().find(|id| id.eq_ignore_ascii_case(t)) {
        return Some(id);
    }
    Some(match t.to_ascii_lowercase().as_str() {
        "expat" | "mit license" | "the mit license" => "MIT",
        "apache"
        | "apache 2.0"
        | "apache-2"
        | "apache license 2.0"
        | "apache software license"
        | "apache license, version 2.0" => "Apache-2.0",
        "bsd"
        | "bsd-3"
        | "bsd license"
        | "new bsd license"
        | "3-clause bsd license"
        | "bsd-3-clause" => "BSD-3-Clause",
        "bsd-2" | "simplified bsd" | "2-clause bsd license" => "BSD-2-Clause",
        "gpl-2" => "GPL-2.0-only",
        "gpl-2+" => "GPL-2.0-or-later",
        "gpl-3" => "GPL-3.0-only",
        "gpl-3+" => "GPL-3.0-or-later",
        "gpl-1+" | "gpl" => "GPL-1.0-or-later",
        "lgpl-2" => "LGPL-2.0-only",
        "lgpl-2+" => "LGPL-2.0-or-later",
        "lgpl-2.1" => "LGPL-2.1-only",
        "lgpl-2.1+" => "LGPL-2.1-or-later",
        "lgpl-3" => "LGPL-3.0-only",
        "lgpl-3+" => "LGPL-3.0-or-later",
        "gfdl-1.2+" => "GFDL-1.2-or-later",
        "gfdl-1.3+" => "GFDL-1.3-or-later",
        "mpl-2.0" | "mozilla public license 2.0 (mpl 2.0)" => "MPL-2.0",
        "psf" | "psf license" | "python software foundation license" | "psf-2" => "PSF-2.0",
        "isc license" | "isc license (iscl)" => "ISC",
        "zlib/libpng" => "Zlib",
        "public-domain" | "public domain" => return None,
        _ => return None,
    })
}

/// A package's license: none known, an SPDX expression, or names that are not SPDX ids.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum License {
    None,
    /// Known SPDX ids, combined with AND (Debian copyright files list every license that
    /// applies to some file) or given as one expression.
    Spdx(String),
    Names(Vec<String>),
}

fn expression_is_known(expr: &str) -> bool {
    expr.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|t| !t.is_empty() && !matches!(*t, "AND" | "OR" | "WITH"))
        .all(|t| SPDX_IDS.contains(&t) || t.ends_with("-exception"))
}

impl License {
    /// From Python metadata: License-Expression (PEP 639), else a short License field.
    pub fn from_python(expression: Option<&str>, license: Option<&str>) -> License {
        if let Some(e) = expression.map(str::trim).filter(|e| !e.is_empty()) {
            if expression_is_known(e) {
                return License::Spdx(e.to_string());
            }
            return License::Names(vec![e.to_string()]);
        }
        match license
            .map(|l| l.lines().next().unwrap_or("").trim())
            .filter(|l| !l.is_empty() && l.len() <= 100)
        {
            Some(l) => match map_name(l) {
                Some(id) => License::Spdx(id.to_string()),
                None => License::Names(vec![l.to_string()]),
            },
            None => License::None,
        }
    }

    /// From a machine-readable (DEP-5) Debian copyright file: every `License:` short name.
    pub fn from_debian_copyright(path: &Path) -> License {
        let Ok(text) = std::fs::read_to_string(path) else {
            return License::None;
        };
        if !text.starts_with("Format:") {
            return License::None;
        }
        let mut ids = std::collections::BTreeSet::new();
        let mut names = std::collections::BTreeSet::new();
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("License:") {
                // "GPL-2+ or Artistic": several alternatives on one line.
                let v = v.trim();
                if v.is_empty() {
                    continue;
                }
                for part in v
                    .split(|c| c == ',')
                    .flat_map(|p| p.split(" or "))
                    .flat_map(|p| p.split(" and "))
                {
                    let p = part
                        .trim()
                        .trim_end_matches(" with OpenSSL exception")
                        .trim();
                    if p.is_empty() {
                        continue;
                    }
                    match map_name(p) {
                        Some(id) => {
                            ids.insert(id.to_string());
                        }
                        None => {
                            names.insert(p.to_string());
                        }
                    }
                }
            }
        }
        if names.is_empty() && !ids.is_empty() {
            License::Spdx(ids.into_iter().collect::<Vec<_>>().join(" AND "))
        } else if ids.is_empty() && names.is_empty() {
            License::None
        } else {
            License::Names(ids.into_iter().chain(names).collect())
        }
    }

    /// CycloneDX `licenses`.
    pub fn cyclonedx(&self) -> Option<Value> {
        match self {
            License::None => None,
            License::Spdx(e) if SPDX_IDS.contains(&e.as_str()) => {
                Some(json!([{"license": {"id": e}}]))
            }
            License::Spdx(e) => Some(json!([{"expression": e}])),
            License::Names(n) => Some(Value::Array(
                n.iter()
                    .map(|x| match map_name(x) {
                        Some(id) => json!({"license": {"id": id}}),
                        None => json!({"license": {"name": x}}),
                    })
                    .collect(),
            )),
        }
    }

    /// An SPDX license expression; names that are not SPDX ids become `LicenseRef-…`,
    /// recorded in `extracted` (id → name).
    pub fn spdx_expression(&self, extracted: &mut BTreeMap<String, String>) -> String {
        match self {
            License::None => "NOASSERTION".into(),
            License::Spdx(e) => e.clone(),
            License::Names(n) => n
                .iter()
                .map(|x| match map_name(x) {
                    Some(id) => id.to_string(),
                    None => {
                        let id: String = format!(
                            "LicenseRef-{}",
                            x.chars()
                                .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                                    c
                                } else {
                                    '-'
                                })
                                .collect::<String>()
                        );
                        extracted.insert(id.clone(), x.clone());
                        id
                    }
                })
                .collect::<Vec<_>>()
                .join(" AND "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn python_licenses() {
        assert_eq!(
            License::from_python(Some("Apache-2.0"), None),
            License::Spdx("Apache-2.0".into())
        );
        assert_eq!(
            License::from_python(None, Some("BSD License")),
            License::Spdx("BSD-3-Clause".into())
        );
        assert_eq!(
            License::from_python(None, Some("Custom thing")),
            License::Names(vec!["Custom thing".into()])
        );
        assert_eq!(License::from_python(None, None), License::None);
    }
    #[test]
    fn debian_names_map_to_spdx() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("copyright");
        std::fs::write(&p, "Format: copyright-format/1.0\n\nFiles: *\nLicense: GPL-2+\n\nFiles: x\nLicense: Expat\n\nLicense: GPL-2+\n text\n").unwrap();
        assert_eq!(
            License::from_debian_copyright(&p),
            License::Spdx("GPL-2.0-or-later AND MIT".into())
        );
        let mut ex = BTreeMap::new();
        assert_eq!(
            License::Names(vec!["public-domain".into()]).spdx_expression(&mut ex),
            "LicenseRef-public-domain"
        );
        assert_eq!(ex.len(), 1);
    }
}
