//! Deterministic parallel gzip, on pigz's scheme: the input is cut into fixed 128 KiB blocks;
//! each block is deflated on its own (zlib-rs, level [`LEVEL`]) with the 32 KiB of input
//! before it as the dictionary and ends with a sync flush (so it ends on a byte boundary); the
//! pieces are concatenated in order, closed by an empty final block, and wrapped in one gzip
//! member (header with mtime 0, no name, OS 255; the CRC-32 and size of the whole input).
//!
//! A block's bytes depend only on its dictionary, its data and the level, never on how many
//! threads compressed it or how the input was written, so the output is the same on 1, 2 or
//! 64 cores. Memory stays bounded: at most `threads × 8` blocks are held at once.

use flate2::{Compress, Compression, FlushCompress, Status};
use std::io::{self, Write};

/// Input bytes per block.
pub const BLOCK: usize = 128 << 10;
/// The dictionary each block is primed with: deflate's whole window.
pub const DICT: usize = 32 << 10;
/// The deflate level, chosen by measurement on the demo's 73 MB layer (README, "Speed"):
/// zlib-rs level 7 is within 1.3% of `gzip -6`'s size at about 1.7× its speed per core.
pub const LEVEL: u32 = 7;
/// Blocks per thread compressed in one batch.
const BATCH_PER_THREAD: usize = 8;

/// The identity recorded in provenance (`internalParameters.gzip`).
/// zlib-rs's output may change between its versions, so the version is part of it (a test
/// keeps it equal to Cargo.lock's).
pub const IMPL: &str = "pgzip: zlib-rs 0.6.8 deflate level 7, 128 KiB blocks primed with the previous 32 KiB, sync-flushed; one gzip member, mtime 0, OS 255";

const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The number of compression threads: `$RELSIGN_THREADS` when set, else the machine's.
pub fn default_threads() -> usize {
    std::env::var("RELSIGN_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(crate::par::cores)
}

/// A gzip writer; call [`GzWriter::finish`] to write the trailer.
pub struct GzWriter<W: Write> {
    inner: W,
    threads: usize,
    /// Input not yet compressed.
    pending: Vec<u8>,
    /// The last [`DICT`] bytes of the input already compressed.
    tail: Vec<u8>,
    crc: flate2::Crc,
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
            tail: Vec::new(),
            crc: flate2::Crc::new(),
            started: false,
        }
    }

    fn batch_bytes(&self) -> usize {
        self.threads * BATCH_PER_THREAD * BLOCK
    }

    /// Compress the full blocks of `pending` (and the last partial one when `all`).
    fn compress_pending(&mut self, all: bool) -> io::Result<()> {
        if !self.started {
            self.inner.write_all(&HEADER)?;
            self.started = true;
        }
        let n = if all {
            self.pending.len()
        } else {
            self.pending.len() / BLOCK * BLOCK
        };
        if n == 0 {
            return Ok(());
        }
        let data = &self.pending[..n];
        let blocks: Vec<(usize, usize)> = (0..n)
            .step_by(BLOCK)
            .map(|s| (s, (s + BLOCK).min(n)))
            .collect();
        let tail = &self.tail;
        let dict_of = |start: usize| -> Vec<u8> {
            if start >= DICT {
                data[start - DICT..start].to_vec()
            } else {
                let mut d = tail[tail.len().saturating_sub(DICT - start)..].to_vec();
                d.extend_from_slice(&data[..start]);
                d
            }
        };
        let outs = crate::par::map(self.threads, &blocks, |&(s, e)| {
            deflate_block(&dict_of(s), &data[s..e])
        });
        for o in outs {
            self.inner.write_all(&o?)?;
        }
        self.crc.update(data);
        let mut t = std::mem::take(&mut self.tail);
        t.extend_from_slice(&data[n.saturating_sub(DICT)..]);
        self.tail = t[t.len().saturating_sub(DICT)..].to_vec();
        self.pending.drain(..n);
        Ok(())
    }

    /// Compress what is left, write the final block and the trailer; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.compress_pending(true)?;
        self.inner.write_all(&final_block()?)?;
        self.inner.write_all(&self.crc.sum().to_le_bytes())?;
        self.inner.write_all(&self.crc.amount().to_le_bytes())?;
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
        // A gzip stream cannot be flushed mid-block without changing the bytes; the data is
        // written at the next full batch or at finish.
        self.inner.flush()
    }
}

/// Deflate one block with `dict` as its preset window, ending with a sync flush.
fn deflate_block(dict: &[u8], data: &[u8]) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(LEVEL), false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 64);
    loop {
        let done = c.total_in() as usize;
        c.compress_vec(&data[done..], &mut out, FlushCompress::Sync)
            .map_err(io::Error::other)?;
        // The flush is complete once all input is in and output space was left over.
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            return Ok(out);
        }
        out.reserve(64 << 10);
    }
}

/// An empty final deflate block.
fn final_block() -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(LEVEL), false);
    let mut out = Vec::with_capacity(64);
    match c
        .compress_vec(&[], &mut out, FlushCompress::Finish)
        .map_err(io::Error::other)?
    {
        Status::StreamEnd => Ok(out),
        s => Err(io::Error::other(format!("deflate did not finish: {s:?}"))),
    }
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

    #[test]
    fn the_same_bytes_on_1_2_and_16_threads_and_any_write_sizes() {
        let data = sample(3 * BATCH_PER_THREAD * BLOCK + 12_345);
        let one = gz(&data, 1, 1 << 20);
        assert_eq!(gz(&data, 2, 1 << 20), one);
        assert_eq!(gz(&data, 16, 1 << 20), one);
        assert_eq!(gz(&data, 2, 7_777), one);
        assert_eq!(gz(&data, 3, data.len()), one);
        // A standard gzip reader gets the input back.
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&one[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        assert!(
            one.len() < data.len() / 2,
            "{} of {}",
            one.len(),
            data.len()
        );
    }

    #[test]
    fn impl_names_the_locked_zlib_rs() {
        let lock = include_str!("../../Cargo.lock");
        let v = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"zlib-rs\""))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
            .map(|v| v.trim_matches('"').to_string())
            .expect("zlib-rs in Cargo.lock");
        assert!(
            IMPL.contains(&format!("zlib-rs {v} ")),
            "IMPL says {IMPL:?}, Cargo.lock has zlib-rs {v}"
        );
    }

    #[test]
    fn edge_sizes_round_trip() {
        for n in [
            0,
            1,
            DICT - 1,
            DICT,
            BLOCK - 1,
            BLOCK,
            BLOCK + 1,
            2 * BLOCK + DICT,
        ] {
            let data = sample(n);
            let z = gz(&data, 2, 1000);
            assert_eq!(&z[..10], &HEADER);
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&z[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "size {n}");
            assert_eq!(z, gz(&data, 1, n.max(1)), "size {n}");
        }
    }
}
