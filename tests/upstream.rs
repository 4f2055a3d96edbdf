//! Upstream archives (`[[archive]]`): pinned by sha256, fetched from locations in order. The
//! project's git host and the fallback host are loopback stand-ins (the git hosts cannot be
//! reached from here); the file mirror is `../shared/upstream`, docassemble's unmodified
//! archives.

mod common;
use common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const FILE: &str = "docassemble-v1.10.5-docker-tests.tar.gz";
const SHA256: &str = "02b93ff2c18b094c4efbda75cbd578847d7a1e5f9e7047ddbc06d612a5984807";

/// docassemble's upstream archives: `$RELSIGN_UPSTREAM_DIR`, else `shared/upstream` beside the
/// checkout or beside one of its parent directories (the workplace puts `shared/` next to it).
fn upstream_dir() -> PathBuf {
    let mut tried = Vec::new();
    let mut candidates: Vec<PathBuf> = std::env::var_os("RELSIGN_UPSTREAM_DIR")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    let root = root();
    candidates.extend(root.ancestors().skip(1).map(|a| a.join("shared/upstream")));
    for d in candidates {
        if d.join(FILE).is_file() {
            return d.canonicalize().unwrap();
        }
        tried.push(d.display().to_string());
    }
    panic!(
        "docassemble's upstream archives ({FILE}) are missing: the tests use them as the file \
         mirror; tried {}; set RELSIGN_UPSTREAM_DIR",
        tried.join(", ")
    );
}

/// A loopback HTTP stand-in answering every request with `status` and `body`; counts requests.
struct Host {
    port: u16,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

fn host(status: &'static str, body: Vec<u8>) -> Host {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        }
    });
    Host { port, hits }
}

/// The demo recipe, copied with its locks and source next to an `[[archive]]` section.
fn recipe_with_archive(dir: &Path, sha256: &str, locations: &[String]) -> PathBuf {
    let src = root().join("recipes");
    relsign::fsutil::copy_tree(&src, dir).unwrap();
    let mut text = std::fs::read_to_string(dir.join("demo.toml")).unwrap();
    let locs: Vec<String> = locations.iter().map(|l| format!("{l:?}")).collect();
    text.push_str(&format!(
        "\n[[archive]]\nname = \"docassemble-docker\"\nfile = \"{FILE}\"\nsha256 = \"{sha256}\"\nlocations = [{}]\n",
        locs.join(", ")
    ));
    let p = dir.join("demo-archive.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn the_git_host_down_and_the_fallback_missing_it_comes_from_the_file_mirror() {
    let t = tempfile::tempdir().unwrap();
    let git_host = format!("http://127.0.0.1:{}/jhpyle/docassemble/{FILE}", free_port());
    let fallback = host("404 Not Found", b"not here".to_vec());
    let wrong = host("200 OK", b"not the archive".to_vec());
    let locations = vec![
        git_host,
        format!("http://127.0.0.1:{}/docassemble/", fallback.port),
        format!("http://127.0.0.1:{}/docassemble/", wrong.port),
        upstream_dir().display().to_string() + "/",
    ];
    let recipe = recipe_with_archive(&t.path().join("r"), SHA256, &locations);
    let recipe = relsign::recipe::Recipe::load(&recipe).unwrap();
    let store = relsign::store::Store::at(t.path().join("store"));
    let http = relsign::fetch::Http::new().unwrap();
    let got =
        relsign::upstream::fetch(&recipe, &[], &http, &store, &relsign::report::Silent).unwrap();
    assert_eq!(got.len(), 1);
    let from = got[0].from.as_deref().unwrap();
    assert!(
        from.starts_with("file://") && from.ends_with(FILE),
        "{from}"
    );
    assert_eq!(fallback.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(wrong.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    let d = relsign::digest::Sha256Hex::parse(SHA256).unwrap();
    assert!(store.has_verified(&d).unwrap());
    // The wrong bytes from the third host were not stored.
    let again =
        relsign::upstream::fetch(&recipe, &[], &http, &store, &relsign::report::Silent).unwrap();
    assert_eq!(again[0].from, None, "a second fetch finds it in the store");

    // Unpacked through the safe reader, without git archive's top directory.
    let out = t.path().join("unpacked");
    relsign::upstream::unpack(&recipe, "docassemble-docker", &store, &out).unwrap();
    assert!(out.join("Docker/initialize.sh").is_file());
    assert!(out.join("tests/features").is_dir());

    // Exported beside the vendor mirror, it serves as a location itself.
    let vendor = t.path().join("vendor");
    relsign::upstream::export(&recipe, &store, &vendor).unwrap();
    let store2 = relsign::store::Store::at(t.path().join("store2"));
    let only_vendor = recipe_with_archive(&t.path().join("r2"), SHA256, &[]);
    let only_vendor = relsign::recipe::Recipe::load(&only_vendor).unwrap();
    let extra = vec![vendor.join("archives").display().to_string()];
    let got = relsign::upstream::fetch(
        &only_vendor,
        &extra,
        &http,
        &store2,
        &relsign::report::Silent,
    )
    .unwrap();
    assert!(got[0]
        .from
        .as_deref()
        .unwrap()
        .contains("/vendor/archives/"));
}

#[test]
fn no_location_with_the_digest_is_exit_1_naming_every_place_tried() {
    let t = tempfile::tempdir().unwrap();
    fetch_demo();
    let wrong = host("200 OK", b"a tampered archive".to_vec());
    let bad_sha = "1".repeat(64);
    let locations = vec![
        format!("http://127.0.0.1:{}/docassemble/", wrong.port),
        upstream_dir().display().to_string() + "/",
    ];
    let recipe = recipe_with_archive(&t.path().join("r"), &bad_sha, &locations);
    let o = relsign(&["fetch", recipe.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("archive docassemble-docker"), "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{}", wrong.port)),
        "{text}"
    );
    assert!(text.contains(&format!("shared/upstream/{FILE}")), "{text}");

    // No location at all: a usage error that says where locations come from.
    let recipe = recipe_with_archive(&t.path().join("r2"), &bad_sha, &[]);
    let mut c = relsign(&["fetch", recipe.to_str().unwrap()]);
    c.env_remove(relsign::upstream::MIRRORS_ENV);
    let o = c.output().unwrap();
    let text = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(text.contains("--archive-mirror"), "{text}");

    // A recipe whose image takes a file from an archive it does not declare is refused early.
    let mut bad = std::fs::read_to_string(&recipe).unwrap();
    bad.push_str(
        "\n[[image.files]]\nsrc = \"Docker/initialize.sh\"\ndest = \"/x\"\narchive = \"nope\"\n",
    );
    std::fs::write(&recipe, bad).unwrap();
    let o = relsign(&["fetch", recipe.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(
        text.contains(".archive")
            && text.contains("image.files[")
            && text.contains("names no [[archive]]"),
        "{text}"
    );
}

/// The image takes a directory and a file from the archive; the release records the archive
/// as a source by digest.
#[test]
fn image_files_come_from_the_archive_and_the_release_names_it() {
    fetch_demo();
    let t = tempfile::tempdir().unwrap();
    let up = upstream_dir().display().to_string() + "/";
    let recipe = recipe_with_archive(&t.path().join("r"), SHA256, &[up]);
    let mut text = std::fs::read_to_string(&recipe).unwrap();
    text.push_str(concat!(
        "\n[[image.files]]\narchive = \"docassemble-docker\"\nsrc = \"Docker/config\"\n",
        "dest = \"/usr/share/docassemble/config\"\n",
        "\n[[image.files]]\narchive = \"docassemble-docker\"\nsrc = \"Docker/initialize.sh\"\n",
        "dest = \"/usr/share/docassemble/webapp/initialize.sh\"\n",
    ));
    std::fs::write(&recipe, text).unwrap();
    let r = recipe.to_str().unwrap();
    run_ok(relsign(&["fetch", r]));
    let out = t.path().join("release");
    run_ok(relsign(&["build", r, "--out", out.to_str().unwrap()]));
    let root = t.path().join("rootfs");
    relsign::build::image::unpack_layout(&out.join("image"), None, &root).unwrap();
    let init = root.join("usr/share/docassemble/webapp/initialize.sh");
    let want = {
        let d = t.path().join("ref");
        let recipe = relsign::recipe::Recipe::load(&recipe).unwrap();
        let store = relsign::store::Store::at(shared_store());
        relsign::upstream::unpack(&recipe, "docassemble-docker", &store, &d).unwrap();
        d
    };
    assert_eq!(
        std::fs::read(&init).unwrap(),
        std::fs::read(want.join("Docker/initialize.sh")).unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&init).unwrap().permissions().mode() & 0o111,
        0o111,
        "initialize.sh keeps its executable mode"
    );
    assert!(root
        .join("usr/share/docassemble/config/config.yml.dist")
        .is_file());
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("release.json")).unwrap()).unwrap();
    let src = m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "archive")
        .unwrap();
    assert_eq!(src["digest"], SHA256);
    assert_eq!(src["location"], FILE);
}
