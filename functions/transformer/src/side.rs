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
/// Where the record's line starts in its part (bytes), and how long it is: read once more for
/// the raw text of a refused record.
pub const AT: &str = "_at";
pub const LEN: &str = "_len";
/// Whether the line was not a flat JSON object (or not UTF-8): a record with every field null.
pub const MALFORMED: &str = "_malformed";
/// The line as sent, for records the rules refused on their own; null for the others.
pub const RAW: &str = "_raw";
/// The record's part: its place in the manifest's list.
pub const PART: &str = "_part";
/// Null for a valid record, else 1 + the index in `transform::REASONS` of the first rule it
/// breaks (`transform::classify`, then `versions::settle` for the rules across records).
pub const REASON_CODE: &str = "_reason_code";
