//! The five typed fields (quantity, unit_price, amount, order_date, updated_at): their values
//! from the text sent, how a value prints, and the sent text of the few records that need it.
//!
//! The quarantine keeps every field as it was sent, but only refused records go there (about
//! one in a hundred), and the text of nearly every typed value is exactly how the value prints.
//! So the part reader ([`crate::read`]) keeps one column for the five, [`SENT_TEXTS`]: null where
//! every text prints back from its value (or the field is missing), else a JSON object of the
//! texts that do not, a text that is no valid value included. [`restore`] gives refused records
//! their five text columns back. A text column per field would cost every record five 16-byte
//! string views, and the 20 bytes of its updated_at.

use std::{borrow::Cow, collections::BTreeMap};

use chrono::{DateTime, NaiveDate};
use lakehouse_core::{
    dates,
    record::{FIELD_NAMES, FIELDS, FieldType},
};
use polars::prelude::*;

use crate::side::{SENT_TEXTS, parsed};

/// Positions in [`FIELD_NAMES`] of the fields that get a typed shadow column in place of a text
/// column: the reader ([`crate::read`]) fills them, and `silver::orders::valid_orders` takes them.
pub const TYPED: [usize; 5] = [QUANTITY, UNIT_PRICE, AMOUNT, ORDER_DATE, UPDATED_AT];
pub(crate) const QUANTITY: usize = field("quantity");
pub(crate) const UNIT_PRICE: usize = field("unit_price");
pub(crate) const AMOUNT: usize = field("amount");
pub(crate) const ORDER_DATE: usize = field("order_date");
pub(crate) const UPDATED_AT: usize = field("updated_at");

// The record contract (`lakehouse_core::record::FIELDS`) decides which fields are typed and how:
// a change there that this module does not follow fails the build here.
const _: () = {
    // How this module parses each field of TYPED, in its order.
    let parsed_as = [
        FieldType::Integer,
        FieldType::Decimal,
        FieldType::Decimal,
        FieldType::Date,
        FieldType::Timestamp,
    ];
    let mut typed = 0;
    let mut i = 0;
    while i < FIELDS.len() {
        if !matches!(FIELDS[i].ty, FieldType::Text) {
            assert!(
                typed < TYPED.len() && TYPED[typed] == i,
                "a typed field the reader lacks"
            );
            assert!(
                FIELDS[i].ty as u8 == parsed_as[typed] as u8,
                "a field whose type the reader parses otherwise"
            );
            typed += 1;
        }
        i += 1;
    }
    assert!(typed == TYPED.len(), "a typed field the contract lacks");
};

/// The position of a field in [`FIELD_NAMES`]; a name that is not there fails the build.
const fn field(name: &str) -> usize {
    let name = name.as_bytes();
    let mut i = 0;
    while i < FIELD_NAMES.len() {
        let candidate = FIELD_NAMES[i].as_bytes();
        let mut same = candidate.len() == name.len();
        let mut j = 0;
        while same && j < name.len() {
            same = candidate[j] == name[j];
            j += 1;
        }
        if same {
            return i;
        }
        i += 1;
    }
    panic!("not a raw field")
}

/// A typed field's value, and whether its text is how the value prints.
pub(crate) type Parsed<T> = Option<(T, bool)>;

/// A whole number; a number written with a fraction or exponent counts when it is integral
/// ("2.0", "2e0"), as it is the same JSON number.
pub(crate) fn quantity(text: &str) -> Parsed<i64> {
    if let Ok(n) = text.parse::<i64>() {
        return Some((n, prints_as_integer(text)));
    }
    let x = finite(text)?;
    // 2^53: beyond it an f64 no longer holds every integer exactly.
    (x.fract() == 0.0 && x.abs() <= 9_007_199_254_740_992.0).then_some((x as i64, false))
}

/// A finite decimal number (a price or an amount).
pub(crate) fn decimal(text: &str) -> Parsed<f64> {
    if let Some(x) = printed_decimal(text) {
        return Some((x, true));
    }
    Some((finite(text)?, false))
}

/// `YYYY-MM-DD`, a real calendar day: days since 1970-01-01. Only that exact form is read, so
/// a day's text always prints back.
pub(crate) fn day(text: &str) -> Parsed<i32> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 {
        return None;
    }
    Some((dates::to_days(date_of(bytes)?), true))
}

/// `YYYY-MM-DDTHH:MM:SSZ`, a real instant in UTC: microseconds since the epoch. Only that exact
/// form is read, so an instant's text always prints back.
pub(crate) fn instant(text: &str) -> Parsed<i64> {
    let b = text.as_bytes();
    if b.len() != 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z' {
        return None;
    }
    let time = date_of(b)?.and_hms_opt(digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?)?;
    Some((time.and_utc().timestamp_micros(), true))
}

const DAY_FORMAT: &str = "%Y-%m-%d";
const INSTANT_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// "NaN" and "inf" parse as floats but are not amounts or prices.
fn finite(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// `len` ASCII digits at `at` as a number.
fn digits(text: &[u8], at: usize, len: usize) -> Option<u32> {
    text.get(at..at + len)?.iter().try_fold(0u32, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

fn date_of(text: &[u8]) -> Option<NaiveDate> {
    if text.get(4) != Some(&b'-') || text.get(7) != Some(&b'-') {
        return None;
    }
    let year = i32::try_from(digits(text, 0, 4)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(text, 5, 2)?, digits(text, 8, 2)?)
}

/// Whether an integer's text is how it prints: digits, no leading zero or plus, no "-0".
fn prints_as_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let negative = digits.len() < text.len();
    digits.bytes().all(|b| b.is_ascii_digit())
        && match digits.as_bytes() {
            [] => false,
            [b'0'] => !negative,
            [b'0', ..] => false,
            _ => true,
        }
}

/// The value of a decimal written as its value prints (Rust's `{:?}`, which is how serde_json
/// writes floats: "178.0", "35.6"), or `None` for any other text. That form is plain notation,
/// which `{:?}` uses from 1e-4 up to 1e16, with no leading zero and no trailing zero but the one
/// of ".0". With at most 15 significant digits (`f64::DIGITS`) a decimal comes back unchanged
/// from its nearest double, so the shortest text of the double is these digits and prints as
/// the text; more digits are refused, and digits are counted from the first non-zero one to
/// the last, ".0" included: an overcount only keeps a text that was not needed.
///
/// Read in one pass: the digits as an integer m < 10^15 < 2^53 and their count k after the
/// point (at most 18 for a value of at least 1e-4), the value is m / 10^k, one correctly rounded
/// division of two exact doubles (10^k is exact up to 10^22), which is the nearest double to
/// the decimal: what `str::parse` gives, in a fraction of its time.
fn printed_decimal(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let (negative, unsigned) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    let point = unsigned.iter().position(|&b| b == b'.')?;
    let (whole, fraction) = (&unsigned[..point], &unsigned[point + 1..]);
    let leading_zero = whole.len() > 1 && whole[0] == b'0';
    let trailing_zero = fraction.len() > 1 && fraction.last() == Some(&b'0');
    if whole.is_empty() || fraction.is_empty() || leading_zero || trailing_zero {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut significant = 0usize;
    for &b in whole.iter().chain(fraction) {
        if !b.is_ascii_digit() {
            return None;
        }
        mantissa = mantissa * 10 + u64::from(b - b'0');
        significant += usize::from(mantissa != 0);
        if significant > f64::DIGITS as usize {
            return None;
        }
    }
    let scale = POWERS_OF_TEN.get(fraction.len())?;
    let magnitude = mantissa as f64 / scale;
    if mantissa != 0 && !(1e-4..1e16).contains(&magnitude) {
        return None;
    }
    Some(if negative { -magnitude } else { magnitude })
}

/// 10^0 to 10^22: the powers of ten a double holds exactly.
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `days` come from [`day`], so they lie within years 0 to 9999.
fn print_day(days: i32) -> Option<String> {
    Some(dates::from_days(days).format(DAY_FORMAT).to_string())
}

fn print_instant(micros: i64) -> Option<String> {
    let time = DateTime::from_timestamp_micros(micros)?;
    Some(time.format(INSTANT_FORMAT).to_string())
}

/// One record's field values as the reader found them (by their place in [`FIELD_NAMES`]),
/// and which of its typed fields' texts do not print back from their values.
pub(crate) struct TypedValues<'r, 'v> {
    values: &'r [Option<Cow<'v, str>>; FIELD_NAMES.len()],
    kept: [bool; FIELD_NAMES.len()],
}

impl<'r, 'v> TypedValues<'r, 'v> {
    pub fn of(values: &'r [Option<Cow<'v, str>>; FIELD_NAMES.len()]) -> Self {
        TypedValues {
            values,
            kept: [false; FIELD_NAMES.len()],
        }
    }

    /// The value of field `at` by `parse`; its text is kept unless the value prints as it.
    pub fn value<T>(&mut self, at: usize, parse: fn(&str) -> Parsed<T>) -> Option<T> {
        let parsed = parse(self.values[at].as_deref()?);
        self.kept[at] = !parsed.as_ref().is_some_and(|(_, prints)| *prints);
        parsed.map(|(value, _)| value)
    }

    /// The record's [`SENT_TEXTS`] value: none when every text prints back.
    pub fn json(&self) -> Option<String> {
        if !self.kept.contains(&true) {
            return None;
        }
        let kept: BTreeMap<&str, &str> = (0..FIELD_NAMES.len())
            .filter(|&at| self.kept[at])
            .filter_map(|at| Some((FIELD_NAMES[at], self.values[at].as_deref()?)))
            .collect();
        // A map of strings always serialises.
        serde_json::to_string(&kept).ok()
    }
}

/// `frame` (records as the reader gives them) with the five typed fields' text columns as they
/// were sent, and without [`SENT_TEXTS`]. For refused records: it prints every value once more.
pub fn restore(frame: &DataFrame) -> PolarsResult<DataFrame> {
    let sent: Vec<BTreeMap<String, String>> = frame
        .column(SENT_TEXTS)?
        .str()?
        .iter()
        .map(|json| json.map_or(Ok(BTreeMap::new()), serde_json::from_str))
        .collect::<Result<_, _>>()
        .map_err(|e| polars_err!(ComputeError: "{SENT_TEXTS} is not a map of texts: {e}"))?;
    let mut restored = frame.drop(SENT_TEXTS)?;
    for name in TYPED.map(|i| FIELD_NAMES[i]) {
        let printed = printed(frame.column(&parsed(name))?)?;
        let texts: StringChunked = sent
            .iter()
            .zip(printed)
            .map(|(kept, printed)| kept.get(name).cloned().or(printed))
            .collect();
        restored.with_column(texts.into_column().with_name(name.into()))?;
    }
    Ok(restored)
}

/// How each value of a typed column prints.
fn printed(column: &Column) -> PolarsResult<Vec<Option<String>>> {
    Ok(match column.dtype() {
        DataType::Int64 => column
            .i64()?
            .iter()
            .map(|v| v.map(|v| v.to_string()))
            .collect(),
        DataType::Float64 => column
            .f64()?
            .iter()
            .map(|v| v.map(|v| format!("{v:?}")))
            .collect(),
        DataType::Date => {
            let days = column.date()?.physical();
            days.iter().map(|v| v.and_then(print_day)).collect()
        }
        DataType::Datetime(..) => {
            let micros = column.datetime()?.physical();
            micros.iter().map(|v| v.and_then(print_instant)).collect()
        }
        other => polars_bail!(ComputeError: "{}: no printed form for {other}", column.name()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settle::keyed::tests::numbers;

    /// Texts of the decimals a source might send: a spread of magnitudes and digit counts,
    /// written by serde_json's float printer, and as hand-written texts with trailing or
    /// leading zeros, signs, exponents and too many digits.
    fn decimal_texts() -> Vec<String> {
        let mut next = numbers(7);
        let mut texts: Vec<String> = (0..20_000)
            .map(|_| {
                let digits = 1 + next(17) as u32;
                let x = next(10u64.pow(digits)) as f64 / 10f64.powi(next(12) as i32);
                serde_json::to_string(&if next(2) == 0 { x } else { -x }).unwrap_or_default()
            })
            .collect();
        texts.extend(
            [
                "0.0",
                "-0.0",
                "0",
                "178.0",
                "178",
                "178.00",
                "35.6",
                "35.60",
                "035.6",
                "+35.6",
                "1e1",
                "1E1",
                "0.0001",
                "0.00001",
                "1e-5",
                "9999999999999998.0",
                "1e16",
                "123456789012345.6",
                "1234567890123456.7",
                "0.1234567890123456",
                ".5",
                "5.",
                "-.5",
                "0x10",
                " 1.5",
                "1.5 ",
                "1_000.0",
            ]
            .map(str::to_owned),
        );
        texts
    }

    #[test]
    fn a_decimal_said_to_print_back_prints_back() {
        let mut printing = 0;
        for text in decimal_texts() {
            let Some((x, prints)) = decimal(&text) else {
                continue;
            };
            assert_eq!(
                x.to_bits(),
                text.parse::<f64>().unwrap().to_bits(),
                "{text}"
            );
            if prints {
                printing += 1;
                assert_eq!(format!("{x:?}"), text, "{text} was said to print back");
            }
        }
        assert!(printing > 10_000, "only {printing} texts print back");
        for text in ["178.0", "35.6", "-0.0", "0.0001", "12345678901234.5"] {
            assert!(decimal(text).is_some_and(|(_, p)| p), "{text}");
        }
        for text in [
            "178",
            "35.60",
            "035.6",
            "1e1",
            "0.00001",
            "1234567890123456.7",
        ] {
            assert!(decimal(text).is_some_and(|(_, p)| !p), "{text}");
        }
    }

    #[test]
    fn an_integer_prints_back_only_as_its_plain_digits() {
        for (text, prints) in [
            ("2", true),
            ("0", true),
            ("-7", true),
            ("-0", false),
            ("007", false),
            ("+7", false),
            ("2.0", false),
            ("2e0", false),
        ] {
            let (n, p) = quantity(text).unwrap();
            assert_eq!(p, prints, "{text}");
            if p {
                assert_eq!(n.to_string(), text);
            }
        }
        assert_eq!(quantity("2.5"), None);
    }

    #[test]
    fn days_and_instants_print_back_as_read() {
        let mut next = numbers(11);
        for _ in 0..5_000 {
            let year = if next(10) == 0 {
                next(10_000)
            } else {
                1900 + next(200)
            };
            let text = format!("{year:04}-{:02}-{:02}", 1 + next(12), 1 + next(28));
            let (days, prints) = day(&text).unwrap();
            assert!(prints);
            assert_eq!(print_day(days).as_deref(), Some(text.as_str()));
            let stamp = format!("{text}T{:02}:{:02}:{:02}Z", next(24), next(60), next(60));
            let (micros, prints) = instant(&stamp).unwrap();
            assert!(prints);
            assert_eq!(print_instant(micros).as_deref(), Some(stamp.as_str()));
        }
    }

    #[test]
    fn refused_records_get_every_text_back_as_sent() {
        let sent = [
            r#"{"quantity":2,"unit_price":35.6,"amount":71.2,"order_date":"2026-02-28","updated_at":"2026-02-28T23:59:59Z"}"#,
            r#"{"quantity":2.0,"unit_price":"35.60","amount":1e1,"order_date":"2026-02-30","updated_at":"yesterday"}"#,
            r#"{"quantity":{"n":1},"unit_price":null,"amount":"-0","order_date":"0000-01-01"}"#,
        ];
        let df = crate::read::parse_part(sent.join("\n").as_bytes(), 3).unwrap();
        let kept: Vec<Option<&str>> = df
            .column(SENT_TEXTS)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(kept[0], None, "every text of the first prints back");
        let restored = restore(&df).unwrap();
        assert!(restored.column(SENT_TEXTS).is_err());
        let texts = |name: &str| -> Vec<Option<String>> {
            let column = restored.column(name).unwrap().str().unwrap().clone();
            column.iter().map(|v| v.map(str::to_owned)).collect()
        };
        let some = |v: &str| Some(v.to_owned());
        assert_eq!(
            texts("quantity"),
            [some("2"), some("2.0"), some(r#"{"n":1}"#)]
        );
        assert_eq!(texts("unit_price"), [some("35.6"), some("35.60"), None]);
        assert_eq!(texts("amount"), [some("71.2"), some("1e1"), some("-0")]);
        assert_eq!(
            texts("order_date"),
            [some("2026-02-28"), some("2026-02-30"), some("0000-01-01")]
        );
        assert_eq!(
            texts("updated_at"),
            [some("2026-02-28T23:59:59Z"), some("yesterday"), None]
        );
    }
}
