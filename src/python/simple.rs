//! PEP 503 simple repository pages: parsing project pages (anchors with `#sha256=` fragments,
//! `data-requires-python` and `data-yanked` per PEPs 345/592) and writing them for an export.

use crate::digest::Sha256Hex;
use crate::fetch::resolve_href;

/// One file offered on a project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLink {
    /// The file name (last path segment of the URL, percent-decoded).
    pub filename: String,
    /// Absolute URL without the fragment.
    pub url: String,
    /// From a `#sha256=` fragment.
    pub sha256: Option<Sha256Hex>,
    /// `data-requires-python`, unescaped.
    pub requires_python: Option<String>,
    /// `data-yanked`: Some(reason) when yanked (the reason may be empty).
    pub yanked: Option<String>,
}

/// Decode the HTML character references found in attribute values and text.
pub fn html_unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let ent = &rest[1..e];
            let c = match ent {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => {
                    if let Some(h) = ent.strip_prefix("#x").or_else(|| ent.strip_prefix("#X")) {
                        u32::from_str_radix(h, 16).ok().and_then(char::from_u32)
                    } else if let Some(d) = ent.strip_prefix('#') {
                        d.parse().ok().and_then(char::from_u32)
                    } else {
                        None
                    }
                }
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escape text for an HTML attribute or element.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encode a file name for use in an href. `+` and `!` (local versions, epochs) stay
/// literal: they are valid in a URL path, and `file://` readers that do not decode still work.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~+!".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parse the attributes of a start tag body (`a href="..." data-yanked`).
fn attributes(tag: &str) -> Vec<(String, Option<String>)> {
    let b = tag.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        if start == i {
            i += 1;
            continue;
        }
        let name = tag[start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let value = if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let vs = i + 1;
                let ve = tag[vs..].find(q as char).map(|e| vs + e).unwrap_or(b.len());
                i = (ve + 1).min(b.len());
                &tag[vs..ve]
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                &tag[vs..i]
            };
            out.push((name, Some(html_unescape(value))));
        } else {
            out.push((name, None));
        }
    }
    out
}

/// Parse a PEP 503 project page fetched from `page_url`.
pub fn parse_project_page(html: &str, page_url: &str) -> Vec<FileLink> {
    let lower = html.to_ascii_lowercase();
    let mut links = Vec::new();
    let mut pos = 0;
    while let Some(i) = lower[pos..].find("<a") {
        let start = pos + i + 2;
        pos = start;
        if !lower[start..].starts_with(|c: char| c.is_ascii_whitespace()) {
            continue;
        }
        let Some(end) = html[start..].find('>') else {
            break;
        };
        let tag = &html[start..start + end];
        pos = start + end + 1;
        let attrs = attributes(tag);
        let get = |n: &str| attrs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let Some(Some(href)) = get("href") else {
            continue;
        };
        let abs = resolve_href(page_url, href.trim());
        let (url, fragment) = match abs.split_once('#') {
            Some((u, f)) => (u.to_string(), Some(f.to_string())),
            None => (abs, None),
        };
        let sha256 = fragment
            .as_deref()
            .and_then(|f| f.strip_prefix("sha256="))
            .and_then(|h| Sha256Hex::parse(h).ok());
        let path = url.split(['?']).next().unwrap_or(&url);
        let filename = percent_decode(path.rsplit('/').next().unwrap_or(""));
        if filename.is_empty() {
            continue;
        }
        let requires_python = get("data-requires-python")
            .flatten()
            .filter(|s| !s.trim().is_empty());
        let yanked = get("data-yanked").map(|v| v.unwrap_or_default());
        links.push(FileLink {
            filename,
            url,
            sha256,
            requires_python,
            yanked,
        });
    }
    links
}

/// A project page listing `files` as (file name, href including any fragment).
pub fn render_project_page(project: &str, files: &[(String, String)]) -> String {
    let mut s = String::from("<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.0\">\n");
    s.push_str(&format!(
        "    <title>Links for {}</title>\n  </head>\n  <body>\n    <h1>Links for {}</h1>\n",
        html_escape(project),
        html_escape(project)
    ));
    for (name, href) in files {
        s.push_str(&format!(
            "    <a href=\"{}\">{}</a><br/>\n",
            html_escape(href),
            html_escape(name)
        ));
    }
    s.push_str("  </body>\n</html>\n");
    s
}

/// The root page listing `projects` (normalized names).
pub fn render_root_page(projects: &[String]) -> String {
    let mut s = String::from("<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.0\">\n    <title>Simple index</title>\n  </head>\n  <body>\n");
    for p in projects {
        s.push_str(&format!(
            "    <a href=\"{}/\">{}</a><br/>\n",
            percent_encode(p),
            html_escape(p)
        ));
    }
    s.push_str("  </body>\n</html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_anchors() {
        let h = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";
        let html = format!(
            r#"<html><body>
<a href="https://files.example/p/1a/click-8.1.8-py3-none-any.whl#sha256={h}" data-requires-python="&gt;=3.7" >click-8.1.8-py3-none-any.whl</a><br/>
<A HREF='../../files/click-8.1.8.tar.gz' data-yanked>click-8.1.8.tar.gz</A>
<a href="/x/click-8.0%2Blocal-py3-none-any.whl#md5=00" data-yanked="broken &amp; bad">x</a>
<abbr>not a link</abbr><a name="nohref">y</a>
</body></html>"#
        );
        let links = parse_project_page(&html, "https://idx.example/simple/click/");
        assert_eq!(links.len(), 3);
        assert_eq!(links[0].filename, "click-8.1.8-py3-none-any.whl");
        assert_eq!(links[0].sha256.as_ref().unwrap().as_str(), h);
        assert_eq!(links[0].requires_python.as_deref(), Some(">=3.7"));
        assert_eq!(links[0].yanked, None);
        assert_eq!(links[1].url, "https://idx.example/files/click-8.1.8.tar.gz");
        assert_eq!(links[1].yanked.as_deref(), Some(""));
        assert_eq!(links[2].filename, "click-8.0+local-py3-none-any.whl");
        assert_eq!(
            links[2].url,
            "https://idx.example/x/click-8.0%2Blocal-py3-none-any.whl"
        );
        assert_eq!(links[2].sha256, None);
        assert_eq!(links[2].yanked.as_deref(), Some("broken & bad"));
    }

    #[test]
    fn rendered_page_parses_back() {
        let h = Sha256Hex::of(b"x");
        let href = format!(
            "../../files/{}#sha256={h}",
            percent_encode("a-1.0+l-py3-none-any.whl")
        );
        let page = render_project_page("a", &[("a-1.0+l-py3-none-any.whl".into(), href)]);
        let links = parse_project_page(&page, "file:///m/simple/a/");
        assert_eq!(links[0].filename, "a-1.0+l-py3-none-any.whl");
        assert_eq!(links[0].url, "file:///m/files/a-1.0+l-py3-none-any.whl");
        assert_eq!(links[0].sha256, Some(h));
        assert!(render_root_page(&["a".into()]).contains("href=\"a/\""));
    }
}
