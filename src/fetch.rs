//! Network access for `lock` and `fetch`: HTTP(S) through the shared client of
//! [`crate::http`] (platform certificates, proxy variables, timeouts, retries), and `file://`
//! URLs for local mirrors (for example a `relsign fetch --export` directory).
//!
//! Mirror addresses are never built in: they come from apt's sources, pip's configuration, the
//! recipe, flags or environment variables.

use crate::digest::Sha256Hex;
pub use crate::http::{join, redact, resolve_href, HttpError};
use crate::report::Reporter;
use crate::store::{Store, StoreError};
use std::io::{self, Read};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request failed, or the server answered with an error (named by method, URL and
    /// status or reason).
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("reading {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
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

    /// The server answered 404 or 410, or the `file://` path is missing.
    pub fn is_not_found(&self) -> bool {
        match self {
            FetchError::Http(e) => matches!(e.status_code(), Some(404 | 410)),
            FetchError::File { source, .. } => source.kind() == io::ErrorKind::NotFound,
            _ => false,
        }
    }
}

/// The HTTP(S) and file:// reader of `lock` and `fetch`, on the shared [`crate::http::Client`]
/// (its fetch settings: redirects followed, four attempts).
pub struct Http {
    client: crate::http::Client,
}

impl Http {
    pub fn new() -> Result<Self, FetchError> {
        Ok(Http {
            client: crate::http::Client::for_fetch()?,
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
        let resp = self.client.get(url, &crate::report::Silent)?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            return Err(HttpError::status_because("GET", url, status, "").into());
        }
        Ok(Box::new(resp))
    }

    /// GET a whole (small) resource into memory.
    pub fn get_bytes(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut r = self.open(url)?;
        let mut v = Vec::new();
        r.read_to_end(&mut v)
            .map_err(|e| HttpError::read("GET", url, e.to_string(), None))?;
        Ok(v)
    }

    /// Whether `url` is there: `Ok(true)` for a success, `Ok(false)` for 404 or 410 (or a
    /// missing file). Asks with HEAD, retried like [`Http::open`]; a server that does not
    /// allow HEAD (405, 501) is asked with GET.
    pub fn exists(&self, url: &str) -> Result<bool, FetchError> {
        if let Some(path) = url.strip_prefix("file://") {
            return Ok(std::path::Path::new(path).is_file());
        }
        let c = &self.client;
        let resp = c.send_keeping("HEAD", url, &[501], &crate::report::Silent, &|| {
            Ok(c.client().head(url))
        })?;
        match resp.status().as_u16() {
            _ if resp.status().is_success() => Ok(true),
            404 | 410 => Ok(false),
            405 | 501 => match self.open(url) {
                Ok(_) => Ok(true),
                Err(e) if e.is_not_found() => Ok(false),
                Err(e) => Err(e),
            },
            status => Err(HttpError::status_because("HEAD", url, status, "").into()),
        }
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
