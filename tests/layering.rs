//! The house stays drawn (README, "Architecture"): the modules' imports form no circle, between
//! files or between top-level modules, and no function outside tests is longer than 120
//! lines (in src/ and in xtask/src/). Read from the sources themselves: every `crate::`,
//! `super::`, `self::` path and every path through a declared child module, with comments and
//! string literals removed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FN_LINES: usize = 120;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The repository root (the root crate's directory; xtask/ is inside it).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Blank out string/char literals and comments, keeping line structure.
fn strip(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == b'\n' {
                        out.push(b'\n');
                    }
                    i += 1;
                }
            }
        } else if c == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && !(i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // raw string r"…", r#"…"#
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"'
                    && b[j + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == b'#')
                        .count()
                        == hashes
                {
                    j += 1 + hashes;
                    break;
                }
                if b[j] == b'\n' {
                    out.push(b'\n');
                }
                j += 1;
            }
            out.extend_from_slice(b"\"\"");
            i = j;
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if i < b.len() && b[i] == b'\n' {
                    out.push(b'\n');
                }
                i += 1;
            }
            i += 1;
            out.extend_from_slice(b"\"\"");
        } else if c == b'\'' {
            // a char literal ('x', '\n', '\u{..}') or a lifetime ('a)
            let end = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&x| x == b'\'')
                    .map(|p| i + 2 + p)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    out.extend_from_slice(b"' '");
                    i = e + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The text without its `#[cfg(test)]` items (a test module, a test-only helper or import),
/// each blanked to its newlines so line numbers stay; the text must already be stripped.
fn without_tests(s: &str) -> String {
    const ATTR: &str = "#[cfg(test)]";
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(ATTR) {
        out.push_str(&rest[..i]);
        let item = &rest[i..];
        // The item ends at its first `;` before any `{`, or at the brace that closes its block.
        let mut depth = 0usize;
        let mut end = item.len();
        for (k, c) in item.char_indices().skip(ATTR.len()) {
            match c {
                ';' if depth == 0 => {
                    end = k + 1;
                    break;
                }
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.extend(item[..end].chars().filter(|&c| c == '\n'));
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

struct Crate {
    /// module path ("a::b") -> file
    files: BTreeMap<String, PathBuf>,
}

/// The modules of a crate rooted at `root_file`, following `mod x;` declarations.
fn modules(root_file: &Path) -> Crate {
    let mut files = BTreeMap::new();
    let mut todo = vec![(String::new(), root_file.to_path_buf())];
    while let Some((path, file)) = todo.pop() {
        let text = strip(&std::fs::read_to_string(&file).unwrap());
        if !path.is_empty() {
            files.insert(path.clone(), file.clone());
        }
        let dir = if path.is_empty() || file.file_name().unwrap() == "mod.rs" {
            file.parent().unwrap().to_path_buf()
        } else {
            file.with_extension("")
        };
        for child in declared_children(&without_tests(&text)) {
            let a = dir.join(format!("{child}.rs"));
            let b = dir.join(&child).join("mod.rs");
            let f = if a.exists() { a } else { b };
            if f.exists() {
                let p = if path.is_empty() {
                    child
                } else {
                    format!("{path}::{child}")
                };
                todo.push((p, f));
            }
        }
    }
    Crate { files }
}

fn declared_children(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        let t = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub(super) "))
            .or_else(|| t.strip_prefix("pub "))
            .unwrap_or(t);
        if let Some(rest) = t.strip_prefix("mod ") {
            if let Some(name) = rest.strip_suffix(';') {
                out.push(name.trim().to_string());
            }
        }
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Expand a path that may continue with `::{a, b::c, {d}}` into plain paths.
fn expand(base: &str, rest: &str, out: &mut Vec<String>) {
    // rest starts right after `base`
    if let Some(r) = rest.strip_prefix("::{") {
        let mut depth = 1;
        let mut cur = String::new();
        let mut items = Vec::new();
        for ch in r.chars() {
            match ch {
                '{' => {
                    depth += 1;
                    cur.push(ch)
                }
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        items.push(std::mem::take(&mut cur));
                        break;
                    }
                    cur.push(ch)
                }
                ',' if depth == 1 => items.push(std::mem::take(&mut cur)),
                _ => cur.push(ch),
            }
        }
        for item in items {
            let item: String = item.split_whitespace().collect::<Vec<_>>().join(" ");
            let item = item.split(" as ").next().unwrap_or("").trim().to_string();
            if item.is_empty() || item == "self" || item == "*" {
                out.push(base.to_string());
                continue;
            }
            let head = ident_at(&item).to_string();
            let after = &item[head.len()..];
            let nb = format!("{base}::{head}");
            if after.starts_with("::") {
                // walk the rest of the item
                let mut p = nb.clone();
                let mut a = after;
                while let Some(x) = a.strip_prefix("::") {
                    if x.starts_with('{') {
                        expand(&p, a, out);
                        break;
                    }
                    let id = ident_at(x);
                    p = format!("{p}::{id}");
                    a = &x[id.len()..];
                }
                out.push(p);
            } else {
                out.push(nb);
            }
        }
    } else {
        out.push(base.to_string());
    }
}

/// Every module path a file refers to (before resolution), from `prefix::` occurrences.
fn paths_after(text: &str, prefix: &str, out: &mut Vec<String>) {
    let mut start = 0;
    while let Some(pos) = text[start..].find(prefix) {
        let at = start + pos;
        start = at + prefix.len();
        let before = text[..at].chars().last();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut p = String::new();
        let mut rest = &text[at + prefix.len()..];
        loop {
            if rest.starts_with('{') {
                break;
            }
            let id = ident_at(rest);
            if id.is_empty() {
                break;
            }
            p = if p.is_empty() {
                id.to_string()
            } else {
                format!("{p}::{id}")
            };
            rest = &rest[id.len()..];
            if rest.starts_with("::{") {
                break;
            }
            match rest.strip_prefix("::") {
                Some(r) => rest = r,
                None => break,
            }
        }
        if rest.starts_with("::{") || rest.starts_with('{') {
            let r = if rest.starts_with('{') {
                format!("::{rest}")
            } else {
                rest.to_string()
            };
            expand(&p, &r, out);
        } else if !p.is_empty() {
            out.push(p);
        }
    }
}

fn resolve(c: &Crate, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    (1..=parts.len())
        .rev()
        .map(|k| parts[..k].join("::"))
        .find(|p| c.files.contains_key(p))
}

fn graph(c: &Crate) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, file) in &c.files {
        let full = strip(&std::fs::read_to_string(file).unwrap());
        let text = &without_tests(&full);
        let parent: Vec<&str> = {
            let v: Vec<&str> = m.split("::").collect();
            v[..v.len() - 1].to_vec()
        };
        let mut raw = Vec::new();
        paths_after(text, "crate::", &mut raw);
        let mut targets: Vec<String> = raw;
        let mut sup = Vec::new();
        paths_after(text, "super::", &mut sup);
        for p in sup {
            let mut base = parent.clone();
            base.push(&p);
            targets.push(base.join("::"));
        }
        let mut own = Vec::new();
        paths_after(text, "self::", &mut own);
        for child in declared_children(text) {
            paths_after(text, &format!("{child}::"), &mut own);
            own.retain(|_| true);
            let mut extra = Vec::new();
            paths_after(text, &format!("{child}::"), &mut extra);
            for e in extra {
                targets.push(format!("{m}::{child}::{e}"));
            }
        }
        for p in own {
            targets.push(format!("{m}::{p}"));
        }
        for t in targets {
            if let Some(r) = resolve(c, &t) {
                if &r != m {
                    edges.entry(m.clone()).or_default().insert(r);
                }
            }
        }
    }
    edges
}

fn cycles(
    nodes: &BTreeSet<String>,
    edges: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<Vec<String>> {
    // Tarjan's strongly connected components.
    struct S<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on: BTreeSet<String>,
        out: Vec<Vec<String>>,
        next: usize,
    }
    fn visit(s: &mut S, v: &str) {
        s.index.insert(v.into(), s.next);
        s.low.insert(v.into(), s.next);
        s.next += 1;
        s.stack.push(v.into());
        s.on.insert(v.into());
        let ws: Vec<String> = s
            .edges
            .get(v)
            .map(|x| x.iter().cloned().collect())
            .unwrap_or_default();
        for w in ws {
            if !s.index.contains_key(&w) {
                visit(s, &w);
                let l = s.low[v].min(s.low[&w]);
                s.low.insert(v.into(), l);
            } else if s.on.contains(&w) {
                let l = s.low[v].min(s.index[&w]);
                s.low.insert(v.into(), l);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on.remove(&w);
                let done = w == v;
                comp.push(w);
                if done {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = S {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
        next: 0,
    };
    for n in nodes {
        if !s.index.contains_key(n) {
            visit(&mut s, n);
        }
    }
    s.out
}

fn check_crate(root: &Path, what: &str, problems: &mut Vec<String>) {
    let c = modules(root);
    assert!(c.files.len() > 5, "{what}: found only {:?}", c.files.keys());
    let edges = graph(&c);
    let nodes: BTreeSet<String> = c.files.keys().cloned().collect();
    for comp in cycles(&nodes, &edges) {
        let detail: Vec<String> = comp
            .iter()
            .map(|m| {
                let to: Vec<&String> = edges[m].iter().filter(|t| comp.contains(t)).collect();
                format!("{m} -> {to:?}")
            })
            .collect();
        problems.push(format!(
            "{what}: files import each other in a circle: {}",
            detail.join("; ")
        ));
    }
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, ts) in &edges {
        let a = m.split("::").next().unwrap().to_string();
        for t in ts {
            let b = t.split("::").next().unwrap().to_string();
            if a != b {
                top.entry(a.clone()).or_default().insert(b);
            }
        }
    }
    let top_nodes: BTreeSet<String> = nodes
        .iter()
        .map(|m| m.split("::").next().unwrap().to_string())
        .collect();
    for comp in cycles(&top_nodes, &top) {
        problems.push(format!(
            "{what}: top-level modules import each other in a circle: {comp:?}"
        ));
    }
}

#[test]
fn the_imports_form_no_circle() {
    let mut problems = Vec::new();
    check_crate(&src().join("lib.rs"), "library", &mut problems);
    check_crate(&src().join("main.rs"), "binary", &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Lines of every `fn` outside test modules that is longer than `MAX_FN_LINES`.
fn long_functions(file: &Path) -> Vec<(String, usize, usize)> {
    let text = strip(&std::fs::read_to_string(file).unwrap());
    let text = without_tests(&text);
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        let t = ["pub(crate) ", "pub(super) ", "pub "]
            .iter()
            .find_map(|p| t.strip_prefix(p))
            .unwrap_or(t);
        let t = t.strip_prefix("const ").unwrap_or(t);
        if let Some(rest) = t.strip_prefix("fn ") {
            let name = ident_at(rest).to_string();
            let (mut depth, mut started, mut j) = (0i32, false, i);
            'scan: while j < lines.len() {
                for ch in lines[j].chars() {
                    match ch {
                        '{' => {
                            depth += 1;
                            started = true
                        }
                        '}' => depth -= 1,
                        ';' if !started && depth == 0 => break 'scan,
                        _ => {}
                    }
                }
                if started && depth <= 0 {
                    break;
                }
                j += 1;
            }
            let n = j - i + 1;
            if started && n > MAX_FN_LINES {
                out.push((name, i + 1, n));
            }
            i = if started { j + 1 } else { i + 1 };
            continue;
        }
        i += 1;
    }
    out
}

/// The crate's src/ and xtask's: src/ files are named from src/ ("gate.rs:…"), xtask's from
/// the repository root ("xtask/src/main.rs:…").
#[test]
fn no_function_outside_tests_is_longer_than_120_lines() {
    let mut long = Vec::new();
    for (dir, named_from) in [(src(), src()), (repo().join("xtask/src"), repo())] {
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
            for e in entries {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    for (name, line, n) in long_functions(&p) {
                        long.push(format!(
                            "{}:{line} fn {name}: {n} lines",
                            p.strip_prefix(&named_from).unwrap().display()
                        ));
                    }
                }
            }
        }
    }
    long.sort();
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_should() {
    // The stripper keeps code and drops what only looks like code.
    let s = strip("let a = \"crate::x\"; // crate::y\n/* crate::z */ crate::w::v;\nlet c = '\"';");
    assert!(!s.contains("crate::x") && !s.contains("crate::y") && !s.contains("crate::z"));
    assert!(s.contains("crate::w::v"));
    let mut out = Vec::new();
    paths_after("use crate::a::{b, c::{d, e}, self};", "crate::", &mut out);
    out.sort();
    assert_eq!(out, ["a", "a::b", "a::c", "a::c::d", "a::c::e"]);
    // A test-only item in the middle hides only itself.
    let t = without_tests(
        "fn a() {}\n#[cfg(test)]\nfn h() {\n}\nfn b() {}\n#[cfg(test)]\nmod tests { fn c() {} }\n",
    );
    assert!(t.contains("fn a") && t.contains("fn b") && !t.contains("fn h") && !t.contains("fn c"));
    assert_eq!(t.lines().count(), 7);
    // A circle is found.
    let nodes: BTreeSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("a".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert_eq!(
        cycles(&nodes, &edges),
        vec![vec!["a".to_string(), "b".to_string()]]
    );
}
