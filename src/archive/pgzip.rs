//! Deterministic parallel gzip: the input is cut into fixed 1 MiB blocks; each block is
//! compressed on its own by libdeflate (level [`LEVEL`]) into one gzip member (libdeflate's
//! header: mtime 0, no name, OS 255; the block's CRC-32 and size), and the members are written
//! in order. RFC 1952 makes a gzip file a series of members, and gzip readers read them as one
//! stream: `gzip -d`, Go's `compress/gzip` (skopeo, umoci, containerd, syft), Python's `gzip`
//! and `tarfile`, flate2's `MultiGzDecoder` (relsign's own readers). Empty input is one
//! empty member.
//!
//! A block's bytes depend only on its data and the level, never on how many threads compressed
//! it or how the input was written, so the output is the same on 1, 2 or 64 cores. Memory
//! stays bounded: at most `threads × BATCH_PER_THREAD` blocks are held at once.

use std::io::{self, Write};

/// Input bytes per block (one gzip member each).
pub const BLOCK: usize = 1 << 20;
/// The libdeflate level, chosen by measurement on the demo's 73 MB layer (README, "Speed"):
/// level 5 in 1 MiB members is 0.8% smaller than `gzip -6` at about 4× its speed per core
/// (level 4: 0.6% larger, 5×; level 6: 1.3% smaller, 3.5×).
pub const LEVEL: i32 = 5;
/// Blocks per thread compressed in one batch.
const BATCH_PER_THREAD: usize = 4;

/// The identity recorded in provenance (`internalParameters.gzip`).
/// libdeflate's output may change between its versions, so the version is part of it (a test
/// keeps it equal to Cargo.lock's).
pub const IMPL: &str =
    "pgzip: libdeflate 1.26.1 level 5, one gzip member per 1 MiB block (mtime 0, OS 255)";

/// The number of compression threads: `$RELSIGN_THREADS` when set, else the machine's.
pub fn default_threads() -> usize {
    std::env::var("RELSIGN_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(crate::par::cores)
}

/// A gzip writer; call [`GzWriter::finish`] to write the last members.
pub struct GzWriter<W: Write> {
    inner: W,
    threads: usize,
    /// Input not yet compressed.
    pending: Vec<u8>,
    /// Whether a member was written.
    started: bool,
}

impl<W: Write> GzWriter<W> {
    pub fn new(inner: W) -> GzWriter<W> {
        GzWriter::with_threads(inner, default_threads())
    }

    pub fn with_threads(inner: W, threads: usize) -> GzWriter<W> {
        GzWriter {
            inner,
            threads: threads.clamp(1, 256),
            pending: Vec::new(),
            started: false,
        }
    }

    fn batch_bytes(&self) -> usize {
        self.threads * BATCH_PER_THREAD * BLOCK
    }

    /// Compress the full blocks of `pending` (and the last partial one when `all`).
    fn compress_pending(&mut self, all: bool) -> io::Result<()> {
        let n = if all {
            self.pending.len()
        } else {
            self.pending.len() / BLOCK * BLOCK
        };
        if n == 0 {
            return Ok(());
        }
        let data = &self.pending[..n];
        let blocks: Vec<&[u8]> = data.chunks(BLOCK).collect();
        let outs = crate::par::map(self.threads, &blocks, |b| member(b));
        for o in outs {
            self.inner.write_all(&o?)?;
        }
        self.started = true;
        self.pending.drain(..n);
        Ok(())
    }

    /// Compress what is left; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.compress_pending(true)?;
        if !self.started {
            self.inner.write_all(&member(&[])?)?;
        }
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for GzWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= self.batch_bytes() {
            self.compress_pending(false)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        // A member cannot end early without changing the bytes; the data is written at the
        // next full batch or at finish.
        self.inner.flush()
    }
}

/// One block as a gzip member.
fn member(data: &[u8]) -> io::Result<Vec<u8>> {
    let level = libdeflater::CompressionLvl::new(LEVEL)
        .map_err(|e| io::Error::other(format!("libdeflate level {LEVEL}: {e:?}")))?;
    let mut c = libdeflater::Compressor::new(level);
    let mut out = vec![0u8; c.gzip_compress_bound(data.len())];
    let n = c
        .gzip_compress(data, &mut out)
        .map_err(|e| io::Error::other(format!("libdeflate: {e:?}")))?;
    out.truncate(n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Compressible, not trivially: text-like runs with a slowly changing alphabet.
    fn sample(n: usize) -> Vec<u8> {
        let mut x: u32 = 12345;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if (x >> 16) % 7 == 0 {
                    b'a' + ((x >> 8) % 26) as u8
                } else {
                    b"the quick brown fox "[i % 20]
                }
            })
            .collect()
    }

    fn gz(data: &[u8], threads: usize, chunk: usize) -> Vec<u8> {
        let mut w = GzWriter::with_threads(Vec::new(), threads);
        for c in data.chunks(chunk.max(1)) {
            w.write_all(c).unwrap();
        }
        w.finish().unwrap()
    }

    /// The whole input back, through every member.
    fn gunzip(z: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(z)
            .read_to_end(&mut back)
            .unwrap();
        back
    }

    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

    #[test]
    fn the_same_bytes_on_1_2_and_16_threads_and_any_write_sizes() {
        let data = sample(3 * BATCH_PER_THREAD * BLOCK + 12_345);
        let one = gz(&data, 1, 1 << 20);
        assert_eq!(gz(&data, 2, 1 << 20), one);
        assert_eq!(gz(&data, 16, 1 << 20), one);
        assert_eq!(gz(&data, 2, 7_777), one);
        assert_eq!(gz(&data, 3, data.len()), one);
        // A gzip reader gets the input back, and `gzip -d` too.
        assert_eq!(gunzip(&one), data);
        let mut child = std::process::Command::new("gzip")
            .args(["-d", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("gzip is needed by this test");
        let mut stdin = child.stdin.take().unwrap();
        let input = one.clone();
        let feeder = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, data);
        assert!(
            one.len() < data.len() / 2,
            "{} of {}",
            one.len(),
            data.len()
        );
    }

    #[test]
    fn impl_names_the_locked_libdeflate() {
        let lock = include_str!("../../Cargo.lock");
        let v = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"libdeflate-sys\""))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
            .map(|v| v.trim_matches('"').to_string())
            .expect("libdeflate-sys in Cargo.lock");
        assert!(
            IMPL.contains(&format!("libdeflate {v} level {LEVEL},")),
            "IMPL says {IMPL:?}, Cargo.lock has libdeflate-sys {v}"
        );
    }

    #[test]
    fn edge_sizes_round_trip() {
        for n in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 12_345] {
            let data = sample(n);
            let z = gz(&data, 2, 1000);
            assert_eq!(&z[..10], &HEADER);
            // One member per block, an empty input one empty member.
            let members = z.windows(10).filter(|w| *w == HEADER).count();
            assert!(members >= n.div_ceil(BLOCK).max(1), "size {n}: {members}");
            assert_eq!(gunzip(&z), data, "size {n}");
            assert_eq!(z, gz(&data, 1, n.max(1)), "size {n}");
        }
    }
}
