//! The side columns of a batch: what the part reader and the rules add beside the source's
//! fields, by name, in one place. None of them reaches a table as it is; the quarantine keeps
//! some under names of its own (`transform::quarantine`).

/// The typed shadow column of a raw field (`_quantity`, `_order_date`, ...), which the part
/// reader ([`crate::ndjson`]) fills where the field's text is a valid value.
pub fn parsed(name: &str) -> String {
    format!("_{name}")
}

/// The typed fields' texts that do not print back from their values, as a JSON map
/// ([`crate::typed`]); null where all of them do.
pub const SENT: &str = "_sent";
/// The record's line in its part, from 1.
pub const LINE: &str = "_line";
/// Whether the line was not a flat JSON object (or not UTF-8): a record with every field null.
pub const MALFORMED: &str = "_malformed";
/// The record's part: its place in the manifest's list.
pub const PART: &str = "_part";
/// Null for a valid record, else the `lakehouse_core::record::Reason::code` of the first rule it
/// breaks (`transform::classify`, then `versions::settle` for the rules across records).
pub const REASON_CODE: &str = "_reason_code";
