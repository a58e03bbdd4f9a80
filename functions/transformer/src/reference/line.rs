//! The part reader's contract: what [`crate::read::parse_part`] must make of any line. The
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
    use crate::{
        read::{parse_part, typed},
        reference::Gen,
        side::MALFORMED,
    };

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
