//! `relsign policy init|add-key|remove-key|revoke|set|sign|set-log|add-identity|show`: the trust policy in
//! keys/, one new (unsigned) version per change, then signed by root keys.

use crate::args::passphrase;
use crate::output::print_json;
use crate::trust_cli::{PolicyCommand, PolicyInitArgs, Window};
use relsign::error::Result;
use relsign::keys::{self, PublicKey, SecretKey};
use relsign::policy::{self, InitOptions, PolicyError, ReleaseRef, RootKey, Thresholds};
use relsign::time;
use std::path::{Path, PathBuf};

pub fn run(cmd: PolicyCommand, json: bool) -> Result<()> {
    let (what, path, version) = match cmd {
        PolicyCommand::Init(a) => ("wrote", init(a)?, 1),
        PolicyCommand::AddKey {
            dir,
            key,
            root,
            window,
        } => {
            let (path, v) = add_key(&dir, &key, root, &window)?;
            ("added the key", path, v)
        }
        PolicyCommand::RemoveKey { dir, key } => {
            let (path, v) = remove_key(&dir, &key)?;
            ("removed the key", path, v)
        }
        PolicyCommand::Revoke { dir, key, release } => {
            let (path, v) = revoke(&dir, key, release)?;
            ("revoked", path, v)
        }
        PolicyCommand::Set {
            dir,
            root_threshold,
            provenance_threshold,
            artifact_threshold,
            expires,
        } => {
            let expires = expires
                .map(|e| time::parse(&e).map(time::format))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--expires: {e}"))?;
            let (path, v) = policy::edit(&dir, |p| {
                if let Some(t) = root_threshold {
                    p.root_threshold = t;
                }
                if let Some(t) = provenance_threshold {
                    p.thresholds.provenance = t;
                }
                if let Some(t) = artifact_threshold {
                    p.thresholds.artifact = t;
                }
                if let Some(e) = expires {
                    p.expires = Some(e);
                }
                Ok(())
            })?;
            ("updated", path, v)
        }
        PolicyCommand::SetLog {
            dir,
            origin,
            key,
            required,
        } => {
            let k = PublicKey::read(&key)?;
            let (path, v) = policy::edit(&dir, |p| {
                p.transparency_log = Some(policy::LogPolicy {
                    origin,
                    public_key_pem: k.to_pem(),
                    required,
                });
                Ok(())
            })?;
            ("named the transparency log", path, v)
        }
        PolicyCommand::AddIdentity {
            dir,
            issuer,
            subject,
            trusted_root,
            not_required,
        } => {
            let id = relsign::keyless::Identity { issuer, subject };
            let (path, v) = add_identity(&dir, id, trusted_root.as_deref(), !not_required)?;
            ("added the keyless identity", path, v)
        }
        PolicyCommand::Sign { dir, key, pass } => return sign(&dir, &key, &pass, json),
        PolicyCommand::Show { dir } => return show(&dir, json),
    };
    if json {
        print_json(serde_json::json!({"ok": true, "file": path, "version": version}));
    } else {
        outln!(
            "{what}: {} (version {version}; sign it with `relsign policy sign`)",
            path.display()
        );
    }
    Ok(())
}

/// `policy init`: version 1, unsigned.
fn init(a: PolicyInitArgs) -> Result<PathBuf> {
    let (nb, na) = a.window.resolve();
    let roots = a
        .root_key
        .iter()
        .map(|p| PublicKey::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let release_keys = a
        .release_key
        .iter()
        .map(|p| PublicKey::read(p).map(|k| (k, nb.clone(), na.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(policy::init(
        &a.dir,
        InitOptions {
            roots,
            root_threshold: a.root_threshold,
            release_keys,
            thresholds: Thresholds {
                provenance: a.provenance_threshold,
                artifact: a.artifact_threshold,
            },
            expires: a.expires,
            test_only: a.test_only,
        },
    )?)
}

/// `policy add-key`: a release key (with its validity window) or a root key.
fn add_key(dir: &Path, key: &Path, root: bool, window: &Window) -> Result<(PathBuf, u64)> {
    let k = PublicKey::read(key)?;
    let (nb, na) = window.resolve();
    Ok(policy::edit(dir, |p| {
        let id = k.key_id().to_string();
        if root {
            if p.root_keys.iter().any(|r| r.keyid == id) {
                return Err(PolicyError::Usage(format!("{id} is already a root key")));
            }
            p.root_keys.push(RootKey {
                keyid: id,
                public_key_pem: k.to_pem(),
            });
        } else {
            if p.release_keys.iter().any(|r| r.keyid == id) {
                return Err(PolicyError::Usage(format!("{id} is already a release key")));
            }
            p.release_keys
                .push(policy::release_key_entry(&k, &nb, &na)?);
        }
        Ok(())
    })?)
}

/// `policy remove-key`: a release or root key, by key id or public key file.
fn remove_key(dir: &Path, key: &str) -> Result<(PathBuf, u64)> {
    let id = key_id_arg(key)?;
    Ok(policy::edit(dir, |p| {
        let before = p.root_keys.len() + p.release_keys.len();
        p.root_keys.retain(|k| k.keyid != id);
        p.release_keys.retain(|k| k.keyid != id);
        if p.root_keys.len() + p.release_keys.len() == before {
            return Err(PolicyError::Usage(format!(
                "{id} is not a key of the policy"
            )));
        }
        Ok(())
    })?)
}

/// `policy revoke`: a key (for all time) or a release.
fn revoke(dir: &Path, key: Option<String>, release: Option<String>) -> Result<(PathBuf, u64)> {
    if key.is_none() && release.is_none() {
        bail!("give --key KEYID|PUB or --release NAME@VERSION");
    }
    let id = key.as_deref().map(key_id_arg).transpose()?;
    let rel = release.as_deref().map(release_ref).transpose()?;
    Ok(policy::edit(dir, |p| {
        if let Some(id) = id {
            if !p.revoked_keys.contains(&id) {
                p.revoked_keys.push(id);
            }
        }
        if let Some(r) = rel {
            if !p.revoked_releases.contains(&r) {
                p.revoked_releases.push(r);
                p.revoked_releases.sort();
            }
        }
        Ok(())
    })?)
}

/// `policy sign`: the newest version signed with a root key.
fn sign(dir: &Path, key: &Path, pass: &crate::args::PassArgs, json: bool) -> Result<()> {
    keys::check_private_mode(key)?;
    let pass = passphrase(pass, key, false)?;
    let sk = SecretKey::read(key, &pass)?;
    drop(pass);
    let st = policy::sign(dir, &sk)?;
    if json {
        print_json(serde_json::json!({"ok": true, "status": st}));
    } else {
        print_status(&st);
    }
    Ok(())
}

/// `policy show`: the newest version and its signing status.
fn show(dir: &Path, json: bool) -> Result<()> {
    let (doc, st) = policy::show(dir)?;
    if json {
        print_json(serde_json::json!({"ok": true, "policy": doc, "status": st}));
    } else {
        outln!("{}", serde_json::to_string_pretty(&doc)?);
        print_status(&st);
    }
    Ok(())
}

fn print_status(st: &policy::SignStatus) {
    print!(
        "{} (version {}): {}/{} signatures by its root keys",
        st.file.display(),
        st.version,
        st.own_signatures,
        st.own_threshold
    );
    if let Some((c, t)) = st.previous_signatures {
        print!(", {c}/{t} by version {}'s", st.version - 1);
    }
    outln!(
        "; {}",
        if st.complete {
            "complete"
        } else {
            "needs more signatures"
        }
    );
}

/// A key given as a key id or a public key file.
pub fn key_id_arg(s: &str) -> Result<String> {
    let p = Path::new(s);
    if p.is_file() {
        return Ok(PublicKey::read(p)?.key_id().to_string());
    }
    Ok(s.to_string())
}

/// `--release NAME@VERSION`.
pub fn release_ref(s: &str) -> Result<ReleaseRef> {
    let (n, v) = s
        .rsplit_once('@')
        .ok_or_else(|| anyhow::anyhow!("--release {s:?}: expected NAME@VERSION"))?;
    Ok(ReleaseRef {
        name: n.into(),
        version: v.into(),
    })
}

/// Add a keyless identity (and set the trusted root, read through the strict JSON reader).
fn add_identity(
    dir: &Path,
    id: relsign::keyless::Identity,
    trusted_root: Option<&Path>,
    required: bool,
) -> Result<(PathBuf, u64)> {
    let root = match trusted_root {
        Some(f) => Some(
            relsign::json::read_file::<serde_json::Value>(f, relsign::keyless::root::MAX_ROOT)
                .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?,
        ),
        None => None,
    };
    Ok(policy::edit(dir, |p| {
        let k = match (p.keyless.take(), root) {
            (Some(mut k), r) => {
                if let Some(r) = r {
                    k.trusted_root = r;
                }
                k
            }
            (None, Some(r)) => policy::KeylessPolicy {
                identities: vec![],
                trusted_root: r,
                required,
            },
            (None, None) => {
                return Err(PolicyError::Usage(
                    "the policy has no keyless trusted root yet: give --trusted-root".into(),
                ))
            }
        };
        let mut k = k;
        k.required = required;
        if !k.identities.contains(&id) {
            k.identities.push(id);
        }
        p.keyless = Some(k);
        Ok(())
    })?)
}
