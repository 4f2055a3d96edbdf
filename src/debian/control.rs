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

/// Parse deb822 text. Lines starting with `#` are comments (apt's `.sources` allow them).
/// Malformed lines (no colon, continuation before any field) are errors naming the line number.
pub fn parse_paragraphs(text: &str) -> Result<Vec<Paragraph>, String> {
    let mut out = Vec::new();
    let mut cur = Paragraph::default();
    for (i, line) in text.lines().enumerate() {
        // Every trailing CR: `lines()` already took one of a CRLF, and a value must not keep
        // the rest (`to_text` would write them back before a newline that eats one).
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if !cur.fields.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            match cur.fields.last_mut() {
                Some((_, v)) => {
                    v.push('\n');
                    v.push_str(line);
                }
                None => return Err(format!("line {}: continuation line without a field", i + 1)),
            }
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            return Err(format!(
                "line {}: expected `Field: value`, got {:?}",
                i + 1,
                truncate(line)
            ));
        };
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(format!("line {}: bad field name {:?}", i + 1, truncate(k)));
        }
        cur.fields.push((k.to_string(), v.trim().to_string()));
    }
    if !cur.fields.is_empty() {
        out.push(cur);
    }
    Ok(out)
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
}
