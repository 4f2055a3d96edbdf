//! A PEP 503 project page from a package index (`python::simple::parse_project_page`) and the
//! file names it lists: wheel names (`python::tags::WheelName::parse`, ranked for a target)
//! and sdist names (`parse_sdist_name`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::python::simple::{html_unescape, parse_project_page};
use relsign::python::tags::{parse_sdist_name, TagRanker, Target, WheelName};
use std::sync::OnceLock;

static RANKER: OnceLock<TagRanker> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(html) = std::str::from_utf8(data) else {
        return;
    };
    let _ = html_unescape(html);
    let ranker = RANKER.get_or_init(|| {
        Target::parse("3.13", "2.41", "x86_64")
            .expect("target")
            .ranker()
    });
    let links = parse_project_page(html, "https://index.example/simple/fuzz/");
    for l in links.iter().take(64) {
        assert!(!l.filename.is_empty());
        assert!(!l.url.contains('#'));
        if let Ok(w) = WheelName::parse(&l.filename) {
            let _ = ranker.rank(&w);
            let _ = w.normalized_name();
        }
        let _ = parse_sdist_name(&l.filename);
    }
    // The whole input as one file name too.
    if let Ok(w) = WheelName::parse(html) {
        let _ = ranker.rank(&w);
    }
});
