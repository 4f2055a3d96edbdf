//! A `.tar.gz` sdist through `python::metadata::read_sdist` (PKG-INFO) and
//! `archive::normalize::normalize_sdist`; a normalized sdist must normalize to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::archive::normalize::normalize_sdist;
use relsign::python::metadata;
use relsign_fuzz::temp_file;

fuzz_target!(|data: &[u8]| {
    let name = "fuzz-1.0.tar.gz";
    let (_d, path) = temp_file(name, data);
    if let Ok(m) = metadata::read_sdist(&path, name) {
        assert!(!m.name.is_empty() && !m.version.is_empty());
    }
    let mut once = Vec::new();
    if normalize_sdist(&path, &mut once, 1_700_000_000).is_ok() {
        let (_d2, p2) = temp_file(name, &once);
        let mut again = Vec::new();
        normalize_sdist(&p2, &mut again, 1_700_000_000)
            .expect("a normalized sdist normalizes again");
        assert!(again == once, "normalize_sdist is not idempotent");
    }
});
