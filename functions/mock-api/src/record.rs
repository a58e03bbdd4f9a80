//! The wire shape of one source record: an order line with its customer and product attributes.

use lakehouse_core::record::Reason;
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
/// give it ([`BadKind::reason`]), so tests can check every bad record landed where it should.
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

    pub fn reason(self) -> Reason {
        match self {
            BadKind::MissingOrderId => Reason::MissingOrderId,
            BadKind::MissingCustomerId => Reason::MissingCustomerId,
            BadKind::NonPositiveQuantity => Reason::NonPositiveQuantity,
            BadKind::InvalidQuantity => Reason::InvalidQuantity,
            BadKind::InvalidOrderDate => Reason::InvalidOrderDate,
            BadKind::DuplicateRecord => Reason::DuplicateRecord,
        }
    }
}

#[cfg(test)]
mod tests {
    use lakehouse_core::record::{FIELD_NAMES, FIELDS, FieldType};

    use super::*;

    fn record() -> SourceRecord {
        SourceRecord {
            order_id: Raw::Value("O1".into()),
            customer_id: Raw::Value("C1".into()),
            customer_name: "Ada".into(),
            customer_email: "ada@example.com".into(),
            customer_country: "NL",
            customer_segment: "retail",
            product_id: Raw::Value("P1".into()),
            product_name: "Kettle".into(),
            product_category: "kitchen",
            quantity: Raw::Value(2),
            unit_price: Raw::Value(9.5),
            amount: Raw::Value(19.0),
            currency: "EUR",
            status: "placed",
            order_date: Raw::Value("2026-01-02".into()),
            updated_at: "2026-01-02T10:00:00Z".into(),
        }
    }

    /// The wire record has exactly the contract's fields, each a JSON value of its type.
    #[test]
    fn a_good_record_is_the_contracts_fields_with_their_types() {
        let sent = serde_json::to_value(record()).unwrap();
        let sent = sent.as_object().unwrap();
        let mut names: Vec<&str> = sent.keys().map(String::as_str).collect();
        let mut want = FIELD_NAMES.to_vec();
        names.sort_unstable();
        want.sort_unstable();
        assert_eq!(names, want);
        for field in FIELDS {
            let value = &sent[field.name];
            let typed = match field.ty {
                FieldType::Integer => value.is_i64(),
                FieldType::Decimal => value.is_f64(),
                FieldType::Text | FieldType::Date | FieldType::Timestamp => value.is_string(),
            };
            assert!(typed, "{}: {value}", field.name);
        }
    }

    #[test]
    fn the_openapi_record_is_the_contracts() {
        let order = &crate::openapi::document()["components"]["schemas"]["Order"];
        let properties = order["properties"].as_object().unwrap();
        let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
        let mut want = FIELD_NAMES.to_vec();
        names.sort_unstable();
        want.sort_unstable();
        assert_eq!(names, want);
        assert_eq!(properties["quantity"]["type"], "integer");
        assert_eq!(properties["updated_at"]["format"], "date-time");
        assert_eq!(
            order["required"],
            serde_json::json!([
                "order_id",
                "customer_id",
                "product_id",
                "quantity",
                "unit_price",
                "amount",
                "status",
                "order_date",
                "updated_at"
            ])
        );
    }

    #[test]
    fn every_bad_kind_names_a_distinct_reason() {
        let reasons: std::collections::BTreeSet<Reason> =
            BadKind::ALL.iter().map(|k| k.reason()).collect();
        assert_eq!(reasons.len(), BadKind::ALL.len());
    }
}
