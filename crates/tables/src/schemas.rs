//! Every table of the lakehouse: columns, types and partitioning.
//!
//! Money is `double`: iceberg-rust 0.10 writes the min/max statistics of `decimal(p<=18)` in the
//! wrong byte order, which makes other engines prune away matching rows. Partitioning is
//! `day(order_date)` on a `date` column: the transform the writer supports and that prunes
//! correctly (the month transform is off by one in this version).

use iceberg_rust::spec::{
    partition::{PartitionField, PartitionSpec, Transform},
    schema::Schema,
    types::{PrimitiveType, StructField, Type},
};
use polars::prelude::{DataType, Field, Schema as PlSchema, TimeUnit, TimeZone};

use crate::Result;

/// A column type, as both Iceberg and polars name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Str,
    Int,
    Long,
    Double,
    Bool,
    Date,
    Timestamptz,
}

impl Col {
    pub(crate) fn iceberg(self) -> PrimitiveType {
        match self {
            Col::Str => PrimitiveType::String,
            Col::Int => PrimitiveType::Int,
            Col::Long => PrimitiveType::Long,
            Col::Double => PrimitiveType::Double,
            Col::Bool => PrimitiveType::Boolean,
            Col::Date => PrimitiveType::Date,
            Col::Timestamptz => PrimitiveType::Timestamptz,
        }
    }

    pub fn polars(self) -> DataType {
        match self {
            Col::Str => DataType::String,
            Col::Int => DataType::Int32,
            Col::Long => DataType::Int64,
            Col::Double => DataType::Float64,
            Col::Bool => DataType::Boolean,
            Col::Date => DataType::Date,
            Col::Timestamptz => DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct TableDef {
    pub name: &'static str,
    /// (name, type, required)
    pub columns: &'static [(&'static str, Col, bool)],
    /// The column that names a row: no two rows share its value (an order, a customer, a
    /// product, a day). The quarantine has none: it holds every bad version of an order.
    pub key: Option<&'static str>,
    /// The date column partitioned by day, if any.
    pub day_partition: Option<&'static str>,
    /// Whether the string columns other than the key and `run_id` are written without Parquet
    /// statistics ([`TableDef::unbounded`]).
    pub unbounded_strings: bool,
}

/// Name of the partition field of day-partitioned tables.
pub const DAY_PARTITION_FIELD: &str = "order_date_day";

impl TableDef {
    pub fn schema(&self) -> Result<Schema> {
        let mut builder = Schema::builder();
        for (i, (name, col, required)) in self.columns.iter().enumerate() {
            builder.with_struct_field(StructField {
                id: i as i32 + 1,
                name: (*name).to_owned(),
                required: *required,
                field_type: Type::Primitive(col.iceberg()),
                doc: None,
            });
        }
        Ok(builder.build()?)
    }

    pub fn partition_spec(&self) -> Result<PartitionSpec> {
        let mut builder = PartitionSpec::builder();
        // The builder wants the field list set even when it stays empty (unpartitioned).
        builder.with_fields(Vec::new());
        if let Some(column) = self.day_partition {
            let source_id = self
                .columns
                .iter()
                .position(|(name, _, _)| *name == column)
                .map(|i| i as i32 + 1)
                .ok_or_else(|| crate::TablesError::MissingColumn {
                    table: self.name.into(),
                    column: column.into(),
                })?;
            builder.with_partition_field(PartitionField::new(
                source_id,
                1000,
                DAY_PARTITION_FIELD,
                Transform::Day,
            ));
        }
        Ok(builder.build()?)
    }

    /// The key column ([`TableDef::key`]), for the writes that need one.
    pub fn require_key(&self) -> Result<&'static str> {
        self.key
            .ok_or_else(|| crate::TablesError::NoKey(self.name.into()))
    }

    /// String columns written without Parquet statistics, so their manifest entries carry no
    /// lower/upper bounds (nor null counts). Each file holds about the whole range of these
    /// values (names, e-mails, categories, statuses, ids of another entity, whose order has
    /// nothing to do with the table's partitions), so their bounds would prune no file, and
    /// keeping them cost two string comparisons per value: about 0.4 CPU-s of a million-order
    /// transform. The table's own key, dates, timestamps, numbers and run ids keep theirs.
    pub fn unbounded(&self) -> Vec<&'static str> {
        if !self.unbounded_strings {
            return Vec::new();
        }
        self.columns
            .iter()
            .filter(|(name, col, _)| {
                *col == Col::Str && Some(*name) != self.key && *name != "run_id"
            })
            .map(|(name, _, _)| *name)
            .collect()
    }

    pub fn column_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns.iter().map(|(name, _, _)| *name)
    }

    /// The polars schema of the table's rows.
    pub fn polars_schema(&self) -> PlSchema {
        self.columns
            .iter()
            .map(|(name, col, _)| Field::new((*name).into(), col.polars()))
            .collect()
    }
}

use Col::*;

pub const ORDERS: TableDef = TableDef {
    name: "orders_transformed",
    columns: &[
        ("order_id", Str, true),
        ("customer_id", Str, true),
        ("product_id", Str, true),
        ("quantity", Long, true),
        ("unit_price", Double, true),
        ("amount", Double, true),
        ("currency", Str, false),
        ("status", Str, true),
        ("order_date", Date, true),
        ("updated_at", Timestamptz, true),
        ("order_year", Int, true),
        ("order_month", Int, true),
        ("customer_name", Str, false),
        ("customer_email", Str, false),
        ("customer_country", Str, false),
        ("customer_segment", Str, false),
        ("product_name", Str, false),
        ("product_category", Str, false),
        ("run_id", Str, true),
    ],
    key: Some("order_id"),
    day_partition: Some("order_date"),
    unbounded_strings: true,
};

pub const CUSTOMERS: TableDef = TableDef {
    name: "customers_transformed",
    columns: &[
        ("customer_id", Str, true),
        ("customer_name", Str, false),
        ("customer_email", Str, false),
        ("customer_country", Str, false),
        ("customer_segment", Str, false),
        ("first_order_date", Date, false),
        ("updated_at", Timestamptz, true),
        ("run_id", Str, true),
    ],
    key: Some("customer_id"),
    day_partition: None,
    unbounded_strings: true,
};

pub const PRODUCTS: TableDef = TableDef {
    name: "products_transformed",
    columns: &[
        ("product_id", Str, true),
        ("product_name", Str, false),
        ("product_category", Str, false),
        ("unit_price", Double, false),
        ("updated_at", Timestamptz, true),
        ("run_id", Str, true),
    ],
    key: Some("product_id"),
    day_partition: None,
    unbounded_strings: true,
};

/// Bad source records, every field as the text that was sent, with the reason they were
/// refused, the line as sent, and where it was (part and line). The columns after `run_id`
/// came later: a table created before them gets them by schema evolution
/// (`Warehouse::load_or_create`), so they are optional and stay at the end.
pub const QUARANTINE: TableDef = TableDef {
    name: "orders_quarantine",
    columns: &[
        ("reason", Str, true),
        ("order_id", Str, false),
        ("customer_id", Str, false),
        ("product_id", Str, false),
        ("quantity", Str, false),
        ("unit_price", Str, false),
        ("amount", Str, false),
        ("status", Str, false),
        ("order_date", Str, false),
        ("updated_at", Str, false),
        ("run_id", Str, true),
        ("customer_name", Str, false),
        ("customer_email", Str, false),
        ("customer_country", Str, false),
        ("customer_segment", Str, false),
        ("product_name", Str, false),
        ("product_category", Str, false),
        ("currency", Str, false),
        ("raw", Str, false),
        ("part", Str, false),
        ("line", Long, false),
        ("raw_hash", Str, false),
    ],
    key: None,
    day_partition: None,
    unbounded_strings: false,
};

pub const FACT_SALES: TableDef = TableDef {
    name: "fact_sales",
    columns: &[
        ("order_id", Str, true),
        ("customer_id", Str, true),
        ("product_id", Str, true),
        ("order_date", Date, true),
        ("quantity", Long, true),
        ("unit_price", Double, true),
        ("amount", Double, true),
        ("status", Str, true),
        ("order_year", Int, true),
        ("order_month", Int, true),
        ("updated_at", Timestamptz, true),
    ],
    key: Some("order_id"),
    day_partition: Some("order_date"),
    unbounded_strings: true,
};

pub const DIM_CUSTOMERS: TableDef = TableDef {
    name: "dim_customers",
    columns: &[
        ("customer_id", Str, true),
        ("customer_name", Str, false),
        ("customer_email", Str, false),
        ("customer_country", Str, false),
        ("customer_segment", Str, false),
        ("first_order_date", Date, false),
    ],
    key: Some("customer_id"),
    day_partition: None,
    unbounded_strings: true,
};

pub const DIM_PRODUCTS: TableDef = TableDef {
    name: "dim_products",
    columns: &[
        ("product_id", Str, true),
        ("product_name", Str, false),
        ("product_category", Str, false),
        ("unit_price", Double, false),
    ],
    key: Some("product_id"),
    day_partition: None,
    unbounded_strings: true,
};

pub const DIM_DATES: TableDef = TableDef {
    name: "dim_dates",
    columns: &[
        ("date_key", Date, true),
        ("year", Int, true),
        ("quarter", Int, true),
        ("month", Int, true),
        ("day", Int, true),
        ("day_of_week", Int, true),
        ("week_of_year", Int, true),
        ("is_weekend", Bool, true),
    ],
    key: Some("date_key"),
    day_partition: None,
    unbounded_strings: false,
};

pub const ALL: [&TableDef; 8] = [
    &ORDERS,
    &CUSTOMERS,
    &PRODUCTS,
    &QUARANTINE,
    &FACT_SALES,
    &DIM_CUSTOMERS,
    &DIM_PRODUCTS,
    &DIM_DATES,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_a_valid_schema_and_spec() {
        for def in ALL {
            let schema = def.schema().unwrap();
            assert_eq!(schema.fields().len(), def.columns.len(), "{}", def.name);
            let spec = def.partition_spec().unwrap();
            assert_eq!(
                spec.fields().len(),
                usize::from(def.day_partition.is_some())
            );
            assert_eq!(def.polars_schema().len(), def.columns.len());
            if let Some(key) = def.key {
                let required = def.columns.iter().any(|(n, _, req)| *n == key && *req);
                assert!(required, "{}: key {key} is not a required column", def.name);
            }
            for name in def.unbounded() {
                // The writer takes a file's partition value from its source column's bounds.
                assert_ne!(Some(name), def.day_partition, "{}", def.name);
                assert!(
                    def.columns
                        .iter()
                        .any(|(n, col, _)| *n == name && *col == Col::Str),
                    "{}.{name} is not a string column",
                    def.name
                );
            }
        }
    }

    #[test]
    fn only_strings_other_than_the_key_and_run_id_go_without_bounds() {
        let customer = [
            "customer_name",
            "customer_email",
            "customer_country",
            "customer_segment",
        ];
        let product = ["product_name", "product_category"];
        assert_eq!(CUSTOMERS.unbounded(), customer);
        assert_eq!(DIM_CUSTOMERS.unbounded(), customer);
        assert_eq!(PRODUCTS.unbounded(), product);
        assert_eq!(DIM_PRODUCTS.unbounded(), product);
        assert_eq!(
            FACT_SALES.unbounded(),
            ["customer_id", "product_id", "status"]
        );
        let orders = [
            ["customer_id", "product_id", "currency", "status"].as_slice(),
            &customer,
            &product,
        ]
        .concat();
        assert_eq!(ORDERS.unbounded(), orders);
        assert!(QUARANTINE.unbounded().is_empty());
        assert!(DIM_DATES.unbounded().is_empty());
    }

    /// The silver orders hold every source field with the type and the requiredness the record
    /// contract gives it; the quarantine holds every source field as optional text; the
    /// entity tables' source columns have the orders' types.
    #[test]
    fn the_tables_hold_the_source_fields_as_the_record_contract_types_them() {
        use lakehouse_core::record::{FIELDS, FieldType};

        let column = |def: &TableDef, name: &str| {
            def.columns
                .iter()
                .find(|(n, _, _)| *n == name)
                .map(|(_, col, required)| (*col, *required))
        };
        for field in FIELDS {
            let col = match field.ty {
                FieldType::Text => Col::Str,
                FieldType::Integer => Col::Long,
                FieldType::Decimal => Col::Double,
                FieldType::Date => Col::Date,
                FieldType::Timestamp => Col::Timestamptz,
            };
            assert_eq!(
                column(&ORDERS, field.name),
                Some((col, field.required)),
                "orders_transformed.{}",
                field.name
            );
            assert_eq!(
                column(&QUARANTINE, field.name),
                Some((Col::Str, false)),
                "orders_quarantine.{}",
                field.name
            );
            for def in [CUSTOMERS, PRODUCTS, FACT_SALES] {
                if let Some((got, _)) = column(&def, field.name) {
                    assert_eq!(got, col, "{}.{}", def.name, field.name);
                }
            }
        }
    }
}
