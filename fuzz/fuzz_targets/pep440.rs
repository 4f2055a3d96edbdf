//! PEP 440 versions and specifiers (`python::version`): parse, normalize, compare. A parsed
//! version prints in normal form, which parses to an equal version and prints the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::python::version::{SpecifierSet, Version};
use std::cmp::Ordering;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (a, b) = text.split_once('\n').unwrap_or((text, ""));
    let va = Version::parse(a);
    if let Ok(v) = &va {
        let s = v.to_string();
        let again = Version::parse(&s).unwrap_or_else(|e| panic!("{a:?} prints as {s:?}: {e}"));
        assert_eq!(again.cmp(v), Ordering::Equal, "{a:?} -> {s:?}");
        assert_eq!(again.to_string(), s, "normal form is not stable");
        assert!(v.public() <= *v || !v.has_local());
    }
    if let Ok(vb) = Version::parse(b) {
        if let Ok(v) = &va {
            assert_eq!(v.cmp(&vb), vb.cmp(v).reverse());
        }
    }
    for s in [a, b, text] {
        if let Ok(set) = SpecifierSet::parse(s) {
            let printed = set.to_string();
            let again = SpecifierSet::parse(&printed)
                .unwrap_or_else(|e| panic!("{s:?} prints as {printed:?}: {e}"));
            if let Ok(v) = &va {
                assert_eq!(
                    set.contains(v),
                    again.contains(v),
                    "{s:?} vs {printed:?} on {a:?}"
                );
            }
        }
    }
    let _ = relsign::verify::compare_versions(a, b);
});
