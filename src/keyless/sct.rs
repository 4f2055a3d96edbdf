//! Signed certificate timestamps embedded in a Fulcio certificate (RFC 6962 §3.2–3.3): the
//! promise of a certificate-transparency log that the certificate was logged, so that a
//! certificate the CA issued in secret is visible. [`verify_embedded`] requires at least one
//! SCT whose log is a CT log of the trusted root and whose signature verifies over the
//! precertificate: the issuer key's SHA-256 and the TBSCertificate without the SCT extension.
//!
//! The SCT list is parsed with limits: at most [`MAX_SCTS`] entries, every length inside the
//! extension, nothing left over.

use super::cert::{verify_sha256, Cert};
use super::root::TlogKey;

/// The SCT list extension.
pub const OID_SCT_LIST: &str = "1.3.6.1.4.1.11129.2.4.2";
/// The most SCTs read from one certificate.
pub const MAX_SCTS: usize = 16;

/// One SCT (v1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sct {
    pub log_id: Vec<u8>,
    /// Milliseconds since the epoch.
    pub timestamp: u64,
    pub extensions: Vec<u8>,
    pub signature: Vec<u8>,
}

/// A reader of TLS-encoded bytes that refuses to read past the end.
struct Tls<'a>(&'a [u8]);

impl<'a> Tls<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn uint(&mut self, n: usize) -> Result<u64, String> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |a, &b| (a << 8) | u64::from(b)))
    }
    fn vec16(&mut self) -> Result<&'a [u8], String> {
        let n = self.uint(2)? as usize;
        self.take(n)
    }
}

impl Sct {
    fn parse(b: &[u8]) -> Result<Sct, String> {
        let mut r = Tls(b);
        let version = r.uint(1)?;
        if version != 0 {
            return Err(format!("version {version}, not v1"));
        }
        let log_id = r.take(32)?.to_vec();
        let timestamp = r.uint(8)?;
        let extensions = r.vec16()?.to_vec();
        let (hash, sig) = (r.uint(1)?, r.uint(1)?);
        if (hash, sig) != (4, 3) {
            return Err(format!(
                "signature algorithm (hash {hash}, signature {sig}), not ECDSA with SHA-256"
            ));
        }
        let signature = r.vec16()?.to_vec();
        if !r.0.is_empty() {
            return Err("bytes after the signature".into());
        }
        Ok(Sct {
            log_id,
            timestamp,
            extensions,
            signature,
        })
    }

    /// The signed bytes (RFC 6962 §3.2, a precert entry) over `precert` (the issuer key
    /// hash followed by the 24-bit length and the TBSCertificate).
    fn signed_data(&self, precert: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8, 0u8]; // v1, certificate_timestamp
        m.extend_from_slice(&self.timestamp.to_be_bytes());
        m.extend_from_slice(&[0, 1]); // precert_entry
        m.extend_from_slice(precert);
        m.extend_from_slice(&(self.extensions.len() as u16).to_be_bytes());
        m.extend_from_slice(&self.extensions);
        m
    }

    /// This SCT's signature over `precert` verifies with the log key `key`.
    pub fn verify(&self, precert: &[u8], key: &TlogKey) -> Result<(), String> {
        if key.log_id != self.log_id {
            return Err("another log's SCT".into());
        }
        verify_sha256(&key.key, &self.signed_data(precert), &self.signature)
    }
}

/// The SCTs of a certificate's SCT list extension (the extension's value: a DER OCTET STRING
/// holding the TLS-encoded list).
pub fn parse_list(ext_value: &[u8]) -> Result<Vec<Sct>, String> {
    use der::Decode;
    let inner = der::asn1::OctetString::from_der(ext_value)
        .map_err(|e| format!("SCT list: not an OCTET STRING: {e}"))?;
    let mut r = Tls(inner.as_bytes());
    let mut list = Tls(r.vec16().map_err(|e| format!("SCT list: {e}"))?);
    if !r.0.is_empty() {
        return Err("SCT list: bytes after the list".into());
    }
    let mut out = Vec::new();
    while !list.0.is_empty() {
        if out.len() == MAX_SCTS {
            return Err(format!("SCT list: more than {MAX_SCTS} SCTs"));
        }
        let one = list.vec16().map_err(|e| format!("SCT list: {e}"))?;
        out.push(Sct::parse(one).map_err(|e| format!("SCT[{}]: {e}", out.len()))?);
    }
    if out.is_empty() {
        return Err("SCT list: empty".into());
    }
    Ok(out)
}

/// A DER length.
fn der_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        return vec![n as u8];
    }
    let bytes: Vec<u8> = n
        .to_be_bytes()
        .into_iter()
        .skip_while(|&b| b == 0)
        .collect();
    let mut v = vec![0x80 | bytes.len() as u8];
    v.extend(bytes);
    v
}

/// A DER TLV.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend(der_len(content.len()));
    v.extend_from_slice(content);
    v
}

/// The certificate's SCTs and its precertificate bytes for them: SHA-256 of the issuer's
/// SubjectPublicKeyInfo, then the TBSCertificate with the SCT extension removed (re-encoded:
/// the extensions are its last field, so the bytes before them are kept as they are) with its
/// 24-bit length.
pub fn precert(leaf: &Cert, issuer: &Cert) -> Result<(Vec<Sct>, Vec<u8>), String> {
    use der::{Decode, Encode};
    use sha2::Digest as _;
    let c = x509_cert::Certificate::from_der(&leaf.der).map_err(|e| e.to_string())?;
    let exts = c
        .tbs_certificate()
        .extensions()
        .ok_or("the certificate has no extensions, so no SCT")?;
    let at = exts
        .iter()
        .position(|e| e.extn_id.to_string() == OID_SCT_LIST)
        .ok_or("the certificate carries no SCT")?;
    if exts
        .iter()
        .filter(|e| e.extn_id.to_string() == OID_SCT_LIST)
        .count()
        > 1
    {
        return Err("the certificate carries two SCT lists".into());
    }
    let scts = parse_list(exts[at].extn_value.as_bytes())?;
    let enc = |v: &Vec<x509_cert::ext::Extension>| v.to_der().map_err(|e| e.to_string());
    let old = tlv(0xa3, &enc(exts)?);
    let mut kept = exts.clone();
    kept.remove(at);
    let new = tlv(0xa3, &enc(&kept)?);
    // The TBSCertificate's content: everything after its own header.
    let tbs = leaf.tbs();
    let header = match tbs.get(1) {
        Some(&b) if b < 0x80 => 2,
        Some(&b) => 2 + usize::from(b & 0x7f),
        None => 0,
    };
    let content = tbs
        .get(header..)
        .filter(|c| c.len() + header == tbs.len() && c.ends_with(&old))
        .ok_or("the TBSCertificate does not end with its extensions")?;
    let mut body = content[..content.len() - old.len()].to_vec();
    body.extend(new);
    let tbs = tlv(0x30, &body);
    let mut out = sha2::Sha256::digest(&issuer.spki).to_vec();
    let n = tbs.len();
    if n >= 1 << 24 {
        return Err("the TBSCertificate is too long".into());
    }
    out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    out.extend(tbs);
    Ok((scts, out))
}

/// At least one of the leaf's SCTs is by a CT log of the trusted root and verifies over its
/// precertificate (issued by `issuer`). Returns the log ids of the SCTs that verified.
pub fn verify_embedded(
    leaf: &Cert,
    issuer: &Cert,
    ctlogs: &[TlogKey],
) -> Result<Vec<Vec<u8>>, String> {
    let (scts, pre) = precert(leaf, issuer).map_err(|e| format!("SCT: {e}"))?;
    let mut good = Vec::new();
    let mut why = Vec::new();
    for (i, s) in scts.iter().enumerate() {
        match ctlogs.iter().find(|k| k.log_id == s.log_id) {
            None => why.push(format!(
                "SCT[{i}]: its log is not a CT log of the trusted root"
            )),
            Some(k) => match s.verify(&pre, k) {
                Ok(()) => good.push(s.log_id.clone()),
                Err(e) => why.push(format!("SCT[{i}]: {e}")),
            },
        }
    }
    if good.is_empty() {
        return Err(format!(
            "no SCT verifies with a CT log of the trusted root ({})",
            why.join("; ")
        ));
    }
    Ok(good)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sct_bytes(sig: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8];
        b.extend([7u8; 32]);
        b.extend(1_700_000_000_000u64.to_be_bytes());
        b.extend([0, 0, 4, 3]);
        b.extend((sig.len() as u16).to_be_bytes());
        b.extend(sig);
        b
    }

    fn list(scts: &[Vec<u8>]) -> Vec<u8> {
        let mut l = Vec::new();
        for s in scts {
            l.extend((s.len() as u16).to_be_bytes());
            l.extend(s);
        }
        let mut t = (l.len() as u16).to_be_bytes().to_vec();
        t.extend(l);
        tlv(0x04, &t)
    }

    #[test]
    fn lists_parse_with_limits() {
        let one = sct_bytes(&[1, 2, 3]);
        let got = parse_list(&list(&[one.clone(), one.clone()])).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].log_id, vec![7u8; 32]);
        assert_eq!(got[0].timestamp, 1_700_000_000_000);
        assert_eq!(got[0].signature, vec![1, 2, 3]);
        let mut v2 = one.clone();
        v2[0] = 1;
        let mut rsa = one.clone();
        rsa[44] = 1;
        let mut trailing = one.clone();
        trailing.push(0);
        for (bad, why) in [
            (list(&[]), "empty"),
            (list(&[v2]), "not v1"),
            (list(&[rsa]), "not ECDSA with SHA-256"),
            (list(&[trailing]), "bytes after the signature"),
            (list(&[one[..20].to_vec()]), "truncated"),
            (list(&vec![one.clone(); MAX_SCTS + 1]), "more than 16"),
            (vec![0x04, 0x01, 0x00], "truncated"),
            (vec![0x02, 0x01, 0x00], "not an OCTET STRING"),
        ] {
            let e = parse_list(&bad).unwrap_err();
            assert!(e.contains(why), "{e} (wanted {why})");
        }
    }

    #[test]
    fn der_lengths() {
        assert_eq!(der_len(0x7f), vec![0x7f]);
        assert_eq!(der_len(0x80), vec![0x81, 0x80]);
        assert_eq!(der_len(0x1234), vec![0x82, 0x12, 0x34]);
    }
}
