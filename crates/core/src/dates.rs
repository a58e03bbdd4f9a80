//! Dates as Iceberg and Arrow store them: days since 1970-01-01.

use chrono::{Duration, NaiveDate};

pub const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

pub fn to_days(date: NaiveDate) -> i32 {
    (date - EPOCH).num_days() as i32
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
    }
}
