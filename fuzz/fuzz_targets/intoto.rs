//! An in-toto Statement v1 with the SLSA provenance predicate, as the verifier reads a payload
//! (`attest::statement::parse_provenance`), the RFC 3339 times in it (`relsign::time::parse`),
//! and the same payload inside a DSSE envelope.
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::attest::statement::parse_provenance;
use relsign::dsse::Envelope;
use relsign::time;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = parse_provenance(data) {
        let mut names: Vec<_> = p.subjects.iter().map(|s| &s.name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate subjects accepted");
        // The signing time formats and parses back to itself.
        let t = time::format(p.signed_on);
        assert_eq!(time::parse(&t), Ok(p.signed_on), "{t}");
    }
    if let Ok(env) = Envelope::from_json(data) {
        let _ = parse_provenance(&env.payload);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(t) = time::parse(s) {
            let f = time::format(t);
            assert_eq!(time::parse(&f), Ok(t), "{s:?} -> {t} -> {f}");
        }
    }
});
