//! The two outcomes of a resolved batch, shaped for their tables: [`valid_orders`] (typed and
//! enriched) and [`quarantined`] (every field as sent, with the reason and the line), so every
//! record ends in exactly one of them.

use lakehouse_core::record::{FIELD_NAMES, FIELDS, FieldType};
use polars::prelude::*;

use crate::{
    read::typed::TYPED,
    rules::{RawLines, reason_text},
    side::{LINE, PART, parsed},
};

/// The columns of a classified batch that [`valid_orders`] reads: the fields that stay text
/// and the typed shadows of the others.
pub fn silver_sources() -> Vec<String> {
    FIELD_NAMES.iter().map(|name| source(name)).collect()
}

fn source(name: &str) -> String {
    if typed_fields().any(|typed| typed == name) {
        parsed(name)
    } else {
        name.to_owned()
    }
}

fn typed_fields() -> impl Iterator<Item = &'static str> {
    TYPED.iter().map(|&i| FIELD_NAMES[i])
}

/// Valid records (as [`crate::settle::Resolved::latest`] gives them) with their typed values
/// and the order_year / order_month enrichment.
pub fn valid_orders(valid: LazyFrame, run_id: &str) -> LazyFrame {
    let mut columns: Vec<Expr> = FIELD_NAMES
        .iter()
        .map(|name| col(source(name)).alias(*name))
        .collect();
    columns.push(lit(run_id).alias("run_id"));
    valid.select(columns).with_columns([
        col("order_date")
            .dt()
            .year()
            .cast(DataType::Int32)
            .alias("order_year"),
        col("order_date")
            .dt()
            .month()
            .cast(DataType::Int32)
            .alias("order_month"),
    ])
}

/// Refused records (as [`crate::settle::Resolved::refused`] gives them) as the quarantine
/// keeps them: the reason, every field as the text sent, the line as sent, its part and line
/// number, a hash of the line (what tells the same record delivered twice from another), and
/// the run that saw them.
///
/// A record the rules refused on its own has its line as sent in `lines`. A duplicate is
/// refused only across records, after its part's bytes are gone: its line is rebuilt as the
/// JSON object of its fields as sent (keys sorted, null fields left out; quantity, unit price
/// and amount as numbers where they are ones).
pub fn quarantined(
    refused: &DataFrame,
    run_id: &str,
    parts: &[String],
    lines: &RawLines,
) -> PolarsResult<DataFrame> {
    let mut columns: Vec<Expr> = vec![reason_text().alias("reason")];
    columns.extend(FIELD_NAMES.iter().map(|name| col(*name)));
    columns.push(col(LINE).cast(DataType::Int64).alias("line"));
    columns.push(lit(run_id).alias("run_id"));
    let mut out = refused.clone().lazy().select(columns).collect()?;
    let fields = FIELD_NAMES
        .iter()
        .map(|name| out.column(name).and_then(|c| c.str().cloned()))
        .collect::<PolarsResult<Vec<StringChunked>>>()?;
    let places = refused.column(PART)?.u32()?;
    let numbers = refused.column(LINE)?.u32()?;
    let raw: Vec<String> = places
        .iter()
        .zip(numbers.iter())
        .enumerate()
        .map(|(row, place)| match place {
            (Some(part), Some(line)) if lines.contains_key(&(part, line)) => {
                lines[&(part, line)].clone()
            }
            _ => rebuilt(&fields, row),
        })
        .collect();
    let hashes: Vec<String> = raw
        .iter()
        .map(|line| lakehouse_core::checksum::crc64nvme(line.as_bytes()))
        .collect();
    let part: Vec<Option<String>> = places
        .iter()
        .map(|p| p.and_then(|p| parts.get(p as usize).cloned()))
        .collect();
    out.with_column(Column::new("raw".into(), raw))?;
    out.with_column(Column::new("part".into(), part))?;
    out.with_column(Column::new("raw_hash".into(), hashes))?;
    Ok(out)
}

/// A record's line rebuilt from its fields as sent ([`quarantined`]).
fn rebuilt(fields: &[StringChunked], row: usize) -> String {
    let numeric = |name: &str| {
        FIELDS
            .iter()
            .any(|f| f.name == name && matches!(f.ty, FieldType::Integer | FieldType::Decimal))
    };
    // A null field is left out: the reader reads a missing field as null.
    let record: serde_json::Map<String, serde_json::Value> = FIELD_NAMES
        .iter()
        .zip(fields)
        .filter_map(|(name, column)| {
            let text = column.get(row)?;
            let value = if numeric(name) {
                text.parse::<serde_json::Number>()
                    .map_or_else(|_| text.into(), serde_json::Value::Number)
            } else {
                text.into()
            };
            Some(((*name).to_owned(), value))
        })
        .collect();
    serde_json::Value::Object(record).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        rules::{
            Plausible, classify,
            tests::{raw, resolved, row},
        },
        settle::resolve,
    };

    #[test]
    fn valid_and_quarantined_partition_the_input() {
        let input = raw(&[
            row("A", "2", "2026-01-02", "2026-01-02T10:00:00Z", "placed"),
            row("B", "x", "2026-01-02", "2026-01-02T10:00:00Z", "placed"),
            row("C", "1", "2026-03-15", "2026-03-15T23:59:59Z", "placed"),
        ]);
        let (classified, settled) = resolved(input);
        let latest = settled.latest(&classified, &silver_sources()).unwrap();
        let valid = valid_orders(latest.lazy(), "r1").collect().unwrap();
        let refused = settled.refused(&classified).unwrap();
        let bad = quarantined(&refused, "r1", &["p".into()], &RawLines::new()).unwrap();
        assert_eq!((valid.height(), bad.height()), (2, 1));
        assert_eq!(valid.column("quantity").unwrap().dtype(), &DataType::Int64);
        let months: Vec<Option<i32>> = valid
            .column("order_month")
            .unwrap()
            .i32()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(months, vec![Some(1), Some(3)]);
        let ts = valid.column("updated_at").unwrap();
        assert_eq!(
            ts.dtype(),
            &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        );
        let micros = ts.datetime().unwrap().physical().get(1).unwrap();
        assert_eq!(micros, 1_773_619_199_000_000, "2026-03-15T23:59:59Z");
        assert_eq!(
            bad.column("quantity").unwrap().str().unwrap().get(0),
            Some("x")
        );
    }

    #[test]
    fn a_bad_record_is_quarantined_once() {
        let refused = |lf: LazyFrame, run_id: &str| {
            let (classified, settled) = resolved(lf);
            let refused = settled.refused(&classified).unwrap();
            quarantined(&refused, run_id, &["p".into()], &RawLines::new())
                .unwrap()
                .lazy()
        };
        let mut keyless = row("x", "two", "2026-01-02", "2026-01-02T10:00:00Z", "placed");
        keyless[0] = None;
        // Another keyless record, stamped in the same second: not the same record.
        let mut other_keyless = row("x", "three", "2026-01-02", "2026-01-02T10:00:00Z", "placed");
        other_keyless[0] = None;
        let first = refused(
            raw(&[
                keyless,
                row("B", "two", "2026-01-02", "2026-01-02T10:00:00Z", "placed"),
            ]),
            "r1",
        );
        // The next batch re-delivers both and brings two new bad records.
        let again = refused(
            raw(&[
                keyless,
                row("B", "two", "2026-01-02", "2026-01-02T10:00:00Z", "placed"),
                row("C", "two", "2026-01-03", "2026-01-03T10:00:00Z", "placed"),
                other_keyless,
            ]),
            "r2",
        );
        let on = crate::silver::QUARANTINE_IDENTITY;
        let fresh = lakehouse_tables::write::not_in(again, first, on)
            .collect()
            .unwrap();
        let ids: Vec<_> = fresh
            .column("order_id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(ids, [Some("C"), None]);
    }

    #[test]
    fn quarantined_records_keep_their_lines_as_sent_and_their_place() {
        let good = r#"{"order_id":"A","customer_id":"C","product_id":"P","quantity":2,"unit_price":1.5,"amount":3.0,"status":"placed","order_date":"2026-01-02","updated_at":"2026-01-02T10:00:00Z"}"#;
        let bad = r#"{"order_id":"B", "customer_id":"C","product_id":"P","quantity":"two","unit_price":1.5,"amount":3.0,"status":"placed","order_date":"2026-01-02","updated_at":"2026-01-02T10:00:00Z"}"#;
        let part = format!("{good}\n[1, 2]\n{bad}\n{good}\n");
        let records = crate::read::parse_part(part.as_bytes(), 4).unwrap();
        let classified = classify(records.lazy(), Plausible::ANY).collect().unwrap();
        let (classified, lines) = crate::with_lines(classified, part.as_bytes(), 1).unwrap();
        let settled = resolve(&classified).unwrap();
        let refused = settled.refused(&classified).unwrap();
        let parts = ["raw/p0.json".to_owned(), "raw/p1.json".to_owned()];
        let q = quarantined(&refused, "r1", &parts, &lines).unwrap();
        let text = |name: &str| -> Vec<String> {
            let column = q.column(name).unwrap().cast(&DataType::String).unwrap();
            column
                .str()
                .unwrap()
                .iter()
                .map(|v| v.unwrap_or("<null>").to_owned())
                .collect()
        };
        assert_eq!(
            text("reason"),
            ["malformed_record", "invalid_quantity", "duplicate_record"]
        );
        assert_eq!(text("line"), ["2", "3", "4"]);
        assert_eq!(text("part"), ["raw/p1.json"; 3]);
        // The malformed and the bad line exactly as sent; the duplicate rebuilt from its fields.
        let raw = text("raw");
        assert_eq!(raw[..2], ["[1, 2]", bad]);
        let rebuilt: serde_json::Value = serde_json::from_str(&raw[2]).unwrap();
        assert_eq!(
            rebuilt,
            serde_json::from_str::<serde_json::Value>(good).unwrap()
        );
        for (line, hash) in raw.iter().zip(text("raw_hash")) {
            assert_eq!(hash, lakehouse_core::checksum::crc64nvme(line.as_bytes()));
        }
        // Every field of the source is kept, as the text that was sent.
        assert_eq!(text("quantity")[1], "two");
        assert_eq!(text("order_id")[..2], ["<null>", "B"]);
    }
}
