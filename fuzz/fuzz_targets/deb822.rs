//! deb822 paragraphs (`debian::control::parse_paragraphs`): .deb control files, Packages,
//! Release and apt `.sources`. A parsed paragraph written back with `to_text` parses to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::debian::control::parse_paragraphs;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(ps) = parse_paragraphs(text) else {
        return;
    };
    for p in &ps {
        assert!(!p.fields.is_empty());
        for (k, _) in &p.fields {
            let _ = p.get(k).expect("a field of the paragraph");
        }
        let again = parse_paragraphs(&p.to_text()).expect("to_text parses");
        assert_eq!(
            again.len(),
            1,
            "to_text of one paragraph gives {} paragraphs",
            again.len()
        );
        assert_eq!(&again[0], p, "to_text does not round-trip");
    }
    let _ = relsign::lock::debian::parse_deb822_sources(text);
    let _ = relsign::lock::debian::parse_sources_list(text);
});
