//! The source record contract, in one place: the fields an order line carries and how the lake
//! types them, the statuses an order can have, and the reasons a record is refused.
//!
//! The mock API's record and its OpenAPI document, the transformer's reader and rules, and the
//! silver and quarantine table schemas are derived from this module or checked against it by
//! a test in their crate.

/// How the lake stores a field of a valid record (the quarantine keeps every field as text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    /// A whole number (`i64`).
    Integer,
    /// A decimal number (`f64`).
    Decimal,
    /// A calendar day, `YYYY-MM-DD`.
    Date,
    /// An RFC 3339 instant, stored in UTC.
    Timestamp,
}

/// One field of a source record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
    /// A valid record always has it (not null, not blank); bad records may not.
    pub required: bool,
}

const fn field(name: &'static str, ty: FieldType, required: bool) -> Field {
    Field { name, ty, required }
}

use FieldType::*;

/// The fields of a source record, in the order the quarantine keeps them.
pub const FIELDS: [Field; 16] = [
    field("order_id", Text, true),
    field("customer_id", Text, true),
    field("customer_name", Text, false),
    field("customer_email", Text, false),
    field("customer_country", Text, false),
    field("customer_segment", Text, false),
    field("product_id", Text, true),
    field("product_name", Text, false),
    field("product_category", Text, false),
    field("quantity", Integer, true),
    field("unit_price", Decimal, true),
    field("amount", Decimal, true),
    field("currency", Text, false),
    field("status", Text, true),
    field("order_date", Date, true),
    field("updated_at", Timestamp, true),
];

/// The names of [`FIELDS`], in the same order.
pub const FIELD_NAMES: [&str; FIELDS.len()] = {
    let mut names = [""; FIELDS.len()];
    let mut i = 0;
    while i < FIELDS.len() {
        names[i] = FIELDS[i].name;
        i += 1;
    }
    names
};

/// The field called `name`.
pub fn field_named(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

/// The status of a new order.
pub const INITIAL_STATUS: &str = "placed";

/// Every status an order can have: [`INITIAL_STATUS`], then the ones it can move to.
pub const STATUSES: [&str; 5] = [
    INITIAL_STATUS,
    "shipped",
    "delivered",
    "cancelled",
    "returned",
];

/// Why a record is refused, in the order the transformer checks the rules: a record breaking
/// several is quarantined for the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Not a JSON object with scalar fields.
    MalformedRecord,
    MissingOrderId,
    MissingCustomerId,
    MissingProductId,
    InvalidQuantity,
    NonPositiveQuantity,
    /// Not a number, or negative.
    InvalidUnitPrice,
    InvalidAmount,
    InvalidOrderDate,
    /// A real day, but before the source's first order or after today.
    ImplausibleOrderDate,
    InvalidUpdatedAt,
    /// Later than the run's clock allows.
    FutureUpdatedAt,
    InvalidStatus,
    /// A version of an order delivered before: the only rule that looks across records.
    DuplicateRecord,
}

impl Reason {
    pub const ALL: [Reason; 14] = [
        Reason::MalformedRecord,
        Reason::MissingOrderId,
        Reason::MissingCustomerId,
        Reason::MissingProductId,
        Reason::InvalidQuantity,
        Reason::NonPositiveQuantity,
        Reason::InvalidUnitPrice,
        Reason::InvalidAmount,
        Reason::InvalidOrderDate,
        Reason::ImplausibleOrderDate,
        Reason::InvalidUpdatedAt,
        Reason::FutureUpdatedAt,
        Reason::InvalidStatus,
        Reason::DuplicateRecord,
    ];

    /// The name the quarantine's `reason` column and the metrics carry.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::MalformedRecord => "malformed_record",
            Reason::MissingOrderId => "missing_order_id",
            Reason::MissingCustomerId => "missing_customer_id",
            Reason::MissingProductId => "missing_product_id",
            Reason::InvalidQuantity => "invalid_quantity",
            Reason::NonPositiveQuantity => "non_positive_quantity",
            Reason::InvalidUnitPrice => "invalid_unit_price",
            Reason::InvalidAmount => "invalid_amount",
            Reason::InvalidOrderDate => "invalid_order_date",
            Reason::ImplausibleOrderDate => "implausible_order_date",
            Reason::InvalidUpdatedAt => "invalid_updated_at",
            Reason::FutureUpdatedAt => "future_updated_at",
            Reason::InvalidStatus => "invalid_status",
            Reason::DuplicateRecord => "duplicate_record",
        }
    }

    /// A small positive number per reason (its place in [`Reason::ALL`], from 1), for columns
    /// that carry the reason through a transform before its text is needed.
    pub const fn code(self) -> i32 {
        self as i32 + 1
    }

    /// The reason whose [`Reason::code`] is `code`.
    pub fn from_code(code: i32) -> Option<Reason> {
        let index = usize::try_from(code.checked_sub(1)?).ok()?;
        Reason::ALL.get(index).copied()
    }

    /// The reason named `name`.
    pub fn named(name: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn names_are_unique_and_codes_name_their_reason() {
        assert_eq!(
            FIELD_NAMES.iter().collect::<BTreeSet<_>>().len(),
            FIELDS.len()
        );
        assert_eq!(FIELD_NAMES[9], "quantity");
        assert_eq!(field_named("order_date").map(|f| f.ty), Some(Date));
        assert_eq!(field_named("nope"), None);
        let names: BTreeSet<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), Reason::ALL.len());
        for (i, reason) in Reason::ALL.into_iter().enumerate() {
            assert_eq!(reason.code(), i32::try_from(i + 1).unwrap());
            assert_eq!(Reason::from_code(reason.code()), Some(reason));
            assert_eq!(Reason::named(reason.as_str()), Some(reason));
        }
        assert_eq!(Reason::from_code(0), None);
        assert_eq!(Reason::from_code(15), None);
        assert_eq!(Reason::from_code(-3), None);
    }
}
