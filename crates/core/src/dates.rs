//! Dates as Iceberg and Arrow store them: days since 1970-01-01.

use chrono::{Datelike, Duration, NaiveDate};

pub const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// Days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
const DAYS_BEFORE_EPOCH: i32 = 719_163;

/// Days since 1970-01-01. Counted from the common era, one date's arithmetic rather than a
/// difference of two: the part reader calls it for every record.
pub fn to_days(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - DAYS_BEFORE_EPOCH
}

pub fn from_days(days: i32) -> NaiveDate {
    EPOCH + Duration::days(i64::from(days))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
        assert_eq!(to_days(d), 20_484);
        assert_eq!(from_days(to_days(d)), d);
        for d in [
            NaiveDate::MIN,
            EPOCH,
            NaiveDate::from_ymd_opt(0, 1, 1).unwrap(),
            NaiveDate::MAX,
        ] {
            assert_eq!(i64::from(to_days(d)), (d - EPOCH).num_days(), "{d}");
        }
    }
}
