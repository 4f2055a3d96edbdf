//! The trust policy: the input is `keys/policy/1.json` (a DSSE envelope over a policy) read
//! with `relsign::policy::load_chain` and `show`, and also a bare policy document checked with
//! `Policy::check`. A version 1 that loads must carry its root keys' threshold of signatures.
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::policy::{load_chain, show, Policy};

fuzz_target!(|data: &[u8]| {
    let d = tempfile::Builder::new()
        .prefix("relsign-fuzz-")
        .tempdir()
        .expect("tmp");
    std::fs::create_dir(d.path().join("policy")).expect("mkdir");
    std::fs::write(d.path().join("policy/1.json"), data).expect("write");
    // Only an intact signed version 1 (a seed) loads; it is then the chain's anchor.
    if let Ok(t) = load_chain(d.path(), 1_800_000_000) {
        assert_eq!(t.version, 1);
        let env = relsign::dsse::Envelope::from_json(data).expect("it loaded");
        assert_eq!(
            t.anchor_sha256,
            relsign::digest::Sha256Hex::of(&env.payload).to_string()
        );
        let keys = t.policy.root_refs();
        assert!(env.verify(&keys).keys.len() as u32 >= t.policy.doc.root_threshold);
    }
    let _ = show(d.path());
    if let Ok(doc) = serde_json::from_slice::<Policy>(data) {
        if let Ok(c) = doc.check("fuzz") {
            assert!(c.doc.root_threshold as usize <= c.roots.len());
            for k in &c.release_keys {
                assert!(k.not_before < k.not_after);
            }
        }
    }
});
