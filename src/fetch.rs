//! Network access for `lock` and `fetch`: an HTTP client that trusts the platform's
//! certificates (through rustls-platform-verifier) and honours the proxy variables
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`), with timeouts and retries; `file://` URLs read
//! local mirrors (for example a `relsign fetch --export` directory).
//!
//! Mirror addresses are never built in: they come from apt's sources, pip's configuration, the
//! recipe, flags or environment variables.

use crate::digest::Sha256Hex;
use crate::report::Reporter;
use crate::store::{Store, StoreError};
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("GET {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("reading {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("building the HTTP client: {0}")]
    Client(String),
    #[error("{what}: every mirror failed:\n{}", .attempts.join("\n"))]
    AllMirrorsFailed { what: String, attempts: Vec<String> },
    /// Every place failed and at least one served other bytes than the pinned ones.
    #[error("{what}: no place served the pinned bytes (a digest mismatch is a possible tampering):\n{}", .attempts.join("\n"))]
    NoneMatched { what: String, attempts: Vec<String> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FetchError {
    pub fn is_integrity(&self) -> bool {
        match self {
            FetchError::Store(e) => e.is_integrity(),
            FetchError::NoneMatched { .. } => true,
            _ => false,
        }
    }
    fn is_not_found(&self) -> bool {
        matches!(
            self,
            FetchError::Status {
                status: 404 | 410,
                ..
            }
        ) || matches!(self, FetchError::File { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// Remove userinfo (credentials) from a URL before it is shown anywhere.
pub fn redact(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let auth_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..auth_end].rfind('@') {
            return format!("{}://{}", &url[..scheme_end], &rest[at + 1..]);
        }
    }
    url.to_string()
}

/// Join a base URL and a relative path with exactly one slash.
pub fn join(base: &str, rel: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        rel.trim_start_matches('/')
    )
}

/// Resolve an href found in a page at `page_url` (absolute, root-relative or relative).
pub fn resolve_href(page_url: &str, href: &str) -> String {
    if href.contains("://") {
        return href.to_string();
    }
    let scheme_end = page_url.find("://").map(|i| i + 3).unwrap_or(0);
    if let Some(stripped) = href.strip_prefix('/') {
        let host_end = page_url[scheme_end..]
            .find('/')
            .map(|i| i + scheme_end)
            .unwrap_or(page_url.len());
        return format!("{}/{}", &page_url[..host_end], stripped);
    }
    let base = match page_url.rfind('/') {
        Some(i) if i >= scheme_end => &page_url[..=i],
        _ => page_url,
    };
    let mut parts: Vec<&str> = base[scheme_end..]
        .trim_end_matches('/')
        .split('/')
        .collect();
    for seg in href.split('/') {
        match seg {
            "." | "" => {}
            ".." => {
                if parts.len() > 1 {
                    parts.pop();
                }
            }
            s => parts.push(s),
        }
    }
    format!("{}{}", &page_url[..scheme_end], parts.join("/"))
}

/// The HTTP(S) and file:// client.
pub struct Http {
    client: reqwest::blocking::Client,
    attempts: u32,
}

impl Http {
    pub fn new() -> Result<Self, FetchError> {
        let client = reqwest::blocking::Client::builder()
            .user_agent(concat!("relsign/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| FetchError::Client(e.to_string()))?;
        Ok(Http {
            client,
            attempts: 4,
        })
    }

    /// Open a URL for streaming. Retries connection errors, 429 and 5xx with back-off,
    /// honouring Retry-After; 4xx other than 429 fails at once.
    pub fn open(&self, url: &str) -> Result<Box<dyn Read + Send>, FetchError> {
        if let Some(path) = url.strip_prefix("file://") {
            let mut p = PathBuf::from(path);
            if p.is_dir() {
                p = p.join("index.html");
            }
            let f =
                std::fs::File::open(&p).map_err(|source| FetchError::File { path: p, source })?;
            return Ok(Box::new(f));
        }
        let shown = redact(url);
        let mut last = None;
        for attempt in 0..self.attempts {
            match self.client.get(url).send() {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if resp.status().is_success() {
                        return Ok(Box::new(resp));
                    }
                    let retryable = status == 429 || (500..600).contains(&status);
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    last = Some(FetchError::Status {
                        url: shown.clone(),
                        status,
                    });
                    if !retryable {
                        break;
                    }
                    backoff(attempt, retry_after);
                }
                Err(e) => {
                    last = Some(FetchError::Transport {
                        url: shown.clone(),
                        reason: error_chain(&e),
                    });
                    backoff(attempt, None);
                }
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// GET a whole (small) resource into memory.
    pub fn get_bytes(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut r = self.open(url)?;
        let mut v = Vec::new();
        r.read_to_end(&mut v).map_err(|e| FetchError::Transport {
            url: redact(url),
            reason: e.to_string(),
        })?;
        Ok(v)
    }

    /// Whether `url` is there: `Ok(true)` for a success, `Ok(false)` for 404 or 410 (or a
    /// missing file). Asks with HEAD, retried like [`Http::open`]; a server that does not
    /// allow HEAD (405, 501) is asked with GET.
    pub fn exists(&self, url: &str) -> Result<bool, FetchError> {
        if let Some(path) = url.strip_prefix("file://") {
            return Ok(std::path::Path::new(path).is_file());
        }
        let shown = redact(url);
        let mut last = None;
        for attempt in 0..self.attempts {
            match self.client.head(url).send() {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if resp.status().is_success() {
                        return Ok(true);
                    }
                    match status {
                        404 | 410 => return Ok(false),
                        405 | 501 => {
                            return match self.open(url) {
                                Ok(_) => Ok(true),
                                Err(e) if e.is_not_found() => Ok(false),
                                Err(e) => Err(e),
                            }
                        }
                        _ => {}
                    }
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    last = Some(FetchError::Status {
                        url: shown.clone(),
                        status,
                    });
                    if !(status == 429 || (500..600).contains(&status)) {
                        break;
                    }
                    backoff(attempt, retry_after);
                }
                Err(e) => {
                    last = Some(FetchError::Transport {
                        url: shown.clone(),
                        reason: error_chain(&e),
                    });
                    backoff(attempt, None);
                }
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// Download `urls` in order (mirrors) into the store, checking digest and size.
    /// A digest mismatch from one mirror is reported, and the next mirror is tried;
    /// nothing is stored unless the bytes match.
    pub fn fetch_to_store(
        &self,
        store: &Store,
        what: &str,
        urls: &[String],
        expected: &Sha256Hex,
        size: Option<u64>,
        reporter: &dyn Reporter,
    ) -> Result<(), FetchError> {
        self.fetch_to_store_from(store, what, urls, expected, size, reporter)
            .map(|_| ())
    }

    /// [`Http::fetch_to_store`], saying which of `urls` the file came from (`None` when it was
    /// in the store already).
    pub fn fetch_to_store_from(
        &self,
        store: &Store,
        what: &str,
        urls: &[String],
        expected: &Sha256Hex,
        size: Option<u64>,
        reporter: &dyn Reporter,
    ) -> Result<Option<usize>, FetchError> {
        if store.has_verified(expected)? {
            return Ok(None);
        }
        let mut attempts = Vec::new();
        let mut integrity: Option<FetchError> = None;
        for (k, url) in urls.iter().enumerate() {
            let res = self.open(url).and_then(|r| {
                let progress = reporter.progress(what, size);
                let mut counting = CountingReader {
                    inner: r,
                    progress: &*progress,
                };
                let res = store.insert(what, Some(expected), size, &mut counting);
                progress.finish();
                res.map(|_| ()).map_err(FetchError::from)
            });
            match res {
                Ok(()) => return Ok(Some(k)),
                Err(e) => {
                    if !e.is_not_found() {
                        reporter.warn(&format!("{}: {e}", redact(url)));
                    }
                    attempts.push(format!("  {}: {e}", redact(url)));
                    if e.is_integrity() && integrity.is_none() {
                        integrity = Some(e);
                    }
                }
            }
        }
        // An integrity failure is the most important thing to report: surface it as such.
        if let Some(e) = integrity {
            if attempts.len() == 1 {
                return Err(e);
            }
            return Err(FetchError::NoneMatched {
                what: what.to_string(),
                attempts,
            });
        }
        Err(FetchError::AllMirrorsFailed {
            what: what.to_string(),
            attempts,
        })
    }
}

struct CountingReader<'a, R> {
    inner: R,
    progress: &'a dyn crate::report::Progress,
}
impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.inc(n as u64);
        Ok(n)
    }
}

fn backoff(attempt: u32, retry_after: Option<u64>) {
    let secs = retry_after.unwrap_or(1u64 << attempt).min(30);
    std::thread::sleep(Duration::from_millis(
        secs * 1000 / if retry_after.is_some() { 1 } else { 4 },
    ));
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn redacts_userinfo() {
        assert_eq!(redact("https://u:p@h.example/x"), "https://h.example/x");
        assert_eq!(redact("https://h.example/a@b"), "https://h.example/a@b");
    }
    #[test]
    fn resolves_hrefs() {
        let page = "https://idx.example/simple/click/";
        assert_eq!(
            resolve_href(page, "../../files/c.whl#sha256=ab"),
            "https://idx.example/files/c.whl#sha256=ab"
        );
        assert_eq!(
            resolve_href(page, "c.whl"),
            "https://idx.example/simple/click/c.whl"
        );
        assert_eq!(
            resolve_href(page, "/p/c.whl"),
            "https://idx.example/p/c.whl"
        );
        assert_eq!(
            resolve_href("file:///m/simple/click/", "../../files/c.whl"),
            "file:///m/files/c.whl"
        );
    }
}
