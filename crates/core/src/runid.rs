//! Run identifiers: sortable, safe in S3 keys and Step Functions names, and carrying their date
//! so a run's raw prefix can be found from its id alone.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

const STAMP: &str = "%Y%m%dT%H%M%SZ";

/// `20261124T081500Z-3f9c1a`: UTC start time, then 6 random hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(String);

impl RunId {
    pub fn new(started: DateTime<Utc>) -> Self {
        let random = uuid::Uuid::now_v7().simple().to_string();
        // The last digits of a v7 UUID are random; the first ones repeat the clock.
        let suffix = &random[random.len() - 6..];
        RunId(format!("{}-{suffix}", started.format(STAMP)))
    }

    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            Error::InvalidInput(format!(
                "run id {s:?} is not of the form YYYYMMDDTHHMMSSZ-xxxxxx (e.g. 20261124T081500Z-3f9c1a)"
            ))
        };
        let (stamp, suffix) = s.split_once('-').ok_or_else(bad)?;
        NaiveDateTime::parse_from_str(stamp, STAMP).map_err(|_| bad())?;
        if suffix.is_empty()
            || suffix.len() > 32
            || !suffix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(bad());
        }
        Ok(RunId(s.to_owned()))
    }

    /// The UTC date the run started, which names its raw prefix.
    pub fn date(&self) -> NaiveDate {
        self.0
            .get(..8)
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y%m%d").ok())
            .unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RunId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        RunId::parse(&s)
    }
}

impl From<RunId> for String {
    fn from(id: RunId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn round_trips_and_carries_its_date() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 8, 15, 0).unwrap();
        let id = RunId::new(t);
        assert!(id.as_str().starts_with("20261124T081500Z-"), "{id}");
        assert_eq!(RunId::parse(id.as_str()).unwrap(), id);
        assert_eq!(id.date(), NaiveDate::from_ymd_opt(2026, 11, 24).unwrap());
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in [
            "",
            "abc",
            "20261124-x",
            "20261124T081500Z-",
            "20261124T081500Z-a/b",
        ] {
            assert!(RunId::parse(bad).is_err(), "{bad}");
        }
    }
}
