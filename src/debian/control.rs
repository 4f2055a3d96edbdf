//! deb822 control data: `Key: value` fields, continuation lines starting with a space or tab,
//! paragraphs separated by blank lines. Used for .deb control files, Packages indexes, Release
//! files and apt's `.sources` files.

/// One paragraph, fields in their original order. A multi-line value keeps its continuation
/// lines verbatim (with their leading space) after a `\n`; the first line is trimmed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    pub fields: Vec<(String, String)>,
}

impl Paragraph {
    /// The value of a field; field names are case-insensitive.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Serialize back to control-file text (ends with a newline, no blank line).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.fields {
            s.push_str(k);
            s.push(':');
            if !v.is_empty() && !v.starts_with('\n') {
                s.push(' ');
            }
            s.push_str(v);
            s.push('\n');
        }
        s
    }
}

/// The most paragraphs one text may hold (a Debian Packages index has under 100,000).
pub const MAX_PARAGRAPHS: usize = 1_000_000;
/// The most fields one paragraph may hold (real ones have a few dozen).
pub const MAX_FIELDS: usize = 1_000;
/// The most bytes one field value may hold, continuation lines included.
pub const MAX_VALUE_BYTES: usize = 16 << 20;

/// Where a paragraph was in the text (1-based line numbers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lines {
    /// The line of each field's name, in field order.
    pub fields: Vec<usize>,
    /// The line before the blank line (or the end of the text) that ended the paragraph.
    pub end: usize,
}

/// Parse deb822 text. Lines starting with `#` are comments (apt's `.sources` allow them).
/// Malformed lines (no colon, continuation before any field), a field given twice in one
/// paragraph (names compared case-insensitively) and text over the limits ([`MAX_PARAGRAPHS`],
/// [`MAX_FIELDS`], [`MAX_VALUE_BYTES`]) are errors naming the line number.
pub fn parse_paragraphs(text: &str) -> Result<Vec<Paragraph>, String> {
    let mut out = Vec::new();
    for_each_paragraph(text, |p, _| {
        out.push(p);
        Ok(())
    })?;
    Ok(out)
}

/// Parse deb822 text as [`parse_paragraphs`] does, handing each paragraph and where it was to
/// `f` as soon as it ends (a large index is never held as paragraphs all at once).
pub fn for_each_paragraph(
    text: &str,
    mut f: impl FnMut(Paragraph, &Lines) -> Result<(), String>,
) -> Result<(), String> {
    let mut cur = Paragraph::default();
    let mut lines = Lines::default();
    let mut seen = std::collections::HashSet::new();
    let mut count = 0usize;
    let mut finish = |cur: &mut Paragraph, lines: &mut Lines, end: usize| {
        count += 1;
        if count > MAX_PARAGRAPHS {
            return Err(format!("line {end}: more than {MAX_PARAGRAPHS} paragraphs"));
        }
        lines.end = end;
        f(std::mem::take(cur), &std::mem::take(lines))
    };
    for (i, line) in text.lines().enumerate() {
        // Every trailing CR: `lines()` already took one of a CRLF, and a value must not keep
        // the rest (`to_text` would write them back before a newline that eats one).
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if !cur.fields.is_empty() {
                finish(&mut cur, &mut lines, i)?;
                seen.clear();
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            continue_field(&mut cur, line, i + 1)?;
            continue;
        }
        let (k, v) = field_line(line, i + 1)?;
        if !seen.insert(k.to_ascii_lowercase()) {
            return Err(format!(
                "line {}: field {:?} given twice",
                i + 1,
                truncate(k)
            ));
        }
        if cur.fields.len() >= MAX_FIELDS {
            return Err(format!(
                "line {}: more than {MAX_FIELDS} fields in one paragraph",
                i + 1
            ));
        }
        cur.fields.push((k.to_string(), v.trim().to_string()));
        lines.fields.push(i + 1);
    }
    if !cur.fields.is_empty() {
        finish(&mut cur, &mut lines, text.lines().count())?;
    }
    Ok(())
}

/// Split a `Field: value` line, checking the field name.
fn field_line(line: &str, lineno: usize) -> Result<(&str, &str), String> {
    let Some((k, v)) = line.split_once(':') else {
        return Err(format!(
            "line {lineno}: expected `Field: value`, got {:?}",
            truncate(line)
        ));
    };
    if k.is_empty() || k.contains(char::is_whitespace) {
        return Err(format!("line {lineno}: bad field name {:?}", truncate(k)));
    }
    Ok((k, v))
}

/// Append a continuation line (kept verbatim after a `\n`) to the paragraph's last field.
fn continue_field(cur: &mut Paragraph, line: &str, lineno: usize) -> Result<(), String> {
    let Some((k, v)) = cur.fields.last_mut() else {
        return Err(format!("line {lineno}: continuation line without a field"));
    };
    if v.len() + 1 + line.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "line {lineno}: field {:?} is longer than {MAX_VALUE_BYTES} bytes",
            truncate(k)
        ));
    }
    v.push('\n');
    v.push_str(line);
    Ok(())
}

/// A folded value on one line: the continuation lines trimmed and joined with spaces.
pub fn unfold(value: &str) -> String {
    let mut lines = value.split('\n');
    let mut s = lines.next().unwrap_or("").to_string();
    for l in lines {
        s.push(' ');
        s.push_str(l.trim());
    }
    s
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_control_file() {
        let text = "Package: hello\nVersion: 2.10-3\nConffiles:\n /etc/hello 0123\nDescription: greet\n Long text.\n .\n More.\n";
        let ps = parse_paragraphs(text).unwrap();
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].get("package"), Some("hello"));
        assert_eq!(ps[0].get("Conffiles"), Some("\n /etc/hello 0123"));
        assert_eq!(ps[0].to_text(), text);
    }

    #[test]
    fn splits_paragraphs_and_rejects_garbage() {
        let ps = parse_paragraphs("# c\nA: 1\n\n\nB: 2\nC:3\n").unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[1].get("c"), Some("3"));
        assert!(parse_paragraphs(" x\n").unwrap_err().contains("line 1"));
        // Trailing CRs are line-ending noise, however many (found by the deb822 fuzz target:
        // a continuation line kept all but two, and did not survive to_text and back).
        let ps = parse_paragraphs("A: 1\r\r\n b\r\r\r\r\nB: 2\r\n").unwrap();
        assert_eq!(ps[0].fields[0].1, "1\n b");
        assert_eq!(parse_paragraphs(&ps[0].to_text()).unwrap(), ps);
        assert!(parse_paragraphs("A: 1\nnot a field\n")
            .unwrap_err()
            .contains("line 2"));
    }

    #[test]
    fn refuses_duplicate_fields_and_reports_lines() {
        let e = parse_paragraphs("A: 1\nB: 2\n\nB: 1\nb: 2\n").unwrap_err();
        assert_eq!(e, "line 5: field \"b\" given twice");
        let mut seen = Vec::new();
        for_each_paragraph("# c\nA: 1\n x\nB: 2\n\n\nC: 3\n", |p, l| {
            seen.push((p.fields.len(), l.clone()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                (
                    2,
                    Lines {
                        fields: vec![2, 4],
                        end: 4
                    }
                ),
                (
                    1,
                    Lines {
                        fields: vec![7],
                        end: 7
                    }
                )
            ]
        );
        assert_eq!(unfold("a,\n  b,\n\tc"), "a, b, c");
    }

    #[test]
    fn refuses_text_over_the_limits() {
        let many: String = (0..=MAX_FIELDS).map(|i| format!("F{i}: x\n")).collect();
        assert!(parse_paragraphs(&many)
            .unwrap_err()
            .contains("more than 1000 fields"));
        let long = format!("A: x\n{}", " y\n".repeat(MAX_VALUE_BYTES / 3 + 1));
        assert!(parse_paragraphs(&long).unwrap_err().contains("longer than"));
    }
}
