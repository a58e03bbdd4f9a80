//! What one extraction may take from the source, and what it may believe of it.
//!
//! The extractor does not trust the API: a cursor that loops, a page that never ends, a body
//! the size of the disk or an `until` in the year 9999 would otherwise land parts until the
//! Lambda times out, on every schedule, or move the watermark where no later run can follow.
//! Every page goes through a [`Guard`]; the first limit it reaches ends the run with a clear
//! error, before a manifest is written, so nothing is landed under one and the watermark stays
//! where it was.
//!
//! A run that reaches a limit fails rather than landing what it has as a smaller batch: the
//! source pages by order, not by `updated_at`, so the records of a cut-off window are not a
//! window of their own, and no `until` would describe them exactly.

use std::{collections::HashSet, time::Duration};

use chrono::{DateTime, Utc};
use lakehouse_core::config::{env_parse, env_var};
use tokio::time::Instant;

use crate::{ExtractError, Result};

/// Pages of one run, at most (`LAKEHOUSE_MAX_PAGES`).
pub const ENV_MAX_PAGES: &str = "LAKEHOUSE_MAX_PAGES";
/// Records of one run, at most (`LAKEHOUSE_MAX_RECORDS`).
pub const ENV_MAX_RECORDS: &str = "LAKEHOUSE_MAX_RECORDS";
/// Bytes of raw parts of one run, at most.
pub const ENV_MAX_BYTES: &str = "LAKEHOUSE_MAX_BYTES";
/// Bytes of one API response, at most.
pub const ENV_MAX_RESPONSE_BYTES: &str = "LAKEHOUSE_MAX_RESPONSE_BYTES";
/// Seconds one extraction may take: under the Lambda's timeout, so the run ends with its own
/// error instead of being killed.
pub const ENV_EXTRACT_SECONDS: &str = "LAKEHOUSE_EXTRACT_SECONDS";
/// Seconds the source's `until` may be ahead of the extractor's clock.
pub const ENV_CLOCK_SKEW_SECONDS: &str = "LAKEHOUSE_CLOCK_SKEW_SECONDS";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_pages: u64,
    pub max_records: u64,
    pub max_bytes: u64,
    pub max_response_bytes: usize,
    pub deadline: Duration,
    pub clock_skew: chrono::Duration,
}

impl Default for Limits {
    /// Room for a day-0 load of tens of millions of orders: a limit is there to stop a
    /// misbehaving source, not to cut a large one.
    fn default() -> Self {
        Limits {
            max_pages: 20_000,
            max_records: 100_000_000,
            max_bytes: 64 << 30,
            // A page of the API stays under Lambda's 6 MB response cap.
            max_response_bytes: 16 << 20,
            deadline: Duration::from_secs(3_600),
            clock_skew: chrono::Duration::minutes(5),
        }
    }
}

impl Limits {
    /// The defaults, with each variable that is set.
    pub fn with_env_overrides(mut self) -> Result<Self> {
        if let Some(n) = env_parse(ENV_MAX_PAGES)? {
            self.max_pages = n;
        }
        if let Some(n) = env_parse(ENV_MAX_RECORDS)? {
            self.max_records = n;
        }
        if let Some(n) = env_parse(ENV_MAX_BYTES)? {
            self.max_bytes = n;
        }
        if let Some(n) = env_parse(ENV_MAX_RESPONSE_BYTES)? {
            self.max_response_bytes = n;
        }
        if let Some(s) = env_parse::<u64>(ENV_EXTRACT_SECONDS)? {
            self.deadline = Duration::from_secs(s);
        }
        if let Some(s) = env_parse::<u32>(ENV_CLOCK_SKEW_SECONDS)? {
            self.clock_skew = chrono::Duration::seconds(i64::from(s));
        }
        if env_var(ENV_MAX_PAGES).is_some() && self.max_pages == 0 {
            return Err(ExtractError::Config(format!(
                "{ENV_MAX_PAGES} must be positive"
            )));
        }
        Ok(self)
    }
}

/// One extraction's account of what it took, checked page by page.
#[derive(Debug)]
pub struct Guard<'a> {
    limits: &'a Limits,
    since: Option<DateTime<Utc>>,
    started: Instant,
    pages: u64,
    records: u64,
    bytes: u64,
    cursors: HashSet<String>,
    until: Option<DateTime<Utc>>,
}

fn misbehaved(why: String) -> ExtractError {
    ExtractError::SourceMisbehaved(why)
}

impl<'a> Guard<'a> {
    pub fn new(limits: &'a Limits, since: Option<DateTime<Utc>>) -> Self {
        Guard {
            limits,
            since,
            started: Instant::now(),
            pages: 0,
            records: 0,
            bytes: 0,
            cursors: HashSet::new(),
            until: None,
        }
    }

    /// Before each request: the time left.
    pub fn before_page(&self) -> Result<()> {
        if self.started.elapsed() >= self.limits.deadline {
            return Err(ExtractError::LimitReached(format!(
                "the extraction took longer than {} s ({} pages so far)",
                self.limits.deadline.as_secs(),
                self.pages
            )));
        }
        Ok(())
    }

    /// A page as received: its `until` (the first page's pins the window for the rest), its
    /// records and bytes, and its next cursor (which must be new).
    pub fn page(
        &mut self,
        until: DateTime<Utc>,
        records: u64,
        bytes: u64,
        next_cursor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        match self.until {
            None => {
                if self.since.is_some_and(|since| until <= since) {
                    return Err(misbehaved(format!(
                        "its window ends at {until}, not after its start {}",
                        self.since.map(|s| s.to_string()).unwrap_or_default()
                    )));
                }
                if until > now + self.limits.clock_skew {
                    return Err(misbehaved(format!(
                        "its window ends at {until}, ahead of this clock ({now}) by more than {} s",
                        self.limits.clock_skew.num_seconds()
                    )));
                }
                self.until = Some(until);
            }
            Some(pinned) if pinned != until => {
                return Err(misbehaved(format!(
                    "a later page moved the window's end from {pinned} to {until}"
                )));
            }
            Some(_) => {}
        }
        self.pages += 1;
        self.records += records;
        self.bytes += bytes;
        let over = |what: &str, n: u64, max: u64| {
            (n > max).then(|| {
                ExtractError::LimitReached(format!("{what}: {n} of at most {max} in one run"))
            })
        };
        if let Some(e) = over("pages", self.pages, self.limits.max_pages)
            .or_else(|| over("records", self.records, self.limits.max_records))
            .or_else(|| over("bytes", self.bytes, self.limits.max_bytes))
        {
            return Err(e);
        }
        if let Some(cursor) = next_cursor
            && !self.cursors.insert(cursor.to_owned())
        {
            return Err(misbehaved(format!(
                "it sent cursor {cursor:?} a second time (page {}): its pages loop",
                self.pages
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_looping_cursor_an_absurd_until_and_every_limit_end_the_run() {
        let now = at("2026-01-31T00:00:00Z");
        let limits = Limits {
            max_pages: 3,
            max_records: 25,
            max_bytes: 1_000,
            ..Limits::default()
        };
        let since = Some(at("2026-01-30T00:00:00Z"));

        let mut guard = Guard::new(&limits, since);
        guard.page(now, 5, 100, Some("a"), now).unwrap();
        guard.page(now, 5, 100, Some("b"), now).unwrap();
        let looped = guard.page(now, 5, 100, Some("a"), now).unwrap_err();
        assert!(looped.to_string().contains("loop"), "{looped}");
        assert_eq!(looped.kind(), lakehouse_core::ErrorKind::DataQuality);

        for (until, why) in [
            (at("9999-12-31T00:00:00Z"), "ahead of this clock"),
            (at("2026-01-29T00:00:00Z"), "not after its start"),
        ] {
            let err = Guard::new(&limits, since)
                .page(until, 1, 1, None, now)
                .unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
        }
        // A few minutes of skew between the clocks is fine.
        let skewed = now + chrono::Duration::minutes(4);
        Guard::new(&limits, since)
            .page(skewed, 1, 1, None, now)
            .unwrap();

        let mut moving = Guard::new(&limits, since);
        moving.page(now, 1, 1, Some("a"), now).unwrap();
        let moved = moving
            .page(now - chrono::Duration::hours(1), 1, 1, None, now)
            .unwrap_err();
        assert!(moved.to_string().contains("moved"), "{moved}");

        for (records, bytes, pages, what) in [
            (1, 1, 4, "pages"),
            (26, 1, 1, "records"),
            (1, 1_001, 1, "bytes"),
        ] {
            let mut guard = Guard::new(&limits, since);
            let failed = (0..pages)
                .map(|page| guard.page(now, records, bytes, Some(&page.to_string()), now))
                .find_map(Result::err)
                .unwrap();
            let message = failed.to_string();
            assert!(
                message.starts_with(&format!("limit reached: {what}:")),
                "{message}"
            );
        }

        let quick = Limits {
            deadline: Duration::ZERO,
            ..Limits::default()
        };
        assert!(Guard::new(&quick, since).before_page().is_err());
    }
}
