//! Archive dates and snapshots: the RFC 2822 dates of a Release file (`Date`, `Valid-Until`),
//! the snapshot timestamp a Debian lock records (`YYYYMMDDTHHMMSSZ`, the InRelease `Date`), and
//! the snapshot URL patterns that turn a timestamp into a mirror (`…/{timestamp}/`).
//!
//! No snapshot host is built in: patterns come from `--debian-snapshot`, then
//! `RELSIGN_DEBIAN_SNAPSHOT`, then the recipe's `toolchain.snapshot-urls`.

use crate::time::{civil_from_days, days_from_civil};

/// The placeholder a snapshot URL pattern must contain.
pub const PLACEHOLDER: &str = "{timestamp}";
/// The environment variable with snapshot URL patterns (space-separated).
pub const ENV: &str = "RELSIGN_DEBIAN_SNAPSHOT";

/// Parse an RFC 2822 date as apt reads a Release file's `Date` and `Valid-Until`
/// (`Sat, 01 Dec 2026 00:00:00 UTC`; the weekday is optional, the zone is `UTC`, `GMT`, `UT`,
/// `Z` or a numeric `±HHMM`, seconds may be left out). Returns unix seconds.
pub fn parse_rfc2822(s: &str) -> Result<i64, String> {
    let bad = |why: &str| format!("{s:?} is not an RFC 2822 date ({why})");
    let rest = match s.split_once(',') {
        Some((_, r)) => r,
        None => s,
    };
    let w: Vec<&str> = rest.split_whitespace().collect();
    if w.len() != 5 {
        return Err(bad("expected `[Day,] DD Mon YYYY HH:MM:SS ZONE`"));
    }
    let day: i64 = w[0].parse().map_err(|_| bad("day"))?;
    let month = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| m.eq_ignore_ascii_case(w[1]))
    .ok_or_else(|| bad("month"))? as i64
        + 1;
    if w[2].len() != 4 {
        return Err(bad("year"));
    }
    let year: i64 = w[2].parse().map_err(|_| bad("year"))?;
    let hms: Vec<&str> = w[3].split(':').collect();
    if !(2..=3).contains(&hms.len()) {
        return Err(bad("time"));
    }
    let num = |t: &str, max: i64| -> Result<i64, String> {
        if t.len() != 2 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("time"));
        }
        let n: i64 = t.parse().map_err(|_| bad("time"))?;
        if n > max {
            return Err(bad("time"));
        }
        Ok(n)
    };
    let (h, mi) = (num(hms[0], 23)?, num(hms[1], 59)?);
    let se = match hms.get(2) {
        Some(t) => num(t, 60)?,
        None => 0,
    };
    if !(1..=31).contains(&day) {
        return Err(bad("day"));
    }
    let offset = match w[4] {
        z if ["UTC", "GMT", "UT", "Z"]
            .iter()
            .any(|u| u.eq_ignore_ascii_case(z)) =>
        {
            0
        }
        z if z.len() == 5
            && (z.starts_with('+') || z.starts_with('-'))
            && z[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            let o = z[1..3].parse::<i64>().unwrap_or(0) * 3600
                + z[3..5].parse::<i64>().unwrap_or(0) * 60;
            if z.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return Err(bad("zone")),
    };
    Ok(days_from_civil(year, month, day) * 86_400 + h * 3600 + mi * 60 + se - offset)
}

/// `YYYY-MM-DDTHH:MM:SSZ`, for messages.
pub fn iso(secs: i64) -> String {
    let (y, m, d, h, mi, s) = civil(secs);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// The snapshot timestamp of a time: `YYYYMMDDTHHMMSSZ` (UTC).
pub fn timestamp(secs: i64) -> String {
    let (y, m, d, h, mi, s) = civil(secs);
    format!("{y:04}{m:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// Check a snapshot timestamp's form (`YYYYMMDDTHHMMSSZ`).
pub fn check_timestamp(t: &str) -> Result<(), String> {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() == 16 && digits(0..8) && b[8] == b'T' && digits(9..15) && b[15] == b'Z' {
        Ok(())
    } else {
        Err(format!(
            "{t:?} is not a snapshot timestamp (YYYYMMDDTHHMMSSZ)"
        ))
    }
}

/// Check one snapshot URL pattern: an http(s):// or file:// URL containing `{timestamp}`.
pub fn check_pattern(p: &str) -> Result<(), String> {
    if !(p.starts_with("http://") || p.starts_with("https://") || p.starts_with("file://")) {
        return Err(format!("{p:?} is not an http(s):// or file:// URL"));
    }
    if !p.contains(PLACEHOLDER) {
        return Err(format!(
            "{p:?} has no {PLACEHOLDER} (where the lock's snapshot timestamp goes)"
        ));
    }
    Ok(())
}

/// The snapshot URL patterns: `--debian-snapshot` if given, else `$RELSIGN_DEBIAN_SNAPSHOT`
/// (space-separated), else the recipe's `toolchain.snapshot-urls` (validated when the recipe
/// was loaded). Errors name where a bad pattern came from.
pub fn patterns(flag: &[String], recipe: &[String]) -> Result<Vec<String>, String> {
    let env = std::env::var(ENV).unwrap_or_default();
    patterns_from(flag, &env, recipe)
}

fn patterns_from(flag: &[String], env: &str, recipe: &[String]) -> Result<Vec<String>, String> {
    let (list, from): (Vec<String>, &str) = if !flag.is_empty() {
        (
            flag.iter()
                .flat_map(|f| f.split_whitespace())
                .map(str::to_string)
                .collect(),
            "--debian-snapshot",
        )
    } else if !env.trim().is_empty() {
        (env.split_whitespace().map(str::to_string).collect(), ENV)
    } else {
        (recipe.to_vec(), "toolchain.snapshot-urls")
    };
    let mut out: Vec<String> = Vec::new();
    for p in list {
        check_pattern(&p).map_err(|e| format!("{from}: {e}"))?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// The mirror roots of a snapshot: each pattern with `{timestamp}` replaced.
pub fn mirrors_at(patterns: &[String], timestamp: &str) -> Vec<String> {
    patterns
        .iter()
        .map(|p| {
            p.replace(PLACEHOLDER, timestamp)
                .trim_end_matches('/')
                .to_string()
        })
        .collect()
}

fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rem / 3600, rem / 60 % 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_dates_like_apt() {
        // 2026-12-01T00:00:00Z
        let t = 1_796_083_200;
        assert_eq!(iso(t), "2026-12-01T00:00:00Z");
        assert_eq!(parse_rfc2822("Tue, 01 Dec 2026 00:00:00 UTC").unwrap(), t);
        assert_eq!(parse_rfc2822("01 Dec 2026 00:00:00 GMT").unwrap(), t);
        assert_eq!(parse_rfc2822("Tue, 1 dec 2026 01:00:00 +0100").unwrap(), t);
        assert_eq!(parse_rfc2822("Mon, 30 Nov 2026 19:00 -0500").unwrap(), t);
        assert_eq!(
            parse_rfc2822("Sat, 09 Aug 2025 09:20:52 UTC").unwrap(),
            1_754_731_252
        );
        for bad in [
            "",
            "2026-12-01T00:00:00Z",
            "Tue, 01 Foo 2026 00:00:00 UTC",
            "Tue, 01 Dec 2026 25:00:00 UTC",
            "Tue, 01 Dec 2026 00:00:00 CEST",
            "Tue, 01 Dec 26 00:00:00 UTC",
        ] {
            assert!(parse_rfc2822(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(1_796_083_200), "20261201T000000Z");
        assert_eq!(timestamp(1_754_731_252), "20250809T092052Z");
        assert!(check_timestamp("20261201T000000Z").is_ok());
        for bad in ["2026-12-01", "20261201T000000", "20261201t000000Z", ""] {
            assert!(check_timestamp(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn patterns_in_order_of_precedence() {
        let recipe = vec!["file:///r/{timestamp}/".to_string()];
        assert_eq!(patterns_from(&[], "", &recipe).unwrap(), recipe);
        assert_eq!(
            patterns_from(&[], " http://e/{timestamp} file:///e2/{timestamp}", &recipe).unwrap(),
            vec!["http://e/{timestamp}", "file:///e2/{timestamp}"]
        );
        assert_eq!(
            patterns_from(
                &["https://f/a/{timestamp}/".into()],
                "http://e/{timestamp}",
                &recipe
            )
            .unwrap(),
            vec!["https://f/a/{timestamp}/"]
        );
        let e = patterns_from(&[], "http://e/no-placeholder", &recipe).unwrap_err();
        assert!(e.contains(ENV) && e.contains("{timestamp}"), "{e}");
        let e = patterns_from(&["ftp://x/{timestamp}".into()], "", &recipe).unwrap_err();
        assert!(
            e.contains("--debian-snapshot") && e.contains("ftp://"),
            "{e}"
        );
        assert_eq!(
            mirrors_at(&recipe, "20261201T000000Z"),
            vec!["file:///r/20261201T000000Z"]
        );
    }
}
