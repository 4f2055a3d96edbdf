//! Uploading to a PyPI-style index (PyPI, pypiserver, devpi) with the legacy upload API, the
//! way twine does: `POST <upload URL>`, multipart/form-data, `:action=file_upload`,
//! `protocol_version=1`, `sha256_digest`, and the artifact's own metadata (METADATA or PKG-INFO)
//! as lowercased fields. Before uploading, the index's simple page is asked for the file.

use super::Credentials;
use crate::digest::Sha256Hex;
use crate::http::{redact, resolve_href, Client, HttpError};
use crate::python::requirements::normalize_name;
use crate::python::{metadata, simple};
use crate::report::Reporter;
use std::path::Path;

/// The largest simple-index page read (a project page lists every file of every release).
const PAGE_LIMIT: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PypiError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{index}: {file} already exists with other bytes: sha256 expected={expected}, got={got}; a published file name can never be reused: bump the version")]
    Conflict {
        file: String,
        index: String,
        expected: Sha256Hex,
        got: String,
    },
    /// An answer the index should not give; 401 and 403 with a hint about credentials.
    #[error("{answer}{}", if matches!(.answer.status_code(), Some(401 | 403)) { " (wrong credentials, or no upload permission? see $RELSIGN_PUBLISH_<NAME>)" } else { "" })]
    Status { answer: HttpError },
    #[error("{file}: {reason}")]
    Artifact { file: String, reason: String },
    #[error("{index}: read-back of {file}: {reason}")]
    ReadBack {
        index: String,
        file: String,
        reason: String,
    },
}

impl PypiError {
    /// Same name, other bytes (exit 1).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            PypiError::Conflict { .. } | PypiError::ReadBack { .. }
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadOutcome {
    /// The index already has the same name with the same sha256: skipped.
    AlreadyPresent,
    Uploaded,
    /// The upload said "exists" (our earlier attempt landed); the re-check found our bytes.
    ExistsIdentical,
}

#[derive(Debug, Clone)]
pub struct RemoteFile {
    pub url: String,
    pub sha256: Option<Sha256Hex>,
}

pub struct Index<'a> {
    upload_url: String,
    simple_url: String,
    creds: Option<Credentials>,
    t: &'a Client,
}

/// The simple index beside an upload URL: `…/legacy/` → `…/simple/` (PyPI's layout), else
/// `<upload URL>/simple/` (pypiserver, devpi: `<index>/+simple/` must be given explicitly).
pub fn default_simple_url(upload_url: &str) -> String {
    let u = upload_url.trim_end_matches('/');
    match u.strip_suffix("/legacy") {
        Some(base) => format!("{base}/simple/"),
        None => format!("{u}/simple/"),
    }
}

impl<'a> Index<'a> {
    pub fn new(
        upload_url: &str,
        simple_url: Option<&str>,
        creds: Option<Credentials>,
        t: &'a Client,
    ) -> Self {
        Index {
            upload_url: upload_url.to_string(),
            simple_url: simple_url
                .map(|s| format!("{}/", s.trim_end_matches('/')))
                .unwrap_or_else(|| default_simple_url(upload_url)),
            creds,
            t,
        }
    }

    fn auth(&self, b: reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder {
        match &self.creds {
            Some(c) => b.basic_auth(&c.username, Some(c.secret())),
            None => b,
        }
    }

    /// The answer to a GET of `url`; None when 404.
    fn answer(
        &self,
        url: &str,
        r: &dyn Reporter,
    ) -> Result<Option<reqwest::blocking::Response>, PypiError> {
        let resp = self
            .t
            .send("GET", url, r, &|| Ok(self.auth(self.t.client().get(url))))?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(PypiError::Status {
                answer: HttpError::status("GET", url, resp),
            });
        }
        Ok(Some(resp))
    }

    /// A simple-index page, at most [`PAGE_LIMIT`] bytes; None when 404.
    fn page(&self, url: &str, r: &dyn Reporter) -> Result<Option<Vec<u8>>, PypiError> {
        match self.answer(url, r)? {
            Some(resp) => Ok(Some(crate::http::read_body(resp, "GET", url, PAGE_LIMIT)?)),
            None => Ok(None),
        }
    }

    /// The sha256 of a file the index serves, hashed as it arrives (never held whole in
    /// memory); None when 404.
    fn file_sha(&self, url: &str, r: &dyn Reporter) -> Result<Option<Sha256Hex>, PypiError> {
        let Some(resp) = self.answer(url, r)? else {
            return Ok(None);
        };
        let (sha, _) = crate::digest::hash_reader(resp)
            .map_err(|e| HttpError::read("GET", url, e.to_string(), Some(1)))?;
        Ok(Some(sha))
    }

    /// The simple index answers.
    pub fn ping(&self, r: &dyn Reporter) -> Result<(), PypiError> {
        self.page(&self.simple_url, r)?;
        Ok(())
    }

    /// The file as the index's simple page lists it (None when absent).
    pub fn remote_file(
        &self,
        project: &str,
        filename: &str,
        r: &dyn Reporter,
    ) -> Result<Option<RemoteFile>, PypiError> {
        let page_url = format!("{}{}/", self.simple_url, normalize_name(project));
        let Some(html) = self.page(&page_url, r)? else {
            return Ok(None);
        };
        let html = String::from_utf8_lossy(&html);
        Ok(simple::parse_project_page(&html, &page_url)
            .into_iter()
            .find(|l| l.filename == filename)
            .map(|l| RemoteFile {
                url: resolve_href(&page_url, &l.url),
                sha256: l.sha256,
            }))
    }

    /// The sha256 of the index's copy: from the page's fragment, else by downloading it.
    fn remote_sha(&self, f: &RemoteFile, r: &dyn Reporter) -> Result<Option<Sha256Hex>, PypiError> {
        if let Some(s) = &f.sha256 {
            return Ok(Some(s.clone()));
        }
        self.file_sha(&f.url, r)
    }

    /// Upload one sdist or wheel, unless the index has it already (see [`UploadOutcome`]).
    /// `attestations` is PEP 740's form field (a JSON list), sent when given.
    pub fn upload(
        &self,
        path: &Path,
        sha256: &Sha256Hex,
        attestations: Option<String>,
        r: &dyn Reporter,
    ) -> Result<UploadOutcome, PypiError> {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut fields = form_fields(path, &file, sha256)?;
        if let Some(a) = attestations {
            fields.push(("attestations".into(), a));
        }
        let project = fields
            .iter()
            .find(|(k, _)| k == "name")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let shown = redact(&self.upload_url);
        let check = |r: &dyn Reporter| -> Result<Option<bool>, PypiError> {
            match self.remote_file(&project, &file, r)? {
                None => Ok(None),
                Some(f) => match self.remote_sha(&f, r)? {
                    Some(s) if s == *sha256 => Ok(Some(true)),
                    Some(s) => Err(PypiError::Conflict {
                        file: file.clone(),
                        index: shown.clone(),
                        expected: sha256.clone(),
                        got: s.to_string(),
                    }),
                    None => Ok(None),
                },
            }
        };
        if check(r)? == Some(true) {
            return Ok(UploadOutcome::AlreadyPresent);
        }
        let boundary = format!("relsign-{}", &sha256.as_str()[..32]);
        let url = self.upload_url.clone();
        let resp = self.t.send("POST", &url, r, &|| {
            let body = multipart(&boundary, &fields, &file, path)?;
            Ok(self.auth(
                self.t
                    .client()
                    .post(&url)
                    .header(
                        "Content-Type",
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(body),
            ))
        })?;
        if resp.status().is_success() {
            return Ok(UploadOutcome::Uploaded);
        }
        let err = HttpError::status("POST", &self.upload_url, resp);
        if matches!(err.status_code(), Some(400 | 409)) {
            // An earlier attempt may have landed before its answer was lost.
            if check(r)? == Some(true) {
                return Ok(UploadOutcome::ExistsIdentical);
            }
        }
        Err(PypiError::Status { answer: err })
    }

    /// Download the file the index serves and compare its digest.
    pub fn read_back(
        &self,
        project: &str,
        filename: &str,
        expected: &Sha256Hex,
        r: &dyn Reporter,
    ) -> Result<(), PypiError> {
        let index = redact(&self.simple_url);
        let fail = |reason: String| PypiError::ReadBack {
            index: index.clone(),
            file: filename.to_string(),
            reason,
        };
        let f = self
            .remote_file(project, filename, r)?
            .ok_or_else(|| fail("not listed on the project page".into()))?;
        let got = self
            .file_sha(&f.url, r)?
            .ok_or_else(|| fail(format!("{} answers 404", redact(&f.url))))?;
        if got != *expected {
            return Err(fail(format!("sha256 expected={expected}, got={got}")));
        }
        Ok(())
    }
}

/// The form fields twine sends, from the artifact's own metadata.
fn form_fields(
    path: &Path,
    file: &str,
    sha256: &Sha256Hex,
) -> Result<Vec<(String, String)>, PypiError> {
    let art = |reason: String| PypiError::Artifact {
        file: file.to_string(),
        reason,
    };
    let (filetype, pyversion, text) = if file.ends_with(".whl") {
        let (_, text) = metadata::read_wheel_text(path, file).map_err(|e| art(e.to_string()))?;
        // name-version(-build)?-python-abi-platform.whl
        let parts: Vec<&str> = file.trim_end_matches(".whl").split('-').collect();
        if parts.len() < 5 {
            return Err(art("not a wheel file name".into()));
        }
        ("bdist_wheel", parts[parts.len() - 3].to_string(), text)
    } else if file.ends_with(".tar.gz") || file.ends_with(".zip") {
        let (_, text) = metadata::read_sdist_text(path, file).map_err(|e| art(e.to_string()))?;
        ("sdist", "source".to_string(), text)
    } else {
        return Err(art("neither a wheel nor an sdist".into()));
    };
    let mut fields = vec![
        (":action".to_string(), "file_upload".to_string()),
        ("protocol_version".into(), "1".into()),
        ("filetype".into(), filetype.into()),
        ("pyversion".into(), pyversion),
        ("sha256_digest".into(), sha256.to_string()),
    ];
    fields.extend(metadata_fields(&text));
    if !fields.iter().any(|(k, _)| k == "name") || !fields.iter().any(|(k, _)| k == "version") {
        return Err(art("the metadata has no Name or Version".into()));
    }
    Ok(fields)
}

/// Core-metadata headers as upload fields: lowercased, `-` → `_`, multi-use fields repeated,
/// the body as `description`. `Metadata-Version` is sent as `metadata_version`.
pub fn metadata_fields(text: &str) -> Vec<(String, String)> {
    let (head, body) = match text.find("\n\n") {
        Some(i) => (&text[..i], Some(text[i + 2..].to_string())),
        None => (text, None),
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with(' ') || line.starts_with('\t') {
            // A continuation line (RFC 822 folding).
            if let Some(last) = out.last_mut() {
                last.1.push('\n');
                last.1.push_str(line.trim_start());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            let key = k.trim().to_ascii_lowercase().replace('-', "_");
            // twine's names for the fields whose header is plural-less.
            let key = match key.as_str() {
                "classifier" => "classifiers".to_string(),
                "home_page" => "home_page".to_string(),
                _ => key,
            };
            out.push((key, v.trim().to_string()));
        }
    }
    if let Some(b) = body.filter(|b| !b.trim().is_empty()) {
        if !out.iter().any(|(k, _)| k == "description") {
            out.push(("description".into(), b));
        }
    }
    out
}

/// The multipart/form-data body; the file is read again for every attempt.
fn multipart(
    boundary: &str,
    fields: &[(String, String)],
    file: &str,
    path: &Path,
) -> Result<Vec<u8>, String> {
    let mut b = Vec::new();
    for (k, v) in fields {
        b.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n")
                .as_bytes(),
        );
        b.extend(v.as_bytes());
        b.extend(b"\r\n");
    }
    let content = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    b.extend(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
            file.replace('"', "")
        )
        .as_bytes(),
    );
    b.extend(content);
    b.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_becomes_twine_fields() {
        let text = "Metadata-Version: 2.4\nName: relsign-demo\nVersion: 0.1.0\nLicense-Expression: Apache-2.0\nRequires-Dist: click==8.1.8\nRequires-Dist: x; extra == 'y'\nClassifier: A\nDescription-Content-Type: text/markdown\n\n# Demo\nbody\n";
        let f = metadata_fields(text);
        assert!(f.contains(&("metadata_version".into(), "2.4".into())));
        assert!(f.contains(&("license_expression".into(), "Apache-2.0".into())));
        assert_eq!(f.iter().filter(|(k, _)| k == "requires_dist").count(), 2);
        assert!(f.contains(&("classifiers".into(), "A".into())));
        assert!(f.contains(&("description".into(), "# Demo\nbody\n".into())));
        assert_eq!(
            default_simple_url("https://upload.example/legacy/"),
            "https://upload.example/simple/"
        );
        assert_eq!(
            default_simple_url("http://127.0.0.1:8080/"),
            "http://127.0.0.1:8080/simple/"
        );
    }
}
