//! Explain the first difference between two build outputs: tar (plain or gzip/zstd), zip and
//! wheels, OCI layouts (index, manifest, each layer, then the config) and JSON. Used by
//! `relsign compare` and, for audit, by rebuilds.

use crate::digest::Sha256Hex;
use crate::fsutil;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Fs(#[from] fsutil::FsError),
    #[error("{file}: {reason}")]
    Format { file: String, reason: String },
}

/// The first difference found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Difference {
    /// Where: an archive entry, a JSON path, a layer.
    pub location: String,
    /// What differs: content, mode, mtime, owner, order, type, size, missing, link, header,
    /// compression.
    pub what: String,
    pub left: String,
    pub right: String,
}

fn diff(
    location: impl Into<String>,
    what: &str,
    left: impl ToString,
    right: impl ToString,
) -> Option<Difference> {
    Some(Difference {
        location: location.into(),
        what: what.into(),
        left: left.to_string(),
        right: right.to_string(),
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Gzip,
    Zstd,
    Zip,
    Tar,
    Json,
    Bytes,
}

fn sniff(bytes: &[u8]) -> Kind {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        Kind::Gzip
    } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Kind::Zstd
    } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        Kind::Zip
    } else if bytes.len() > 262 && &bytes[257..262] == b"ustar" {
        Kind::Tar
    } else if serde_json::from_slice::<serde_json::Value>(bytes).is_ok() {
        Kind::Json
    } else {
        Kind::Bytes
    }
}

/// Compare two files or OCI layouts; None when they are identical.
pub fn compare_paths(a: &Path, b: &Path) -> Result<Option<Difference>, CompareError> {
    if a.is_dir() || b.is_dir() {
        return compare_layouts(a, b);
    }
    let (ba, bb) = (fsutil::read(a)?, fsutil::read(b)?);
    compare_bytes(&ba, &bb, a, "")
}

fn compare_bytes(
    ba: &[u8],
    bb: &[u8],
    shown: &Path,
    prefix: &str,
) -> Result<Option<Difference>, CompareError> {
    if ba == bb {
        return Ok(None);
    }
    match compare_structured(ba, bb, shown, prefix) {
        Ok(d) => Ok(d),
        // One side does not parse (a corrupted archive): report the first differing byte.
        Err(e) => Ok(byte_diff(
            ba,
            bb,
            prefix,
            &format!(" (not readable as an archive: {e})"),
        )),
    }
}

fn byte_diff(ba: &[u8], bb: &[u8], prefix: &str, note: &str) -> Option<Difference> {
    let at = ba
        .iter()
        .zip(bb)
        .position(|(x, y)| x != y)
        .unwrap_or(ba.len().min(bb.len()));
    diff(
        format!("{prefix}@byte {at}"),
        "content",
        format!("{} bytes, sha256:{}{note}", ba.len(), Sha256Hex::of(ba)),
        format!("{} bytes, sha256:{}", bb.len(), Sha256Hex::of(bb)),
    )
}

fn compare_structured(
    ba: &[u8],
    bb: &[u8],
    shown: &Path,
    prefix: &str,
) -> Result<Option<Difference>, CompareError> {
    let (ka, kb) = (sniff(ba), sniff(bb));
    if ka != kb {
        // At the top level the location is the file itself.
        let at = if prefix.is_empty() {
            shown
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        } else {
            prefix.to_string()
        };
        return Ok(diff(&at, "type", format!("{ka:?}"), format!("{kb:?}")));
    }
    let ferr = |e: io::Error| CompareError::Format {
        file: shown.display().to_string(),
        reason: e.to_string(),
    };
    match ka {
        Kind::Gzip | Kind::Zstd => {
            let un = |b: &[u8]| -> io::Result<Vec<u8>> {
                let mut v = Vec::new();
                if ka == Kind::Gzip {
                    flate2::read::MultiGzDecoder::new(b).read_to_end(&mut v)?;
                } else {
                    zstd::stream::read::Decoder::new(b)?.read_to_end(&mut v)?;
                }
                Ok(v)
            };
            let (ua, ub) = (un(ba).map_err(ferr)?, un(bb).map_err(ferr)?);
            if ua == ub {
                // Same content: the compressed stream differs (header, level or implementation).
                let what =
                    if ka == Kind::Gzip && ba.len() >= 10 && bb.len() >= 10 && ba[..10] != bb[..10]
                    {
                        "header"
                    } else {
                        "compression"
                    };
                return Ok(diff(
                    prefix,
                    what,
                    format!("{} bytes", ba.len()),
                    format!("{} bytes", bb.len()),
                ));
            }
            compare_bytes(&ua, &ub, shown, prefix)
        }
        Kind::Tar => compare_tars(ba, bb, prefix).map_err(ferr),
        Kind::Zip => compare_zips(ba, bb, prefix, shown),
        Kind::Json => {
            let va: serde_json::Value = serde_json::from_slice(ba).unwrap_or_default();
            let vb: serde_json::Value = serde_json::from_slice(bb).unwrap_or_default();
            Ok(
                compare_json(&va, &vb, if prefix.is_empty() { "$" } else { prefix }).or_else(
                    || {
                        diff(
                            prefix,
                            "serialization",
                            format!("{} bytes", ba.len()),
                            format!("{} bytes", bb.len()),
                        )
                    },
                ),
            )
        }
        Kind::Bytes => {
            let at = ba
                .iter()
                .zip(bb)
                .position(|(x, y)| x != y)
                .unwrap_or(ba.len().min(bb.len()));
            Ok(diff(
                format!("{prefix}@{at}"),
                "content",
                format!("{} bytes, sha256:{}", ba.len(), Sha256Hex::of(ba)),
                format!("{} bytes, sha256:{}", bb.len(), Sha256Hex::of(bb)),
            ))
        }
    }
}

struct TarEntry {
    path: String,
    kind: String,
    mode: u32,
    uid: u64,
    gid: u64,
    uname: String,
    gname: String,
    mtime: u64,
    link: String,
    data: Vec<u8>,
}

fn tar_entries(bytes: &[u8]) -> io::Result<Vec<TarEntry>> {
    let mut ar = tar::Archive::new(bytes);
    let mut out = Vec::new();
    for e in ar.entries()? {
        let mut e = e?;
        let h = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data)?;
        out.push(TarEntry {
            path: String::from_utf8_lossy(&e.path_bytes()).into_owned(),
            kind: format!("{:?}", h.entry_type()),
            mode: h.mode().unwrap_or(0),
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            uname: h.username().ok().flatten().unwrap_or("").to_string(),
            gname: h.groupname().ok().flatten().unwrap_or("").to_string(),
            mtime: h.mtime().unwrap_or(0),
            link: e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default(),
            data,
        });
    }
    Ok(out)
}

fn compare_tars(ba: &[u8], bb: &[u8], prefix: &str) -> io::Result<Option<Difference>> {
    let (ea, eb) = (tar_entries(ba)?, tar_entries(bb)?);
    let loc = |p: &str| {
        if prefix.is_empty() {
            p.to_string()
        } else {
            format!("{prefix}:{p}")
        }
    };
    for (i, (x, y)) in ea.iter().zip(&eb).enumerate() {
        if x.path != y.path {
            let what = if eb.iter().any(|e| e.path == x.path) {
                "order"
            } else {
                "missing"
            };
            return Ok(diff(
                loc(&x.path),
                what,
                format!("entry {i}: {}", x.path),
                format!("entry {i}: {}", y.path),
            ));
        }
        let p = loc(&x.path);
        if x.kind != y.kind {
            return Ok(diff(p, "type", &x.kind, &y.kind));
        }
        if x.data != y.data {
            return Ok(diff(
                p,
                "content",
                format!("{} bytes, sha256:{}", x.data.len(), Sha256Hex::of(&x.data)),
                format!("{} bytes, sha256:{}", y.data.len(), Sha256Hex::of(&y.data)),
            ));
        }
        if x.link != y.link {
            return Ok(diff(p, "link", &x.link, &y.link));
        }
        if x.mode != y.mode {
            return Ok(diff(
                p,
                "mode",
                format!("{:o}", x.mode),
                format!("{:o}", y.mode),
            ));
        }
        if (x.uid, x.gid, &x.uname, &x.gname) != (y.uid, y.gid, &y.uname, &y.gname) {
            return Ok(diff(
                p,
                "owner",
                format!("{}:{} ({}:{})", x.uid, x.gid, x.uname, x.gname),
                format!("{}:{} ({}:{})", y.uid, y.gid, y.uname, y.gname),
            ));
        }
        if x.mtime != y.mtime {
            return Ok(diff(p, "mtime", x.mtime, y.mtime));
        }
    }
    if ea.len() != eb.len() {
        let (n, extra, side) = if ea.len() > eb.len() {
            (eb.len(), &ea[eb.len()].path, "left")
        } else {
            (ea.len(), &eb[ea.len()].path, "right")
        };
        return Ok(diff(
            loc(extra),
            "missing",
            format!("{} entries", ea.len()),
            format!("{} entries (first extra at {n}, on the {side})", eb.len()),
        ));
    }
    // Same entries and metadata: the difference is in headers (PAX records, formats) or padding.
    Ok(diff(
        prefix,
        "header",
        format!("{} bytes", ba.len()),
        format!("{} bytes", bb.len()),
    ))
}

fn compare_zips(
    ba: &[u8],
    bb: &[u8],
    prefix: &str,
    shown: &Path,
) -> Result<Option<Difference>, CompareError> {
    let zerr = |e: zip::result::ZipError| CompareError::Format {
        file: shown.display().to_string(),
        reason: e.to_string(),
    };
    let mut za = zip::ZipArchive::new(io::Cursor::new(ba)).map_err(zerr)?;
    let mut zb = zip::ZipArchive::new(io::Cursor::new(bb)).map_err(zerr)?;
    let names = |z: &mut zip::ZipArchive<io::Cursor<&[u8]>>| -> Result<Vec<String>, CompareError> {
        (0..z.len())
            .map(|i| {
                Ok(z.by_index_raw(i)
                    .map_err(zerr)?
                    .name()
                    .map_err(zerr)?
                    .to_string())
            })
            .collect()
    };
    let (na, nb) = (names(&mut za)?, names(&mut zb)?);
    let loc = |p: &str| {
        if prefix.is_empty() {
            p.to_string()
        } else {
            format!("{prefix}:{p}")
        }
    };
    for (i, (x, y)) in na.iter().zip(&nb).enumerate() {
        if x != y {
            let what = if nb.contains(x) { "order" } else { "missing" };
            return Ok(diff(
                loc(x),
                what,
                format!("entry {i}: {x}"),
                format!("entry {i}: {y}"),
            ));
        }
        let mut ex = za.by_name(x).map_err(zerr)?;
        let (mode_x, time_x, method_x) = (ex.unix_mode(), ex.last_modified(), ex.compression());
        let mut dx = Vec::new();
        ex.read_to_end(&mut dx).map_err(|e| CompareError::Format {
            file: shown.display().to_string(),
            reason: e.to_string(),
        })?;
        drop(ex);
        let mut ey = zb.by_name(y).map_err(zerr)?;
        let (mode_y, time_y, method_y) = (ey.unix_mode(), ey.last_modified(), ey.compression());
        let mut dy = Vec::new();
        ey.read_to_end(&mut dy).map_err(|e| CompareError::Format {
            file: shown.display().to_string(),
            reason: e.to_string(),
        })?;
        let p = loc(x);
        if dx != dy {
            return Ok(diff(
                p,
                "content",
                format!("{} bytes, sha256:{}", dx.len(), Sha256Hex::of(&dx)),
                format!("{} bytes, sha256:{}", dy.len(), Sha256Hex::of(&dy)),
            ));
        }
        if mode_x != mode_y {
            return Ok(diff(
                p,
                "mode",
                format!("{:o}", mode_x.unwrap_or(0)),
                format!("{:o}", mode_y.unwrap_or(0)),
            ));
        }
        if time_x != time_y {
            return Ok(diff(p, "mtime", zip_time(time_x), zip_time(time_y)));
        }
        if method_x != method_y {
            return Ok(diff(
                p,
                "compression",
                format!("{method_x:?}"),
                format!("{method_y:?}"),
            ));
        }
    }
    if na.len() != nb.len() {
        let extra = if na.len() > nb.len() {
            &na[nb.len()]
        } else {
            &nb[na.len()]
        };
        return Ok(diff(
            loc(extra),
            "missing",
            format!("{} entries", na.len()),
            format!("{} entries", nb.len()),
        ));
    }
    Ok(diff(
        prefix,
        "header",
        format!("{} bytes", ba.len()),
        format!("{} bytes", bb.len()),
    ))
}

/// The first JSON path where two values differ (object keys compared in sorted order).
pub fn compare_json(
    a: &serde_json::Value,
    b: &serde_json::Value,
    path: &str,
) -> Option<Difference> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => {
                        if let Some(d) = compare_json(va, vb, &p) {
                            return Some(d);
                        }
                    }
                    (va, vb) => {
                        return diff(
                            p,
                            "missing",
                            va.map(|v| v.to_string()).unwrap_or("(absent)".into()),
                            vb.map(|v| v.to_string()).unwrap_or("(absent)".into()),
                        )
                    }
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                if let Some(d) = compare_json(va, vb, &format!("{path}[{i}]")) {
                    return Some(d);
                }
            }
            if x.len() != y.len() {
                return diff(
                    path,
                    "size",
                    format!("{} items", x.len()),
                    format!("{} items", y.len()),
                );
            }
            None
        }
        _ if a == b => None,
        _ => diff(path, "content", a, b),
    }
}

fn compare_layouts(a: &Path, b: &Path) -> Result<Option<Difference>, CompareError> {
    use crate::oci::Layout;
    let open = |p: &Path| {
        Layout::open(p).map_err(|e| CompareError::Format {
            file: p.display().to_string(),
            reason: e.to_string(),
        })
    };
    let (la, lb) = (open(a)?, open(b)?);
    fn oerr(p: &Path) -> impl Fn(crate::oci::OciError) -> CompareError {
        let file = p.display().to_string();
        move |e| CompareError::Format {
            file: file.clone(),
            reason: e.to_string(),
        }
    }
    let (ia, ib) = (
        la.read_index().map_err(oerr(a))?,
        lb.read_index().map_err(oerr(b))?,
    );
    let (ma, mb) = (ia.manifests.first(), ib.manifests.first());
    let (Some(ma), Some(mb)) = (ma, mb) else {
        return Ok(diff(
            "index.json",
            "missing",
            ia.manifests.len(),
            ib.manifests.len(),
        ));
    };
    if ma.digest == mb.digest {
        return Ok(None);
    }
    let (ja, jb) = (
        la.read_manifest(ma).map_err(oerr(a))?,
        lb.read_manifest(mb).map_err(oerr(b))?,
    );
    for (i, (x, y)) in ja.layers.iter().zip(&jb.layers).enumerate() {
        if x.digest != y.digest {
            let (bx, by) = (
                la.read_blob(x).map_err(oerr(a))?,
                lb.read_blob(y).map_err(oerr(b))?,
            );
            return compare_bytes(&bx, &by, a, &format!("layer {i} ({})", x.digest));
        }
    }
    if ja.layers.len() != jb.layers.len() {
        return Ok(diff(
            "manifest.layers",
            "size",
            ja.layers.len(),
            jb.layers.len(),
        ));
    }
    if ja.config.digest != jb.config.digest {
        let (bx, by) = (
            la.read_blob(&ja.config).map_err(oerr(a))?,
            lb.read_blob(&jb.config).map_err(oerr(b))?,
        );
        return compare_bytes(&bx, &by, a, "config");
    }
    let (bx, by) = (
        la.read_blob(ma).map_err(oerr(a))?,
        lb.read_blob(mb).map_err(oerr(b))?,
    );
    compare_bytes(&bx, &by, a, "manifest")
}

/// A zip entry's MS-DOS timestamp as `YYYY-MM-DD hh:mm:ss` (zips keep local time, no zone).
fn zip_time(t: Option<zip::DateTime>) -> String {
    match t {
        Some(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        None => "none".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::tarw::{Kind as K, TarWriter};

    fn tar(entries: &[(&str, u32, u64, &[u8])]) -> Vec<u8> {
        let mut w = TarWriter::new(Vec::new(), 1000);
        for (p, mode, mtime, data) in entries {
            w.append(
                p,
                &K::File,
                *mode,
                data.len() as u64,
                *mtime,
                &mut &data[..],
            )
            .unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn names_the_entry_and_what_differs() {
        let base = tar(&[("a", 0o644, 5, b"x"), ("b", 0o644, 5, b"y")]);
        let p = Path::new("t.tar");
        assert_eq!(compare_bytes(&base, &base, p, "").unwrap(), None);
        let content = tar(&[("a", 0o644, 5, b"x"), ("b", 0o644, 5, b"z")]);
        let d = compare_bytes(&base, &content, p, "").unwrap().unwrap();
        assert_eq!((d.location.as_str(), d.what.as_str()), ("b", "content"));
        let mode = tar(&[("a", 0o755, 5, b"x"), ("b", 0o644, 5, b"y")]);
        assert_eq!(
            compare_bytes(&base, &mode, p, "").unwrap().unwrap().what,
            "mode"
        );
        let mtime = tar(&[("a", 0o644, 4, b"x"), ("b", 0o644, 5, b"y")]);
        assert_eq!(
            compare_bytes(&base, &mtime, p, "").unwrap().unwrap().what,
            "mtime"
        );
        let order = tar(&[("b", 0o644, 5, b"y"), ("a", 0o644, 5, b"x")]);
        assert_eq!(
            compare_bytes(&base, &order, p, "").unwrap().unwrap().what,
            "order"
        );
    }

    #[test]
    fn json_paths() {
        let a: serde_json::Value = serde_json::json!({"x": {"y": [1, 2]}, "z": 1});
        let b: serde_json::Value = serde_json::json!({"x": {"y": [1, 3]}, "z": 1});
        let d = compare_json(&a, &b, "$").unwrap();
        assert_eq!(d.location, "$.x.y[1]");
    }
}

/// One entry of a full comparison: the entry and every aspect in which it differs.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EntryDifference {
    pub entry: String,
    /// content, mode, mtime, compression, order, only-left, only-right.
    pub what: Vec<String>,
}

/// Every entry in which two zips (wheels) differ, matched by name, in the left one's order
/// (then entries only on the right).
pub fn all_zip_differences(a: &Path, b: &Path) -> Result<Vec<EntryDifference>, CompareError> {
    struct E {
        index: usize,
        mode: Option<u32>,
        time: String,
        method: String,
        sha: Sha256Hex,
    }
    let read = |p: &Path| -> Result<(Vec<String>, BTreeMap<String, E>), CompareError> {
        let zerr = |e: zip::result::ZipError| CompareError::Format {
            file: p.display().to_string(),
            reason: e.to_string(),
        };
        let bytes = fsutil::read(p)?;
        let mut z = zip::ZipArchive::new(io::Cursor::new(bytes)).map_err(zerr)?;
        let mut order = Vec::new();
        let mut m = BTreeMap::new();
        for i in 0..z.len() {
            let mut e = z.by_index(i).map_err(zerr)?;
            let name = e.name().map_err(zerr)?.to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data)
                .map_err(|err| CompareError::Format {
                    file: p.display().to_string(),
                    reason: format!("{name}: {err}"),
                })?;
            order.push(name.clone());
            m.insert(
                name,
                E {
                    index: i,
                    mode: e.unix_mode(),
                    time: zip_time(e.last_modified()),
                    method: format!("{:?}", e.compression()),
                    sha: Sha256Hex::of(&data),
                },
            );
        }
        Ok((order, m))
    };
    let (oa, ma) = read(a)?;
    let (ob, mb) = read(b)?;
    let mut out = Vec::new();
    for name in &oa {
        let x = &ma[name];
        let Some(y) = mb.get(name) else {
            out.push(EntryDifference {
                entry: name.clone(),
                what: vec!["only-left".into()],
            });
            continue;
        };
        let mut what = Vec::new();
        if x.sha != y.sha {
            what.push("content".to_string());
        }
        if x.mode != y.mode {
            what.push(format!(
                "mode ({:o} vs {:o})",
                x.mode.unwrap_or(0),
                y.mode.unwrap_or(0)
            ));
        }
        if x.time != y.time {
            what.push("mtime".into());
        }
        if x.method != y.method {
            what.push(format!("compression ({} vs {})", x.method, y.method));
        }
        if x.index != y.index {
            what.push(format!("order ({} vs {})", x.index, y.index));
        }
        if !what.is_empty() {
            out.push(EntryDifference {
                entry: name.clone(),
                what,
            });
        }
    }
    for name in &ob {
        if !ma.contains_key(name) {
            out.push(EntryDifference {
                entry: name.clone(),
                what: vec!["only-right".into()],
            });
        }
    }
    Ok(out)
}
