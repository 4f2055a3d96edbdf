//! Fulcio certificates: what relsign reads of an X.509 certificate (through `x509-cert`), and
//! the ECDSA checks on it.
//!
//! Read: the to-be-signed bytes exactly as they are in the DER (not re-encoded), the signature
//! algorithm (ECDSA with SHA-256 or SHA-384), the subject's P-256 key, the validity window,
//! the SAN (URI and e-mail names: the OIDC subject), the OIDC issuer (Fulcio's extension
//! 1.3.6.1.4.1.57264.1.8, a UTF8String, or the legacy 1.3.6.1.4.1.57264.1.1, raw bytes), and
//! whether extended key usage allows code signing.

use der::asn1::Utf8StringRef;
use der::{Decode, Encode};
use p256::ecdsa::{signature::hazmat::PrehashVerifier, DerSignature, VerifyingKey};
use sha2::Digest as _;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
use x509_cert::Certificate;

/// The largest certificate accepted (Fulcio's are about 1 KiB).
pub const MAX_CERT: usize = 16 << 10;

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const OID_ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const OID_CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
/// Fulcio's OIDC issuer extension (V2, a DER UTF8String).
pub const OID_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
/// Fulcio's legacy OIDC issuer extension (V1, the raw string).
pub const OID_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";

/// A parsed certificate.
#[derive(Debug, Clone)]
pub struct Cert {
    pub der: Vec<u8>,
    /// The subject's SubjectPublicKeyInfo, DER.
    pub spki: Vec<u8>,
    tbs: Vec<u8>,
    sha384: bool,
    signature: Vec<u8>,
    pub key: VerifyingKey,
    pub not_before: i64,
    pub not_after: i64,
    /// URI and e-mail SAN entries.
    pub san: Vec<String>,
    /// The OIDC issuer (V2 extension, else the legacy V1).
    pub issuer: Option<String>,
    pub code_signing: bool,
}

/// The first TLV inside the outer SEQUENCE of `der` (a certificate's TBSCertificate), as
/// bytes.
fn first_inner_tlv(der: &[u8]) -> Option<&[u8]> {
    fn header(b: &[u8]) -> Option<(usize, usize)> {
        // (header length, content length), definite lengths only.
        let first = *b.get(1)?;
        if first < 0x80 {
            return Some((2, first as usize));
        }
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || b.len() < 2 + n {
            return None;
        }
        let len = b[2..2 + n]
            .iter()
            .fold(0usize, |a, &x| (a << 8) | x as usize);
        Some((2 + n, len))
    }
    if der.first() != Some(&0x30) {
        return None;
    }
    let (h, len) = header(der)?;
    let inner = der.get(h..h.checked_add(len)?)?;
    if inner.first() != Some(&0x30) {
        return None;
    }
    let (h2, len2) = header(inner)?;
    inner.get(..h2.checked_add(len2)?)
}

/// A P-256 key from a DER SubjectPublicKeyInfo's parts.
fn p256_key(spki: &x509_cert::spki::SubjectPublicKeyInfoOwned) -> Result<VerifyingKey, String> {
    if spki.algorithm.oid.to_string() != OID_EC_PUBLIC_KEY {
        return Err(format!("key algorithm {} is not EC", spki.algorithm.oid));
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok())
        .map(|o| o.to_string());
    if curve.as_deref() != Some(OID_P256) {
        return Err(format!("key curve {curve:?} is not P-256"));
    }
    let point = spki
        .subject_public_key
        .as_bytes()
        .ok_or("key: not whole bytes")?;
    VerifyingKey::from_sec1_bytes(point).map_err(|e| format!("key: {e}"))
}

/// The SPKI DER of a P-256 key (uncompressed point): the fixed RFC 5480 prefix and the point.
pub fn spki_der(key: &VerifyingKey) -> Vec<u8> {
    const PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    let mut v = PREFIX.to_vec();
    v.extend_from_slice(key.to_sec1_point(false).as_bytes());
    v
}

/// A P-256 key from SPKI DER bytes.
pub fn key_from_spki(der: &[u8]) -> Result<VerifyingKey, String> {
    let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(der)
        .map_err(|e| format!("not a SubjectPublicKeyInfo: {e}"))?;
    p256_key(&spki)
}

/// PEM armour of DER bytes under `label`.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b = crate::dsse::b64(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in b.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).expect("base64"));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// The DER bytes of each `CERTIFICATE` block of a PEM text.
pub fn pem_certs(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("-----BEGIN CERTIFICATE-----") {
        let body = &rest[i + 27..];
        let j = body
            .find("-----END CERTIFICATE-----")
            .ok_or("a certificate without its END line")?;
        let b64: String = body[..j].split_whitespace().collect();
        out.push(crate::dsse::b64_decode(&b64).ok_or("a certificate that is not base64")?);
        rest = &body[j..];
        if out.len() > 8 {
            return Err("more than 8 certificates".into());
        }
    }
    Ok(out)
}

fn issuer_ext(c: &Certificate) -> Option<String> {
    let exts = c.tbs_certificate().extensions()?;
    let find = |oid: &str| exts.iter().find(|e| e.extn_id.to_string() == oid);
    if let Some(e) = find(OID_ISSUER_V2) {
        return Utf8StringRef::from_der(e.extn_value.as_bytes())
            .ok()
            .map(|s| s.as_str().to_string());
    }
    find(OID_ISSUER_V1).and_then(|e| String::from_utf8(e.extn_value.as_bytes().to_vec()).ok())
}

impl Cert {
    /// Parse DER bytes (at most [`MAX_CERT`]).
    pub fn from_der(der: &[u8]) -> Result<Cert, String> {
        if der.len() > MAX_CERT {
            return Err(format!("{} bytes, over the limit of {MAX_CERT}", der.len()));
        }
        let c = Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
        if c.to_der().ok().as_deref() != Some(der) {
            return Err("not DER (it does not re-encode to the same bytes)".into());
        }
        let tbs = first_inner_tlv(der).ok_or("no TBSCertificate")?.to_vec();
        let alg = c.signature_algorithm().oid.to_string();
        let sha384 = match alg.as_str() {
            OID_ECDSA_SHA256 => false,
            OID_ECDSA_SHA384 => true,
            other => return Err(format!("signature algorithm {other} is not ECDSA")),
        };
        let t = c.tbs_certificate();
        let key = p256_key(t.subject_public_key_info())?;
        let v = t.validity();
        let secs = |x: x509_cert::time::Time| x.to_unix_duration().as_secs() as i64;
        let mut san = Vec::new();
        if let Ok(Some((_, SubjectAltName(names)))) = t.get_extension::<SubjectAltName>() {
            for n in names {
                match n {
                    GeneralName::UniformResourceIdentifier(s) | GeneralName::Rfc822Name(s) => {
                        san.push(s.to_string())
                    }
                    _ => {}
                }
            }
        }
        let code_signing = matches!(t.get_extension::<ExtendedKeyUsage>(),
            Ok(Some((_, ExtendedKeyUsage(u)))) if u.iter().any(|o| o.to_string() == OID_CODE_SIGNING));
        let spki = t
            .subject_public_key_info()
            .to_der()
            .map_err(|e| format!("key: {e}"))?;
        Ok(Cert {
            der: der.to_vec(),
            spki,
            tbs,
            sha384,
            signature: c
                .signature()
                .as_bytes()
                .ok_or("signature: not whole bytes")?
                .to_vec(),
            key,
            not_before: secs(v.not_before),
            not_after: secs(v.not_after),
            san,
            issuer: issuer_ext(&c),
            code_signing,
        })
    }

    /// The TBSCertificate's bytes, as they are in the DER.
    pub fn tbs(&self) -> &[u8] {
        &self.tbs
    }

    /// This certificate's signature verifies with `issuer`'s key.
    pub fn verify_issued_by(&self, issuer: &Cert) -> Result<(), String> {
        let sig = DerSignature::from_bytes(&self.signature)
            .map_err(|e| format!("signature: not DER ECDSA: {e}"))?;
        let prehash = if self.sha384 {
            sha2::Sha384::digest(&self.tbs).to_vec()
        } else {
            sha2::Sha256::digest(&self.tbs).to_vec()
        };
        issuer
            .key
            .verify_prehash(&prehash, &sig)
            .map_err(|_| "its signature does not verify with the CA's key".to_string())
    }
}

/// An ECDSA P-256 SHA-256 signature (DER) over `msg` by `key`.
pub fn verify_sha256(key: &VerifyingKey, msg: &[u8], sig_der: &[u8]) -> Result<(), String> {
    let sig = DerSignature::from_bytes(sig_der).map_err(|e| format!("not DER ECDSA: {e}"))?;
    let h = sha2::Sha256::digest(msg);
    key.verify_prehash(&h, &sig)
        .map_err(|_| "the signature does not verify".to_string())
}
