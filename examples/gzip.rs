//! `gzip IN OUT`: compress IN into OUT with relsign's parallel, deterministic gzip (the writer
//! image layers and sdists go through). Used by `cargo xtask bench` to compare it with
//! `gzip -6 -n`, `pigz -6` and `zstd -3 -T2` on the same tar.

use std::io::Write;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output] = args.as_slice() else {
        eprintln!("usage: gzip IN OUT");
        std::process::exit(2);
    };
    let mut r = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(input)?);
    let f = std::fs::File::create(output)?;
    let mut w = relsign::archive::pgzip::GzWriter::new(std::io::BufWriter::new(f));
    std::io::copy(&mut r, &mut w)?;
    w.finish()?.flush()?;
    Ok(())
}
