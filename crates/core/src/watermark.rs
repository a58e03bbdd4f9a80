//! The extraction watermark: how far the source has been read.
//!
//! Stored as a sequence of immutable versions (`state/watermark/<seq>.json`). Advancing writes
//! version `seq + 1` with create-if-absent, so of two runs that read the same version only one
//! can advance it: the compare-and-swap an `If-Match` on a single object would give, but one
//! that a local directory supports too, with the history kept for free.
//!
//! Reading takes a hint (`state/watermark/latest.json`, the newest seq as last written) and
//! probes forward from it, instead of listing the versions: one run an hour leaves 8,760 of
//! them a year, and every read would list them all. The hint may lag (a run can stop between
//! its version and its hint, and two runs' hints can land out of order) but never leads, and
//! the versions have no gaps (each is written as its predecessor's successor, and nothing
//! deletes them), so the probe from any version ends at the newest. Without a usable hint (a
//! lake older than hints, or one whose hint names no version) the read lists, as before.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Lake, Result, layout, runid::RunId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    /// Every source record with `updated_at <= high_water` has landed in raw/.
    pub high_water: DateTime<Utc>,
    pub run_id: RunId,
    pub written_at: DateTime<Utc>,
}

/// A watermark version as read, with the sequence number a later advance must build on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub seq: u64,
    pub watermark: Watermark,
}

/// Where reading starts ([`layout::WATERMARK_HINT`]).
#[derive(Debug, Serialize, Deserialize)]
struct Hint {
    seq: u64,
}

/// The newest watermark, or `None` before the first load.
pub async fn current(lake: &Lake) -> Result<Option<Versioned>> {
    if let Some(seq) = hinted_seq(lake).await? {
        if let Some(newest) = newest_from(lake, seq).await? {
            return Ok(Some(newest));
        }
        tracing::warn!(seq, "the watermark hint names no version; listing them");
    }
    let keys = lake.list(layout::WATERMARK_PREFIX).await?;
    match keys.iter().filter_map(|k| layout::watermark_seq(k)).max() {
        Some(seq) => newest_from(lake, seq).await,
        None => Ok(None),
    }
}

/// Writes the next version after `previous`. Fails with `Error::Conflict` if another run
/// advanced the watermark since `previous` was read.
pub async fn advance(lake: &Lake, previous: Option<&Versioned>, next: &Watermark) -> Result<u64> {
    let seq = previous.map_or(1, |p| p.seq + 1);
    lake.put_json_if_absent(&layout::watermark_key(seq), next)
        .await?;
    // The version is the truth and it is written: a hint that fails to follow costs the next
    // read a listing, not a wrong answer, so it does not fail the advance.
    if let Err(error) = lake.put_json(layout::WATERMARK_HINT, &Hint { seq }).await {
        tracing::warn!(seq, %error, "the watermark hint was not written");
    }
    Ok(seq)
}

/// The seq the hint names, if there is a hint that parses (one that does not is ignored: it
/// is only where reading starts).
async fn hinted_seq(lake: &Lake) -> Result<Option<u64>> {
    let Some(bytes) = lake.get(layout::WATERMARK_HINT).await? else {
        return Ok(None);
    };
    match serde_json::from_slice::<Hint>(&bytes) {
        Ok(hint) => Ok(Some(hint.seq)),
        Err(error) => {
            tracing::warn!(%error, "the watermark hint does not parse; listing the versions");
            Ok(None)
        }
    }
}

/// The newest version from version `seq` on, or `None` when there is no version `seq`.
async fn newest_from(lake: &Lake, seq: u64) -> Result<Option<Versioned>> {
    let Some(mut watermark) = lake
        .get_json::<Watermark>(&layout::watermark_key(seq))
        .await?
    else {
        return Ok(None);
    };
    let mut seq = seq;
    while let Some(next) = lake
        .get_json::<Watermark>(&layout::watermark_key(seq + 1))
        .await?
    {
        seq += 1;
        watermark = next;
    }
    Ok(Some(Versioned { seq, watermark }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, store::temp_lake};

    fn wm(h: i64) -> Watermark {
        Watermark {
            high_water: DateTime::from_timestamp(h, 0).unwrap(),
            run_id: RunId::parse("20261124T081500Z-abc123").unwrap(),
            written_at: Utc::now(),
        }
    }

    /// The newest version as read: (seq, high water in seconds).
    async fn read(lake: &Lake) -> Option<(u64, i64)> {
        let now = current(lake).await.unwrap()?;
        Some((now.seq, now.watermark.high_water.timestamp()))
    }

    #[tokio::test]
    async fn only_one_of_two_racing_runs_advances() {
        let (_dir, lake) = temp_lake();
        assert!(current(&lake).await.unwrap().is_none());
        assert_eq!(advance(&lake, None, &wm(10)).await.unwrap(), 1);
        let first = current(&lake).await.unwrap().unwrap();
        assert_eq!(first.seq, 1);
        assert_eq!(advance(&lake, Some(&first), &wm(20)).await.unwrap(), 2);
        // A second run that read version 1 loses.
        let lost = advance(&lake, Some(&first), &wm(30)).await;
        assert!(matches!(lost, Err(Error::Conflict(_))), "{lost:?}");
        let now = current(&lake).await.unwrap().unwrap();
        assert_eq!((now.seq, now.watermark.high_water.timestamp()), (2, 20));
    }

    #[tokio::test]
    async fn a_read_starts_at_the_hint_and_probes_forward_to_the_newest_version() {
        let (_dir, lake) = temp_lake();
        let mut previous = None;
        for h in 1..=5 {
            advance(&lake, previous.as_ref(), &wm(h)).await.unwrap();
            previous = current(&lake).await.unwrap();
        }
        // A version past a gap that only a listing finds: reading 5 means the read began at
        // the hint.
        lake.put_json(&layout::watermark_key(9), &wm(9))
            .await
            .unwrap();
        assert_eq!(read(&lake).await, Some((5, 5)));
        // A hint that lags (a run stopped between its version and its hint): the probe
        // still ends at the newest.
        lake.put_json(layout::WATERMARK_HINT, &Hint { seq: 2 })
            .await
            .unwrap();
        assert_eq!(read(&lake).await, Some((5, 5)));
        // A hint that names no version, one that does not parse, none at all: the versions
        // are listed.
        lake.put_json(layout::WATERMARK_HINT, &Hint { seq: 7 })
            .await
            .unwrap();
        assert_eq!(read(&lake).await, Some((9, 9)));
        lake.put(layout::WATERMARK_HINT, "{seq".into())
            .await
            .unwrap();
        assert_eq!(read(&lake).await, Some((9, 9)));
        lake.delete(layout::WATERMARK_HINT).await.unwrap();
        assert_eq!(read(&lake).await, Some((9, 9)));
        // The next advance builds on what the read found, and leaves a hint again.
        let newest = current(&lake).await.unwrap();
        assert_eq!(advance(&lake, newest.as_ref(), &wm(10)).await.unwrap(), 10);
        let hint: Hint = lake
            .get_json(layout::WATERMARK_HINT)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(hint.seq, 10);
    }
}
