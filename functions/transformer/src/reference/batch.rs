//! The whole transform of a batch, record by record: each line read as [`super::line`] says,
//! the rules of `lakehouse_core::record::Reason` checked in their order with std and chrono
//! parsing, the rules across records with a set of the versions seen, the latest version of
//! each order with a map, and the quarantine's rows. The differential test below runs
//! generated batches through this and through the fast path (`classify_part`, `stack`,
//! `settle_batch`) and asserts equal outputs.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, NaiveTime};
use lakehouse_core::{
    dates,
    record::{FIELD_NAMES, FIELDS, FieldType, Reason, STATUSES},
};

use super::line::{Line, read_line};
use crate::rules::Plausible;

/// A row of `orders_transformed` (without its run id).
#[derive(Debug, Clone, PartialEq)]
pub struct Silver {
    /// Every field's text as sent: the typed fields' too, which `typed` below holds parsed.
    pub texts: Vec<Option<String>>,
    pub quantity: i64,
    pub unit_price: f64,
    pub amount: f64,
    pub order_date: i32,
    pub updated_at: i64,
    pub order_year: i32,
    pub order_month: i32,
}

/// A row of `orders_quarantine` (without its run id and hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub reason: &'static str,
    pub texts: Vec<Option<String>>,
    pub part: String,
    pub line: i64,
    pub raw: String,
}

/// One record as read, with where it came from.
struct Record {
    part: usize,
    line: i64,
    sent: String,
    /// `None` for a malformed line.
    texts: Option<Vec<Option<String>>>,
}

/// The batch's silver rows (in order_date order, then arrival order) and its quarantine rows
/// (in arrival order).
pub fn transform(parts: &[(String, Vec<u8>)], plausible: Plausible) -> (Vec<Silver>, Vec<Refused>) {
    let mut records = Vec::new();
    for (part, (_, bytes)) in parts.iter().enumerate() {
        for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
            let texts = match read_line(line) {
                Line::Blank => continue,
                Line::Malformed => None,
                Line::Record(texts) => Some(texts),
            };
            records.push(Record {
                part,
                line: i64::try_from(i + 1).unwrap(),
                sent: String::from_utf8_lossy(line).into_owned(),
                texts,
            });
        }
    }
    let mut reasons: Vec<Option<Reason>> = records
        .iter()
        .map(|r| refused_on_its_own(r, plausible))
        .collect();

    // A record repeats an earlier one with the same order_id and updated_at, whatever the
    // earlier one's verdict; a record refused already keeps its reason.
    let mut seen = HashSet::new();
    for (record, reason) in records.iter().zip(reasons.iter_mut()) {
        let key = record.texts.as_ref().and_then(|t| {
            let id = t[position("order_id")].clone()?;
            Some((id, instant(t[position("updated_at")].as_deref()?)?))
        });
        if let Some(key) = key
            && !seen.insert(key)
        {
            reason.get_or_insert(Reason::DuplicateRecord);
        }
    }

    // Of each order's records still valid, the latest updated_at.
    let mut latest: HashMap<String, usize> = HashMap::new();
    for (i, record) in records.iter().enumerate() {
        let (None, Some(texts)) = (reasons[i], &record.texts) else {
            continue;
        };
        let id = texts[position("order_id")].clone().unwrap();
        let stamp = |i: usize| typed(&records[i], "updated_at", instant);
        if latest.get(&id).is_none_or(|&j| stamp(i) > stamp(j)) {
            latest.insert(id, i);
        }
    }
    let mut rows: Vec<usize> = latest.into_values().collect();
    rows.sort_by_key(|&i| (typed(&records[i], "order_date", day), i));
    let silver = rows.into_iter().map(|i| silver(&records[i])).collect();

    let quarantine = records
        .iter()
        .zip(&reasons)
        .filter_map(|(record, reason)| {
            let reason = (*reason)?;
            let texts = record
                .texts
                .clone()
                .unwrap_or_else(|| vec![None; FIELDS.len()]);
            // Refused on its own, its line as sent; a duplicate's line rebuilt from its fields.
            let raw = if reason == Reason::DuplicateRecord && record.texts.is_some() {
                rebuilt(&texts)
            } else {
                record.sent.clone()
            };
            Some(Refused {
                reason: reason.as_str(),
                texts,
                part: parts[record.part].0.clone(),
                line: record.line,
                raw,
            })
        })
        .collect();
    (silver, quarantine)
}

/// The first rule of `Reason::ALL` a record breaks on its own.
fn refused_on_its_own(record: &Record, plausible: Plausible) -> Option<Reason> {
    let Some(texts) = &record.texts else {
        return Some(Reason::MalformedRecord);
    };
    let text = |name: &str| texts[position(name)].as_deref();
    let blank = |name: &str| text(name).is_none_or(|t| t.trim().is_empty());
    let quantity = text("quantity").and_then(integer);
    let unit_price = text("unit_price").and_then(decimal);
    let order_date = text("order_date").and_then(day);
    let updated_at = text("updated_at").and_then(instant);
    let checks = [
        (Reason::MissingOrderId, blank("order_id")),
        (Reason::MissingCustomerId, blank("customer_id")),
        (Reason::MissingProductId, blank("product_id")),
        (Reason::InvalidQuantity, quantity.is_none()),
        (
            Reason::NonPositiveQuantity,
            quantity.is_some_and(|q| q <= 0),
        ),
        (Reason::InvalidUnitPrice, unit_price.is_none_or(|p| p < 0.0)),
        (
            Reason::InvalidAmount,
            text("amount").and_then(decimal).is_none(),
        ),
        (Reason::InvalidOrderDate, order_date.is_none()),
        (
            Reason::ImplausibleOrderDate,
            order_date.is_some_and(|d| d < plausible.first_day || d > plausible.last_day),
        ),
        (Reason::InvalidUpdatedAt, updated_at.is_none()),
        (
            Reason::FutureUpdatedAt,
            updated_at.is_some_and(|t| t > plausible.latest_update),
        ),
        (
            Reason::InvalidStatus,
            text("status").is_none_or(|s| !STATUSES.contains(&s)),
        ),
    ];
    checks
        .into_iter()
        .find(|(_, broken)| *broken)
        .map(|(reason, _)| reason)
}

fn silver(record: &Record) -> Silver {
    let date = |r: &Record| dates::from_days(typed(r, "order_date", day));
    Silver {
        texts: record.texts.clone().unwrap(),
        quantity: typed(record, "quantity", integer),
        unit_price: typed(record, "unit_price", decimal),
        amount: typed(record, "amount", decimal),
        order_date: typed(record, "order_date", day),
        updated_at: typed(record, "updated_at", instant),
        order_year: chrono::Datelike::year(&date(record)),
        order_month: i32::try_from(chrono::Datelike::month(&date(record))).unwrap(),
    }
}

/// The value of a field of a valid record.
fn typed<T>(record: &Record, name: &str, parse: fn(&str) -> Option<T>) -> T {
    let texts = record.texts.as_ref().unwrap();
    parse(texts[position(name)].as_deref().unwrap()).unwrap()
}

fn position(name: &str) -> usize {
    FIELD_NAMES.iter().position(|f| *f == name).unwrap()
}

/// A whole number, also when written with a fraction or exponent that leaves it whole (the
/// same JSON number), up to 2^53.
fn integer(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().or_else(|| {
        let x = decimal(text)?;
        (x.fract() == 0.0 && x.abs() <= 2f64.powi(53)).then_some(x as i64)
    })
}

fn decimal(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Exactly `YYYY-MM-DD`, a real day: days since 1970-01-01.
fn day(text: &str) -> Option<i32> {
    let digits_at = |range: std::ops::Range<usize>| {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse::<u32>().ok())?
    };
    if text.len() != 10 || &text[4..5] != "-" || &text[7..8] != "-" {
        return None;
    }
    let year = i32::try_from(digits_at(0..4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, digits_at(5..7)?, digits_at(8..10)?)?;
    Some(dates::to_days(date))
}

/// Exactly `YYYY-MM-DDTHH:MM:SSZ`, a real instant: microseconds since the epoch.
fn instant(text: &str) -> Option<i64> {
    let digits_at = |at: usize| {
        let part = text.get(at..at + 2)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse::<u32>().ok())?
    };
    if text.len() != 20 || !text.is_char_boundary(10) || !text.ends_with('Z') {
        return None;
    }
    if &text[10..11] != "T" || &text[13..14] != ":" || &text[16..17] != ":" {
        return None;
    }
    let date = dates::from_days(day(&text[..10])?);
    let time = NaiveTime::from_hms_opt(digits_at(11)?, digits_at(14)?, digits_at(17)?)?;
    Some(date.and_time(time).and_utc().timestamp_micros())
}

/// A record's line rebuilt from its fields as sent: a JSON object with sorted keys, null
/// fields left out, numeric fields as numbers where their text is a JSON number.
fn rebuilt(texts: &[Option<String>]) -> String {
    let object: serde_json::Map<String, serde_json::Value> = FIELDS
        .iter()
        .zip(texts)
        .filter_map(|(field, text)| {
            let text = text.as_deref()?;
            let numeric = matches!(field.ty, FieldType::Integer | FieldType::Decimal);
            let value = match text.parse::<serde_json::Number>() {
                Ok(number) if numeric => serde_json::Value::Number(number),
                _ => text.into(),
            };
            Some((field.name.to_owned(), value))
        })
        .collect();
    serde_json::Value::Object(object).to_string()
}

#[cfg(test)]
mod tests {
    use polars::prelude::*;

    use super::*;
    use crate::{classify_part, read::parse_part, reference::Gen, settle_batch, stack};

    const FIRST_DAY: &str = "2026-01-01";
    const LAST_DAY: &str = "2026-03-31";
    const LATEST_UPDATE: &str = "2026-04-01T00:00:00Z";

    impl Gen {
        /// A record of the batch: usually a valid version of one of `orders` orders, with one
        /// of a few update times (so versions repeat), sometimes breaking one rule.
        fn order_line(&mut self, orders: usize) -> String {
            let id = format!("ORD-{:04}", self.below(orders));
            let day = format!("2026-{:02}-{:02}", 1 + self.below(3), 1 + self.below(28));
            let stamp = format!(
                "2026-03-{:02}T{:02}:00:00Z",
                1 + self.below(3),
                self.below(3)
            );
            let mut fields: Vec<(String, String)> = vec![
                ("order_id".into(), format!("\"{id}\"")),
                ("customer_id".into(), format!("\"C{}\"", self.below(50))),
                ("customer_name".into(), "\"Zoë Lee\"".into()),
                ("customer_email".into(), "\"z@example.com\"".into()),
                ("customer_country".into(), "\"NL\"".into()),
                ("customer_segment".into(), "\"retail\"".into()),
                ("product_id".into(), format!("\"P{}\"", self.below(20))),
                ("product_name".into(), "\"Kettle\"".into()),
                ("product_category".into(), "\"kitchen\"".into()),
                (
                    "quantity".into(),
                    self.pick(&["1", "2", "3", "2.0", "1e1", "\"4\""]).into(),
                ),
                (
                    "unit_price".into(),
                    self.pick(&["9.5", "10", "0.1", "2.50", "-0.0", "1e2"])
                        .into(),
                ),
                (
                    "amount".into(),
                    self.pick(&["19.0", "20", "0.30000000000000004", "1E+2"])
                        .into(),
                ),
                ("currency".into(), "\"EUR\"".into()),
                ("status".into(), format!("\"{}\"", self.pick(&STATUSES))),
                ("order_date".into(), format!("\"{day}\"")),
                ("updated_at".into(), format!("\"{stamp}\"")),
            ];
            if self.below(4) == 0 {
                let broken = [
                    ("order_id", "null"),
                    ("order_id", "\"  \""),
                    ("customer_id", "\"\""),
                    ("product_id", "null"),
                    ("quantity", "\"two\""),
                    ("quantity", "0"),
                    ("quantity", "-1"),
                    ("quantity", "2.5"),
                    ("quantity", "{\"a\": 1}"),
                    ("unit_price", "-1.5"),
                    ("unit_price", "\"x\""),
                    ("amount", "[1]"),
                    ("amount", "\"NaN\""),
                    ("order_date", "\"31/01/2026\""),
                    ("order_date", "\"2026-02-30\""),
                    ("order_date", "\"2025-12-31\""),
                    ("order_date", "\"2026-04-01\""),
                    ("updated_at", "\"yesterday\""),
                    ("updated_at", "\"2026-03-01T10:00:00+00:00\""),
                    ("updated_at", "\"2026-04-01T00:00:01Z\""),
                    ("status", "\"lost\""),
                    ("status", "null"),
                ];
                let (name, value) = broken[self.below(broken.len())];
                let field = fields.iter_mut().find(|(n, _)| n == name).unwrap();
                field.1 = value.to_owned();
            }
            if self.below(10) == 0 {
                let gone = self.below(fields.len());
                fields.remove(gone);
            }
            // Any order of the members, as a sender may write them.
            for i in (1..fields.len()).rev() {
                fields.swap(i, self.below(i + 1));
            }
            let members: Vec<String> = fields
                .iter()
                .map(|(n, v)| format!("\"{n}\": {v}"))
                .collect();
            format!("{{{}}}", members.join(", "))
        }

        /// A part: order lines, now and then a line sent twice, a blank line, a CRLF ending, a
        /// record of any shape or a mutated one.
        fn part(&mut self, lines: usize, orders: usize) -> Vec<u8> {
            let mut out: Vec<Vec<u8>> = Vec::with_capacity(lines);
            for _ in 0..lines {
                let line = match self.below(40) {
                    0 => Vec::new(),
                    1 => self.record().into_bytes(),
                    2 => {
                        let line = self.order_line(orders);
                        self.mutated(&line)
                    }
                    3 if !out.is_empty() => out[self.below(out.len())].clone(),
                    4 => format!("{}\r", self.order_line(orders)).into_bytes(),
                    _ => self.order_line(orders).into_bytes(),
                };
                out.push(line);
            }
            out.join(&b'\n')
        }
    }

    fn plausible() -> Plausible {
        Plausible {
            first_day: day(FIRST_DAY).unwrap(),
            last_day: day(LAST_DAY).unwrap(),
            latest_update: instant(LATEST_UPDATE).unwrap(),
        }
    }

    fn texts_of(df: &DataFrame, row: usize) -> Vec<Option<String>> {
        FIELD_NAMES
            .iter()
            .map(|name| {
                let column = df.column(name).unwrap().cast(&DataType::String).unwrap();
                column.str().unwrap().get(row).map(str::to_owned)
            })
            .collect()
    }

    /// The fast path's silver rows, in the reference's terms; the typed fields' texts as the
    /// reference's (their values are compared on their own).
    fn fast_silver(batch: &DataFrame, want: &[Silver]) -> Vec<Silver> {
        let i64s = |name: &str| batch.column(name).unwrap().i64().unwrap().clone();
        let f64s = |name: &str| batch.column(name).unwrap().f64().unwrap().clone();
        let i32s = |name: &str| batch.column(name).unwrap().i32().unwrap().clone();
        let days = batch
            .column("order_date")
            .unwrap()
            .date()
            .unwrap()
            .physical()
            .clone();
        let stamps = batch
            .column("updated_at")
            .unwrap()
            .datetime()
            .unwrap()
            .physical()
            .clone();
        (0..batch.height())
            .map(|row| {
                let mut texts = texts_of(batch, row);
                for field in FIELDS.iter().filter(|f| f.ty != FieldType::Text) {
                    let at = position(field.name);
                    texts[at] = want.get(row).and_then(|w| w.texts[at].clone());
                }
                Silver {
                    texts,
                    quantity: i64s("quantity").get(row).unwrap(),
                    unit_price: f64s("unit_price").get(row).unwrap(),
                    amount: f64s("amount").get(row).unwrap(),
                    order_date: days.get(row).unwrap(),
                    updated_at: stamps.get(row).unwrap(),
                    order_year: i32s("order_year").get(row).unwrap(),
                    order_month: i32s("order_month").get(row).unwrap(),
                }
            })
            .collect()
    }

    fn fast_refused(bad: &DataFrame) -> Vec<Refused> {
        let text = |name: &str, row: usize| {
            bad.column(name)
                .unwrap()
                .str()
                .unwrap()
                .get(row)
                .map(str::to_owned)
        };
        let lines = bad.column("line").unwrap().i64().unwrap().clone();
        (0..bad.height())
            .map(|row| {
                let raw = text("raw", row).unwrap();
                assert_eq!(
                    text("raw_hash", row).unwrap(),
                    lakehouse_core::checksum::crc64nvme(raw.as_bytes())
                );
                let reason = Reason::named(&text("reason", row).unwrap()).unwrap();
                Refused {
                    reason: reason.as_str(),
                    texts: texts_of(bad, row),
                    part: text("part", row).unwrap(),
                    line: lines.get(row).unwrap(),
                    raw,
                }
            })
            .collect()
    }

    #[test]
    fn generated_batches_transform_as_the_plain_statement_says() {
        // `LAKEHOUSE_FUZZ_BATCHES` runs longer (docs/testing.md); CI runs the default.
        let batches: u64 = std::env::var("LAKEHOUSE_FUZZ_BATCHES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(12);
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut silver_rows = 0;
        for seed in 0..batches {
            let mut generator = Gen(0x0bad_5eed ^ (seed + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let orders = 50 + generator.below(800);
            let parts: Vec<(String, Vec<u8>)> = (0..1 + generator.below(4))
                .map(|p| {
                    let lines = generator.below(1200);
                    (
                        format!("raw/part-{p:05}.json"),
                        generator.part(lines, orders),
                    )
                })
                .collect();
            let (want_silver, want_refused) = transform(&parts, plausible());

            let classified: Vec<_> = parts
                .iter()
                .enumerate()
                .map(|(index, (_, bytes))| {
                    let records = parse_part(bytes, 0).unwrap();
                    classify_part(records, bytes, index, plausible()).unwrap()
                })
                .collect();
            let (classified, lines) = stack(classified, plausible()).unwrap();
            let keys: Vec<String> = parts.iter().map(|(key, _)| key.clone()).collect();
            let (batch, bad) = settle_batch(classified, &lines, &keys, "run-1").unwrap();

            let got_silver = fast_silver(&batch, &want_silver);
            assert_eq!(
                got_silver.len(),
                want_silver.len(),
                "batch {seed}: silver rows"
            );
            for (got, want) in got_silver.iter().zip(&want_silver) {
                assert_eq!(got, want, "batch {seed}");
            }
            let got_refused = fast_refused(&bad);
            assert_eq!(
                got_refused.len(),
                want_refused.len(),
                "batch {seed}: quarantine rows"
            );
            for (got, want) in got_refused.iter().zip(&want_refused) {
                assert_eq!(got, want, "batch {seed}");
            }
            silver_rows += want_silver.len();
            for refused in &want_refused {
                *seen.entry(refused.reason).or_default() += 1;
            }
        }
        // Every rule was broken, and most batches kept orders.
        for reason in Reason::ALL {
            assert!(
                seen.get(reason.as_str()).is_some_and(|n| *n > 0),
                "{reason} never seen: {seen:?}"
            );
        }
        assert!(silver_rows > 1000, "{silver_rows} silver rows");
    }
}
