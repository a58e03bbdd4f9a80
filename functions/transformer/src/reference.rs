//! The part reader's contract stated plainly, with serde_json, for tests: what
//! [`crate::ndjson::parse_part`] must make of any line. Slow and obvious on purpose; the
//! differential test below holds the fast reader to it on generated and mutated lines.

use std::collections::BTreeMap;

use lakehouse_core::record::FIELD_NAMES;
use serde_json::value::RawValue;

/// What the reader makes of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Nothing: only JSON whitespace.
    Blank,
    /// Not a JSON object (or not UTF-8, or a string that does not decode).
    Malformed,
    /// Each field of the contract as text: a string's content, a number's token as written,
    /// `true`/`false`, an object or array as written; null or missing is `None`.
    Record(Vec<Option<String>>),
}

pub fn read_line(line: &[u8]) -> Line {
    if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
        return Line::Blank;
    }
    // The whole line must be JSON as serde_json reads it: syntax, strings that decode, numbers
    // a float can hold; known fields or not.
    if serde_json::from_slice::<serde_json::Value>(line).is_err() {
        return Line::Malformed;
    }
    let Ok(fields) = serde_json::from_slice::<BTreeMap<String, Box<RawValue>>>(line) else {
        return Line::Malformed;
    };
    let texts = FIELD_NAMES
        .iter()
        .map(|name| {
            let raw = fields.get(*name)?.get();
            match raw.as_bytes().first() {
                Some(b'"') => serde_json::from_str::<String>(raw).ok(),
                Some(b'n') => None,
                _ => Some(raw.to_owned()),
            }
        })
        .collect();
    Line::Record(texts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ndjson::parse_part, side::MALFORMED, typed};

    /// What the fast reader makes of one line, in the reference's terms.
    fn fast(line: &[u8]) -> Line {
        let df = parse_part(line, 1).unwrap();
        if df.height() == 0 {
            return Line::Blank;
        }
        assert_eq!(df.height(), 1, "one line, one record");
        if df.column(MALFORMED).unwrap().bool().unwrap().get(0) == Some(true) {
            return Line::Malformed;
        }
        let restored = typed::restore(&df).unwrap();
        Line::Record(
            FIELD_NAMES
                .iter()
                .map(|name| {
                    restored
                        .column(name)
                        .unwrap()
                        .str()
                        .unwrap()
                        .get(0)
                        .map(str::to_owned)
                })
                .collect(),
        )
    }

    /// A seeded xorshift: the same lines on every run.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }

        /// A JSON value as text, of every shape a field may be sent in.
        fn value(&mut self, depth: usize) -> String {
            let numbers = [
                "0",
                "2",
                "-3",
                "10.5",
                "1e1",
                "1E+2",
                "2.50",
                "-0.0",
                "123456789012345678901234567890",
                "1e400",
                "5e-324",
            ];
            let strings = [
                "",
                "A",
                "ORD-000000042",
                "2026-01-15",
                "2026-01-15T10:00:00Z",
                "Zoë 🚀",
                "a\\\"b",
                "tab\\tnew\\nline",
                "\\u00e9",
                "\\ud83d\\ude80",
                "\\ud800",
                "\\u0000",
                "   ",
                "x\\/y",
            ];
            match self.below(if depth > 2 { 4 } else { 6 }) {
                0 => self.pick(&numbers).to_owned(),
                1 => format!("\"{}\"", self.pick(&strings)),
                2 => self.pick(&["null", "true", "false"]).to_owned(),
                3 => format!("\"{}\"", self.pick(&strings)),
                4 => {
                    let items: Vec<String> =
                        (0..self.below(3)).map(|_| self.value(depth + 1)).collect();
                    format!("[{}]", items.join(", "))
                }
                _ => {
                    let items: Vec<String> = (0..self.below(3))
                        .map(|_| format!("\"k{}\": {}", self.below(3), self.value(depth + 1)))
                        .collect();
                    format!("{{{}}}", items.join(","))
                }
            }
        }

        /// A record: some contract fields (and some others) in any order, with any spacing.
        fn record(&mut self) -> String {
            let spaces = ["", " ", "  ", "\t", "\r"];
            let mut members: Vec<String> = Vec::new();
            for _ in 0..self.below(20) {
                let key = if self.below(5) == 0 {
                    format!("other{}", self.below(3))
                } else {
                    FIELD_NAMES[self.below(FIELD_NAMES.len())].to_owned()
                };
                let (a, b) = (self.pick(&spaces), self.pick(&spaces));
                members.push(format!("\"{key}\"{a}:{b}{}", self.value(0)));
            }
            let sep = if self.below(4) == 0 { " , " } else { "," };
            format!(
                "{}{{{}}}{}",
                self.pick(&spaces),
                members.join(sep),
                self.pick(&spaces)
            )
        }

        /// `line` with a few bytes flipped, dropped, inserted or cut off.
        fn mutated(&mut self, line: &str) -> Vec<u8> {
            let mut bytes = line.as_bytes().to_vec();
            let significant = b"{}[],:\"\\0123456789eE.-+ntf \t\x00\x1f\x7f\xc3\xff";
            for _ in 0..1 + self.below(3) {
                let at = self.below(bytes.len() + 1);
                match self.below(4) {
                    0 if at < bytes.len() => bytes[at] ^= 1 << self.below(8),
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    2 => bytes.insert(at, significant[self.below(significant.len())]),
                    _ => bytes.truncate(at),
                }
            }
            bytes.retain(|b| *b != b'\n');
            bytes
        }
    }

    #[test]
    fn the_reader_agrees_with_serde_json_on_generated_and_mutated_lines() {
        // `LAKEHOUSE_FUZZ_LINES` runs longer (docs/testing.md); CI runs the default.
        let lines: usize = std::env::var("LAKEHOUSE_FUZZ_LINES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(30_000);
        let mut generator = Gen(0x5eed_f00d_cafe_b0ba);
        let (mut records, mut malformed) = (0, 0);
        for i in 0..lines {
            let record = generator.record();
            let line = if i % 2 == 0 {
                record.into_bytes()
            } else {
                generator.mutated(&record)
            };
            let want = read_line(&line);
            let got = fast(&line);
            assert_eq!(got, want, "line {i}: {:?}", String::from_utf8_lossy(&line));
            match want {
                Line::Record(_) => records += 1,
                Line::Malformed => malformed += 1,
                Line::Blank => {}
            }
        }
        // Both outcomes are exercised, often.
        assert!(
            records > lines / 4 && malformed > lines / 10,
            "{records} records, {malformed} malformed"
        );
    }
}
