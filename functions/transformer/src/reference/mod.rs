//! Plain statements of what the transformer must do, for tests only: slow and obvious on
//! purpose, each held against the fast code by a differential test.
//!
//! - [`line`]: what the part reader makes of one line (serde_json);
//! - [`batch`]: the whole transform of a batch, record by record (classify, the rules across
//!   records, the latest version of each order, the quarantine's rows).

pub mod batch;
pub mod line;

use lakehouse_core::record::FIELD_NAMES;

/// A seeded xorshift: the same lines on every run.
pub struct Gen(pub u64);

impl Gen {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Lines of any shape: records with some contract fields (and others) of any JSON value, and
/// mutations of them.
impl Gen {
    /// A JSON value as text, of every shape a field may be sent in.
    pub fn value(&mut self, depth: usize) -> String {
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
    pub fn record(&mut self) -> String {
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
    pub fn mutated(&mut self, line: &str) -> Vec<u8> {
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
