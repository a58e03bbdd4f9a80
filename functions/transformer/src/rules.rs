//! The rules a record must keep on its own, checked in the order of
//! `lakehouse_core::record::Reason`: [`classify`] gives each record the code of the first rule
//! it breaks. The rules across records (a version delivered twice, the latest version of each
//! order) are [`crate::settle`]'s.

use lakehouse_core::record::{Reason, STATUSES};
use polars::prelude::*;

use crate::side::{MALFORMED, REASON_CODE, parsed};

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
/// reason, `duplicate_record`, looks across records: [`crate::settle::resolve`] applies it.
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
/// [`crate::settle::resolve`] can tell.
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
pub(crate) fn reason_text() -> Expr {
    Reason::ALL
        .iter()
        .rev()
        .fold(lit(NULL).cast(DataType::String), |otherwise, reason| {
            when(col(REASON_CODE).eq(lit(reason.code())))
                .then(lit(reason.as_str()))
                .otherwise(otherwise)
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use lakehouse_core::{dates, record::FIELD_NAMES};

    use super::*;
    use crate::settle::{Resolved, resolve};

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
        crate::read::parse_part(lines.join("\n").as_bytes(), rows.len())
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
    pub(crate) fn resolved(lf: LazyFrame) -> (DataFrame, Resolved) {
        resolved_with(lf, Plausible::ANY)
    }

    /// Records classified with `plausible`, and settled across records. Their part's bytes
    /// are not at hand: a quarantined record's line is rebuilt from its fields.
    pub(crate) fn resolved_with(lf: LazyFrame, plausible: Plausible) -> (DataFrame, Resolved) {
        let classified = classify(lf, plausible).collect().unwrap();
        let (classified, _) = crate::with_lines(classified, &[], 0).unwrap();
        let settled = resolve(&classified).unwrap();
        (classified, settled)
    }

    fn reasons(lf: LazyFrame, plausible: Plausible) -> Vec<Option<String>> {
        let codes = resolved_with(lf, plausible).1.codes.into_series();
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
}
