//! A zip (a wheel, or a zip sdist) through every reader of the public API: the METADATA
//! readers (`python::metadata::read_wheel`, `read_wheel_text`, `read_sdist` for `.zip`), the
//! build-dependency unpacker (`python::wheel::unpack_into_site`), the image's venv installer
//! (`python::install::Venv::install`) and the wheel normalizer
//! (`archive::normalize::normalize_wheel`). Writes stay inside a sandbox.
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::python::{install::Venv, metadata, wheel};
use relsign_fuzz::{no_escape, temp_file, Sandbox};

fuzz_target!(|data: &[u8]| {
    let name = "fuzz-1.0-py3-none-any.whl";
    let (_d, path) = temp_file(name, data);
    if let Ok(m) = metadata::read_wheel(&path, name) {
        assert!(!m.name.is_empty() && !m.version.is_empty());
    }
    let _ = metadata::read_wheel_text(&path, name);
    let _ = metadata::read_sdist(&path, "fuzz-1.0.zip");

    let sb = Sandbox::new();
    let site = sb.dest.join("site");
    let _ = no_escape(|| wheel::unpack_into_site(&path, name, &site));
    let image = sb.dest.join("image");
    let mut venv = Venv::create(&image, "/opt/venv", "3.13", "3.13.5").expect("venv");
    if let Ok(i) = no_escape(|| venv.install(&path, name)) {
        assert!(i.dist_info.ends_with(".dist-info"));
    }
    // The venv's own links still point where create() made them point.
    let link = |p: &str| std::fs::read_link(image.join("opt/venv").join(p)).ok();
    assert_eq!(
        link("bin/python").as_deref(),
        Some(std::path::Path::new("/usr/bin/python3"))
    );
    assert_eq!(
        link("bin/python3").as_deref(),
        Some(std::path::Path::new("python"))
    );
    assert_eq!(link("lib64").as_deref(), Some(std::path::Path::new("lib")));

    let mut out = std::io::Cursor::new(Vec::new());
    if relsign::archive::normalize::normalize_wheel(&path, &mut out, 1_700_000_000).is_ok() {
        // The normalized wheel reads back, and normalizing it again changes nothing.
        let once = out.into_inner();
        let (_d2, p2) = temp_file(name, &once);
        let mut again = std::io::Cursor::new(Vec::new());
        relsign::archive::normalize::normalize_wheel(&p2, &mut again, 1_700_000_000)
            .expect("a normalized wheel normalizes again");
        assert!(
            again.into_inner() == once,
            "normalize_wheel is not idempotent"
        );
    }
    sb.check();
});
