//! The OCI registry client (`relsign::publish::registry`) against a real CNCF registry
//! (`docker-registry` 2.8, htpasswd auth, no referrers API) on 127.0.0.1, checked with skopeo
//! and umoci: blob pushes (monolithic and chunked, HEAD first, cross-repository mounts),
//! manifests, the `sha256-<hex>` referrers fallback, pulls into a layout, wrong credentials,
//! faults (dropped connections, 429, 5xx) and Bearer tokens that expire mid-push.

mod common;

use common::proxy::{Faults, Proxy, TokenGate};
use common::pyindex::htpasswd;
use common::*;
use relsign::digest::Sha256Hex;
use relsign::http::Client as Transport;
use relsign::oci::{self, Descriptor, Layout};
use relsign::publish::registry::{
    BlobPush, Registry as Client, RegistryError, RepoRef, Resolver, Target,
};
use relsign::publish::Credentials;
use relsign::report::{Progress, Reporter};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const USER: &str = "relsign";
const PASS: &str = "s3cret-registry-pass";
/// Small chunks, so that the big layer goes up in several PATCHes.
const CHUNK: u64 = 64 << 10;

/// A reporter that keeps the notices (the library never prints).
#[derive(Default)]
struct Notes(Mutex<Vec<String>>);

struct NoBar;
impl Progress for NoBar {
    fn inc(&self, _: u64) {}
    fn finish(&self) {}
}

impl Reporter for Notes {
    fn step(&self, m: &str) {
        self.note(m);
    }
    fn info(&self, m: &str) {
        self.note(m);
    }
    fn warn(&self, m: &str) {
        self.note(m);
    }
    fn progress(&self, _: &str, _: Option<u64>) -> Box<dyn Progress + '_> {
        Box::new(NoBar)
    }
}

impl Notes {
    /// Kept, and shown with the output of a failing test.
    fn note(&self, m: &str) {
        eprintln!("  notice: {m}");
        self.0.lock().unwrap().push(m.to_string());
    }
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn transport() -> Transport {
    let mut t = Transport::for_publish().unwrap();
    t.base_backoff = Duration::from_millis(20);
    t.max_backoff = Duration::from_millis(500);
    t
}

fn creds() -> Option<Credentials> {
    Some(Credentials::new(USER, PASS))
}

fn repo(host: &str, path: &str) -> RepoRef {
    Resolver::default()
        .parse_repository(&format!("http://{host}/{path}"))
        .unwrap()
}

fn client<'a>(t: &'a Transport, host: &str, path: &str) -> Client<'a> {
    let mut c = Client::new(repo(host, path), creds(), t);
    c.chunk_size = CHUNK;
    c
}

/// A registry with htpasswd (bcrypt) auth for USER/PASS.
fn auth_registry() -> Registry {
    Registry::start(Some(&htpasswd(USER, PASS)))
}

/// Deterministic bytes that do not compress.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A small OCI image in a layout: a config, a small layer (monolithic upload) and a layer of
/// `big` bytes (chunked above CHUNK), tagged `tag` in index.json.
struct Image {
    _dir: tempfile::TempDir,
    layout: Layout,
    config: Descriptor,
    layers: Vec<Descriptor>,
    manifest: Vec<u8>,
    digest: Sha256Hex,
    tag: String,
}

impl Image {
    fn new(seed: u64, big: usize, tag: &str) -> Image {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(&dir.path().join("layout")).unwrap();
        let small = tar_of(&[("etc/relsign-test", format!("image {seed}\n").as_bytes())]);
        let large = tar_of(&[("opt/data.bin", &noise(seed, big))]);
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for t in [&small, &large] {
            let d = layout
                .write_blob("application/vnd.oci.image.layer.v1.tar", |w| w.write_all(t))
                .unwrap();
            diff_ids.push(d.digest.clone());
            layers.push(d);
        }
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let config = layout.write_json_blob(oci::MEDIA_CONFIG, &config).unwrap();
        let m = oci::Manifest {
            schema_version: 2,
            media_type: oci::MEDIA_MANIFEST.into(),
            config: config.clone(),
            layers: layers.clone(),
            annotations: None,
        };
        let manifest = serde_json::to_vec(&m).unwrap();
        let md = layout
            .write_blob(oci::MEDIA_MANIFEST, |w| w.write_all(&manifest))
            .unwrap();
        let mut md2 = md.clone();
        md2.annotations = Some([(oci::REF_NAME.to_string(), tag.to_string())].into());
        layout.write_index(vec![md2]).unwrap();
        Image {
            digest: hex(&md),
            _dir: dir,
            layout,
            config,
            layers,
            manifest,
            tag: tag.into(),
        }
    }

    /// config first, then the layers.
    fn blobs(&self) -> Vec<&Descriptor> {
        std::iter::once(&self.config).chain(&self.layers).collect()
    }

    fn path(&self, d: &Descriptor) -> PathBuf {
        self.layout.blob_path(d.hex())
    }

    /// Push every blob, then the manifest under the tag; the blob outcomes in order.
    fn push(&self, c: &Client, mount_from: Option<&str>, r: &dyn Reporter) -> Vec<BlobPush> {
        let out = self
            .blobs()
            .into_iter()
            .map(|d| {
                c.push_blob(&hex(d), d.size, &self.path(d), mount_from, r)
                    .unwrap_or_else(|e| panic!("push {}: {e}", d.digest))
            })
            .collect();
        let got = c
            .put_manifest(&self.tag, oci::MEDIA_MANIFEST, &self.manifest, r)
            .unwrap();
        assert_eq!(got, self.digest);
        out
    }
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn hex(d: &Descriptor) -> Sha256Hex {
    Sha256Hex::parse(d.hex()).unwrap()
}

fn skopeo(args: &[&str]) -> Vec<u8> {
    require_tool("skopeo");
    let mut c = Command::new("skopeo");
    c.args(args);
    run_ok(c).stdout
}

/// `skopeo [global…] inspect --raw` of a registry reference with the test credentials.
fn skopeo_raw(global: &[&str], reference: &str) -> Vec<u8> {
    let creds = format!("{USER}:{PASS}");
    let args = [
        global,
        &[
            "inspect",
            "--tls-verify=false",
            "--creds",
            &creds,
            "--raw",
            reference,
        ],
    ]
    .concat();
    skopeo(&args)
}

/// `skopeo [global…] inspect` of an image in a registry with the test credentials: (Digest,
/// raw manifest).
fn skopeo_registry(global: &[&str], reference: &str) -> (String, Vec<u8>) {
    let creds = format!("{USER}:{PASS}");
    let args = [
        global,
        &[
            "inspect",
            "--tls-verify=false",
            "--creds",
            &creds,
            reference,
        ],
    ]
    .concat();
    let v: serde_json::Value = serde_json::from_slice(&skopeo(&args)).unwrap();
    (
        v["Digest"].as_str().unwrap().to_string(),
        skopeo_raw(global, reference),
    )
}

#[test]
fn push_chunked_and_monolithic_then_skopeo_agrees_and_a_second_push_finds_everything() {
    let reg = auth_registry();
    // A proxy without faults in front, to count the requests each blob takes.
    let p = Proxy::start(reg.port, Faults::default(), None, 1);
    let t = transport();
    let notes = Notes::default();
    let c = client(&t, &p.host(), "relsign/app");
    c.ping(&notes).unwrap();
    let img = Image::new(1, 5 * CHUNK as usize + 1234, "1.0");
    let big = &img.layers[1];
    assert!(big.size > CHUNK && img.config.size < CHUNK && img.layers[0].size < CHUNK);

    let started = Instant::now();
    let mut requests = Vec::new();
    for d in img.blobs() {
        let before = p.counters.get(&p.counters.requests);
        let got = c
            .push_blob(&hex(d), d.size, &img.path(d), None, &notes)
            .unwrap();
        assert_eq!(got, BlobPush::Uploaded, "{}", d.digest);
        requests.push(p.counters.get(&p.counters.requests) - before);
    }
    let chunks = big.size.div_ceil(CHUNK);
    // HEAD, POST, PUT for a small blob; HEAD, POST, one PATCH per chunk, PUT for the big one.
    assert_eq!(requests[0], 3, "config: HEAD, POST, PUT ({requests:?})");
    assert_eq!(
        requests[1], 3,
        "small layer: HEAD, POST, PUT ({requests:?})"
    );
    assert_eq!(
        requests[2],
        3 + chunks,
        "big layer: {chunks} PATCHes ({requests:?})"
    );
    let digest = c
        .put_manifest(&img.tag, oci::MEDIA_MANIFEST, &img.manifest, &notes)
        .unwrap();
    assert_eq!(digest, img.digest);
    let first = started.elapsed();

    // skopeo, straight to the registry, sees the same manifest.
    let (d, raw) = skopeo_registry(&[], &format!("docker://{}/relsign/app:1.0", reg.host()));
    assert_eq!(d, format!("sha256:{}", img.digest));
    assert_eq!(raw, img.manifest, "the registry serves our bytes");

    // The second push finds every blob with one HEAD each.
    let started = Instant::now();
    let before = p.counters.get(&p.counters.requests);
    let again = img.push(&c, None, &notes);
    assert_eq!(again, vec![BlobPush::Existed; 3]);
    assert_eq!(
        p.counters.get(&p.counters.requests) - before,
        4,
        "3 HEADs and the manifest PUT"
    );
    let second = started.elapsed();
    eprintln!(
        "push of {} bytes in {} blobs: {first:?} ({} requests, {chunks} chunks); again: {second:?}",
        img.blobs().iter().map(|d| d.size).sum::<u64>(),
        img.blobs().len(),
        requests.iter().sum::<u64>() + 1,
    );

    // Reads: HEAD sizes, manifests by tag and digest, absent ones.
    for d in img.blobs() {
        assert_eq!(c.blob_exists(&hex(d), &notes).unwrap(), Some(d.size));
    }
    let absent = Sha256Hex::of(b"not pushed");
    assert_eq!(c.blob_exists(&absent, &notes).unwrap(), None);
    let (mt, bytes) = c.get_manifest("1.0", &notes).unwrap().unwrap();
    assert_eq!((mt.as_str(), &bytes), (oci::MEDIA_MANIFEST, &img.manifest));
    let by_digest = c
        .get_manifest(&format!("sha256:{}", img.digest), &notes)
        .unwrap()
        .unwrap();
    assert_eq!(by_digest.1, img.manifest);
    assert!(c.get_manifest("no-such-tag", &notes).unwrap().is_none());
    assert!(c
        .get_manifest(&format!("sha256:{absent}"), &notes)
        .unwrap()
        .is_none());
    let other = client(&t, &p.host(), "relsign/never-pushed");
    other.ping(&notes).unwrap();
    assert!(other.get_manifest("1.0", &notes).unwrap().is_none());

    // A fetched blob is the pushed blob; an absent one is an error naming it.
    let dl = tempfile::tempdir().unwrap();
    let dest = dl.path().join("big");
    assert_eq!(c.fetch_blob(&hex(big), &dest, &notes).unwrap(), big.size);
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        std::fs::read(img.path(big)).unwrap()
    );
    let e = c
        .fetch_blob(&absent, &dl.path().join("x"), &notes)
        .unwrap_err()
        .to_string();
    assert!(e.contains(absent.as_str()) && e.contains("404"), "{e}");
    assert!(!dl.path().join("x").exists());
    assert_eq!(
        std::fs::read_dir(dl.path()).unwrap().count(),
        1,
        "no temp files left"
    );
}

#[test]
fn blobs_are_mounted_from_another_repository_of_the_same_registry() {
    let reg = auth_registry();
    let t = transport();
    let r = Notes::default();
    let img = Image::new(2, 2 * CHUNK as usize, "2.0");
    let a = client(&t, &reg.host(), "relsign/source");
    img.push(&a, None, &r);

    let b = client(&t, &reg.host(), "relsign/target");
    let got = img.push(&b, Some("relsign/source"), &r);
    assert_eq!(got, vec![BlobPush::Mounted; 3]);
    let (d, _) = skopeo_registry(&[], &format!("docker://{}/relsign/target:2.0", reg.host()));
    assert_eq!(d, format!("sha256:{}", img.digest));

    // A blob the source does not hold: the registry answers 202 and the upload goes on in
    // that session.
    let extra = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(extra.path(), noise(99, 3 * CHUNK as usize)).unwrap();
    let (d, n) = relsign::digest::hash_file(extra.path()).unwrap();
    assert_eq!(
        b.push_blob(&d, n, extra.path(), Some("relsign/source"), &r)
            .unwrap(),
        BlobPush::Uploaded
    );
    assert_eq!(b.blob_exists(&d, &r).unwrap(), Some(n));
    assert_eq!(a.blob_exists(&d, &r).unwrap(), None);
}

#[test]
fn pull_layout_writes_a_layout_that_skopeo_and_umoci_accept() {
    let reg = auth_registry();
    let t = transport();
    let r = Notes::default();
    let img = Image::new(3, 3 * CHUNK as usize + 7, "3.0");
    let c = client(&t, &reg.host(), "relsign/pull");
    img.push(&c, None, &r);

    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("by-tag");
    let started = Instant::now();
    let d = c.pull_layout(&Target::Tag("3.0".into()), &dir, &r).unwrap();
    eprintln!("pull_layout: {:?}", started.elapsed());
    assert_eq!(d, img.digest);
    // Bit for bit the source's blobs, and nothing else.
    let mut want: Vec<String> = img.blobs().iter().map(|d| d.hex().to_string()).collect();
    want.push(img.digest.to_string());
    want.sort();
    let mut have: Vec<String> = std::fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    have.sort();
    assert_eq!(have, want);
    for h in &want {
        assert_eq!(
            std::fs::read(dir.join("blobs/sha256").join(h)).unwrap(),
            std::fs::read(img.layout.blob_path(h)).unwrap(),
            "blob {h}"
        );
    }
    let layout = Layout::open(&dir).unwrap();
    let m = layout.find_manifest(Some("3.0")).unwrap();
    assert_eq!(
        (m.hex(), m.media_type.as_str()),
        (img.digest.as_str(), oci::MEDIA_MANIFEST)
    );
    let oci_layout: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("oci-layout")).unwrap()).unwrap();
    assert!(oci_layout["imageLayoutVersion"].is_string());

    let v: serde_json::Value =
        serde_json::from_slice(&skopeo(&["inspect", &format!("oci:{}:3.0", dir.display())]))
            .unwrap();
    assert_eq!(v["Digest"], format!("sha256:{}", img.digest));

    require_tool("umoci");
    let bundle = out.path().join("bundle");
    let mut u = Command::new("umoci");
    u.args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:3.0", dir.display()))
        .arg(&bundle);
    run_ok(u);
    assert_eq!(
        std::fs::read(bundle.join("rootfs/opt/data.bin")).unwrap(),
        noise(3, 3 * CHUNK as usize + 7)
    );

    // By digest: the same manifest, no tag in index.json.
    let dir2 = out.path().join("by-digest");
    assert_eq!(
        c.pull_layout(&Target::Digest(img.digest.clone()), &dir2, &r)
            .unwrap(),
        img.digest
    );
    let idx = Layout::open(&dir2).unwrap().read_index().unwrap();
    assert_eq!(idx.manifests.len(), 1);
    assert_eq!(idx.manifests[0].hex(), img.digest.as_str());
    assert!(idx.manifests[0].annotations.is_none());

    // A tag that is not there: an error naming the manifest URL, and no index.json.
    let dir3 = out.path().join("absent");
    let e = c
        .pull_layout(&Target::Tag("nope".into()), &dir3, &r)
        .unwrap_err()
        .to_string();
    assert!(e.contains("manifests/nope") && e.contains("404"), "{e}");
    assert!(!dir3.join("index.json").exists());
}

/// A referrer as cosign lays one out: empty config, one layer, `subject`, `artifactType`.
fn push_referrer(
    c: &Client,
    subject: &Image,
    artifact_type: &str,
    payload: &[u8],
    r: &dyn Reporter,
) -> Descriptor {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"{}").unwrap();
    let layer = dir.path().join("layer");
    std::fs::write(&layer, payload).unwrap();
    let (ed, en) = relsign::digest::hash_file(&empty).unwrap();
    let (ld, ln) = relsign::digest::hash_file(&layer).unwrap();
    c.push_blob(&ed, en, &empty, None, r).unwrap();
    c.push_blob(&ld, ln, &layer, None, r).unwrap();
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": oci::MEDIA_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": format!("sha256:{ed}"), "size": en},
        "layers": [{"mediaType": artifact_type, "digest": format!("sha256:{ld}"), "size": ln}],
        "subject": {"mediaType": oci::MEDIA_MANIFEST, "digest": format!("sha256:{}", subject.digest), "size": subject.manifest.len()},
    });
    let bytes = serde_json::to_vec(&m).unwrap();
    let d = Sha256Hex::of(&bytes);
    assert_eq!(
        c.put_manifest(&format!("sha256:{d}"), oci::MEDIA_MANIFEST, &bytes, r)
            .unwrap(),
        d
    );
    Descriptor {
        media_type: oci::MEDIA_MANIFEST.into(),
        digest: format!("sha256:{d}"),
        size: bytes.len() as u64,
        annotations: Some([("dev.relsign.test".to_string(), artifact_type.to_string())].into()),
        artifact_type: Some(artifact_type.into()),
    }
}

#[test]
fn referrers_fall_back_to_the_sha256_tag_and_merges_keep_one_of_each() {
    let reg = auth_registry();
    let t = transport();
    let r = Notes::default();
    let img = Image::new(4, 1000, "4.0");
    let c = client(&t, &reg.host(), "relsign/signed");
    img.push(&c, None, &r);

    // docker-registry 2.8 has no referrers API.
    assert_eq!(c.referrers_api(&img.digest, &r).unwrap(), None);
    assert_eq!(
        Client::fallback_tag(&img.digest),
        format!("sha256-{}", img.digest)
    );
    assert!(c.list_referrers(&img.digest, &r).unwrap().is_empty());

    let sig = push_referrer(
        &c,
        &img,
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        b"{\"bundle\":1}",
        &r,
    );
    let att = push_referrer(&c, &img, "application/vnd.in-toto+json", b"{\"att\":2}", &r);
    c.merge_fallback_index(&img.digest, std::slice::from_ref(&sig), &r)
        .unwrap();
    c.merge_fallback_index(&img.digest, &[sig.clone(), att.clone()], &r)
        .unwrap();
    let tag = Client::fallback_tag(&img.digest);
    let (_, first) = c.get_manifest(&tag, &r).unwrap().unwrap();
    // Again, in another order: nothing changes (the index keeps its bytes).
    c.merge_fallback_index(&img.digest, &[att.clone(), sig.clone()], &r)
        .unwrap();
    let (mt, again) = c.get_manifest(&tag, &r).unwrap().unwrap();
    assert_eq!(mt, oci::MEDIA_INDEX);
    assert_eq!(
        first, again,
        "an idempotent merge does not rewrite the index"
    );
    let idx: oci::Index = serde_json::from_slice(&again).unwrap();
    assert_eq!(idx.media_type.as_deref(), Some(oci::MEDIA_INDEX));
    assert_eq!(
        idx.manifests,
        vec![sig.clone(), att.clone()],
        "no duplicates, fields kept"
    );

    let listed = c.list_referrers(&img.digest, &r).unwrap();
    assert_eq!(listed, vec![sig.clone(), att.clone()]);
    // Another client (a reader with its own session) finds them too.
    let reader = client(&t, &reg.host(), "relsign/signed");
    assert_eq!(reader.list_referrers(&img.digest, &r).unwrap().len(), 2);

    // skopeo reads the fallback index and the referrer manifests.
    // (`skopeo inspect` without --raw would pick a platform image from the index; these are
    // artifacts.)
    let raw = skopeo_raw(
        &[],
        &format!("docker://{}/relsign/signed:{tag}", reg.host()),
    );
    assert_eq!(raw, again);
    let raw_sig = skopeo_raw(
        &[],
        &format!("docker://{}/relsign/signed@{}", reg.host(), sig.digest),
    );
    let v: serde_json::Value = serde_json::from_slice(&raw_sig).unwrap();
    assert_eq!(v["subject"]["digest"], format!("sha256:{}", img.digest));
    assert_eq!(
        v["artifactType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );

    // Another subject has its own (empty) list.
    assert!(c
        .list_referrers(&Sha256Hex::of(b"other subject"), &r)
        .unwrap()
        .is_empty());
}

#[test]
fn wrong_or_missing_credentials_are_clear_errors_without_the_secret() {
    let reg = auth_registry();
    let t = transport();
    let r = Notes::default();
    let wrong = "wrong-pass-5e1f9";
    let c = Client::new(
        repo(&reg.host(), "relsign/app"),
        Some(Credentials::new(USER, wrong)),
        &t,
    );
    let e = c.ping(&r).unwrap_err();
    assert!(matches!(e, RegistryError::Auth { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains(&reg.host()) && msg.contains("authentication failed"),
        "{msg}"
    );
    assert!(msg.contains("wrong credentials"), "{msg}");
    let img = Image::new(5, 100, "5.0");
    let d = &img.layers[0];
    let e2 = c
        .push_blob(&hex(d), d.size, &img.path(d), None, &r)
        .unwrap_err();
    let e3 = c.get_manifest("5.0", &r).unwrap_err();
    for m in [
        msg,
        e2.to_string(),
        e3.to_string(),
        format!("{e2:?}"),
        format!("{c:?}", c = Credentials::new(USER, wrong)),
    ] {
        assert!(!m.contains(wrong), "the secret leaked: {m}");
    }
    for n in r.all() {
        assert!(!n.contains(wrong), "the secret leaked: {n}");
    }

    let anon = Client::new(repo(&reg.host(), "relsign/app"), None, &t);
    let e = anon.ping(&r).unwrap_err().to_string();
    assert!(
        e.contains(&reg.host()) && e.contains("no credentials"),
        "{e}"
    );

    // Nothing listens: a transport error naming the URL, after the retries.
    let mut quick = Transport::for_publish().unwrap();
    quick.attempts = 2;
    quick.base_backoff = Duration::from_millis(10);
    let port = free_port();
    let gone = Client::new(repo(&format!("127.0.0.1:{port}"), "a/b"), creds(), &quick);
    let e = gone.ping(&r).unwrap_err().to_string();
    assert!(
        e.contains(&format!("http://127.0.0.1:{port}/v2/")) && e.contains("2 attempt"),
        "{e}"
    );
}

#[test]
fn pushes_complete_through_dropped_connections_429_and_5xx() {
    let reg = auth_registry();
    // Requests go one at a time, so a seed gives one sequence of faults; another can be tried
    // with RELSIGN_TEST_FAULT_SEED.
    let seed = std::env::var("RELSIGN_TEST_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(42);
    let p = Proxy::start(reg.port, Faults::thirty_percent(), None, seed);
    let t = transport();
    let notes = Notes::default();
    let c = client(&t, &p.host(), "relsign/faults");
    let img = Image::new(6, 12 * CHUNK as usize + 5, "6.0");
    let started = Instant::now();
    let got = img.push(&c, None, &notes);
    let took = started.elapsed();
    assert!(got.iter().all(|g| *g == BlobPush::Uploaded), "{got:?}");
    let k = &p.counters;
    eprintln!(
        "through faults: {took:?}, {} requests, {} dropped before, {} dropped after forwarding, \
         {} 429, {} 5xx; {} notices",
        k.get(&k.requests),
        k.get(&k.dropped_before),
        k.get(&k.dropped_after),
        k.get(&k.too_many),
        k.get(&k.server_errors),
        notes.all().len()
    );
    assert!(p.faults_injected() >= 3, "faults were injected");
    // The registry holds exactly the image: skopeo reads it back, and pull_layout verifies
    // every digest.
    let (d, _) = skopeo_registry(&[], &format!("docker://{}/relsign/faults:6.0", reg.host()));
    assert_eq!(d, format!("sha256:{}", img.digest));
    let direct = client(&t, &reg.host(), "relsign/faults");
    let out = tempfile::tempdir().unwrap();
    direct
        .pull_layout(&Target::Tag("6.0".into()), out.path(), &Notes::default())
        .unwrap();
    // Pulling through the faults works too.
    let out2 = tempfile::tempdir().unwrap();
    assert_eq!(
        c.pull_layout(&Target::Tag("6.0".into()), out2.path(), &Notes::default())
            .unwrap(),
        img.digest
    );
}

#[test]
fn a_chunk_that_never_reached_the_registry_is_resumed_from_the_session_range() {
    // Connections dropped before forwarding only: the session's state stays valid, so every
    // failed PATCH resumes where the registry says the session is, and no blob starts over.
    let reg = auth_registry();
    let faults = Faults {
        drop_before: 0.3,
        ..Faults::default()
    };
    let p = Proxy::start(reg.port, faults, None, 5);
    let t = transport();
    let notes = Notes::default();
    let c = client(&t, &p.host(), "relsign/resume");
    let img = Image::new(9, 16 * CHUNK as usize + 9, "9.0");
    img.push(&c, None, &notes);
    let k = &p.counters;
    let notes = notes.all();
    let resumed = notes
        .iter()
        .filter(|n| n.contains("resuming there"))
        .count();
    eprintln!(
        "drops before forwarding: {} requests, {} dropped, {resumed} chunks resumed",
        k.get(&k.requests),
        k.get(&k.dropped_before)
    );
    assert!(resumed >= 2, "failed chunks were resumed: {notes:#?}");
    assert!(
        !notes
            .iter()
            .any(|n| n.contains("starting the upload again")),
        "no blob started over: {notes:#?}"
    );
    let (d, _) = skopeo_registry(&[], &format!("docker://{}/relsign/resume:9.0", reg.host()));
    assert_eq!(d, format!("sha256:{}", img.digest));
}

#[test]
fn bearer_tokens_are_fetched_and_fetched_again_when_they_expire_mid_push() {
    // The token gate in front of a registry without auth of its own: 401 + Bearer challenge,
    // a token endpoint taking basic credentials, tokens good for 4 requests.
    let backend = Registry::start(None);
    let gate = TokenGate {
        user: USER.into(),
        pass: PASS.into(),
        requests_per_token: 4,
    };
    let p = Proxy::start(backend.port, Faults::default(), Some(gate), 3);
    let t = transport();
    let notes = Notes::default();
    let c = client(&t, &p.host(), "relsign/demo");
    c.ping(&notes).unwrap();
    let img = Image::new(7, 6 * CHUNK as usize + 3, "7.0");
    let started = Instant::now();
    assert_eq!(img.push(&c, None, &notes), vec![BlobPush::Uploaded; 3]);
    // A mount through the gate (the token is asked for again with the source's pull scope).
    let m = client(&t, &p.host(), "relsign/mounted");
    assert_eq!(
        img.push(&m, Some("relsign/demo"), &notes),
        vec![BlobPush::Mounted; 3]
    );
    let k = &p.counters;
    eprintln!(
        "token gate: {:?}, {} requests, {} tokens issued, {} expired tokens presented, {} 401s",
        started.elapsed(),
        k.get(&k.requests),
        k.get(&k.tokens_issued),
        k.get(&k.tokens_expired),
        k.get(&k.unauthorized)
    );
    assert!(k.get(&k.tokens_issued) >= 5, "tokens were fetched again");
    assert!(
        k.get(&k.tokens_expired) >= 3,
        "tokens expired in the middle of the push"
    );
    let (d, _) = skopeo_registry(
        &[],
        &format!("docker://{}/relsign/demo:7.0", backend.host()),
    );
    assert_eq!(d, format!("sha256:{}", img.digest));
    let out = tempfile::tempdir().unwrap();
    assert_eq!(
        c.pull_layout(&Target::Tag("7.0".into()), out.path(), &notes)
            .unwrap(),
        img.digest
    );

    // A wrong password at the token endpoint: an error naming it, without the secret.
    let wrong = "wrong-token-pass-77";
    let bad = Client::new(
        repo(&p.host(), "relsign/demo"),
        Some(Credentials::new(USER, wrong)),
        &t,
    );
    let e = bad.ping(&notes).unwrap_err().to_string();
    assert!(
        e.contains("token endpoint")
            && e.contains(&format!("http://{}/token", p.host()))
            && e.contains("401"),
        "{e}"
    );
    assert!(!e.contains(wrong), "{e}");
    // No credentials: the anonymous token request is refused as well.
    let anon = Client::new(repo(&p.host(), "relsign/demo"), None, &t);
    assert!(anon.ping(&notes).is_err());
    for n in notes.all() {
        assert!(!n.contains(PASS) && !n.contains(wrong), "{n}");
    }
}

#[test]
fn docker_io_names_resolve_through_registries_conf_as_skopeo_resolves_them() {
    let reg = auth_registry();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("registries.conf");
    std::fs::write(
        &conf,
        format!(
            "[[registry]]\nprefix = \"docker.io\"\nlocation = \"{}\"\ninsecure = true\n",
            reg.host()
        ),
    )
    .unwrap();
    let res = Resolver::from_file(&conf).unwrap();
    let (rr, target) = res.parse_reference("relsign/hubname:8.0").unwrap();
    assert_eq!(rr.name, "docker.io/relsign/hubname");
    assert_eq!(
        (
            rr.scheme.as_str(),
            rr.registry.as_str(),
            rr.repository.as_str()
        ),
        ("http", reg.host().as_str(), "relsign/hubname")
    );
    assert_eq!(target, Target::Tag("8.0".into()));
    let t = transport();
    let r = Notes::default();
    let mut c = Client::new(rr, creds(), &t);
    c.chunk_size = CHUNK;
    let img = Image::new(8, 100, "8.0");
    img.push(&c, None, &r);
    // skopeo, given the same registries.conf, finds it under the docker.io name.
    // skopeo, given the same registries.conf, finds it under the docker.io name. (skopeo 1.9
    // reads --registries-conf, not $CONTAINERS_REGISTRIES_CONF, looks credentials up for the
    // rewritten location in an auth file, ignoring --creds, and lists tags at the name's own
    // host.)
    let auth = dir.path().join("auth.json");
    std::fs::write(
        &auth,
        serde_json::json!({"auths": {reg.host(): {"auth": base64_of(&format!("{USER}:{PASS}"))}}})
            .to_string(),
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&skopeo(&[
        "--registries-conf",
        conf.to_str().unwrap(),
        "inspect",
        "--tls-verify=false",
        "--authfile",
        auth.to_str().unwrap(),
        "--no-tags",
        "docker://docker.io/relsign/hubname:8.0",
    ]))
    .unwrap();
    let d = v["Digest"].as_str().unwrap();
    assert_eq!(d, format!("sha256:{}", img.digest));
    // Without an entry, docker.io has no endpoint: a clear error.
    let e = Resolver::default()
        .parse_repository("relsign/hubname")
        .unwrap_err()
        .to_string();
    assert!(e.contains("registries.conf"), "{e}");
}
