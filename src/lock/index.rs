//! Where the Python package index is: relsign never builds an index address in. It asks, in
//! this order:
//!
//! 1. `--index-url` flags;
//! 2. `RELSIGN_INDEX_URL` (space-separated URLs);
//! 3. the recipe's `python.index-urls`;
//! 4. `PIP_INDEX_URL` (plus `PIP_EXTRA_INDEX_URL`);
//! 5. pip's configuration (`python3 -m pip config list`: `index-url` and `extra-index-url`,
//!    from the `install` section, else `global`);
//! 6. pip's own default, asked from the installed pip at run time.
//!
//! `file://DIR` indexes (for example a `relsign fetch --export` directory's `simple/`) work too.

use crate::fetch::{self, FetchError, Http};
use crate::python::requirements::normalize_name;
use crate::python::simple::{parse_project_page, FileLink};
use crate::recipe::Recipe;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(
        "no Python package index is configured and pip could not tell its default ({pip}).\n\
         Configure one with --index-url URL, RELSIGN_INDEX_URL, the recipe's python.index-urls, \
         PIP_INDEX_URL, or `pip config set global.index-url URL`"
    )]
    NoneConfigured { pip: String },
    #[error("index URL {url:?} from {source_name} is not an http(s):// or file:// URL")]
    BadUrl { url: String, source_name: String },
}

fn split_urls(s: &str) -> Vec<String> {
    s.split_whitespace()
        .map(|u| u.trim_end_matches('/').to_string())
        .filter(|u| !u.is_empty())
        .collect()
}

fn check(urls: Vec<String>, source_name: &str) -> Result<Vec<String>, IndexError> {
    for u in &urls {
        if !(u.starts_with("http://") || u.starts_with("https://") || u.starts_with("file://")) {
            return Err(IndexError::BadUrl {
                url: fetch::redact(u),
                source_name: source_name.into(),
            });
        }
    }
    Ok(urls)
}

fn env_urls(var: &str) -> Vec<String> {
    std::env::var(var)
        .map(|v| split_urls(&v))
        .unwrap_or_default()
}

/// Run `python3 <args>` and return its trimmed stdout when it succeeds with output.
fn python_output(args: &[&str]) -> Result<String, String> {
    let out = duct::cmd("python3", args)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .run()
        .map_err(|e| format!("running python3: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && !stdout.is_empty() {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "python3 {} exited with {}: {}",
            args.join(" "),
            out.status,
            stderr.trim().lines().last().unwrap_or("")
        ))
    }
}

/// pip's configuration as `pip config list` prints it (`section.key='value'`). `pip config get`
/// is not used: it misses keys from `PIP_CONFIG_FILE`.
fn pip_config() -> Vec<(String, String)> {
    let Ok(out) = python_output(&["-m", "pip", "config", "list"]) else {
        return Vec::new();
    };
    out.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(v);
            Some((k.trim().to_string(), v.replace("\\n", " ")))
        })
        .collect()
}

/// A pip setting: `install.<key>` over `global.<key>`, as pip reads them for `pip install`.
fn pip_setting(config: &[(String, String)], key: &str) -> Vec<String> {
    for section in ["install", "global"] {
        let full = format!("{section}.{key}");
        if let Some((_, v)) = config.iter().find(|(k, _)| *k == full) {
            return split_urls(v);
        }
    }
    Vec::new()
}

/// The indexes to use, in order (see the module documentation).
pub fn index_urls(recipe: &Recipe, flag: &[String]) -> Result<Vec<String>, IndexError> {
    if !flag.is_empty() {
        return check(
            flag.iter().flat_map(|u| split_urls(u)).collect(),
            "--index-url",
        );
    }
    let v = env_urls("RELSIGN_INDEX_URL");
    if !v.is_empty() {
        return check(v, "RELSIGN_INDEX_URL");
    }
    if !recipe.file.python.index_urls.is_empty() {
        let v = recipe
            .file
            .python
            .index_urls
            .iter()
            .flat_map(|u| split_urls(u))
            .collect();
        return check(v, &format!("{} python.index-urls", recipe.path.display()));
    }
    let v = env_urls("PIP_INDEX_URL");
    if !v.is_empty() {
        let mut v = v;
        v.extend(env_urls("PIP_EXTRA_INDEX_URL"));
        return check(v, "PIP_INDEX_URL / PIP_EXTRA_INDEX_URL");
    }
    let config = pip_config();
    let extra = pip_setting(&config, "extra-index-url");
    let v = pip_setting(&config, "index-url");
    if !v.is_empty() {
        let mut v = v;
        v.extend(extra);
        return check(v, "pip's configuration (index-url)");
    }
    match python_output(&[
        "-c",
        "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
    ]) {
        Ok(s) => {
            let mut v = split_urls(&s);
            v.extend(extra);
            check(v, "pip's default index")
        }
        Err(pip) => Err(IndexError::NoneConfigured { pip }),
    }
}

/// The URL of a project's page on an index: `<index>/<normalized-name>/`.
pub fn project_url(index: &str, project: &str) -> String {
    fetch::join(index, &format!("{}/", normalize_name(project)))
}

/// Fetch and parse a project's page. `Ok(None)` when the index does not have the project.
pub fn project_files(
    http: &Http,
    index: &str,
    project: &str,
) -> Result<Option<(String, Vec<FileLink>)>, FetchError> {
    let url = project_url(index, project);
    match http.get_bytes(&url) {
        Ok(bytes) => {
            let html = String::from_utf8_lossy(&bytes);
            let links = parse_project_page(&html, &url);
            Ok(Some((url, links)))
        }
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_urls() {
        assert_eq!(
            project_url("https://m.example/simple/", "Docassemble.Base"),
            "https://m.example/simple/docassemble-base/"
        );
        assert_eq!(
            project_url("file:///x/simple", "click"),
            "file:///x/simple/click/"
        );
        assert_eq!(split_urls(" a  b/ "), ["a", "b"]);
        let config = vec![
            (
                "global.index-url".to_string(),
                "https://g.example/simple".to_string(),
            ),
            (
                "install.extra-index-url".to_string(),
                "https://x.example/simple https://y.example/simple".to_string(),
            ),
        ];
        assert_eq!(
            pip_setting(&config, "index-url"),
            ["https://g.example/simple"]
        );
        assert_eq!(pip_setting(&config, "extra-index-url").len(), 2);
    }
}
