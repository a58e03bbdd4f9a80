//! The pure transforms of the silver layer, each a `LazyFrame -> LazyFrame`.
//!
//! Raw records arrive with every field as text, exactly as sent, and the typed fields also
//! parsed into shadow columns ([`crate::ndjson`]). [`classify`] names the first rule a record
//! breaks on its own; [`crate::versions::settle`] adds the rules across records (a version
//! delivered twice, and only the latest version of an order kept). [`valid_orders`] and
//! [`quarantine`] shape the two outcomes, so every record ends in exactly one of them.

use lakehouse_core::record::{FIELD_NAMES, FIELDS, FieldType, Reason, STATUSES};
use polars::prelude::*;

use crate::{
    keyed,
    side::{LINE, MALFORMED, PART, REASON_CODE, parsed},
    take::take_rows,
};

/// Null, or nothing but whitespace. Checked in place: `str().strip_chars` built a stripped copy
/// of every value (a new string view, and for ids over 12 bytes their bytes) only to compare it.
fn blank(name: &str) -> Expr {
    col(name).map(
        |c| {
            let blank = BooleanChunked::from_iter_values(
                c.name().clone(),
                c.str()?
                    .iter()
                    .map(|v| v.is_none_or(|s| s.trim().is_empty())),
            );
            Ok(blank.into_column())
        },
        |_, field| Ok(Field::new(field.name().clone(), DataType::Boolean)),
    )
}

/// The lines as sent of the records refused on their own, by (part, line number).
pub type RawLines = std::collections::HashMap<(u32, u32), String>;

/// What the run's clock makes plausible ([`classify`]'s last rules on a record of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plausible {
    /// The first and the last plausible `order_date`, in days since 1970-01-01.
    pub first_day: i32,
    pub last_day: i32,
    /// The latest plausible `updated_at`, in microseconds since 1970-01-01.
    pub latest_update: i64,
}

impl Plausible {
    /// No bound: every valid value is plausible (tests of the other rules).
    pub const ANY: Plausible = Plausible {
        first_day: i32::MIN,
        last_day: i32::MAX,
        latest_update: i64::MAX,
    };
}

/// Adds [`REASON_CODE`] to records as the part reader gives them (text fields and their typed
/// shadows): null for a record valid on its own, else the first rule it breaks. The last
/// reason, `duplicate_record`, looks across records: [`crate::versions::settle`] applies it.
pub fn classify(typed: LazyFrame, plausible: Plausible) -> LazyFrame {
    let invalid = |name: &str| col(parsed(name)).is_null();
    // Five equality tests on short inline strings: `is_in` would hash every row for a semi join.
    let known_status = STATUSES
        .iter()
        .map(|s| col("status").eq(lit(*s)))
        .reduce(Expr::or)
        .unwrap_or(lit(false))
        .fill_null(lit(false));
    let day = || col(parsed("order_date")).cast(DataType::Int32);
    let rules = [
        (Reason::MalformedRecord, col(MALFORMED)),
        (Reason::MissingOrderId, blank("order_id")),
        (Reason::MissingCustomerId, blank("customer_id")),
        (Reason::MissingProductId, blank("product_id")),
        (Reason::InvalidQuantity, invalid("quantity")),
        (
            Reason::NonPositiveQuantity,
            col(parsed("quantity")).lt_eq(lit(0)),
        ),
        (
            Reason::InvalidUnitPrice,
            invalid("unit_price").or(col(parsed("unit_price")).lt(lit(0.0))),
        ),
        (Reason::InvalidAmount, invalid("amount")),
        (Reason::InvalidOrderDate, invalid("order_date")),
        (
            Reason::ImplausibleOrderDate,
            day()
                .lt(lit(plausible.first_day))
                .or(day().gt(lit(plausible.last_day))),
        ),
        (Reason::InvalidUpdatedAt, invalid("updated_at")),
        (
            Reason::FutureUpdatedAt,
            col(parsed("updated_at"))
                .cast(DataType::Int64)
                .gt(lit(plausible.latest_update)),
        ),
        (Reason::InvalidStatus, known_status.not()),
    ];
    debug_assert!(
        rules.iter().map(|(r, _)| *r).eq(RULES_IN_ORDER),
        "the rules are checked in the order of Reason::ALL"
    );
    // Nested from the last rule outwards, so the first rule that holds gives the code. A small
    // integer per row; the reason's text is made for the refused rows only (`quarantined`).
    let code = rules.into_iter().rev().fold(
        lit(NULL).cast(DataType::Int32),
        |otherwise, (reason, cond)| when(cond).then(lit(reason.code())).otherwise(otherwise),
    );
    typed.with_column(code.alias(REASON_CODE))
}

/// The reasons [`classify`] gives, in the order it checks them: all but the last, which only
/// [`crate::versions::settle`] can tell.
const RULES_IN_ORDER: [Reason; Reason::ALL.len() - 1] = {
    let mut rules = [Reason::MalformedRecord; Reason::ALL.len() - 1];
    let mut i = 0;
    while i < rules.len() {
        rules[i] = Reason::ALL[i];
        i += 1;
    }
    rules
};

/// The text of [`REASON_CODE`].
fn reason_text() -> Expr {
    Reason::ALL
        .iter()
        .rev()
        .fold(lit(NULL).cast(DataType::String), |otherwise, reason| {
            when(col(REASON_CODE).eq(lit(reason.code())))
                .then(lit(reason.as_str()))
                .otherwise(otherwise)
        })
}

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
    crate::typed::TYPED.iter().map(|&i| FIELD_NAMES[i])
}

/// Valid records (as [`crate::versions::Settled::latest`] gives them) with their typed values
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

/// Refused records (as [`crate::versions::Settled::refused`] gives them) as the quarantine
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

/// One row per key, its latest version ([`keyed::latest_rows`]: the latest `updated_at`, and
/// among equal timestamps the row that comes last, so newer batches appended after older data
/// win ties), in row order.
///
/// Eager, unlike the transforms above: the latest rows are found by a hash pass over the key
/// and timestamp alone, then taken from the frame in one copy, where sorting and deduplicating
/// in polars moved every column of every row (a day-0 batch is a million rows, of which a
/// thousand products are kept).
pub fn latest_by(frame: &DataFrame, key: &str) -> PolarsResult<DataFrame> {
    let latest = latest_rows(frame, key, None)?;
    take_rows(frame, &numbers(&latest))
}

/// Customer rows from order rows (or from earlier customer rows, which have the same columns):
/// the attributes of the latest version (as [`latest_by`] picks it), first_order_date the
/// earliest over all versions.
pub fn customers(rows: &DataFrame) -> PolarsResult<DataFrame> {
    let first = rows.column("first_order_date")?.to_physical_repr();
    let latest = latest_rows(rows, "customer_id", Some(first.i32()?))?;
    let mut picked = take_rows(&rows.drop("first_order_date")?, &numbers(&latest))?;
    let first: Int32Chunked = latest.iter().map(|(_, first)| *first).collect();
    picked.with_column(
        first
            .into_date()
            .into_column()
            .with_name("first_order_date".into()),
    )?;
    Ok(picked)
}

/// Latest attributes of every product.
pub fn products(rows: &DataFrame) -> PolarsResult<DataFrame> {
    latest_by(rows, "product_id")
}

fn latest_rows(
    frame: &DataFrame,
    key: &str,
    least: Option<&Int32Chunked>,
) -> PolarsResult<Vec<(IdxSize, Option<i32>)>> {
    let keys = frame.column(key)?.str()?;
    let stamps = frame.column("updated_at")?.to_physical_repr();
    keyed::latest_rows(keys, stamps.i64()?, least)
}

fn numbers(latest: &[(IdxSize, Option<i32>)]) -> IdxCa {
    IdxCa::from_vec("row".into(), latest.iter().map(|(row, _)| *row).collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::versions::{Settled, settle};
    use lakehouse_core::dates;

    /// Records as the part reader gives them, from NDJSON with every field sent as a string.
    pub(crate) fn raw(rows: &[[Option<&str>; 16]]) -> LazyFrame {
        let lines: Vec<String> = rows
            .iter()
            .map(|r| {
                let record: serde_json::Map<String, serde_json::Value> = FIELD_NAMES
                    .iter()
                    .zip(r)
                    .map(|(name, v)| ((*name).to_owned(), (*v).into()))
                    .collect();
                serde_json::Value::Object(record).to_string()
            })
            .collect();
        crate::ndjson::parse_part(lines.join("\n").as_bytes(), rows.len())
            .unwrap()
            .lazy()
    }

    pub(crate) fn row(
        order: &str,
        qty: &str,
        date: &str,
        updated: &str,
        status: &str,
    ) -> [Option<&'static str>; 16] {
        let leak =
            |s: &str| -> Option<&'static str> { Some(Box::leak(s.to_owned().into_boxed_str())) };
        [
            leak(order),
            Some("CUST-1"),
            Some("Ada"),
            Some("a@x"),
            Some("DE"),
            Some("consumer"),
            Some("PROD-1"),
            Some("Lamp"),
            Some("home"),
            leak(qty),
            Some("10.5"),
            Some("21.0"),
            Some("EUR"),
            leak(status),
            leak(date),
            leak(updated),
        ]
    }

    /// Records classified (every value plausible), and settled across records.
    pub(crate) fn settled(lf: LazyFrame) -> (DataFrame, Settled) {
        settled_with(lf, Plausible::ANY)
    }

    /// Records classified with `plausible`, and settled across records. Their part's bytes
    /// are not at hand: a quarantined record's line is rebuilt from its fields.
    pub(crate) fn settled_with(lf: LazyFrame, plausible: Plausible) -> (DataFrame, Settled) {
        let classified = classify(lf, plausible).collect().unwrap();
        let (classified, _) = crate::with_lines(classified, &[], 0).unwrap();
        let settled = settle(&classified).unwrap();
        (classified, settled)
    }

    fn reasons(lf: LazyFrame, plausible: Plausible) -> Vec<Option<String>> {
        let codes = settled_with(lf, plausible).1.codes.into_series();
        let df = DataFrame::new(codes.len(), vec![codes.into_column()])
            .unwrap()
            .lazy()
            .select([reason_text().alias("reason")])
            .collect()
            .unwrap();
        df.column("reason")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|r| r.map(str::to_owned))
            .collect()
    }

    #[test]
    fn every_code_reads_back_as_its_reason() {
        let codes: Vec<Option<i32>> = Reason::ALL
            .iter()
            .map(|r| Some(r.code()))
            .chain([None])
            .collect();
        let df = df!(REASON_CODE => codes).unwrap();
        let text = df
            .lazy()
            .select([reason_text().alias("reason")])
            .collect()
            .unwrap();
        let got: Vec<Option<&str>> = text
            .column("reason")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        let want: Vec<Option<&str>> = Reason::ALL
            .iter()
            .map(|r| Some(r.as_str()))
            .chain([None])
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn each_rule_names_its_reason() {
        let mut missing = row("x", "2", "2026-01-02", "2026-01-02T10:00:00Z", "placed");
        missing[0] = None;
        let mut no_status = row("H", "2", "2026-01-02", "2026-01-02T10:00:00Z", "placed");
        no_status[13] = None;
        let mut blank_customer = row("I", "2", "2026-01-02", "2026-01-02T10:00:00Z", "placed");
        blank_customer[1] = Some(" \t ");
        // Plausible: order dates in 2000-01-01 ..= 2026-01-10, updates up to 2026-01-09T00:05Z.
        let plausible = Plausible {
            first_day: dates::to_days(chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap()),
            last_day: dates::to_days(chrono::NaiveDate::from_ymd_opt(2026, 1, 10).unwrap()),
            latest_update: 1_767_917_100_000_000,
        };
        let got = reasons(
            raw(&[
                row("A", "2", "2026-01-02", "2026-01-02T10:00:00Z", "placed"),
                missing,
                row("B", "two", "2026-01-02", "2026-01-02T10:00:00Z", "placed"),
                row("C", "-1", "2026-01-02", "2026-01-02T10:00:00Z", "placed"),
                row("D", "2", "31/01/2026", "2026-01-02T10:00:00Z", "placed"),
                row("E", "2", "2026-02-30", "2026-01-02T10:00:00Z", "placed"),
                row("F", "2", "2026-01-02", "yesterday", "placed"),
                row("G", "2", "2026-01-02", "2026-01-02T10:00:00Z", "lost"),
                no_status,
                blank_customer,
                row("A", "2", "2026-01-02", "2026-01-02T10:00:00Z", "placed"),
                row("A", "2", "2026-01-02", "2026-01-03T10:00:00Z", "shipped"),
                row("J", "2", "1999-12-31", "2026-01-02T10:00:00Z", "placed"),
                row("K", "2", "9999-12-31", "2026-01-02T10:00:00Z", "placed"),
                row("L", "2", "2026-01-10", "2026-01-09T00:05:00Z", "placed"),
                row("M", "2", "2026-01-02", "9999-01-01T00:00:00Z", "placed"),
                row("N", "2", "2026-01-02", "2026-01-09T00:05:01Z", "placed"),
            ]),
            plausible,
        );
        let want = [
            None,
            Some("missing_order_id"),
            Some("invalid_quantity"),
            Some("non_positive_quantity"),
            Some("invalid_order_date"),
            Some("invalid_order_date"),
            Some("invalid_updated_at"),
            Some("invalid_status"),
            Some("invalid_status"),
            Some("missing_customer_id"),
            Some("duplicate_record"),
            None,
            Some("implausible_order_date"),
            Some("implausible_order_date"),
            None,
            Some("future_updated_at"),
            Some("future_updated_at"),
        ];
        assert_eq!(got, want.map(|r| r.map(str::to_owned)).to_vec());
    }

    #[test]
    fn valid_and_quarantined_partition_the_input() {
        let input = raw(&[
            row("A", "2", "2026-01-02", "2026-01-02T10:00:00Z", "placed"),
            row("B", "x", "2026-01-02", "2026-01-02T10:00:00Z", "placed"),
            row("C", "1", "2026-03-15", "2026-03-15T23:59:59Z", "placed"),
        ]);
        let (classified, settled) = settled(input);
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
            let (classified, settled) = settled(lf);
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
        let records = crate::ndjson::parse_part(part.as_bytes(), 4).unwrap();
        let classified = classify(records.lazy(), Plausible::ANY).collect().unwrap();
        let (classified, lines) = crate::with_lines(classified, part.as_bytes(), 1).unwrap();
        let settled = settle(&classified).unwrap();
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

    #[test]
    fn among_equal_timestamps_the_later_row_wins() {
        let frame = df!(
            "id" => ["a", "b", "a", "c", "b"],
            "updated_at" => [2i64, 1, 2, 5, 0],
            "v" => [1, 2, 3, 4, 5],
        )
        .unwrap();
        let latest = latest_by(&frame, "id").unwrap();
        let v: Vec<i32> = latest
            .column("v")
            .unwrap()
            .i32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(
            v,
            [2, 3, 4],
            "b@1 beats b@0; a's tie goes to the later row; c; in row order"
        );
        assert_eq!(latest.get_column_names(), ["id", "updated_at", "v"]);
    }

    /// `count` customer rows over `keys` customers, with few timestamps (so many ties) and
    /// names that tell the rows apart.
    fn customer_versions(seed: u64, count: usize, keys: u64) -> DataFrame {
        let mut next = crate::keyed::tests::numbers(seed);
        let rows: Vec<(String, String, i32, i64)> = (0..count)
            .map(|i| {
                let key = format!("C{}", next(keys));
                (
                    key,
                    format!("name-{seed}-{i}"),
                    next(60) as i32,
                    next(4) as i64,
                )
            })
            .collect();
        df!(
            "customer_id" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
            "customer_name" => rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
            "first_order_date" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            "updated_at" => rows.iter().map(|r| r.3).collect::<Vec<_>>(),
        )
        .unwrap()
        .lazy()
        .with_column(col("first_order_date").cast(DataType::Date))
        .collect()
        .unwrap()
    }

    #[test]
    fn reducing_the_batch_first_changes_no_entity() {
        // What `silver::merge_entities` relies on: the table's rows followed by the batch's
        // reduce to what they reduce to when the batch was reduced on its own first.
        let columns = [
            "customer_id",
            "customer_name",
            "first_order_date",
            "updated_at",
        ];
        let in_order = |df: DataFrame| df.select(columns).unwrap();
        let have = in_order(customers(&customer_versions(1, 400, 300)).unwrap());
        let batch = customer_versions(2, 3_000, 500);
        let whole = customers(&have.vstack(&batch).unwrap()).unwrap();
        let reduced = in_order(customers(&batch).unwrap());
        let first = customers(&have.vstack(&reduced).unwrap()).unwrap();
        assert!(whole.equals_missing(&first), "{whole}\n{first}");
        assert!(
            whole.height() > 400,
            "keys only the batch names are kept too"
        );

        let products = |df: &DataFrame| {
            df.select(["customer_id", "customer_name", "updated_at"])
                .unwrap()
        };
        let whole = latest_by(
            &products(&have).vstack(&products(&batch)).unwrap(),
            "customer_id",
        );
        let reduced = latest_by(&products(&batch), "customer_id").unwrap();
        let first = latest_by(&products(&have).vstack(&reduced).unwrap(), "customer_id");
        assert!(whole.unwrap().equals_missing(&first.unwrap()));
    }

    #[test]
    fn a_customer_keeps_its_latest_attributes_and_first_order_date() {
        let rows = df!(
            "customer_id" => ["c1", "c2", "c1", "c1"],
            "customer_name" => ["old", "solo", "new", "tie"],
            "customer_email" => ["e", "e", "e", "e"],
            "customer_country" => ["DE", "FR", "DE", "NL"],
            "customer_segment" => ["s", "s", "s", "s"],
            "first_order_date" => [5i32, 3, 1, 9],
            "updated_at" => [10i64, 1, 20, 20],
            "run_id" => ["r1", "r1", "r2", "r2"],
        )
        .unwrap();
        let got = customers(&rows).unwrap();
        let names: Vec<_> = got
            .column("customer_name")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(
            names,
            [Some("solo"), Some("tie")],
            "c1's tie at 20 goes to the later row"
        );
        let first = got.column("first_order_date").unwrap();
        assert_eq!(first.dtype(), &DataType::Date);
        let first: Vec<_> = first.to_physical_repr().i32().unwrap().iter().collect();
        assert_eq!(first, [Some(3), Some(1)], "earliest over all versions");
        assert_eq!(got.width(), 8);
    }
}
