//! Key files and signing: Ed25519 keys, the key id, and the trust policy ([`crate::policy`]).
//!
//! * A private key file is a PEM "ENCRYPTED PRIVATE KEY": PKCS#8 `EncryptedPrivateKeyInfo`
//!   with PBES2, scrypt as the KDF and AES-256-CBC as the cipher (the `pkcs8` crate's
//!   recommended parameters). It is created with mode 0600 and refused on read when group or
//!   others may read it.
//! * A public key file is a PEM "PUBLIC KEY" (PKIX SubjectPublicKeyInfo, DER), which cosign,
//!   openssl and securesystemslib load.
//! * The key id is base64(SHA-256(DER SPKI)), standard alphabet with padding: the value of the
//!   Sigstore bundle's `verificationMaterial.publicKey.hint` and of DSSE `keyid`.
//!
//! Secrets (the seed, the decrypted PKCS#8 document, passphrases) live in zeroizing buffers and
//! never appear in an error message, a report or a statement.

use crate::fsutil::{self, FsError};
use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::{Zeroize, Zeroizing};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(
        "{path}: private key file has mode {mode:04o}, readable by group or others; \
         refusing to use it (run `chmod 600 {path}`)"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("{path}: cannot decrypt the private key: wrong passphrase, or a damaged file")]
    Decrypt { path: PathBuf },
    #[error("{path}: not a {expected}: {reason}")]
    Format {
        path: PathBuf,
        expected: &'static str,
        reason: String,
    },
    #[error("{path} already exists; pass --force to overwrite it")]
    Exists { path: PathBuf },
    #[error("no randomness from the operating system: {0}")]
    Rng(String),
    #[error("encrypting the private key: {0}")]
    Encrypt(String),
    #[error("the passphrase is empty")]
    EmptyPassphrase,
}

/// A passphrase, zeroized when dropped. Its `Debug` never shows the content.
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Takes ownership of the string; trailing newlines (from a file or a pipe) are removed.
    pub fn new(mut s: String) -> Passphrase {
        while s.ends_with('\n') || s.ends_with('\r') {
            s.pop();
        }
        Passphrase(Zeroizing::new(s))
    }
    /// From raw bytes (a file or a descriptor); the input buffer is zeroized.
    pub fn from_bytes(mut b: Vec<u8>) -> Result<Passphrase, String> {
        let r = match std::str::from_utf8(&b) {
            Ok(s) => Ok(Passphrase::new(s.to_string())),
            Err(_) => Err("the passphrase is not UTF-8".to_string()),
        };
        b.zeroize();
        r
    }
    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Equality without an early exit on the first differing byte.
    pub fn matches(&self, other: &Passphrase) -> bool {
        let (a, b) = (self.bytes(), other.bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// base64(SHA-256(DER SPKI)).
pub fn key_id_of_spki(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(der))
}

/// A public Ed25519 key with its SPKI encoding and key id.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    vk: VerifyingKey,
    spki: Vec<u8>,
    id: String,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.id)
    }
}

impl PublicKey {
    pub fn from_verifying_key(vk: VerifyingKey) -> PublicKey {
        let spki = vk
            .to_public_key_der()
            .expect("Ed25519 SPKI encodes")
            .as_bytes()
            .to_vec();
        let id = key_id_of_spki(&spki);
        PublicKey { vk, spki, id }
    }
    /// Parse a PEM "PUBLIC KEY"; `what` names the source in errors (a file, a policy field).
    pub fn from_pem(pem: &str, what: &Path) -> Result<PublicKey, KeyError> {
        let vk = VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| KeyError::Format {
            path: what.to_path_buf(),
            expected: "PEM \"PUBLIC KEY\" (Ed25519 SPKI)",
            reason: e.to_string(),
        })?;
        Ok(PublicKey::from_verifying_key(vk))
    }
    pub fn read(path: &Path) -> Result<PublicKey, KeyError> {
        let text = fsutil::read_to_string(path)?;
        if text.contains("PRIVATE KEY") {
            return Err(KeyError::Format {
                path: path.to_path_buf(),
                expected: "public key",
                reason: "this is a private key file; give the .pub file".into(),
            });
        }
        PublicKey::from_pem(&text, path)
    }
    pub fn to_pem(&self) -> String {
        self.vk
            .to_public_key_pem(pkcs8::LineEnding::LF)
            .expect("Ed25519 SPKI PEM encodes")
    }
    /// The key id: base64(SHA-256(DER SPKI)).
    pub fn key_id(&self) -> &str {
        &self.id
    }
    /// A file-name-safe short name: the first 16 hex digits of SHA-256(DER SPKI).
    pub fn fingerprint(&self) -> String {
        crate::digest::hex(&Sha256::digest(&self.spki)[..8])
    }
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }
    /// The 32-byte Ed25519 public key (RFC 8032 encoding), as signed notes name it.
    pub fn raw_bytes(&self) -> [u8; 32] {
        self.vk.to_bytes()
    }
    /// Pure Ed25519 verification (strict: rejects non-canonical and small-order encodings).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(sig) else {
            return false;
        };
        self.vk.verify_strict(msg, &sig).is_ok()
    }
    /// A streaming verifier for pure Ed25519 over a message fed in chunks (a file).
    pub fn stream_verifier(&self, sig: &[u8]) -> Option<StreamVerifier> {
        let sig = Signature::from_slice(sig).ok()?;
        self.vk.verify_stream(&sig).ok().map(StreamVerifier)
    }
}

/// Pure Ed25519 verification over a streamed message.
pub struct StreamVerifier(ed25519_dalek::StreamVerifier);
impl StreamVerifier {
    pub fn update(&mut self, chunk: &[u8]) {
        self.0.update(chunk)
    }
    pub fn finish(self) -> bool {
        self.0.finalize_and_verify().is_ok()
    }
}

/// A private Ed25519 key (the dalek key zeroizes itself on drop).
pub struct SecretKey {
    sk: SigningKey,
    public: PublicKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey(<redacted>, public={})", self.public.id)
    }
}

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<SecretKey, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| KeyError::Rng(e.to_string()))?;
        Ok(SecretKey::from_seed(&seed))
    }
    fn from_seed(seed: &[u8; 32]) -> SecretKey {
        let sk = SigningKey::from_bytes(seed);
        let public = PublicKey::from_verifying_key(sk.verifying_key());
        SecretKey { sk, public }
    }
    pub fn public(&self) -> &PublicKey {
        &self.public
    }
    /// Pure Ed25519 signature over `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.sk.sign(msg).to_bytes()
    }

    /// The encrypted PKCS#8 PEM of this key.
    pub fn to_encrypted_pem(&self, pass: &Passphrase) -> Result<Zeroizing<String>, KeyError> {
        if pass.is_empty() {
            return Err(KeyError::EmptyPassphrase);
        }
        // PKCS#8 v1 (RFC 5208: the private key only, no public key field): the form that
        // OpenSSL and pyca/cryptography read.
        let mut kp = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.sk.to_bytes(),
            public_key: None,
        };
        let doc = kp.to_pkcs8_der();
        kp.secret_key.zeroize();
        let doc = doc.map_err(|e| KeyError::Encrypt(e.to_string()))?;
        let info = pkcs8::PrivateKeyInfoRef::try_from(doc.as_bytes())
            .map_err(|e| KeyError::Encrypt(e.to_string()))?;
        let enc = info
            .encrypt(pass.bytes())
            .map_err(|e| KeyError::Encrypt(e.to_string()))?;
        let pem = enc
            .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
            .map_err(|e| KeyError::Encrypt(e.to_string()))?;
        Ok(pem)
    }

    /// Read an encrypted private key file: refuses files readable by group or others, then
    /// decrypts with the passphrase.
    pub fn read(path: &Path, pass: &Passphrase) -> Result<SecretKey, KeyError> {
        check_private_mode(path)?;
        let text = Zeroizing::new(fsutil::read_to_string(path)?);
        let format = |reason: String| KeyError::Format {
            path: path.to_path_buf(),
            expected: "PEM \"ENCRYPTED PRIVATE KEY\" (PKCS#8, PBES2)",
            reason,
        };
        let (label, doc) =
            pkcs8::SecretDocument::from_pem(text.trim()).map_err(|e| format(e.to_string()))?;
        if label != "ENCRYPTED PRIVATE KEY" {
            return Err(format(format!(
                "the PEM label is {label:?}; relsign only reads encrypted keys"
            )));
        }
        let enc = pkcs8::EncryptedPrivateKeyInfoRef::try_from(doc.as_bytes())
            .map_err(|e| format(e.to_string()))?;
        let plain = enc.decrypt(pass.bytes()).map_err(|_| KeyError::Decrypt {
            path: path.to_path_buf(),
        })?;
        let sk = SigningKey::from_pkcs8_der(plain.as_bytes()).map_err(|_| KeyError::Decrypt {
            path: path.to_path_buf(),
        })?;
        let public = PublicKey::from_verifying_key(sk.verifying_key());
        Ok(SecretKey { sk, public })
    }
}

/// Refuse a private key file that group or others may read or write.
pub fn check_private_mode(path: &Path) -> Result<(), KeyError> {
    let meta = std::fs::metadata(path).map_err(fsutil::err("stat", path))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// The two files `key generate` writes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GeneratedKey {
    pub private_key: PathBuf,
    pub public_key: PathBuf,
    pub key_id: String,
}

/// `PREFIX.key` (encrypted, mode 0600) and `PREFIX.pub`.
pub fn key_paths(prefix: &Path) -> (PathBuf, PathBuf) {
    let mut k = prefix.as_os_str().to_owned();
    k.push(".key");
    let mut p = prefix.as_os_str().to_owned();
    p.push(".pub");
    (PathBuf::from(k), PathBuf::from(p))
}

/// Generate a key pair and write `PREFIX.key` (mode 0600 from creation) and `PREFIX.pub`.
pub fn generate(prefix: &Path, pass: &Passphrase, force: bool) -> Result<GeneratedKey, KeyError> {
    let (key_path, pub_path) = key_paths(prefix);
    if !force {
        for p in [&key_path, &pub_path] {
            if p.exists() {
                return Err(KeyError::Exists { path: p.clone() });
            }
        }
    }
    let sk = SecretKey::generate()?;
    let pem = sk.to_encrypted_pem(pass)?;
    write_private(&key_path, pem.as_bytes())?;
    fsutil::write_atomic(&pub_path, sk.public.to_pem().as_bytes())?;
    std::fs::set_permissions(&pub_path, std::fs::Permissions::from_mode(0o644))
        .map_err(fsutil::err("chmod 644", &pub_path))?;
    Ok(GeneratedKey {
        private_key: key_path,
        public_key: pub_path,
        key_id: sk.public.id.clone(),
    })
}

/// Write a secret file atomically; the temp file is created with mode 0600, so the content is
/// never readable by others, not even for an instant.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let dir = fsutil::parent_dir(path);
    fsutil::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".relsign-key-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(fsutil::err("create temp file in", dir))?;
    tmp.as_file_mut()
        .write_all(bytes)
        .map_err(fsutil::err("write", path))?;
    tmp.as_file()
        .sync_all()
        .map_err(fsutil::err("fsync", path))?;
    tmp.persist(path).map_err(|e| FsError {
        op: "rename into",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    // Belt and braces: the mode of the final file, whatever the umask did.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(fsutil::err("chmod 600", path))?;
    fsutil::sync_dir(dir)?;
    Ok(())
}

/// Open a file for a secret with mode 0600 at creation (used for passphrase files in tests and
/// the demo).
pub fn create_private_file(path: &Path) -> Result<std::fs::File, FsError> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fsutil::err("create", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypt_decrypt_roundtrip_and_wrong_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("k");
        let pass = Passphrase::new("correct horse\n".into());
        let g = generate(&prefix, &pass, false).unwrap();
        let mode = std::fs::metadata(&g.private_key)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&g.private_key).unwrap();
        assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let sk = SecretKey::read(&g.private_key, &Passphrase::new("correct horse".into())).unwrap();
        let pk = PublicKey::read(&g.public_key).unwrap();
        assert_eq!(sk.public().key_id(), pk.key_id());
        assert_eq!(pk.key_id(), g.key_id);
        let sig = sk.sign(b"msg");
        assert!(pk.verify(b"msg", &sig));
        assert!(!pk.verify(b"msh", &sig));
        let e = SecretKey::read(&g.private_key, &Passphrase::new("wrong".into())).unwrap_err();
        assert!(matches!(e, KeyError::Decrypt { .. }), "{e}");
        std::fs::set_permissions(&g.private_key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = SecretKey::read(&g.private_key, &pass).unwrap_err();
        assert!(e.to_string().contains("mode 0644"), "{e}");
        assert!(matches!(
            generate(&prefix, &pass, false),
            Err(KeyError::Exists { .. })
        ));
    }

    #[test]
    fn key_id_is_base64_sha256_of_spki() {
        let sk = SecretKey::from_seed(&[7u8; 32]);
        let der = sk.public().spki_der().to_vec();
        assert_eq!(der.len(), 44); // 12-byte SPKI prefix + 32-byte key
        assert_eq!(
            sk.public().key_id(),
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&der))
        );
        let pem = sk.public().to_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let again = PublicKey::from_pem(&pem, Path::new("x")).unwrap();
        assert_eq!(again, *sk.public());
    }
}
