//! The Debian lock file (`lock::debian::DebianLock::read`). A lock that reads is written back
//! with `write`, which must read to the same lock (packages sorted by name).
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::lock::debian::DebianLock;
use relsign_fuzz::temp_file;

fuzz_target!(|data: &[u8]| {
    let (d, path) = temp_file("fuzz.debian.lock.toml", data);
    let Ok(lock) = DebianLock::read(&path) else {
        return;
    };
    for p in &lock.packages {
        assert!(!p.filename.starts_with('/') && !p.filename.split('/').any(|c| c == ".."));
    }
    let out = d.path().join("again.debian.lock.toml");
    lock.write(&out).expect("write");
    let again = DebianLock::read(&out).expect("a written lock reads");
    let mut sorted = lock.clone();
    sorted.packages.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(again, sorted, "write/read does not round-trip");
});
