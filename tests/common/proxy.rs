//! A loopback HTTP/1.1 reverse proxy for the tests, in front of a backend on 127.0.0.1:
//! - faults: drops connections (before forwarding, or after forwarding and before answering),
//!   answers 429 with `Retry-After: 1`, or 500/502/503, at seeded random;
//! - a Bearer token gate: a token server at `/token` (basic credentials), tokens that expire
//!   after a number of requests, and `401` + `WWW-Authenticate: Bearer …` without one.
//!
//! One request per connection (`Connection: close`); bodies with Content-Length or chunked
//! encoding are read whole and forwarded with a Content-Length. The Host header is passed on,
//! so the backend builds Location URLs that point at the proxy. Stopped when dropped.

use base64::Engine;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Close the connection without forwarding.
    pub drop_before: f64,
    /// Forward, then close without relaying the answer (the request took effect).
    pub drop_after: f64,
    /// Answer 429 with Retry-After: 1.
    pub too_many: f64,
    /// Answer 500, 502 or 503.
    pub server_error: f64,
}

impl Faults {
    /// About 30% of requests fail: 10% dropped before, 10% after forwarding, 5% 429, 5% 5xx.
    pub fn thirty_percent() -> Faults {
        Faults {
            drop_before: 0.10,
            drop_after: 0.10,
            too_many: 0.05,
            server_error: 0.05,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TokenGate {
    pub user: String,
    pub pass: String,
    /// A token is good for this many requests.
    pub requests_per_token: u64,
}

#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub dropped_before: AtomicU64,
    pub dropped_after: AtomicU64,
    pub too_many: AtomicU64,
    pub server_errors: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub unauthorized: AtomicU64,
    pub tokens_expired: AtomicU64,
}

impl Counters {
    pub fn get(&self, c: &AtomicU64) -> u64 {
        c.load(Ordering::SeqCst)
    }
}

struct State {
    rng: u64,
    /// token → requests left.
    tokens: Vec<(String, u64)>,
    issued: u64,
}

pub struct Proxy {
    pub port: u16,
    pub counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(backend: u16, faults: Faults, gate: Option<TokenGate>, seed: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Mutex::new(State {
            rng: seed | 1,
            tokens: Vec::new(),
            issued: 0,
        }));
        let (c, s) = (counters.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (c, st, f, g) = (c.clone(), state.clone(), faults.clone(), gate.clone());
                std::thread::spawn(move || {
                    let _ = handle(conn, backend, port, &f, g.as_ref(), &c, &st);
                });
            }
        });
        Proxy {
            port,
            counters,
            stop,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn faults_injected(&self) -> u64 {
        let c = &self.counters;
        c.get(&c.dropped_before)
            + c.get(&c.dropped_after)
            + c.get(&c.too_many)
            + c.get(&c.server_errors)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

struct Message {
    head: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Read a request or response; `no_body` for answers to HEAD and 1xx/204/304.
fn read_message(r: &mut BufReader<TcpStream>, response_to_head: bool) -> std::io::Result<Message> {
    let mut head = String::new();
    r.read_line(&mut head)?;
    if head.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "no message",
        ));
    }
    let head = head.trim_end().to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut m = Message {
        head,
        headers,
        body: Vec::new(),
    };
    let status: u16 = m
        .head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let is_response = m.head.starts_with("HTTP/");
    if is_response && (response_to_head || status == 204 || status == 304 || status < 200) {
        return Ok(m);
    }
    if m.header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            if n == 0 {
                let mut crlf = String::new();
                r.read_line(&mut crlf)?;
                break;
            }
            let mut buf = vec![0; n + 2];
            r.read_exact(&mut buf)?;
            buf.truncate(n);
            m.body.extend(buf);
        }
    } else if let Some(n) = m
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut buf = vec![0; n];
        r.read_exact(&mut buf)?;
        m.body = buf;
    } else if is_response {
        r.read_to_end(&mut m.body)?;
    }
    Ok(m)
}

fn write_message(w: &mut TcpStream, m: &Message, keep_length: bool) -> std::io::Result<()> {
    let mut out = format!("{}\r\n", m.head);
    for (k, v) in &m.headers {
        let k_l = k.to_ascii_lowercase();
        if k_l == "connection" || k_l == "transfer-encoding" || k_l == "keep-alive" {
            continue;
        }
        if k_l == "content-length" && !keep_length {
            continue;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !keep_length {
        out.push_str(&format!("Content-Length: {}\r\n", m.body.len()));
    }
    out.push_str("Connection: close\r\n\r\n");
    w.write_all(out.as_bytes())?;
    w.write_all(&m.body)?;
    w.flush()
}

fn respond(
    w: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let m = Message {
        head: format!("HTTP/1.1 {status}"),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        body: body.to_vec(),
    };
    write_message(w, &m, false)
}

fn roll(st: &Mutex<State>) -> f64 {
    let mut s = st.lock().unwrap();
    s.rng ^= s.rng << 13;
    s.rng ^= s.rng >> 7;
    s.rng ^= s.rng << 17;
    (s.rng >> 11) as f64 / (1u64 << 53) as f64
}

fn handle(
    client: TcpStream,
    backend: u16,
    port: u16,
    f: &Faults,
    gate: Option<&TokenGate>,
    c: &Counters,
    st: &Mutex<State>,
) -> std::io::Result<()> {
    let mut w = client.try_clone()?;
    let mut r = BufReader::new(client);
    let mut req = read_message(&mut r, false)?;
    c.requests.fetch_add(1, Ordering::SeqCst);
    let method = req.head.split(' ').next().unwrap_or("").to_string();
    let path = req.head.split(' ').nth(1).unwrap_or("").to_string();

    if let Some(g) = gate {
        if path.starts_with("/token") {
            let want = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", g.user, g.pass))
            );
            if req.header("authorization") != Some(want.as_str()) {
                c.unauthorized.fetch_add(1, Ordering::SeqCst);
                return respond(
                    &mut w,
                    "401 Unauthorized",
                    &[],
                    b"{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}",
                );
            }
            let token = {
                let mut s = st.lock().unwrap();
                s.issued += 1;
                let t = format!("relsign-test-token-{}", s.issued);
                s.tokens.push((t.clone(), g.requests_per_token));
                t
            };
            c.tokens_issued.fetch_add(1, Ordering::SeqCst);
            let body = format!("{{\"token\":\"{token}\",\"expires_in\":60}}");
            return respond(
                &mut w,
                "200 OK",
                &[("Content-Type", "application/json".into())],
                body.as_bytes(),
            );
        }
        let presented = req
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string);
        let ok = {
            let mut s = st.lock().unwrap();
            match presented.and_then(|t| s.tokens.iter_mut().find(|(x, _)| *x == t)) {
                Some((_, left)) if *left > 0 => {
                    *left -= 1;
                    true
                }
                Some(_) => {
                    c.tokens_expired.fetch_add(1, Ordering::SeqCst);
                    false
                }
                None => false,
            }
        };
        if !ok {
            c.unauthorized.fetch_add(1, Ordering::SeqCst);
            let challenge = format!(
                "Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"relsign-test\",scope=\"repository:relsign/demo:pull,push\""
            );
            return respond(
                &mut w,
                "401 Unauthorized",
                &[
                    ("WWW-Authenticate", challenge),
                    ("Content-Type", "application/json".into()),
                ],
                b"{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}",
            );
        }
        req.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
    }

    let x = roll(st);
    let mut edge = f.drop_before;
    if x < edge {
        c.dropped_before.fetch_add(1, Ordering::SeqCst);
        return Ok(());
    }
    edge += f.too_many;
    if x < edge {
        c.too_many.fetch_add(1, Ordering::SeqCst);
        return respond(
            &mut w,
            "429 Too Many Requests",
            &[("Retry-After", "1".into())],
            b"slow down",
        );
    }
    edge += f.server_error;
    if x < edge {
        c.server_errors.fetch_add(1, Ordering::SeqCst);
        let status = [
            "500 Internal Server Error",
            "502 Bad Gateway",
            "503 Service Unavailable",
        ][(x * 1000.0) as usize % 3];
        return respond(&mut w, status, &[], b"injected");
    }
    let drop_after = x < edge + f.drop_after;

    let up = TcpStream::connect(("127.0.0.1", backend))?;
    let mut upw = up.try_clone()?;
    write_message(&mut upw, &req, false)?;
    let mut upr = BufReader::new(up);
    let resp = read_message(&mut upr, method == "HEAD")?;
    if drop_after {
        c.dropped_after.fetch_add(1, Ordering::SeqCst);
        return Ok(());
    }
    // Answers to HEAD keep the backend's Content-Length (there is no body to count).
    write_message(&mut w, &resp, method == "HEAD")
}
