//! RFC 3339 timestamps in UTC (`YYYY-MM-DDTHH:MM:SSZ`), as unix seconds.

/// Format unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The range [`format`] writes as `YYYY-…` with four digits: years 0000 to 9999.
const MIN_SECS: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
const MAX_SECS: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z

/// Parse `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, or a plain integer (unix seconds). The time
/// must fall in the years 0000 to 9999, so that [`format`] writes it back in a form `parse`
/// reads.
pub fn parse(s: &str) -> Result<i64, String> {
    let t = parse_unbounded(s.trim())?;
    if !(MIN_SECS..=MAX_SECS).contains(&t) {
        return Err(format!("{:?}: outside the years 0000 to 9999", s.trim()));
    }
    Ok(t)
}

fn parse_unbounded(s: &str) -> Result<i64, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| format!("{s:?}: not a time"));
    }
    let bad = || format!("{s:?}: not an RFC 3339 time (expected YYYY-MM-DDTHH:MM:SSZ)");
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't') {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let t = s.get(r).ok_or_else(bad)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse().map_err(|_| bad())
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    if h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return Err(bad());
        }
        rest = &r[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            // `get`: the offset may hold multi-byte characters (a slice would panic).
            let oh: i64 = num_at(rest, 1..3).ok_or_else(bad)?;
            let om: i64 = num_at(rest, 4..6).ok_or_else(bad)?;
            let o = oh * 3600 + om * 60;
            if rest.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return Err(bad()),
    };
    Ok(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset)
}

fn num_at(s: &str, r: std::ops::Range<usize>) -> Option<i64> {
    s.get(r)
        .filter(|t| t.bytes().all(|c| c.is_ascii_digit()))?
        .parse()
        .ok()
}

/// Now, in unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

// Howard Hinnant's civil-date algorithms.
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn roundtrip() {
        for t in [0i64, 315_532_800, 1_700_000_000, 4_102_444_800, 951_782_400] {
            assert_eq!(parse(&format(t)).unwrap(), t);
        }
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        assert_eq!(format(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(parse("2000-02-29T01:00:00+01:00").unwrap(), 951_782_400);
        assert_eq!(parse("2000-02-29T00:00:00.123Z").unwrap(), 951_782_400);
        assert_eq!(parse("1700000000").unwrap(), 1_700_000_000);
        assert!(parse("2000-02-29 00:00:00").is_err());
    }

    #[test]
    fn times_format_cannot_write_back_are_refused() {
        // Found by the intoto fuzz target: "313333555555" parsed, but formats as year 11899,
        // which parse refuses (a policy key window written so could not be read back).
        assert!(parse("313333555555").unwrap_err().contains("0000 to 9999"));
        assert!(parse("9999-12-31T23:59:59-00:01").is_err());
        assert!(parse("0000-01-01T00:00:00+00:01").is_err());
        for t in [MIN_SECS, MAX_SECS] {
            assert_eq!(parse(&format(t)).unwrap(), t);
        }
        // A multi-byte character in the offset is an error, not a panic.
        assert!(parse("2000-02-29T00:00:00+1\u{e9}12").is_err());
        assert!(parse("2000-02-29T00:00:00+01:\u{e9}").is_err());
    }
}
