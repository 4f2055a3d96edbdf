//! An OCI distribution-spec registry client (Docker Hub, Harbor, the CNCF registry): blobs
//! (HEAD, cross-repository mount, monolithic or chunked upload with resume), manifests, tags,
//! OCI 1.1 referrers with the `sha256-<hex>` tag fallback, and pulls into an image layout.
//!
//! Authentication follows the `WWW-Authenticate` challenge: Basic, or Bearer (a token from the
//! realm, with the scopes the request needs, fetched again when it expires mid-push).
//! No registry address is built in: `docker.io/…` names go where containers'
//! `registries.conf` (or `$RELSIGN_DOCKER_IO_ENDPOINT`) sends them.

use super::Credentials;
use crate::digest::{HashingWriter, Sha256Hex};
use crate::fsutil::{self, FsError};
use crate::http::{
    error_chain, redact, resolve_href, short, Attempt, Client, HttpError, Method, RequestBuilder,
    Response,
};
use crate::json;
use crate::oci::{self, Descriptor};
use crate::report::Reporter;
use std::cell::RefCell;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{registry}: authentication failed: {reason}")]
    Auth { registry: String, reason: String },
    #[error("{what}: sha256 expected={expected}, got={got}")]
    Digest {
        what: String,
        expected: String,
        got: String,
    },
    #[error("{input:?}: {reason}")]
    Reference { input: String, reason: String },
    #[error("{path}: {reason}")]
    Config { path: PathBuf, reason: String },
}

/// A repository: where it is contacted, and its name as users write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRef {
    /// "https" or "http".
    pub scheme: String,
    /// host[:port] actually contacted.
    pub registry: String,
    pub repository: String,
    /// The name as shown (`docker.io/library/x`, `127.0.0.1:5000/a/b`).
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Tag(String),
    Digest(Sha256Hex),
}

const DOCKER_IO: &str = "docker.io";

fn is_loopback(host: &str) -> bool {
    let h = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host),
    };
    h == "localhost" || h.starts_with("127.") || h == "::1"
}

/// One `[[registry]]` entry of containers' registries.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConf {
    /// The name prefix the entry applies to (`docker.io`, `registry.example/org`).
    pub prefix: String,
    /// Where names under the prefix are contacted instead (`host[:port][/path]`).
    pub location: String,
    /// `insecure = true`: plain HTTP.
    pub insecure: bool,
}

/// How repository names become endpoints: containers' registries.conf entries (the longest
/// matching prefix rewrites a name, as skopeo and podman do) and the docker.io endpoint, which
/// is never built in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolver {
    pub registries: Vec<RegistryConf>,
    /// `$RELSIGN_DOCKER_IO_ENDPOINT`: used for `docker.io/…` names no registries.conf entry
    /// rewrites (`https://host`, `http://host:port` or a bare `host`).
    pub docker_io_endpoint: Option<String>,
}

impl Resolver {
    /// From the environment: `$CONTAINERS_REGISTRIES_CONF`, else
    /// `/etc/containers/registries.conf` (absent is fine), and `$RELSIGN_DOCKER_IO_ENDPOINT`.
    pub fn from_env() -> Result<Resolver, RegistryError> {
        let path = std::env::var_os("CONTAINERS_REGISTRIES_CONF")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/etc/containers/registries.conf"));
        let mut r = Resolver::from_file(&path)?;
        r.docker_io_endpoint = std::env::var("RELSIGN_DOCKER_IO_ENDPOINT")
            .ok()
            .filter(|v| !v.is_empty());
        Ok(r)
    }

    /// The `[[registry]]` entries of a registries.conf (v2 format); a missing file has none.
    pub fn from_file(path: &Path) -> Result<Resolver, RegistryError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Resolver::default()),
            Err(e) => {
                return Err(RegistryError::Config {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })
            }
        };
        let bad = |reason: String| RegistryError::Config {
            path: path.to_path_buf(),
            reason,
        };
        let v: toml::Value =
            toml::from_str(&text).map_err(|e| bad(e.to_string().trim_end().to_string()))?;
        let mut registries = Vec::new();
        let entries = match v.get("registry") {
            None => &[][..],
            Some(toml::Value::Array(a)) => a.as_slice(),
            Some(_) => return Err(bad("`registry` is not an array of tables".into())),
        };
        for (i, e) in entries.iter().enumerate() {
            let s = |k: &str| -> Result<Option<String>, RegistryError> {
                match e.get(k) {
                    None => Ok(None),
                    Some(toml::Value::String(v)) => {
                        Ok(Some(v.trim_end_matches('/').to_string()).filter(|v| !v.is_empty()))
                    }
                    Some(_) => Err(bad(format!("registry[{i}].{k} is not a string"))),
                }
            };
            let (prefix, location) = (s("prefix")?, s("location")?);
            let insecure = match e.get("insecure") {
                None => false,
                Some(toml::Value::Boolean(b)) => *b,
                Some(_) => return Err(bad(format!("registry[{i}].insecure is not a boolean"))),
            };
            // The location defaults to the prefix and the prefix to the location.
            let (Some(prefix), Some(location)) = (
                prefix.clone().or_else(|| location.clone()),
                location.or(prefix),
            ) else {
                continue;
            };
            registries.push(RegistryConf {
                prefix,
                location,
                insecure,
            });
        }
        Ok(Resolver {
            registries,
            docker_io_endpoint: None,
        })
    }

    /// See [`parse_repository`].
    pub fn parse_repository(&self, s: &str) -> Result<RepoRef, RegistryError> {
        refuse_userinfo(s)?;
        let bad = |reason: &str| RegistryError::Reference {
            input: redact(s),
            reason: reason.into(),
        };
        let (explicit_scheme, rest) = if let Some(r) = s.strip_prefix("http://") {
            (Some("http"), r)
        } else if let Some(r) = s.strip_prefix("https://") {
            (Some("https"), r)
        } else {
            (None, s)
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains('@') || rest.contains("//") {
            return Err(bad("not a repository (host[:port]/path)"));
        }
        let (first, tail) = rest.split_once('/').unwrap_or(("", rest));
        // As Docker does: the first component is a host when it has a '.' or a ':' or is
        // localhost; with an explicit scheme it always is.
        let is_host = !first.is_empty()
            && (explicit_scheme.is_some()
                || first.contains('.')
                || first.contains(':')
                || first == "localhost");
        if explicit_scheme.is_some() && first.is_empty() {
            return Err(bad("a URL needs a repository path after the host"));
        }
        let (host, mut path) = if is_host {
            (first.to_string(), tail.to_string())
        } else {
            (DOCKER_IO.to_string(), rest.to_string())
        };
        if host == DOCKER_IO && !path.contains('/') {
            path = format!("library/{path}");
        }
        let valid = |p: &str| {
            !p.is_empty()
                && p.split('/').all(|c| {
                    !c.is_empty()
                        && c.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                        })
                })
        };
        if !valid(&path) {
            return Err(bad(
                "repository path components are lowercase letters, digits, '.', '_' and '-'",
            ));
        }
        let name = format!("{host}/{path}");
        let mut scheme = explicit_scheme.map(str::to_string);
        let (mut host, mut path) = (host, path);
        // registries.conf: the longest matching prefix rewrites the name to its location.
        let best = self
            .registries
            .iter()
            .filter(|c| name == c.prefix || name.starts_with(&format!("{}/", c.prefix)))
            .max_by_key(|c| c.prefix.len());
        if let Some(c) = best {
            let rewritten = format!("{}{}", c.location, &name[c.prefix.len()..]);
            let (h, p) = rewritten
                .split_once('/')
                .ok_or_else(|| bad("the registries.conf location has no repository path"))?;
            host = h.to_string();
            path = p.to_string();
            if c.insecure && scheme.is_none() {
                scheme = Some("http".into());
            }
        } else if host == DOCKER_IO {
            let Some(ep) = &self.docker_io_endpoint else {
                return Err(bad(
                    "docker.io's registry endpoint is not configured: add a [[registry]] with \
                     prefix = \"docker.io\" and its location to registries.conf \
                     ($CONTAINERS_REGISTRIES_CONF), or set RELSIGN_DOCKER_IO_ENDPOINT",
                ));
            };
            let ep = ep.trim_end_matches('/');
            if let Some(h) = ep.strip_prefix("http://") {
                scheme.get_or_insert("http".into());
                host = h.to_string();
            } else {
                if ep.starts_with("https://") {
                    scheme.get_or_insert("https".into());
                }
                host = ep.strip_prefix("https://").unwrap_or(ep).to_string();
            }
        }
        if host.is_empty() || host.contains('/') || !valid(&path) {
            return Err(bad(&format!(
                "resolves to an invalid endpoint {host:?}, repository {path:?}"
            )));
        }
        let scheme = scheme.unwrap_or_else(|| {
            if is_loopback(&host) {
                "http".into()
            } else {
                "https".into()
            }
        });
        Ok(RepoRef {
            scheme,
            registry: host,
            repository: path,
            name,
        })
    }

    /// See [`parse_reference`].
    pub fn parse_reference(&self, s: &str) -> Result<(RepoRef, Target), RegistryError> {
        let s = s.strip_prefix("docker://").unwrap_or(s);
        refuse_userinfo(s)?;
        let scheme_len = s.find("://").map(|i| i + 3).unwrap_or(0);
        // The tag separator is a ':' after the last '/' (a ':' before it is a port).
        let split_tag = |n: &str| -> Option<(usize, String)> {
            let last_slash = n.rfind('/').unwrap_or(0).max(scheme_len);
            n[last_slash..]
                .rfind(':')
                .map(|i| (last_slash + i, n[last_slash + i + 1..].to_string()))
        };
        if let Some((repo, d)) = s.split_once('@') {
            let bad = |reason: String| RegistryError::Reference {
                input: redact(s),
                reason,
            };
            let hex = d
                .strip_prefix("sha256:")
                .ok_or_else(|| bad("only sha256 digests are supported".into()))?;
            let d = Sha256Hex::parse(hex).map_err(bad)?;
            // `name:tag@digest`: the digest decides, as Docker does.
            let repo = match split_tag(repo) {
                Some((i, _)) => &repo[..i],
                None => repo,
            };
            return Ok((self.parse_repository(repo)?, Target::Digest(d)));
        }
        match split_tag(s) {
            Some((i, tag)) => {
                let ok = !tag.is_empty()
                    && tag.len() <= 128
                    && !tag.starts_with(['.', '-'])
                    && tag
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
                if !ok {
                    return Err(RegistryError::Reference {
                        input: redact(s),
                        reason: format!("{tag:?} is not a valid tag"),
                    });
                }
                Ok((self.parse_repository(&s[..i])?, Target::Tag(tag)))
            }
            None => Ok((self.parse_repository(s)?, Target::Tag("latest".into()))),
        }
    }
}

/// A reference or repository with `user:secret@` before the host is refused, and the
/// secret is not repeated in the error: credentials come from the environment.
fn refuse_userinfo(s: &str) -> Result<(), RegistryError> {
    let rest = s.split_once("://").map_or(s, |(_, r)| r);
    // Without a '/', there is no host part (`python@sha256:…` is a name and a digest).
    let Some((authority, _)) = rest.split_once('/') else {
        return Ok(());
    };
    match authority.rsplit_once('@') {
        Some((_, host)) => Err(RegistryError::Reference {
            input: format!("…@{host}/…"),
            reason: format!(
                "must not carry credentials (user:secret@); give them in ${} (user:secret) instead",
                super::PULL_CREDENTIALS_ENV
            ),
        }),
        None => Ok(()),
    }
}

/// Parse a repository: `http://127.0.0.1:5000/a/b` (plain HTTP), `https://h/a/b`,
/// `h:5000/a/b` (HTTPS; plain HTTP for loopback hosts, as Docker does), `docker.io/x/y`,
/// `x/y` (→ `docker.io/x/y`), `y` (→ `docker.io/library/y`). Names are rewritten by
/// registries.conf ([`Resolver::from_env`]); docker.io has no built-in endpoint.
pub fn parse_repository(s: &str) -> Result<RepoRef, RegistryError> {
    Resolver::from_env()?.parse_repository(s)
}

/// `repo:tag`, `repo@sha256:…`, `repo:tag@sha256:…` (a leading `docker://` is accepted); no
/// tag means `latest`. A ':' before the last '/' is a port.
pub fn parse_reference(s: &str) -> Result<(RepoRef, Target), RegistryError> {
    Resolver::from_env()?.parse_reference(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPush {
    Existed,
    Mounted,
    Uploaded,
}

/// The largest answer of a token endpoint read (a token is a few KiB).
const TOKEN_ANSWER: u64 = 1 << 20;

const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// How requests are authorized, learned from the first challenge.
#[derive(Debug, Clone, Default)]
enum Auth {
    #[default]
    None,
    Basic,
    Bearer {
        token: String,
        /// The challenge it answered, to ask again with more scope.
        challenge: String,
        /// The mount source whose pull scope the token includes.
        extra_scope: Option<String>,
    },
}

/// How a request is sent.
#[derive(Clone, Copy)]
enum Mode<'m> {
    /// With the transport's retries (connection errors, 429, 5xx).
    Retried,
    /// Once: the caller knows how to recover (an upload chunk).
    Once,
    /// Retried, authorized to mount from this repository too.
    Mounting(&'m str),
}

/// A request body, rebuilt for every attempt.
#[derive(Clone)]
enum Payload<'b> {
    Empty,
    Bytes(&'b [u8]),
    /// A whole blob already read (handed over without a copy).
    Shared(bytes::Bytes),
    File {
        path: &'b Path,
        offset: u64,
        len: u64,
    },
}

impl Payload<'_> {
    /// The request with this body.
    fn attach(&self, b: RequestBuilder) -> Result<RequestBuilder, String> {
        Ok(match self {
            Payload::Empty => b,
            Payload::Bytes(x) => b.body(x.to_vec()),
            Payload::Shared(x) => b.body(x.clone()),
            Payload::File { path, offset, len } => {
                // Read into memory (at most one chunk): the blocking client streams a reader
                // in small pieces through a channel, several times slower than handing it the
                // bytes.
                let fail = |e: std::io::Error| format!("{}: {e}", path.display());
                let mut f = std::fs::File::open(path).map_err(fail)?;
                f.seek(SeekFrom::Start(*offset)).map_err(fail)?;
                let mut buf = Vec::with_capacity(*len as usize);
                f.take(*len).read_to_end(&mut buf).map_err(fail)?;
                if buf.len() as u64 != *len {
                    return Err(format!(
                        "{}: {} bytes at offset {offset}, expected {len} (file shrank)",
                        path.display(),
                        buf.len()
                    ));
                }
                b.body(buf)
            }
        })
    }
}

/// The whole file at `path`, which must be `size` bytes, read in pieces until `stop` is set
/// (then None).
fn read_ahead(path: &Path, size: u64, stop: &AtomicBool) -> std::io::Result<Option<bytes::Bytes>> {
    const PIECE: usize = 4 << 20;
    let mut f = std::fs::File::open(path)?;
    let mut buf = Vec::with_capacity(size as usize);
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let n = (&mut f).take(PIECE as u64).read_to_end(&mut buf)?;
        if n == 0 || buf.len() as u64 > size {
            break;
        }
    }
    if buf.len() as u64 != size {
        return Err(std::io::Error::other(format!(
            "{} bytes, expected {size}",
            buf.len()
        )));
    }
    Ok(Some(bytes::Bytes::from(buf)))
}

pub struct Registry<'a> {
    repo: RepoRef,
    creds: Option<Credentials>,
    t: &'a Client,
    auth: RefCell<Auth>,
    /// Blobs larger than this are uploaded in chunks of this size (default 64 MiB, as large
    /// as a failed chunk can cost; each chunk costs the registry a hash-state save and the
    /// client a round trip).
    pub chunk_size: u64,
}

impl<'a> Registry<'a> {
    pub fn new(repo: RepoRef, creds: Option<Credentials>, t: &'a Client) -> Self {
        let chunk_size = std::env::var("RELSIGN_OCI_CHUNK_SIZE")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(64 << 20);
        Registry {
            repo,
            creds,
            t,
            auth: RefCell::new(Auth::None),
            chunk_size,
        }
    }

    pub fn name(&self) -> &str {
        &self.repo.name
    }

    fn origin(&self) -> String {
        format!("{}://{}", self.repo.scheme, self.repo.registry)
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.origin(), self.repo.repository)
    }

    /// An upload Location, absolute or relative, with `extra` query parameters.
    fn location_url(&self, loc: &str, extra: &str) -> String {
        let base = resolve_href(&self.url("blobs/uploads/"), loc);
        if extra.is_empty() {
            base
        } else if base.contains('?') {
            format!("{base}&{extra}")
        } else {
            format!("{base}?{extra}")
        }
    }

    fn authorize(&self, b: RequestBuilder) -> RequestBuilder {
        match (&*self.auth.borrow(), &self.creds) {
            (Auth::Basic, Some(c)) => b.basic_auth(&c.username, Some(c.secret())),
            (Auth::Bearer { token, .. }, _) => b.bearer_auth(token),
            _ => b,
        }
    }

    /// Send with retries (5xx, 429, connection errors) and authentication: on 401 the
    /// challenge is answered (a token fetched again) and the request sent once more.
    fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Payload<'_>,
        mode: Mode<'_>,
        r: &dyn Reporter,
    ) -> Result<Response, RegistryError> {
        let (once, extra_scope) = match mode {
            Mode::Retried => (false, None),
            Mode::Once => (true, None),
            Mode::Mounting(src) => (false, Some(src)),
        };
        let mname = method.as_str().to_string();
        let make = || -> Result<RequestBuilder, String> {
            let mut b = self.t.client().request(method.clone(), url);
            for (k, v) in headers {
                b = b.header(*k, v);
            }
            Ok(self.authorize(body.attach(b)?))
        };
        // A mount needs pull access to the source: a token without it makes the registry
        // answer 202 (upload) instead of mounting, so ask for one that has it first.
        let reauth = match (&*self.auth.borrow(), extra_scope) {
            (
                Auth::Bearer {
                    challenge,
                    extra_scope: have,
                    ..
                },
                Some(want),
            ) if have.as_deref() != Some(want) => Some(challenge.clone()),
            _ => None,
        };
        if let Some(challenge) = reauth {
            self.answer(&challenge, extra_scope, r)?;
        }
        for round in 0..2 {
            let resp = if once {
                self.t.send_once(&mname, url, &make)?
            } else {
                self.t.send(&mname, url, r, &make)?
            };
            if resp.status().as_u16() != 401 || round == 1 {
                if resp.status().as_u16() == 401 {
                    return Err(RegistryError::Auth {
                        registry: self.repo.registry.clone(),
                        reason: format!(
                            "{mname} {} answered 401 after authenticating{}",
                            redact(url),
                            if self.creds.is_some() {
                                " (wrong credentials?)"
                            } else {
                                " (no credentials given)"
                            }
                        ),
                    });
                }
                return Ok(resp);
            }
            let challenge = resp
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            self.answer(&challenge, extra_scope, r)?;
        }
        unreachable!()
    }

    /// Answer a `WWW-Authenticate` challenge.
    fn answer(
        &self,
        challenge: &str,
        extra_scope: Option<&str>,
        r: &dyn Reporter,
    ) -> Result<(), RegistryError> {
        let (scheme, params) = parse_challenge(challenge);
        let fail = |reason: String| RegistryError::Auth {
            registry: self.repo.registry.clone(),
            reason,
        };
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                if self.creds.is_none() {
                    return Err(fail(
                        "the registry asks for a login and no credentials were given (publish: $RELSIGN_PUBLISH_<NAME> or the destination's `credentials`; verify and rebuild: $RELSIGN_REGISTRY_CREDENTIALS, user:secret)".into(),
                    ));
                }
                *self.auth.borrow_mut() = Auth::Basic;
                Ok(())
            }
            "bearer" => {
                let realm = params
                    .iter()
                    .find(|(k, _)| k == "realm")
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| {
                        fail(format!("Bearer challenge without a realm: {challenge}"))
                    })?;
                let actions = if self.creds.is_some() {
                    "pull,push"
                } else {
                    "pull"
                };
                let mut q: Vec<(String, String)> = Vec::new();
                if let Some((_, s)) = params.iter().find(|(k, _)| k == "service") {
                    q.push(("service".into(), s.clone()));
                }
                q.push((
                    "scope".into(),
                    format!("repository:{}:{actions}", self.repo.repository),
                ));
                if let Some(src) = extra_scope {
                    q.push(("scope".into(), format!("repository:{src}:pull")));
                }
                // The scope the registry says it needs, when it is not one of ours.
                if let Some((_, sc)) = params.iter().find(|(k, _)| k == "scope") {
                    for one in sc.split(' ').filter(|x| !x.is_empty()) {
                        if !q.iter().any(|(k, v)| k == "scope" && v == one) {
                            q.push(("scope".into(), one.to_string()));
                        }
                    }
                }
                r.info(&format!("authenticating at {}", redact(&realm)));
                let query: Vec<String> = q
                    .iter()
                    .map(|(k, v)| format!("{k}={}", query_escape(v)))
                    .collect();
                let url = format!(
                    "{realm}{}{}",
                    if realm.contains('?') { "&" } else { "?" },
                    query.join("&")
                );
                let make = || -> Result<RequestBuilder, String> {
                    let mut b = self.t.client().get(&url);
                    if let Some(c) = &self.creds {
                        b = b.basic_auth(&c.username, Some(c.secret()));
                    }
                    Ok(b)
                };
                let resp = self.t.send("GET", &url, r, &make)?;
                let status = resp.status().as_u16();
                if status != 200 {
                    return Err(fail(format!(
                        "token endpoint {} answered HTTP {status}",
                        redact(&realm)
                    )));
                }
                let bytes = crate::http::read_body(resp, "GET", &realm, TOKEN_ANSWER)?;
                let v = crate::json::value(&bytes, TOKEN_ANSWER)
                    .map_err(|e| fail(format!("token endpoint {}: {e}", redact(&realm))))?;
                let token = v["token"]
                    .as_str()
                    .or_else(|| v["access_token"].as_str())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        fail(format!("token endpoint {} gave no token", redact(&realm)))
                    })?;
                *self.auth.borrow_mut() = Auth::Bearer {
                    token: token.to_string(),
                    challenge: challenge.to_string(),
                    extra_scope: extra_scope.map(str::to_string),
                };
                Ok(())
            }
            _ => Err(fail(format!(
                "401 with an unsupported challenge {:?}",
                short(challenge)
            ))),
        }
    }

    /// GET /v2/: the registry answers and accepts the credentials.
    pub fn ping(&self, r: &dyn Reporter) -> Result<(), RegistryError> {
        let url = format!("{}/v2/", self.origin());
        let resp = self.send(Method::GET, &url, &[], Payload::Empty, Mode::Retried, r)?;
        if !resp.status().is_success() {
            return Err(status_error("GET", &url, resp));
        }
        // A registry may answer /v2/ anonymously and challenge only on the repository: ask
        // for the tag list too (404 is fine: the repository does not exist yet).
        let url = self.url("tags/list");
        let resp = self.send(Method::GET, &url, &[], Payload::Empty, Mode::Retried, r)?;
        if !(resp.status().is_success() || resp.status().as_u16() == 404) {
            return Err(status_error("GET", &url, resp));
        }
        Ok(())
    }

    /// HEAD the blob: its size when present.
    pub fn blob_exists(
        &self,
        d: &Sha256Hex,
        r: &dyn Reporter,
    ) -> Result<Option<u64>, RegistryError> {
        let url = self.url(&format!("blobs/sha256:{d}"));
        let resp = self.send(Method::HEAD, &url, &[], Payload::Empty, Mode::Retried, r)?;
        match resp.status().as_u16() {
            200 => Ok(Some(
                resp.headers()
                    .get("content-length")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            404 => Ok(None),
            _ => Err(status_error("HEAD", &url, resp)),
        }
    }

    /// Push one blob: HEAD first, then a cross-repository mount when `mount_from` names a
    /// repository of the same registry, then an upload (monolithic, or chunked above
    /// `chunk_size`, resumed from the registry's Range after a failed chunk).
    ///
    /// A chunk whose answer was lost may have been applied; the CNCF registry (and so Docker
    /// Hub and Harbor) then refuses the session's stale `_state` and drops the session. The
    /// blob starts again in a new session, with chunks twice as large each time, so a flaky
    /// link converges on fewer requests (a monolithic PUT, which a HEAD can confirm, at the
    /// end).
    pub fn push_blob(
        &self,
        d: &Sha256Hex,
        size: u64,
        path: &Path,
        mount_from: Option<&str>,
        r: &dyn Reporter,
    ) -> Result<BlobPush, RegistryError> {
        // At least 2 bytes: a one-byte session would read as empty (see session_size).
        let mut chunk = self.chunk_size.max(2);
        // A blob sent in one request is read while the registry is asked whether it has it
        // (a HEAD that finds it stops the read). A failed read-ahead is not an error here: the
        // request then reads the file itself and reports what is wrong with it.
        let stop = AtomicBool::new(false);
        let whole = std::thread::scope(|sc| {
            let ahead = (size <= chunk).then(|| sc.spawn(|| read_ahead(path, size, &stop)));
            let found = self.blob_exists(d, r);
            if !matches!(found, Ok(None)) {
                stop.store(true, Ordering::Relaxed);
            }
            let whole = ahead.and_then(|h| h.join().ok()).and_then(Result::ok);
            found.map(|f| (f, whole.flatten()))
        });
        let whole = match whole? {
            (Some(_), _) => return Ok(BlobPush::Existed),
            (None, whole) => whole,
        };
        self.t.again(|attempt, _| {
            let mount = if attempt == 1 { mount_from } else { None };
            let e = match self.upload_once(d, (size, path, whole.as_ref()), mount, chunk, r) {
                Ok(p) => return Attempt::Done(p),
                Err(e) => e,
            };
            // The upload may have landed before the connection dropped.
            match self.blob_exists(d, r) {
                Ok(Some(_)) => return Attempt::Done(BlobPush::Uploaded),
                Ok(None) => {}
                Err(e) => return Attempt::Fail(e),
            }
            chunk = chunk.saturating_mul(2);
            r.info(&format!(
                "blob sha256:{}: {e}; starting the upload again{}",
                &d.as_str()[..12],
                if size > chunk {
                    format!(" in chunks of {chunk} bytes")
                } else {
                    " in one request".into()
                }
            ));
            Attempt::Retry(e)
        })
    }

    /// One upload session: started (or the blob mounted), the bytes sent in one PUT or in
    /// chunks, the session completed.
    fn upload_once(
        &self,
        d: &Sha256Hex,
        (size, path, whole): (u64, &Path, Option<&bytes::Bytes>),
        mount_from: Option<&str>,
        chunk: u64,
        r: &dyn Reporter,
    ) -> Result<BlobPush, RegistryError> {
        let loc = match self.start_upload(d, mount_from, r)? {
            Started::Mounted => return Ok(BlobPush::Mounted),
            Started::Session(loc) => loc,
        };
        let digest_q = format!("digest=sha256:{d}");
        if size <= chunk {
            // Retried like any request (the file is re-opened): a repeat after a lost answer
            // finds the session gone (404), and the caller then finds the blob present.
            let put = self.location_url(&loc, &digest_q);
            let body = match whole {
                Some(b) => Payload::Shared(b.clone()),
                None => Payload::File {
                    path,
                    offset: 0,
                    len: size,
                },
            };
            self.put_expecting_201(&put, &[octet_stream()], body, r)?;
            return Ok(BlobPush::Uploaded);
        }
        let mut loc = loc;
        let mut offset = 0u64;
        while offset < size {
            (offset, loc) = self.push_chunk(d, size, path, chunk, offset, loc, r)?;
        }
        // Completing the session is safe to retry: a repeat after a lost answer finds the
        // session gone (404), and the caller then finds the blob present.
        let put = self.location_url(&loc, &digest_q);
        self.put_expecting_201(&put, &[("Content-Length", "0".into())], Payload::Empty, r)?;
        Ok(BlobPush::Uploaded)
    }

    /// POST for an upload session; with `mount_from`, asking the registry to mount the blob
    /// from that repository instead.
    fn start_upload(
        &self,
        d: &Sha256Hex,
        mount_from: Option<&str>,
        r: &dyn Reporter,
    ) -> Result<Started, RegistryError> {
        let mut url = self.url("blobs/uploads/");
        if let Some(src) = mount_from {
            url = format!("{url}?mount=sha256:{d}&from={src}");
        }
        let mode = match mount_from {
            Some(src) => Mode::Mounting(src),
            None => Mode::Retried,
        };
        let resp = self.send(
            Method::POST,
            &url,
            &[("Content-Length", "0".into())],
            Payload::Empty,
            mode,
            r,
        )?;
        let status = resp.status().as_u16();
        if status == 201 && mount_from.is_some() {
            return Ok(Started::Mounted);
        }
        if status != 202 {
            return Err(status_error("POST", &url, resp));
        }
        match location(&resp) {
            Some(loc) => Ok(Started::Session(loc)),
            None => {
                Err(HttpError::status_because("POST", &url, status, "no Location header").into())
            }
        }
    }

    /// Send the chunk at `offset` of the session at `loc` until the session holds more than
    /// `offset` bytes; returns what it holds and its Location. A PATCH is sent once (it is not
    /// idempotent): after a failure, the session is asked how much it holds and the next
    /// PATCH starts there. A lost session (404), or `attempts` failures, end the session (the
    /// caller starts a new one).
    #[allow(clippy::too_many_arguments)]
    fn push_chunk(
        &self,
        d: &Sha256Hex,
        size: u64,
        path: &Path,
        chunk: u64,
        offset: u64,
        loc: String,
        r: &dyn Reporter,
    ) -> Result<(u64, String), RegistryError> {
        let (mut offset, mut loc) = (offset, loc);
        // Why the last PATCH failed.
        let mut why = String::new();
        self.t.again(|attempt, last| {
            if attempt > 1 {
                let (held, next) = match self.session_status(&loc, r) {
                    Ok(v) => v,
                    Err(e) => return Attempt::Fail(e),
                };
                loc = next;
                r.info(&format!(
                    "blob sha256:{}: chunk at {offset} failed ({why}); the upload session \
                     holds {held} bytes, resuming there",
                    &d.as_str()[..12]
                ));
                offset = held;
                if offset >= size {
                    return Attempt::Done((offset, loc.clone()));
                }
            }
            let len = chunk.min(size - offset);
            let patch = self.location_url(&loc, "");
            let range = ("Content-Range", format!("{offset}-{}", offset + len - 1));
            let file = Payload::File { path, offset, len };
            let res = self.send(
                Method::PATCH,
                &patch,
                &[octet_stream(), range],
                file,
                Mode::Once,
                r,
            );
            let progressed = match &res {
                Ok(resp) if resp.status().as_u16() == 202 => {
                    let held = if resp.headers().contains_key("range") {
                        session_size(resp)
                    } else {
                        offset + len
                    };
                    (held > offset).then(|| (held, location(resp)))
                }
                _ => None,
            };
            if let Some((held, next)) = progressed {
                r.info(&format!(
                    "blob sha256:{}: {:.1} of {:.1} MiB",
                    &d.as_str()[..12],
                    held as f64 / (1u64 << 20) as f64,
                    size as f64 / (1u64 << 20) as f64
                ));
                return Attempt::Done((held, next.unwrap_or_else(|| loc.clone())));
            }
            Attempt::Retry(match res {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    why = format!("HTTP {status}");
                    // The answer's body is read for the error that is returned only.
                    if last {
                        status_error("PATCH", &patch, resp)
                    } else {
                        HttpError::status_because("PATCH", &patch, status, "").into()
                    }
                }
                Err(e) => {
                    why = e.to_string();
                    e
                }
            })
        })
    }

    /// How many bytes the upload session at `loc` holds, and its Location.
    fn session_status(&self, loc: &str, r: &dyn Reporter) -> Result<(u64, String), RegistryError> {
        let url = self.location_url(loc, "");
        let resp = self.send(Method::GET, &url, &[], Payload::Empty, Mode::Retried, r)?;
        if resp.status().as_u16() != 204 {
            return Err(status_error("GET", &url, resp));
        }
        let held = session_size(&resp);
        Ok((held, location(&resp).unwrap_or_else(|| loc.to_string())))
    }

    fn put_expecting_201(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Payload<'_>,
        r: &dyn Reporter,
    ) -> Result<(), RegistryError> {
        let resp = self.send(Method::PUT, url, headers, body, Mode::Retried, r)?;
        if resp.status().as_u16() != 201 {
            return Err(status_error("PUT", url, resp));
        }
        Ok(())
    }

    /// PUT a manifest under a tag or `sha256:…`; returns its digest.
    pub fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
        r: &dyn Reporter,
    ) -> Result<Sha256Hex, RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self.send(
            Method::PUT,
            &url,
            &[("Content-Type", media_type.to_string())],
            Payload::Bytes(bytes),
            Mode::Retried,
            r,
        )?;
        if !resp.status().is_success() {
            return Err(status_error("PUT", &url, resp));
        }
        let ours = Sha256Hex::of(bytes);
        if let Some(theirs) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
        {
            if theirs != format!("sha256:{ours}") {
                return Err(RegistryError::Digest {
                    what: format!("manifest {reference} at {}", self.repo.name),
                    expected: ours.to_string(),
                    got: theirs.to_string(),
                });
            }
        }
        Ok(ours)
    }

    /// GET a manifest (or index): (media type, bytes); None when absent.
    pub fn get_manifest(
        &self,
        reference: &str,
        r: &dyn Reporter,
    ) -> Result<Option<(String, Vec<u8>)>, RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self.send(
            Method::GET,
            &url,
            &[("Accept", ACCEPT.to_string())],
            Payload::Empty,
            Mode::Retried,
            r,
        )?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(status_error("GET", &url, resp));
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
        };
        let mt = header("content-type")
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_string())
            .unwrap_or_default();
        let announced = header("docker-content-digest");
        let bytes = crate::http::read_body(resp, "GET", &url, json::limit::OCI)?;
        let got = Sha256Hex::of(&bytes);
        // By digest: the bytes must hash to it. By tag: to what the registry announces.
        let expected = reference
            .strip_prefix("sha256:")
            .map(str::to_string)
            .or_else(|| announced.and_then(|a| a.strip_prefix("sha256:").map(str::to_string)));
        if let Some(hex) = expected {
            if got.as_str() != hex {
                return Err(RegistryError::Digest {
                    what: format!("manifest {reference} from {}", redact(&url)),
                    expected: hex,
                    got: got.to_string(),
                });
            }
        }
        let mt = if mt.is_empty() || mt == "application/json" {
            // Fall back on the manifest's own mediaType field.
            json::value(&bytes, json::limit::OCI)
                .ok()
                .and_then(|v| v["mediaType"].as_str().map(str::to_string))
                .unwrap_or(mt)
        } else {
            mt
        };
        Ok(Some((mt, bytes)))
    }

    /// Download a blob into `dest` (temp file in its directory, digest checked while
    /// streaming, fsynced, then renamed); a redirect to blob storage is followed without the
    /// registry's credentials. A transfer cut short is started again. Returns the size.
    pub fn fetch_blob(
        &self,
        d: &Sha256Hex,
        dest: &Path,
        r: &dyn Reporter,
    ) -> Result<u64, RegistryError> {
        self.again_if_cut(r, || {
            let dir = fsutil::parent_dir(dest);
            fsutil::create_dir_all(dir)?;
            let tmp = tempfile::NamedTempFile::new_in(dir)
                .map_err(fsutil::err("create a temp file in", dir))?;
            let (mut tmp, n) = self.stream_blob(d, tmp, r)?;
            tmp.flush()
                .and_then(|_| tmp.as_file().sync_all())
                .map_err(fsutil::err("write", dest))?;
            tmp.persist(dest)
                .map_err(|e| fsutil::err("rename into", dest)(e.error))?;
            Ok(n)
        })
    }

    /// Download a blob only to check its digest (the read-back): nothing is written.
    pub fn check_blob(&self, d: &Sha256Hex, r: &dyn Reporter) -> Result<u64, RegistryError> {
        self.again_if_cut(r, || Ok(self.stream_blob(d, std::io::sink(), r)?.1))
    }

    /// Run a whole blob transfer again when it is cut short (the connection drops mid-body).
    fn again_if_cut(
        &self,
        r: &dyn Reporter,
        once: impl Fn() -> Result<u64, RegistryError>,
    ) -> Result<u64, RegistryError> {
        self.t.again(|_, last| match once() {
            Ok(n) => Attempt::Done(n),
            Err(RegistryError::Http(e @ HttpError::Transport { .. })) if !last => {
                r.info(&format!("{e}; fetching the blob again"));
                Attempt::Retry(e.into())
            }
            Err(e) => Attempt::Fail(e),
        })
    }

    /// GET a blob (following redirects to blob storage) into `w`, its digest checked.
    fn stream_blob<W: Write>(
        &self,
        d: &Sha256Hex,
        w: W,
        r: &dyn Reporter,
    ) -> Result<(W, u64), RegistryError> {
        let url = self.url(&format!("blobs/sha256:{d}"));
        let mut resp = self.send(Method::GET, &url, &[], Payload::Empty, Mode::Retried, r)?;
        let mut from = url.clone();
        let mut hops = 0;
        while resp.status().is_redirection() {
            let Some(next) = location(&resp) else { break };
            let next = resolve_href(&from, &next);
            hops += 1;
            if hops > 5 {
                return Err(status_error("GET", &next, resp));
            }
            resp = self.t.get(&next, r)?;
            from = next;
        }
        if !resp.status().is_success() {
            return Err(status_error("GET", &from, resp));
        }
        let mut w = HashingWriter::new(w);
        std::io::copy(&mut resp, &mut w)
            .map_err(|e| HttpError::read("GET", &from, error_chain(&e), Some(1)))?;
        let (w, got, n) = w.finish();
        if got != *d {
            return Err(RegistryError::Digest {
                what: format!("blob from {}", redact(&from)),
                expected: d.to_string(),
                got: got.to_string(),
            });
        }
        Ok((w, n))
    }

    /// The referrers API: the descriptors of manifests whose subject is `subject`; None when the
    /// registry has no referrers API (404).
    pub fn referrers_api(
        &self,
        subject: &Sha256Hex,
        r: &dyn Reporter,
    ) -> Result<Option<Vec<Descriptor>>, RegistryError> {
        let url = self.url(&format!("referrers/sha256:{subject}"));
        let resp = self.send(
            Method::GET,
            &url,
            &[("Accept", oci::MEDIA_INDEX.to_string())],
            Payload::Empty,
            Mode::Retried,
            r,
        )?;
        let status = resp.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(status_error("GET", &url, resp));
        }
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if !ct.contains("json") {
            return Ok(None);
        }
        let body = crate::http::read_body(resp, "GET", &url, json::limit::OCI)?;
        match json::from_slice::<oci::Index>(&body, json::limit::OCI) {
            Ok(idx) => Ok(Some(idx.manifests)),
            Err(_) => Ok(None),
        }
    }

    /// The tag of the referrers fallback (OCI 1.1): `sha256-<hex>`.
    pub fn fallback_tag(subject: &Sha256Hex) -> String {
        format!("sha256-{subject}")
    }

    /// Add `add` to the image index at the fallback tag (creating it), keeping what is there
    /// and adding each descriptor once. Idempotent.
    pub fn merge_fallback_index(
        &self,
        subject: &Sha256Hex,
        add: &[Descriptor],
        r: &dyn Reporter,
    ) -> Result<(), RegistryError> {
        let tag = Self::fallback_tag(subject);
        let mut idx = match self.get_manifest(&tag, r)? {
            Some((_, b)) => json::from_slice::<oci::Index>(&b, json::limit::OCI).map_err(|e| {
                let url = self.url(&format!("manifests/{tag}"));
                HttpError::status_because("GET", &url, 200, &format!("not an image index: {e}"))
            })?,
            None => oci::Index {
                schema_version: 2,
                media_type: Some(oci::MEDIA_INDEX.into()),
                manifests: Vec::new(),
            },
        };
        let before = idx.manifests.len();
        for d in add {
            if !idx.manifests.iter().any(|m| m.digest == d.digest) {
                idx.manifests.push(d.clone());
            }
        }
        if idx.manifests.len() == before && before > 0 {
            return Ok(());
        }
        let bytes = crate::model::canonical_json(&idx);
        self.put_manifest(&tag, oci::MEDIA_INDEX, &bytes, r)?;
        Ok(())
    }

    /// Referrers of `subject`: from the API when the registry has one, else from the fallback
    /// tag, else none.
    pub fn list_referrers(
        &self,
        subject: &Sha256Hex,
        r: &dyn Reporter,
    ) -> Result<Vec<Descriptor>, RegistryError> {
        if let Some(v) = self.referrers_api(subject, r)? {
            return Ok(v);
        }
        match self.get_manifest(&Self::fallback_tag(subject), r)? {
            Some((_, b)) => Ok(json::from_slice::<oci::Index>(&b, json::limit::OCI)
                .map(|i| i.manifests)
                .unwrap_or_default()),
            None => Ok(Vec::new()),
        }
    }

    /// Pull an image into an OCI image layout at `dir` (blobs digest-checked, index.json last);
    /// returns the manifest digest.
    pub fn pull_layout(
        &self,
        target: &Target,
        dir: &Path,
        r: &dyn Reporter,
    ) -> Result<Sha256Hex, RegistryError> {
        let reference = match target {
            Target::Tag(t) => t.clone(),
            Target::Digest(d) => format!("sha256:{d}"),
        };
        let Some((mt, bytes)) = self.get_manifest(&reference, r)? else {
            let url = self.url(&format!("manifests/{reference}"));
            return Err(HttpError::status_because("GET", &url, 404, "no such manifest").into());
        };
        let digest = Sha256Hex::of(&bytes);
        let m: oci::Manifest = json::from_slice(&bytes, json::limit::OCI).map_err(|e| {
            let url = self.url(&format!("manifests/{reference}"));
            HttpError::status_because("GET", &url, 200, &format!("not an image manifest: {e}"))
        })?;
        let layout = oci::Layout::create(dir).map_err(|e| RegistryError::Config {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        for d in std::iter::once(&m.config).chain(&m.layers) {
            let hex = Sha256Hex::parse(d.hex()).map_err(|e| RegistryError::Reference {
                input: d.digest.clone(),
                reason: e,
            })?;
            self.fetch_blob(&hex, &layout.blob_path(hex.as_str()), r)?;
        }
        fsutil::write_atomic(&layout.blob_path(digest.as_str()), &bytes)?;
        let mut desc = Descriptor {
            media_type: if mt.is_empty() {
                m.media_type.clone()
            } else {
                mt
            },
            digest: format!("sha256:{digest}"),
            size: bytes.len() as u64,
            annotations: None,
            artifact_type: None,
        };
        if let Target::Tag(t) = target {
            desc.annotations = Some([(oci::REF_NAME.to_string(), t.clone())].into());
        }
        layout
            .write_index(vec![desc])
            .map_err(|e| RegistryError::Config {
                path: dir.to_path_buf(),
                reason: e.to_string(),
            })?;
        Ok(digest)
    }
}

/// How an upload session started.
enum Started {
    /// The registry mounted the blob from the other repository: nothing to send.
    Mounted,
    /// The session's Location.
    Session(String),
}

fn octet_stream() -> (&'static str, String) {
    ("Content-Type", "application/octet-stream".to_string())
}

/// An answer the registry should not have given, its body read into the error.
fn status_error(method: &str, url: &str, resp: Response) -> RegistryError {
    HttpError::status(method, url, resp).into()
}

/// Percent-encode a query value.
fn query_escape(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn location(resp: &Response) -> Option<String> {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The end of a `Range: 0-N` header.
fn range_end(resp: &Response) -> Option<u64> {
    resp.headers()
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().trim_start_matches("bytes=").split_once('-'))
        .and_then(|(_, e)| e.trim().parse().ok())
}

/// The bytes an upload session holds, from the `Range` of its status. The CNCF registry
/// answers `0-0` for an empty session (it cannot say "none" in that form); relsign never
/// leaves a session at exactly one byte (chunks are larger), so `0-0` is read as empty.
fn session_size(resp: &Response) -> u64 {
    match range_end(resp) {
        Some(0) | None => 0,
        Some(end) => end + 1,
    }
}

/// `Bearer realm="…",service="…",scope="a,b"` → ("Bearer", [(k, v)…]); quoted values may hold
/// commas.
pub fn parse_challenge(h: &str) -> (String, Vec<(String, String)>) {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut out = Vec::new();
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b',' || b[i].is_ascii_whitespace()) {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' {
            i += 1;
        }
        let key = rest[ks..i].trim().to_ascii_lowercase();
        i += 1;
        let mut val = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                val.push(b[i] as char);
                i += 1;
            }
            i += 1;
        } else {
            let vs = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            val = rest[vs.min(b.len())..i.min(b.len())].trim().to_string();
        }
        if !key.is_empty() {
            out.push((key, val));
        }
    }
    (scheme.to_string(), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_ahead_reads_the_whole_blob_or_stops_or_names_a_size_mismatch() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("blob");
        let data: Vec<u8> = (0..(9u32 << 20)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let go = AtomicBool::new(false);
        let got = read_ahead(&p, data.len() as u64, &go).unwrap().unwrap();
        assert_eq!(&got[..], &data[..]);
        let stop = AtomicBool::new(true);
        assert!(read_ahead(&p, data.len() as u64, &stop).unwrap().is_none());
        for size in [data.len() as u64 - 1, data.len() as u64 + 1] {
            let e = read_ahead(&p, size, &go).unwrap_err().to_string();
            assert!(e.contains(&format!("expected {size}")), "{e}");
        }
    }

    #[test]
    fn challenges_with_commas_in_quotes() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="http://127.0.0.1:1/token",service="reg",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(
            p,
            vec![
                ("realm".into(), "http://127.0.0.1:1/token".into()),
                ("service".into(), "reg".into()),
                ("scope".into(), "repository:a/b:pull,push".into()),
            ]
        );
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!((s.as_str(), p.len()), ("Basic", 1));
        // Unquoted values, escaped quotes, spaces after commas, key case.
        let (s, p) = parse_challenge(
            r#"bearer Realm=https://auth.example/token, service="a \"b\" c",scope=x"#,
        );
        assert_eq!(s, "bearer");
        assert_eq!(
            p,
            vec![
                ("realm".into(), "https://auth.example/token".into()),
                ("service".into(), r#"a "b" c"#.into()),
                ("scope".into(), "x".into()),
            ]
        );
        assert_eq!(parse_challenge("").1, vec![]);
    }

    fn none() -> Resolver {
        Resolver::default()
    }

    /// A registry's answers are untrusted: a manifest over the distribution spec's 4 MiB, or
    /// one with a key twice, is refused (before, any size was read and serde_json kept the last
    /// of two keys).
    #[test]
    fn a_registry_answer_over_its_limit_or_with_a_duplicate_key_is_refused() {
        let answer = |body: &[u8]| {
            let mut a = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
                oci::MEDIA_MANIFEST,
                body.len()
            )
            .into_bytes();
            a.extend(body);
            a
        };
        let dup = br#"{"schemaVersion":2,"schemaVersion":2,"config":{},"layers":[]}"#;
        let big = vec![b' '; (json::limit::OCI + 1) as usize];
        let port = crate::http::serve(vec![answer(dup), answer(&big)]);
        let t = Client::for_publish().unwrap();
        let repo = none()
            .parse_repository(&format!("http://127.0.0.1:{port}/relsign/demo"))
            .unwrap();
        let reg = Registry::new(repo, None, &t);
        let dir = tempfile::tempdir().unwrap();
        let quiet = crate::report::Silent;
        let e = reg
            .pull_layout(&Target::Tag("0.1.0".into()), dir.path(), &quiet)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("duplicate key") && e.contains("schemaVersion"),
            "{e}"
        );
        let e = reg.get_manifest("0.1.0", &quiet).unwrap_err().to_string();
        assert!(e.contains("over the limit of 4194304 bytes"), "{e}");
    }

    #[test]
    fn credentials_in_a_reference_are_refused_and_not_repeated() {
        for r in [
            "docker://alice:pw-XYZ@127.0.0.1:5000/relsign/demo:0.1.0",
            "http://alice:pw-XYZ@127.0.0.1:5000/relsign/demo",
        ] {
            let e = none().parse_reference(r).unwrap_err().to_string();
            assert!(e.contains("must not carry credentials"), "{e}");
            assert!(!e.contains("pw-XYZ") && !e.contains("alice"), "{e}");
        }
        // A digest after a short name is not userinfo.
        let (r, t) = none()
            .parse_reference(&format!("127.0.0.1:5000/x/y@sha256:{}", "a".repeat(64)))
            .unwrap();
        assert_eq!(r.repository, "x/y");
        assert!(matches!(t, Target::Digest(_)));
    }

    #[test]
    fn repositories_and_references() {
        let r = none()
            .parse_repository("http://127.0.0.1:5000/relsign/demo")
            .unwrap();
        assert_eq!(
            (
                r.scheme.as_str(),
                r.registry.as_str(),
                r.repository.as_str(),
                r.name.as_str()
            ),
            (
                "http",
                "127.0.0.1:5000",
                "relsign/demo",
                "127.0.0.1:5000/relsign/demo"
            )
        );
        let r = none().parse_repository("https://h.example/a/b/").unwrap();
        assert_eq!(
            (
                r.scheme.as_str(),
                r.registry.as_str(),
                r.repository.as_str()
            ),
            ("https", "h.example", "a/b")
        );
        // With a scheme the first component is the host, dots or not.
        let r = none().parse_repository("http://registry/a").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("registry", "a")
        );
        let r = none().parse_repository("h.example:5000/a/b").unwrap();
        assert_eq!(
            (r.scheme.as_str(), r.registry.as_str()),
            ("https", "h.example:5000")
        );
        let r = none().parse_repository("localhost:5000/x").unwrap();
        assert_eq!(
            r.scheme, "http",
            "loopback is plain HTTP, as Docker treats it"
        );
        assert_eq!(
            none().parse_repository("[::1]:5000/x").unwrap().scheme,
            "http"
        );
        for bad in [
            "Registry.example/A",
            "h.example/a//b",
            "h.example/",
            "http://h.example",
            "h.example/a@b",
            "",
        ] {
            assert!(none().parse_repository(bad).is_err(), "{bad:?}");
        }
        let e = none()
            .parse_repository("https://user:pw@h.example/A")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("pw"), "{e}");

        let (r, t) = none()
            .parse_reference("docker://127.0.0.1:5000/a/b:0.1.0")
            .unwrap();
        assert_eq!(
            (r.repository.as_str(), t),
            ("a/b", Target::Tag("0.1.0".into()))
        );
        let (r, t) = none().parse_reference("127.0.0.1:5000/a/b").unwrap();
        assert_eq!(
            (r.registry.as_str(), t),
            ("127.0.0.1:5000", Target::Tag("latest".into()))
        );
        let (r, t) = none()
            .parse_reference("http://127.0.0.1:5000/a:v1")
            .unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), t),
            ("127.0.0.1:5000", "a", Target::Tag("v1".into()))
        );
        let d = "a".repeat(64);
        let want = Target::Digest(Sha256Hex::parse(&d).unwrap());
        let (r, t) = none()
            .parse_reference(&format!("http://127.0.0.1:5000/a@sha256:{d}"))
            .unwrap();
        assert_eq!((r.repository.as_str(), &t), ("a", &want));
        let (r, t) = none()
            .parse_reference(&format!("127.0.0.1:5000/a/b:v1@sha256:{d}"))
            .unwrap();
        assert_eq!((r.repository.as_str(), &t), ("a/b", &want));
        for bad in [
            format!("h.example/a@sha512:{d}"),
            "h.example/a@sha256:abc".to_string(),
            "h.example/a:".to_string(),
            "h.example/a:-x".to_string(),
            "h.example/a:b/c".to_string(),
            format!("h.example/a:{}", "t".repeat(129)),
        ] {
            assert!(none().parse_reference(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn docker_io_names_go_where_registries_conf_says() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("registries.conf");
        std::fs::write(
            &conf,
            "unqualified-search-registries = [\"docker.io\"]\n\
             [[registry]]\nprefix = \"docker.io\"\nlocation = \"127.0.0.1:5999\"\ninsecure = true\n\
             [[registry]]\nprefix = \"docker.io/relsign\"\nlocation = \"mirror.example/hub/relsign\"\n\
             [[registry]]\nlocation = \"quay.example\"\ninsecure = true\n",
        )
        .unwrap();
        let res = Resolver::from_file(&conf).unwrap();
        assert_eq!(res.registries.len(), 3);
        let r = res.parse_repository("docassemble/docassemble").unwrap();
        assert_eq!(r.name, "docker.io/docassemble/docassemble");
        assert_eq!(
            (
                r.scheme.as_str(),
                r.registry.as_str(),
                r.repository.as_str()
            ),
            ("http", "127.0.0.1:5999", "docassemble/docassemble")
        );
        let r = res.parse_repository("python").unwrap();
        assert_eq!(
            (r.name.as_str(), r.repository.as_str()),
            ("docker.io/library/python", "library/python")
        );
        let r = res.parse_repository("docker.io/library/python").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5999");
        // The longest prefix wins; not insecure → https.
        let (r, t) = res.parse_reference("relsign/demo:0.1.0").unwrap();
        assert_eq!(
            (
                r.scheme.as_str(),
                r.registry.as_str(),
                r.repository.as_str(),
                r.name.as_str()
            ),
            (
                "https",
                "mirror.example",
                "hub/relsign/demo",
                "docker.io/relsign/demo"
            )
        );
        assert_eq!(t, Target::Tag("0.1.0".into()));
        // "docker.io/relsignx" is not under the prefix "docker.io/relsign".
        assert_eq!(
            res.parse_repository("relsignx/a").unwrap().registry,
            "127.0.0.1:5999"
        );
        // A location without a prefix is its own prefix; any registry name is rewritten.
        let r = res.parse_repository("quay.example/org/x").unwrap();
        assert_eq!(
            (r.scheme.as_str(), r.registry.as_str()),
            ("http", "quay.example")
        );
        // An explicit scheme is kept.
        let r = res.parse_repository("https://quay.example/org/x").unwrap();
        assert_eq!(r.scheme, "https");

        // No registries.conf and no endpoint: a clear error, no address guessed.
        let empty = Resolver::from_file(&dir.path().join("none.conf")).unwrap();
        assert_eq!(empty, Resolver::default());
        let e = empty
            .parse_repository("docker.io/x/y")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("registries.conf") && e.contains("RELSIGN_DOCKER_IO_ENDPOINT"),
            "{e}"
        );
        let ep = Resolver {
            docker_io_endpoint: Some("http://127.0.0.1:6000/".into()),
            ..Resolver::default()
        };
        let r = ep.parse_repository("x").unwrap();
        assert_eq!(
            (
                r.scheme.as_str(),
                r.registry.as_str(),
                r.repository.as_str()
            ),
            ("http", "127.0.0.1:6000", "library/x")
        );
        let ep = Resolver {
            docker_io_endpoint: Some("hub.example".into()),
            ..Resolver::default()
        };
        assert_eq!(ep.parse_repository("x/y").unwrap().scheme, "https");

        // A malformed registries.conf is an error naming the file.
        std::fs::write(&conf, "[[registry]]\nprefix = 3\n").unwrap();
        let e = Resolver::from_file(&conf).unwrap_err().to_string();
        assert!(e.contains("registries.conf") && e.contains("prefix"), "{e}");
        std::fs::write(&conf, "[[registry]\n").unwrap();
        assert!(Resolver::from_file(&conf).is_err());
    }
}
