//! The HTTP transport of `publish`: one reqwest client (platform certificates, proxy variables)
//! and a retry loop that every destination shares. Retries connection errors, 429 and 5xx with
//! exponential back-off, honouring `Retry-After`; other answers are returned to the caller, who
//! knows what they mean. Request bodies are rebuilt for every attempt (files are re-opened, never
//! replayed from a half-consumed stream).

use crate::fetch::redact;
use crate::report::Reporter;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("building the HTTP client: {0}")]
    Client(String),
    #[error("{method} {url}: {reason} (after {attempts} attempt(s))")]
    Transport {
        method: String,
        url: String,
        reason: String,
        attempts: u32,
    },
    #[error("{method} {url}: HTTP {status} (after {attempts} attempt(s)){}", if .body.is_empty() { String::new() } else { format!(": {}", .body) })]
    Status {
        method: String,
        url: String,
        status: u16,
        body: String,
        attempts: u32,
    },
    #[error("{method} {url}: preparing the request body: {reason}")]
    Body {
        method: String,
        url: String,
        reason: String,
    },
}

/// The shared client and its retry settings.
pub struct Transport {
    client: reqwest::blocking::Client,
    /// Attempts per request (first try included).
    pub attempts: u32,
    /// The first back-off; doubled per attempt, capped at `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Transport {
    pub fn new() -> Result<Self, HttpError> {
        let client = reqwest::blocking::Client::builder()
            .user_agent(concat!("relsign/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(900))
            // Redirects are followed by the callers that expect them (blob GETs); the
            // registry's upload Location headers are read, not followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| HttpError::Client(e.to_string()))?;
        let attempts = std::env::var("RELSIGN_PUBLISH_ATTEMPTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(10);
        Ok(Transport {
            client,
            attempts,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        })
    }

    /// The transport for a reachability check (`--ping`): two attempts, so a destination
    /// that is down is reported in a second, not after the publish's full back-off.
    pub fn for_ping() -> Result<Self, HttpError> {
        let mut t = Transport::new()?;
        t.attempts = t.attempts.min(2);
        Ok(t)
    }

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
        make: &dyn Fn() -> Result<reqwest::blocking::RequestBuilder, String>,
    ) -> Result<reqwest::blocking::Response, HttpError> {
        self.send_n(method, url, self.attempts, r, make)
    }

    /// [`Transport::send`] with one attempt only: for requests that are not idempotent (an
    /// upload chunk), whose caller restarts a larger unit on failure.
    pub fn send_once(
        &self,
        method: &str,
        url: &str,
        make: &dyn Fn() -> Result<reqwest::blocking::RequestBuilder, String>,
    ) -> Result<reqwest::blocking::Response, HttpError> {
        self.send_n(method, url, 1, &crate::report::Silent, make)
    }

    fn send_n(
        &self,
        method: &str,
        url: &str,
        attempts: u32,
        r: &dyn Reporter,
        make: &dyn Fn() -> Result<reqwest::blocking::RequestBuilder, String>,
    ) -> Result<reqwest::blocking::Response, HttpError> {
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
                    if status != 429 && !(500..600).contains(&status) {
                        return Ok(resp);
                    }
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    let body = resp.text().unwrap_or_default();
                    (
                        HttpError::Status {
                            method: method.to_string(),
                            url: shown.clone(),
                            status,
                            body: short(&body),
                            attempts: attempt,
                        },
                        retry_after,
                    )
                }
                Err(e) => (
                    HttpError::Transport {
                        method: method.to_string(),
                        url: shown.clone(),
                        reason: error_chain(&e),
                        attempts: attempt,
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

    /// The wait before attempt `attempt + 1`: `Retry-After` when given (capped at a minute),
    /// else exponential back-off.
    pub fn backoff(&self, attempt: u32, retry_after: Option<u64>) -> Duration {
        if let Some(s) = retry_after {
            return Duration::from_secs(s.min(60));
        }
        let d = self
            .base_backoff
            .saturating_mul(1u32 << (attempt - 1).min(16));
        d.min(self.max_backoff)
    }
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

/// A reqwest error with its causes, credentials removed from any URL in it.
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

#[cfg(test)]
mod html_tests {
    #[test]
    fn html_error_pages_become_their_text() {
        let page = "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head><title>Error: 403 Forbidden</title><style type=\"text/css\">html {background-color: #eee;}</style></head><body><h1>Error: 403 Forbidden</h1><p>Sorry, the requested URL caused an error:</p><pre>Not authorized</pre></body></html>";
        assert_eq!(
            super::short(page),
            "Error: 403 Forbidden Sorry, the requested URL caused an error: Not authorized"
        );
        assert_eq!(super::short("  plain text  "), "plain text");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps_and_honours_retry_after() {
        let t = Transport::new().unwrap();
        assert_eq!(t.backoff(1, None), Duration::from_millis(200));
        assert_eq!(t.backoff(2, None), Duration::from_millis(400));
        assert_eq!(t.backoff(20, None), Duration::from_secs(10));
        assert_eq!(t.backoff(1, Some(3)), Duration::from_secs(3));
        assert_eq!(t.backoff(1, Some(9999)), Duration::from_secs(60));
    }

    #[test]
    fn error_text_loses_userinfo() {
        let s = error_chain(&std::io::Error::other(
            "error sending request for url (http://u:secret@127.0.0.1:1/x)",
        ));
        assert!(!s.contains("secret"), "{s}");
    }
}
