//! The wire shape of one source record: an order line with its customer and product attributes.

use serde::Serialize;

/// A field as the source sends it: usually the typed value, sometimes text where a number was
/// due, sometimes null. Bad records are made of these.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Raw<T> {
    Value(T),
    Text(String),
    Null,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceRecord {
    pub order_id: Raw<String>,
    pub customer_id: Raw<String>,
    pub customer_name: String,
    pub customer_email: String,
    pub customer_country: &'static str,
    pub customer_segment: &'static str,
    pub product_id: Raw<String>,
    pub product_name: String,
    pub product_category: &'static str,
    pub quantity: Raw<i64>,
    pub unit_price: Raw<f64>,
    pub amount: Raw<f64>,
    pub currency: &'static str,
    pub status: &'static str,
    pub order_date: Raw<String>,
    pub updated_at: String,
}

/// Why a record is bad. Each kind is named after the quarantine reason the transformer must
/// give it, so tests can check every bad record landed where it should.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadKind {
    MissingOrderId,
    MissingCustomerId,
    NonPositiveQuantity,
    InvalidQuantity,
    InvalidOrderDate,
    DuplicateRecord,
}

impl BadKind {
    pub const ALL: [BadKind; 6] = [
        BadKind::MissingOrderId,
        BadKind::MissingCustomerId,
        BadKind::NonPositiveQuantity,
        BadKind::InvalidQuantity,
        BadKind::InvalidOrderDate,
        BadKind::DuplicateRecord,
    ];

    pub fn reason(self) -> &'static str {
        match self {
            BadKind::MissingOrderId => "missing_order_id",
            BadKind::MissingCustomerId => "missing_customer_id",
            BadKind::NonPositiveQuantity => "non_positive_quantity",
            BadKind::InvalidQuantity => "invalid_quantity",
            BadKind::InvalidOrderDate => "invalid_order_date",
            BadKind::DuplicateRecord => "duplicate_record",
        }
    }
}
