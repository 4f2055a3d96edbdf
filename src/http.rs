//! The one HTTP client of relsign: `lock` and `fetch` (indexes, mirrors, upstream archives),
//! `publish` (indexes, registries) and pulls all go through [`Client`].
//!
//! - TLS through rustls with the platform's trust store (rustls-platform-verifier): a proxy's
//!   or a company's CA in the system store is trusted, nothing else is added.
//! - Proxies from the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`), as
//!   reqwest reads them when the client is built.
//! - Timeouts (connect, whole request), and retries of connection errors, 429 and 5xx with
//!   exponential back-off, honouring `Retry-After`. Other answers go back to the caller, who
//!   knows what they mean. Request bodies are rebuilt for every attempt (files are re-opened,
//!   never replayed from a half-consumed stream); response bodies are streamed.
//! - One error type, [`HttpError`], naming the method, the URL (credentials removed) and the
//!   reason or status.
//!
//! This module sits at the bottom of the module graph: std, external crates and
//! [`crate::report`] only.

use crate::report::Reporter;
use std::time::Duration;

pub use reqwest::blocking::{RequestBuilder, Response};
pub use reqwest::Method;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("building the HTTP client: {0}")]
    Client(String),
    /// No answer (connection refused, reset, timed out, TLS), or a body cut short.
    #[error("{method} {url}: {reason}{}", after(.attempts))]
    Transport {
        method: String,
        url: String,
        reason: String,
        /// Set when the request was retried by [`Client::send`] and every attempt failed.
        attempts: Option<u32>,
    },
    /// An answer the caller (or the retries) could not use.
    #[error("{method} {url}: HTTP {status}{}{}", after(.attempts), if .body.is_empty() { String::new() } else { format!(": {}", .body) })]
    Status {
        method: String,
        url: String,
        status: u16,
        /// The body, shortened (see [`short`]); may be empty.
        body: String,
        attempts: Option<u32>,
    },
    #[error("{method} {url}: preparing the request body: {reason}")]
    Body {
        method: String,
        url: String,
        reason: String,
    },
}

fn after(attempts: &Option<u32>) -> String {
    match attempts {
        Some(n) => format!(" (after {n} attempt(s))"),
        None => String::new(),
    }
}

impl HttpError {
    /// The answer `resp` to `method url` as an error; its body (shortened) is read into it.
    pub fn status(method: &str, url: &str, resp: Response) -> HttpError {
        use std::io::Read;
        let status = resp.status().as_u16();
        // Only the start of it is shown: no more is read.
        let mut body = Vec::new();
        let _ = resp.take(ERROR_BODY).read_to_end(&mut body);
        HttpError::Status {
            method: method.into(),
            url: redact(url),
            status,
            body: short(&String::from_utf8_lossy(&body)),
            attempts: None,
        }
    }

    /// A status with a reason of our own instead of the server's body.
    pub fn status_because(method: &str, url: &str, status: u16, why: &str) -> HttpError {
        HttpError::Status {
            method: method.into(),
            url: redact(url),
            status,
            body: why.into(),
            attempts: None,
        }
    }

    /// Reading an answer's body failed (the connection dropped mid-body).
    pub fn read(method: &str, url: &str, reason: String, attempts: Option<u32>) -> HttpError {
        HttpError::Transport {
            method: method.into(),
            url: redact(url),
            reason,
            attempts,
        }
    }

    /// The HTTP status, for an answer the caller could not use.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The most of an unwanted answer's body read into its error.
const ERROR_BODY: u64 = 64 << 10;

/// Read the body of `resp` (the answer to `method url`), at most `limit` bytes: a longer one,
/// by its Content-Length or as it arrives, is refused without being read whole.
pub fn read_body(
    resp: Response,
    method: &str,
    url: &str,
    limit: u64,
) -> Result<Vec<u8>, HttpError> {
    use std::io::Read;
    let status = resp.status().as_u16();
    let over = |size: String| {
        HttpError::status_because(
            method,
            url,
            status,
            &format!("an answer of {size} bytes, over the limit of {limit} bytes"),
        )
    };
    if let Some(n) = resp.content_length().filter(|&n| n > limit) {
        return Err(over(n.to_string()));
    }
    let mut body = Vec::new();
    resp.take(limit + 1)
        .read_to_end(&mut body)
        .map_err(|e| HttpError::read(method, url, e.to_string(), Some(1)))?;
    if body.len() as u64 > limit {
        return Err(over(format!("more than {limit}")));
    }
    Ok(body)
}

/// Whether an answer is worth asking again for: 429 and 5xx.
pub fn is_retryable(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// The outcome of one attempt of a unit of work larger than a request (a blob upload, one
/// chunk of it, a download whose body was cut short): see [`Client::again`].
pub enum Attempt<T, E> {
    Done(T),
    /// Worth another attempt, after the back-off (the error is returned when none is left).
    Retry(E),
    /// Not worth another attempt.
    Fail(E),
}

/// The client and its retry settings.
pub struct Client {
    client: reqwest::blocking::Client,
    /// Attempts per request (first try included).
    pub attempts: u32,
    /// The first back-off; doubled per attempt, capped at `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

impl Client {
    /// One reqwest client: user agent, timeouts, platform certificates, proxies from the
    /// environment; redirects followed (up to reqwest's limit) or not.
    fn build(
        timeout: Duration,
        follow_redirects: bool,
    ) -> Result<reqwest::blocking::Client, HttpError> {
        let mut b = reqwest::blocking::Client::builder()
            .user_agent(concat!("relsign/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .timeout(timeout);
        if !follow_redirects {
            b = b.redirect(reqwest::redirect::Policy::none());
        }
        b.build().map_err(|e| HttpError::Client(e.to_string()))
    }

    /// The client of `lock` and `fetch`: redirects followed, 10-minute requests, 4 attempts
    /// (back-off 0.25 s doubling, `Retry-After` up to 30 s).
    pub fn for_fetch() -> Result<Self, HttpError> {
        Ok(Client {
            client: Self::build(Duration::from_secs(600), true)?,
            attempts: 4,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_millis(7500),
            max_retry_after: Duration::from_secs(30),
        })
    }

    /// The client of `publish` and pulls: redirects not followed (a registry's upload
    /// Location is read, not followed; blob GETs follow theirs), 15-minute requests,
    /// `$RELSIGN_PUBLISH_ATTEMPTS` attempts (10), back-off 0.2 s doubling up to 10 s,
    /// `Retry-After` up to a minute.
    pub fn for_publish() -> Result<Self, HttpError> {
        let attempts = std::env::var("RELSIGN_PUBLISH_ATTEMPTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(10);
        Ok(Client {
            client: Self::build(Duration::from_secs(900), false)?,
            attempts,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        })
    }

    /// The publish client for a reachability check (`--ping`): two attempts, so a destination
    /// that is down is reported in a second, not after the publish's full back-off.
    pub fn for_ping() -> Result<Self, HttpError> {
        let mut c = Client::for_publish()?;
        c.attempts = c.attempts.min(2);
        Ok(c)
    }

    /// The reqwest client, to build requests with.
    pub fn client(&self) -> &reqwest::blocking::Client {
        &self.client
    }

    /// Send the request `make` builds, retrying connection errors, 429 and 5xx. Returns the
    /// first answer that is neither (2xx, 3xx, 4xx other than 429), or the last failure.
    /// `make` is called once per attempt, so bodies are rebuilt (files re-opened).
    pub fn send(
        &self,
        method: &str,
        url: &str,
        r: &dyn Reporter,
        make: &dyn Fn() -> Result<RequestBuilder, String>,
    ) -> Result<Response, HttpError> {
        self.send_n(method, url, self.attempts, &[], r, make)
    }

    /// [`Client::send`], returning the statuses in `keep` to the caller even when they would
    /// be retried (a HEAD answered 501 is asked again with GET, not retried).
    pub fn send_keeping(
        &self,
        method: &str,
        url: &str,
        keep: &[u16],
        r: &dyn Reporter,
        make: &dyn Fn() -> Result<RequestBuilder, String>,
    ) -> Result<Response, HttpError> {
        self.send_n(method, url, self.attempts, keep, r, make)
    }

    /// [`Client::send`] with one attempt only: for requests that are not idempotent (an
    /// upload chunk), whose caller restarts a larger unit on failure.
    pub fn send_once(
        &self,
        method: &str,
        url: &str,
        make: &dyn Fn() -> Result<RequestBuilder, String>,
    ) -> Result<Response, HttpError> {
        self.send_n(method, url, 1, &[], &crate::report::Silent, make)
    }

    /// GET `url` (no headers, no credentials) with retries.
    pub fn get(&self, url: &str, r: &dyn Reporter) -> Result<Response, HttpError> {
        self.send("GET", url, r, &|| Ok(self.client.get(url)))
    }

    fn send_n(
        &self,
        method: &str,
        url: &str,
        attempts: u32,
        keep: &[u16],
        r: &dyn Reporter,
        make: &dyn Fn() -> Result<RequestBuilder, String>,
    ) -> Result<Response, HttpError> {
        let shown = redact(url);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let req = make().map_err(|reason| HttpError::Body {
                method: method.to_string(),
                url: shown.clone(),
                reason,
            })?;
            let (err, retry_after) = match req.send() {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if !is_retryable(status) || keep.contains(&status) {
                        return Ok(resp);
                    }
                    let retry_after = retry_after(&resp);
                    let mut err = HttpError::status(method, url, resp);
                    if let HttpError::Status { attempts, .. } = &mut err {
                        *attempts = Some(attempt);
                    }
                    (err, retry_after)
                }
                Err(e) => (
                    HttpError::Transport {
                        method: method.to_string(),
                        url: shown.clone(),
                        reason: error_chain(&e),
                        attempts: Some(attempt),
                    },
                    None,
                ),
            };
            if attempt >= attempts {
                return Err(err);
            }
            let wait = self.backoff(attempt, retry_after);
            r.info(&format!(
                "{err}; retrying in {:.1}s ({attempt}/{attempts})",
                wait.as_secs_f64()
            ));
            std::thread::sleep(wait);
        }
    }

    /// Run a unit of work larger than one request up to `attempts` times, with the back-off
    /// between attempts. `once` gets the attempt number (from 1) and whether it is the last,
    /// and says whether the unit is done, worth another attempt, or failed.
    pub fn again<T, E>(&self, mut once: impl FnMut(u32, bool) -> Attempt<T, E>) -> Result<T, E> {
        let attempts = self.attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match once(attempt, attempt >= attempts) {
                Attempt::Done(v) => return Ok(v),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(e) if attempt >= attempts => return Err(e),
                Attempt::Retry(_) => std::thread::sleep(self.backoff(attempt, None)),
            }
        }
    }

    /// The wait before attempt `attempt + 1`: `Retry-After` when given (capped at
    /// `max_retry_after`), else exponential back-off.
    pub fn backoff(&self, attempt: u32, retry_after: Option<u64>) -> Duration {
        if let Some(s) = retry_after {
            return Duration::from_secs(s).min(self.max_retry_after);
        }
        let d = self
            .base_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        d.min(self.max_backoff)
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not honoured: the back-off applies).
fn retry_after(resp: &Response) -> Option<u64> {
    resp.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// A header's value, when it is there and text.
pub fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
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

/// A response body cut to a length that fits in an error message.
pub fn short(body: &str) -> String {
    let text = html_text(body);
    let t = text.trim();
    if t.len() <= 300 {
        t.to_string()
    } else {
        let mut end = 300;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &t[..end])
    }
}

/// An HTML error page (pypiserver's, a proxy's) as its text: styles and scripts dropped,
/// tags removed, white space folded. Anything else as it is.
fn html_text(body: &str) -> String {
    let head = body
        .trim_start()
        .get(..64)
        .unwrap_or(body.trim_start())
        .to_ascii_lowercase();
    if !(head.starts_with("<!doctype html") || head.starts_with("<html")) {
        return body.to_string();
    }
    let lower = body.to_ascii_lowercase();
    let mut out = String::new();
    let mut i = 0;
    while i < body.len() {
        let rest = &lower[i..];
        if let Some(skip) = ["<style", "<script", "<head"]
            .iter()
            .find(|t| rest.starts_with(**t))
        {
            let close = format!("</{}", &skip[1..]);
            i = match rest.find(&close) {
                Some(j) => match rest[j..].find('>') {
                    Some(k) => i + j + k + 1,
                    None => body.len(),
                },
                None => body.len(),
            };
            continue;
        }
        if rest.starts_with('<') {
            i = match rest.find('>') {
                Some(j) => i + j + 1,
                None => body.len(),
            };
            out.push(' ');
            continue;
        }
        let c = body[i..].chars().next().expect("in bounds");
        out.push(c);
        i += c.len_utf8();
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An error with its causes (each once), credentials removed from any URL in it.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let cs = c.to_string();
        if !s.contains(&cs) {
            s.push_str(": ");
            s.push_str(&cs);
        }
        cur = c.source();
    }
    // reqwest prints the URL in its messages; strip userinfo wherever it appears.
    s.split(' ')
        .map(|w| {
            if w.contains("://") {
                redact(w)
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A loopback stand-in for tests: answers each connection with the next of `answers` (raw
/// HTTP bytes, written whole, then the connection closed); returns its port.
#[cfg(test)]
pub(crate) fn serve(answers: Vec<Vec<u8>>) -> u16 {
    use std::io::{Read as _, Write as _};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for a in answers {
            let Ok((mut c, _)) = l.accept() else { return };
            let mut buf = [0u8; 8192];
            let _ = c.read(&mut buf);
            let _ = c.write_all(&a);
        }
    });
    port
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_body_refuses_an_answer_over_its_limit_by_length_or_as_it_arrives() {
        let body = vec![b'x'; 100];
        let with_length = |b: &[u8]| {
            let mut a =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", b.len()).into_bytes();
            a.extend(b);
            a
        };
        // No length: the body ends when the connection closes.
        let mut no_length = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        no_length.extend(&body);
        let port = serve(vec![
            with_length(&body),
            with_length(&body),
            no_length.clone(),
            no_length,
        ]);
        let t = Client::for_publish().unwrap();
        let url = format!("http://127.0.0.1:{port}/x");
        let get = || t.client().get(&url).send().unwrap();
        let e = read_body(get(), "GET", &url, 99).unwrap_err().to_string();
        assert!(
            e.contains("an answer of 100 bytes, over the limit of 99 bytes"),
            "{e}"
        );
        assert_eq!(read_body(get(), "GET", &url, 100).unwrap(), body);
        let e = read_body(get(), "GET", &url, 99).unwrap_err().to_string();
        assert!(
            e.contains("more than 99 bytes, over the limit of 99 bytes"),
            "{e}"
        );
        assert_eq!(read_body(get(), "GET", &url, 100).unwrap(), body);
    }

    #[test]
    fn backoff_doubles_and_caps_and_honours_retry_after() {
        let t = Client::for_publish().unwrap();
        assert_eq!(t.backoff(1, None), Duration::from_millis(200));
        assert_eq!(t.backoff(2, None), Duration::from_millis(400));
        assert_eq!(t.backoff(20, None), Duration::from_secs(10));
        assert_eq!(t.backoff(1, Some(3)), Duration::from_secs(3));
        assert_eq!(t.backoff(1, Some(9999)), Duration::from_secs(60));
        // fetch: 0.25 s, 0.5 s, 1 s, 2 s between its four attempts; Retry-After up to 30 s.
        let f = Client::for_fetch().unwrap();
        let waits: Vec<_> = (1..4).map(|a| f.backoff(a, None).as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000]);
        assert_eq!(f.backoff(1, Some(9999)), Duration::from_secs(30));
    }

    #[test]
    fn again_stops_at_done_fail_or_the_last_attempt() {
        let mut c = Client::for_fetch().unwrap();
        c.base_backoff = Duration::ZERO;
        let mut seen = Vec::new();
        let r: Result<u32, String> = c.again(|n, last| {
            seen.push((n, last));
            Attempt::Retry(format!("no {n}"))
        });
        assert_eq!(r.unwrap_err(), "no 4");
        assert_eq!(seen, [(1, false), (2, false), (3, false), (4, true)]);
        let r: Result<u32, String> = c.again(|n, _| {
            if n == 2 {
                Attempt::Done(n)
            } else {
                Attempt::Retry("x".into())
            }
        });
        assert_eq!(r.unwrap(), 2);
        let mut calls = 0;
        let r: Result<u32, &str> = c.again(|_, _| {
            calls += 1;
            Attempt::Fail("stop")
        });
        assert_eq!((r.unwrap_err(), calls), ("stop", 1));
    }

    #[test]
    fn errors_name_method_url_and_status() {
        let e = HttpError::Status {
            method: "PUT".into(),
            url: redact("http://u:pw@127.0.0.1:1/v2/x"),
            status: 503,
            body: "busy".into(),
            attempts: Some(3),
        };
        assert_eq!(
            e.to_string(),
            "PUT http://127.0.0.1:1/v2/x: HTTP 503 (after 3 attempt(s)): busy"
        );
        let e = HttpError::status_because("GET", "http://h/x", 404, "");
        assert_eq!(e.to_string(), "GET http://h/x: HTTP 404");
        assert_eq!(e.status_code(), Some(404));
    }

    #[test]
    fn error_text_loses_userinfo() {
        let s = error_chain(&std::io::Error::other(
            "error sending request for url (http://u:secret@127.0.0.1:1/x)",
        ));
        assert!(!s.contains("secret"), "{s}");
    }

    #[test]
    fn html_error_pages_become_their_text() {
        let page = "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head><title>Error: 403 Forbidden</title><style type=\"text/css\">html {background-color: #eee;}</style></head><body><h1>Error: 403 Forbidden</h1><p>Sorry, the requested URL caused an error:</p><pre>Not authorized</pre></body></html>";
        assert_eq!(
            short(page),
            "Error: 403 Forbidden Sorry, the requested URL caused an error: Not authorized"
        );
        assert_eq!(short("  plain text  "), "plain text");
    }

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
