//! A PEP 751 `pylock.toml` (`lock::python::PyLock::parse`). A lock that parses is written
//! back with `to_toml`, which must parse to the same lock.
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::lock::python::PyLock;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let p = Path::new("pylock.fuzz.toml");
    let Ok(lock) = PyLock::parse(text, p) else {
        return;
    };
    let toml = lock.to_toml();
    let again =
        PyLock::parse(&toml, p).unwrap_or_else(|e| panic!("to_toml does not parse: {e}\n{toml}"));
    assert!(again == lock, "to_toml does not round-trip:\n{toml}");
    let _ = lock.to_toml_vendored("files/");
    let _ = lock.runtime().count() + lock.build().count() + lock.test().count();
});
