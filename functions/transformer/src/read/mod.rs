//! The reader of raw parts: one flat JSON object per line, every field kept as the text that
//! was sent, and the five typed fields parsed once, in the same pass, into shadow columns
//! (their texts kept only where a value does not print back as it: [`crate::read::typed`]).
//!
//! Polars' general NDJSON reader builds a hash map per record and prints numbers back to text,
//! which the classification then parsed again. Parts hold flat objects with known keys, so one
//! scan over the bytes does it:
//! strings without escapes are borrowed, numbers keep their token text, and only the rare
//! escaped string goes through serde_json. A value the contract does not expect (an object or
//! array where a field should be) is kept as its JSON text, so the record is quarantined for
//! it instead of failing the batch.

use std::borrow::Cow;

use lakehouse_core::record::FIELD_NAMES;
use polars::prelude::*;

pub mod text_column;
pub mod typed;

use self::{
    text_column::TextColumn,
    typed::{AMOUNT, ORDER_DATE, QUANTITY, TYPED, TypedValues, UNIT_PRICE, UPDATED_AT},
};
use crate::side::{LINE, MALFORMED, SENT_TEXTS, parsed};

/// Why a part could not be read: only its columns failing to make a frame. A line that is not
/// a flat JSON object (or not UTF-8) is a record of its own, marked [`MALFORMED`], for the
/// quarantine.
#[derive(Debug, thiserror::Error)]
pub enum PartError {
    #[error("assembling its columns: {0}")]
    Columns(#[from] PolarsError),
}

/// Parses a part into the text columns of the untyped fields ([`FIELD_NAMES`] but [`TYPED`]),
/// the typed shadow columns (`_quantity`, `_unit_price`, `_amount`, `_order_date`,
/// `_updated_at`: null where the text is missing or not a valid value), [`SENT_TEXTS`] (the typed
/// texts that do not print back from their values: [`typed::restore`] brings the five text
/// columns back), and each record's [`LINE`] in the part (from 1; [`line_spans`] finds its
/// bytes again). A line that is not a flat JSON object, or not UTF-8, is a [`MALFORMED`]
/// record with every field null. Blank lines are skipped; a field missing from a
/// record is null; keys outside the contract are ignored.
pub fn parse_part(bytes: &[u8], rows_hint: usize) -> Result<DataFrame, PartError> {
    let mut columns = Builders::new(rows_hint);
    let keys: Vec<String> = FIELD_NAMES.iter().map(|f| format!("\"{f}\":")).collect();
    let mut values: [Option<Cow<str>>; FIELD_NAMES.len()] = Default::default();
    // simdutf8 checks with vector instructions, where std's check goes a word at a time. A
    // part that is not UTF-8 throughout is checked line by line.
    let text = simdutf8::basic::from_utf8(bytes).ok();
    for (i, (start, end)) in line_spans(bytes).enumerate() {
        let place = i + 1;
        let line = match text {
            // Both ends sit next to a `\n` (or at an end of the text): char boundaries.
            Some(text) => text.get(start..end),
            None => std::str::from_utf8(&bytes[start..end]).ok(),
        };
        let Some(line) = line else {
            columns.push_malformed(place);
            continue;
        };
        if line.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            continue;
        }
        values.iter_mut().for_each(|v| *v = None);
        let scanned = Scanner {
            text: line,
            at: 0,
            keys: &keys,
        }
        .object(&mut values);
        match scanned {
            Ok(()) => columns.push(&values, place),
            Err(_) => columns.push_malformed(place),
        }
    }
    Ok(columns.finish()?)
}

/// The lines of `bytes` as (start, end) offsets, split at `\n` as `str::split` does, found
/// with memchr's vector search: `str::split` searches a word at a time.
pub(crate) fn line_spans(bytes: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let ends = memchr::memchr_iter(b'\n', bytes).chain([bytes.len()]);
    ends.scan(0, move |start, end| {
        let span = (*start, end);
        *start = end + 1;
        Some(span)
    })
}

/// Column builders: the text of each untyped field (with its place in [`FIELD_NAMES`]), the five
/// typed shadows, the typed texts that do not print back, and each record's place.
struct Builders {
    text: Vec<(usize, TextColumn)>,
    quantity: PrimitiveChunkedBuilder<Int64Type>,
    unit_price: PrimitiveChunkedBuilder<Float64Type>,
    amount: PrimitiveChunkedBuilder<Float64Type>,
    order_date: PrimitiveChunkedBuilder<Int32Type>,
    updated_at: PrimitiveChunkedBuilder<Int64Type>,
    sent: TextColumn,
    line: Vec<u32>,
    malformed: Vec<bool>,
    rows: usize,
}

impl Builders {
    fn new(rows: usize) -> Self {
        let typed = |i: usize| parsed(FIELD_NAMES[i]).into();
        Builders {
            text: (0..FIELD_NAMES.len())
                .filter(|i| !TYPED.contains(i))
                .map(|i| (i, TextColumn::new(FIELD_NAMES[i].into(), rows)))
                .collect(),
            quantity: PrimitiveChunkedBuilder::new(typed(QUANTITY), rows),
            unit_price: PrimitiveChunkedBuilder::new(typed(UNIT_PRICE), rows),
            amount: PrimitiveChunkedBuilder::new(typed(AMOUNT), rows),
            order_date: PrimitiveChunkedBuilder::new(typed(ORDER_DATE), rows),
            updated_at: PrimitiveChunkedBuilder::new(typed(UPDATED_AT), rows),
            sent: TextColumn::new(SENT_TEXTS.into(), rows),
            line: Vec::with_capacity(rows),
            malformed: Vec::with_capacity(rows),
            rows: 0,
        }
    }

    /// `line` is the record's line in the part, from 1.
    fn place(&mut self, line: usize, malformed: bool) {
        // A part is a page of at most a few MB: its line numbers fit in 32 bits.
        self.line.push(u32::try_from(line).unwrap_or(u32::MAX));
        self.malformed.push(malformed);
    }

    /// A line that is not a record: every field null.
    fn push_malformed(&mut self, place: usize) {
        self.push(&Default::default(), place);
        if let Some(last) = self.malformed.last_mut() {
            *last = true;
        }
    }

    fn push(&mut self, values: &[Option<Cow<str>>; FIELD_NAMES.len()], place: usize) {
        self.place(place, false);
        for (i, builder) in &mut self.text {
            builder.push(values[*i].as_deref());
        }
        let mut unprinted = TypedValues::of(values);
        self.quantity
            .append_option(unprinted.value(QUANTITY, typed::quantity));
        self.unit_price
            .append_option(unprinted.value(UNIT_PRICE, typed::decimal));
        self.amount
            .append_option(unprinted.value(AMOUNT, typed::decimal));
        self.order_date
            .append_option(unprinted.value(ORDER_DATE, typed::day));
        self.updated_at
            .append_option(unprinted.value(UPDATED_AT, typed::instant));
        self.sent.push(unprinted.json().as_deref());
        self.rows += 1;
    }

    fn finish(self) -> PolarsResult<DataFrame> {
        let mut columns: Vec<Column> = self
            .text
            .into_iter()
            .map(|(_, b)| b.finish().into_column())
            .collect();
        columns.extend([
            self.quantity.finish().into_column(),
            self.unit_price.finish().into_column(),
            self.amount.finish().into_column(),
            self.order_date.finish().into_date().into_column(),
            self.updated_at
                .finish()
                .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
                .into_column(),
            self.sent.finish().into_column(),
            Column::new(LINE.into(), self.line),
            Column::new(MALFORMED.into(), self.malformed),
        ]);
        DataFrame::new(self.rows, columns)
    }
}

/// A cursor over one line.
struct Scanner<'a, 'k> {
    text: &'a str,
    at: usize,
    /// `"<field>":` for each field of the contract.
    keys: &'k [String],
}

impl<'a> Scanner<'a, '_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// JSON's whitespace: space, tab, line feed, carriage return (not form feed).
    fn skip_space(&mut self) {
        while self
            .peek()
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        self.skip_space();
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{}`", byte as char)))
        }
    }

    fn unexpected(&self, wanted: &str) -> String {
        match self
            .text
            .get(self.at..)
            .and_then(|rest| rest.chars().next())
        {
            Some(c) => format!("expected {wanted} at column {}, found `{c}`", self.at + 1),
            None => format!("expected {wanted}, found the end of the line"),
        }
    }

    fn slice(&self, from: usize, to: usize) -> Result<&'a str, String> {
        self.text
            .get(from..to)
            .ok_or_else(|| format!("no text at columns {}..{}", from + 1, to + 1))
    }

    /// `{ "key": value, ... }` filling the values of the contract's fields; the last of a
    /// repeated key wins.
    fn object(
        &mut self,
        values: &mut [Option<Cow<'a, str>>; FIELD_NAMES.len()],
    ) -> Result<(), String> {
        self.expect(b'{')?;
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return self.end();
        }
        let mut next = 0;
        loop {
            self.skip_space();
            // Keys mostly come in contract order and written `"key":`: that is matched as one
            // run of bytes before the key is read as a string and searched for.
            let expected = self
                .keys
                .get(next)
                .filter(|k| starts_with_at(self.text.as_bytes(), self.at, k.as_bytes()));
            let slot = if let Some(k) = expected {
                self.at += k.len();
                Some(next)
            } else {
                let key = self.string()?;
                self.expect(b':')?;
                FIELD_NAMES.iter().position(|f| *f == key.as_ref())
            };
            self.skip_space();
            let value = self.value()?;
            if let Some(i) = slot {
                values[i] = value;
                next = i + 1;
            }
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return self.end();
                }
                _ => return Err(self.unexpected("`,` or `}`")),
            }
        }
    }

    fn end(&mut self) -> Result<(), String> {
        self.skip_space();
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.unexpected("the end of the line")),
        }
    }

    /// A value as text: a string's content, a number's token, `true`/`false`, nested JSON as
    /// written; null is `None`.
    // Inlined, as `string` is: returned through memory, the `Cow` of each of a record's values
    // costs a stall of its own.
    #[inline(always)]
    fn value(&mut self) -> Result<Option<Cow<'a, str>>, String> {
        let start = self.at;
        match self.peek() {
            Some(b'"') => self.string().map(Some),
            // A number's token as written; whether it is a valid quantity or amount is the
            // classification's call.
            Some(b'-' | b'0'..=b'9') => {
                while self
                    .peek()
                    .is_some_and(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                {
                    self.at += 1;
                }
                let token = self.slice(start, self.at)?;
                if !json_number(token.as_bytes()) {
                    return Err(format!(
                        "`{token}` at column {} is not a JSON number",
                        start + 1
                    ));
                }
                Ok(Some(Cow::Borrowed(token)))
            }
            Some(b'{' | b'[') => {
                self.nested()?;
                let nested = self.slice(start, self.at)?;
                // Kept as written, so it must be JSON as serde_json reads it: rare enough for
                // serde_json to check.
                serde_json::from_str::<serde_json::Value>(nested)
                    .map_err(|e| format!("the value at column {}: {e}", start + 1))?;
                Ok(Some(Cow::Borrowed(nested)))
            }
            _ => {
                for (word, value) in [
                    ("null", None),
                    ("true", Some("true")),
                    ("false", Some("false")),
                ] {
                    if self
                        .text
                        .get(start..)
                        .is_some_and(|rest| rest.starts_with(word))
                    {
                        self.at += word.len();
                        return Ok(value.map(Cow::Borrowed));
                    }
                }
                Err(self.unexpected("a value"))
            }
        }
    }

    /// A string at the cursor: borrowed when it has no escapes, else decoded by serde_json.
    #[inline(always)]
    fn string(&mut self) -> Result<Cow<'a, str>, String> {
        if self.peek() != Some(b'"') {
            return Err(self.unexpected("a string"));
        }
        let open = self.at;
        let bytes = self.text.as_bytes();
        let mut escaped = false;
        let mut at = open + 1;
        loop {
            match string_stop(bytes, at) {
                Some(i) if bytes[i] == b'\\' => {
                    escaped = true;
                    at = i + 2;
                }
                Some(i) if bytes[i] < 0x20 => {
                    return Err(format!(
                        "the string at column {} holds a control character unescaped",
                        open + 1
                    ));
                }
                Some(i) => {
                    at = i;
                    break;
                }
                None => return Err(format!("the string at column {} is not closed", open + 1)),
            }
        }
        self.at = at + 1;
        if escaped {
            let quoted = self.slice(open, self.at)?;
            serde_json::from_str::<String>(quoted)
                .map(Cow::Owned)
                .map_err(|e| format!("the string at column {}: {e}", open + 1))
        } else {
            self.slice(open + 1, at).map(Cow::Borrowed)
        }
    }

    /// Skips an object or array, strings inside included.
    fn nested(&mut self) -> Result<(), String> {
        let start = self.at;
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        self.at += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.at += 1;
        }
        Err(format!("the value at column {} is not closed", start + 1))
    }
}

/// Whether `bytes` holds `prefix` at `at`, compared eight bytes at a time: keys are short,
/// and calling `memcmp` for each key of a record cost more than the comparing.
fn starts_with_at(bytes: &[u8], at: usize, prefix: &[u8]) -> bool {
    let Some(here) = bytes.get(at..at.saturating_add(prefix.len())) else {
        return false;
    };
    let n = prefix.len();
    if n < 8 {
        return here == prefix;
    }
    // Whole words, then the last eight bytes (overlapping the last word compared).
    let mut i = 0;
    while i + 8 < n {
        if word(here, i) != word(prefix, i) {
            return false;
        }
        i += 8;
    }
    word(here, n - 8) == word(prefix, n - 8)
}

/// The eight bytes at `at`, as one number.
fn word(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// The place of the first `"`, `\` or control character (below 0x20, which JSON strings
/// may not hold unescaped) at or after `at`, looked for eight bytes at a time: most strings
/// are a few words long, too short for `memchr`'s vector search to pay for its setup.
fn string_stop(bytes: &[u8], mut at: usize) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // The high bit of each byte of `x` below `n` (zero bytes for `n` = 1): exact for the
    // lowest one, which is the one taken (a borrow can mark a byte above it falsely).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
    while at + 8 <= bytes.len() {
        let w = word(bytes, at);
        let hits = below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1)
            | below(w, 0x20);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let rest = bytes.get(at..)?;
    rest.iter().position(|b| stops_a_string(*b)).map(|i| at + i)
}

fn stops_a_string(b: u8) -> bool {
    matches!(b, b'"' | b'\\') || b < 0x20
}

/// Whether `token` is a number as JSON writes it (`-`, then `0` or digits not starting with
/// `0`, then `.` and digits, then `e` or `E`, a sign and digits, the last two parts optional)
/// that a float can hold, as serde_json reads numbers (`1e400` is out of its range). Only a
/// token with an exponent or hundreds of digits can be out of range, so only those are parsed.
fn json_number(token: &[u8]) -> bool {
    json_number_syntax(token)
        && (!(token.len() > 300 || token.iter().any(|b| matches!(b, b'e' | b'E')))
            || std::str::from_utf8(token)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(f64::is_finite))
}

fn json_number_syntax(token: &[u8]) -> bool {
    let digits = |at: usize| {
        token[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut at = usize::from(token.first() == Some(&b'-'));
    match token.get(at) {
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => at += digits(at),
        _ => return false,
    }
    if token.get(at) == Some(&b'.') {
        let n = digits(at + 1);
        if n == 0 {
            return false;
        }
        at += 1 + n;
    }
    if matches!(token.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(token.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let n = digits(at);
        if n == 0 {
            return false;
        }
        at += n;
    }
    at == token.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> DataFrame {
        parse_part(text.as_bytes(), 0).unwrap()
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    fn texts(df: &DataFrame, name: &str) -> Vec<Option<String>> {
        df.column(name)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect()
    }

    #[test]
    fn fields_keep_the_text_sent_in_any_key_order() {
        let df = parse(concat!(
            r#"{"order_id":"A","quantity":2,"unit_price":"10.5","amount":1e1,"status":null}"#,
            "\n\n",
            r#" { "amount" : 3.50 , "order_id" : "B\"\u00e9", "extra": {"k": [1, "}"]}, "status": true } "#,
            "\n",
            r#"{"order_id":["x"],"quantity":{"n":1},"order_id":"C"}"#,
            "\n",
        ));
        assert_eq!(df.height(), 3);
        let df = typed::restore(&df).unwrap();
        let some = |v: &str| Some(v.to_owned());
        assert_eq!(texts(&df, "order_id"), [some("A"), some("B\"é"), some("C")]);
        assert_eq!(
            texts(&df, "quantity"),
            [some("2"), None, some(r#"{"n":1}"#)]
        );
        assert_eq!(texts(&df, "unit_price"), [some("10.5"), None, None]);
        assert_eq!(texts(&df, "amount"), [some("1e1"), some("3.50"), None]);
        assert_eq!(texts(&df, "status"), [None, some("true"), None]);
        assert_eq!(texts(&df, "customer_id"), [None, None, None]);
    }

    #[test]
    fn typed_shadows_hold_only_valid_values() {
        let df = parse(concat!(
            r#"{"quantity":2,"unit_price":"10.5","amount":1e1,"order_date":"2026-02-28","updated_at":"2026-02-28T23:59:59Z"}"#,
            "\n",
            r#"{"quantity":"two","unit_price":"NaN","amount":"inf","order_date":"2026-02-30","updated_at":"2026-02-28T24:00:00Z"}"#,
            "\n",
            r#"{"quantity":2.0,"unit_price":-1,"amount":"1,5","order_date":"28/02/2026","updated_at":"2026-02-28 10:00:00"}"#,
            "\n",
            r#"{"quantity":2.5,"amount":"1-2","order_date":"2026-2-28","updated_at":"2026-02-28T10:00:00+01:00"}"#,
        ));
        let ints = |name: &str| -> Vec<Option<i64>> {
            let c = df.column(name).unwrap().cast(&DataType::Int64).unwrap();
            c.i64().unwrap().iter().collect()
        };
        let floats = |name: &str| -> Vec<Option<f64>> {
            df.column(name).unwrap().f64().unwrap().iter().collect()
        };
        assert_eq!(ints("_quantity"), [Some(2), None, Some(2), None]);
        assert_eq!(floats("_unit_price"), [Some(10.5), None, Some(-1.0), None]);
        assert_eq!(floats("_amount"), [Some(10.0), None, None, None]);
        let restored = typed::restore(&df).unwrap();
        assert_eq!(texts(&restored, "amount")[3].as_deref(), Some("1-2"));
        assert_eq!(ints("_order_date"), [Some(20_512), None, None, None]);
        assert_eq!(
            ints("_updated_at"),
            [Some(1_772_323_199_000_000), None, None, None]
        );
        assert_eq!(df.column("_order_date").unwrap().dtype(), &DataType::Date);
        assert_eq!(
            df.column("_updated_at").unwrap().dtype(),
            &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        );
    }

    #[test]
    fn a_line_that_is_not_a_flat_object_is_a_malformed_record_at_its_place() {
        let good = "{\"order_id\":\"A\"}";
        for (text, line) in [
            ("{\"order_id\":\"A\"}\n{\"order_id\":\"B\"", 2),
            ("{\"order_id\":\"A\"}\n\n[1,2]\n", 3),
            ("{\"order_id\":\"A\"}\nnull", 2),
            ("{\"order_id\":\"A\"}\n\"text\"", 2),
            ("{\"order_id\":\"A\"}\n42", 2),
            ("{\"order_id\":\"A\"} x\n{\"order_id\":\"B\"}", 1),
            ("{\"order_id\":nul}", 1),
            ("{\"order_id\" \"A\"}", 1),
            ("{\"order_id\":\"\\ud800\"}", 1),
            ("{\n\"order_id\":\"A\"}", 1),
        ] {
            let df = parse_part(text.as_bytes(), 0).unwrap();
            let malformed: Vec<bool> = df
                .column(MALFORMED)
                .unwrap()
                .bool()
                .unwrap()
                .iter()
                .map(|m| m.unwrap())
                .collect();
            let lines: Vec<u32> = df
                .column(LINE)
                .unwrap()
                .u32()
                .unwrap()
                .into_no_null_iter()
                .collect();
            let bad: Vec<u32> = lines
                .iter()
                .zip(&malformed)
                .filter(|(_, m)| **m)
                .map(|(l, _)| *l)
                .collect();
            assert_eq!(
                bad.first().copied(),
                Some(line),
                "{text:?}: {lines:?} {malformed:?}"
            );
            // Every field of a malformed record is null; the good records are read as ever.
            let ids = texts(&df, "order_id");
            for ((id, m), l) in ids.iter().zip(&malformed).zip(&lines) {
                assert_eq!(id.is_none(), *m, "{text:?} line {l}");
            }
        }
        // Not UTF-8: that line alone, and its line number finds its bytes again.
        let mut part = format!("{good}\n").into_bytes();
        part.extend_from_slice(b"{\"order_id\":\"\xff\"}\n");
        part.extend_from_slice(good.as_bytes());
        let df = parse_part(&part, 0).unwrap();
        assert_eq!(texts(&df, "order_id"), [some("A"), None, some("A")]);
        let line = df.column(LINE).unwrap().u32().unwrap().get(1).unwrap() as usize;
        let (start, end) = line_spans(&part).nth(line - 1).unwrap();
        assert_eq!(&part[start..end], b"{\"order_id\":\"\xff\"}");
    }

    #[test]
    fn word_at_a_time_searches_agree_with_plain_ones() {
        // Quotes and backslashes at every place of a word and across words, next to bytes
        // one away from them ('!', '#', '[', ']') and to multi-byte UTF-8.
        // And control characters, below and at the edge of 0x20.
        let text = [
            r#"ab"c\d!#[]é"0123456789\"€abcdefgh""ijklmnop\"#.as_bytes(),
            b"\x1f \x20\x00!xyz\x1e\x21abcdefgh\x01",
        ]
        .concat();
        let text = text.as_slice();
        for at in 0..=text.len() + 1 {
            let plain = text
                .get(at..)
                .and_then(|rest| rest.iter().position(|b| stops_a_string(*b)))
                .map(|i| at + i);
            assert_eq!(string_stop(text, at), plain, "from {at}");
            for len in 0..=20 {
                let Some(here) = text.get(at..at + len) else {
                    continue;
                };
                // The text itself, and with one byte changed at each place.
                let mut prefixes = vec![here.to_vec()];
                for changed in 0..len {
                    let mut prefix = here.to_vec();
                    prefix[changed] ^= 1;
                    prefixes.push(prefix);
                }
                for prefix in prefixes {
                    let plain = text[at..].starts_with(&prefix);
                    assert_eq!(
                        starts_with_at(text, at, &prefix),
                        plain,
                        "{prefix:?} at {at}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_empty_part_has_every_column() {
        let df = parse("\n");
        assert_eq!(df.height(), 0);
        assert_eq!(
            df.width(),
            FIELD_NAMES.len() + 3,
            "typed ones twice, and {SENT_TEXTS}, {LINE}, {MALFORMED}"
        );
        // Restored: every field's text, the typed shadows, the line and the malformed flag.
        assert_eq!(
            typed::restore(&df).unwrap().width(),
            FIELD_NAMES.len() + 5 + 2
        );
    }
}
