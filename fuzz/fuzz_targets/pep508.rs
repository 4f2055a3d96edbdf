//! PEP 508 markers and requirements (`python::markers::Marker`, `python::requirements`):
//! parse, evaluate, print; a printed marker parses to one that evaluates the same. Also a
//! requirements file and a pyproject.toml read with `read_pins`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::python::markers::{Env, Marker};
use relsign::python::requirements::{read_pins, select, Pin, Requirement};
use relsign_fuzz::temp_file;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let envs = [
        Env::cpython_linux("3.13", 5, "x86_64"),
        Env::cpython_linux("3.9", 0, "aarch64").with_extras(["socks", "Test_Extra"]),
    ];
    if let Ok(m) = Marker::parse(text) {
        let printed = m.to_string();
        let again = Marker::parse(&printed)
            .unwrap_or_else(|e| panic!("{text:?} prints as {printed:?}: {e}"));
        for env in &envs {
            assert_eq!(
                m.evaluate(env),
                again.evaluate(env),
                "{text:?} vs {printed:?}"
            );
        }
        let _ = m.uses_extra();
    }
    if let Ok(r) = Requirement::parse(text) {
        assert!(!r.name.is_empty());
        let _ = r.normalized_name();
        for env in &envs {
            let _ = r.applies(env);
        }
    }
    if let Ok(p) = Pin::parse(text, "fuzz") {
        let spec = p.spec();
        let again =
            Pin::parse(&spec, "fuzz").unwrap_or_else(|e| panic!("{text:?} -> {spec:?}: {e}"));
        assert_eq!(
            (again.name, again.version, again.extras),
            (p.name.clone(), p.version.clone(), p.extras.clone())
        );
        let _ = p.parsed_version();
        let _ = p.matches_version(&p.version);
    }
    // As a whole file. `-r` includes are followed relative to the file; keep them inside the
    // temp dir (a path could name a device that never ends).
    if !text.contains('/') || !text.contains("-r") && !text.contains("--requirement") {
        let (_d, path) = temp_file("requirements.txt", data);
        if let Ok(pins) = read_pins(&path) {
            let _ = select(pins, &envs[0]);
        }
    }
    let (_d, path) = temp_file("pyproject.toml", data);
    if let Ok(pins) = read_pins(&path) {
        let _ = select(pins, &envs[1]);
    }
});
