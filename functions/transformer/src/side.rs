//! The side columns of a batch: what the part reader and the rules add beside the source's
//! fields, by name, in one place. None of them reaches a table as it is; the quarantine keeps
//! some under names of its own (`silver::orders::quarantined`).

/// The typed shadow column of a raw field (`_quantity`, `_order_date`, ...), which the part
/// reader ([`crate::read`]) fills where the field's text is a valid value.
pub fn parsed(name: &str) -> String {
    format!("_{name}")
}

/// The typed fields' texts that do not print back from their values, as a JSON map
/// ([`crate::read::typed`]); null where all of them do.
pub const SENT_TEXTS: &str = "_sent_texts";
/// The record's line in its part, from 1.
pub const LINE: &str = "_line";
/// Whether the line was not a flat JSON object (or not UTF-8): a record with every field null.
pub const MALFORMED: &str = "_malformed";
/// The record's part: its place in the manifest's list.
pub const PART: &str = "_part";
/// Null for a valid record, else the `lakehouse_core::record::Reason::code` of the first rule it
/// breaks (`rules::classify`, then `settle::resolve` for the rules across records).
pub const REASON_CODE: &str = "_reason_code";
