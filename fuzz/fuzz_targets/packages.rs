//! A Debian Packages index (`lock::debian::parse_packages`), every dependency field of it
//! (`parse_depends`), the index built from it (`Index::new`) and Debian version comparison.
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::debian::deb_version_cmp;
use relsign::lock::debian::{parse_depends, parse_packages, Index};
use std::cmp::Ordering;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Each line alone as a dependency field too (the resolver parses fields it reads).
    for line in text.lines().take(64) {
        let _ = parse_depends(line);
    }
    let Ok(pkgs) = parse_packages(text) else {
        return;
    };
    for p in pkgs.iter().take(64) {
        for f in [&p.depends, &p.pre_depends, &p.provides] {
            if let Ok(clauses) = parse_depends(f) {
                for alt in clauses.iter().flatten() {
                    assert!(!alt.name.is_empty());
                }
            }
        }
    }
    // Version comparison: antisymmetric and reflexive.
    for w in pkgs.windows(2).take(64) {
        let (a, b) = (&w[0].version, &w[1].version);
        assert_eq!(deb_version_cmp(a, a), Ordering::Equal, "{a:?} != itself");
        assert_eq!(
            deb_version_cmp(a, b),
            deb_version_cmp(b, a).reverse(),
            "{a:?} vs {b:?}"
        );
    }
    let _ = Index::new(pkgs);
});
