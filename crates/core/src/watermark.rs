//! The extraction watermark: how far the source has been read.
//!
//! Stored as a sequence of immutable versions (`state/watermark/<seq>.json`). Advancing writes
//! version `seq + 1` with create-if-absent, so of two runs that read the same version only one
//! can advance it: the compare-and-swap an `If-Match` on a single object would give, but one
//! that a local directory supports too, with the history kept for free.

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

/// The newest watermark, or `None` before the first load.
pub async fn current(lake: &Lake) -> Result<Option<Versioned>> {
    let keys = lake.list(layout::WATERMARK_PREFIX).await?;
    let Some(seq) = keys.iter().filter_map(|k| layout::watermark_seq(k)).max() else {
        return Ok(None);
    };
    let key = layout::watermark_key(seq);
    Ok(lake
        .get_json::<Watermark>(&key)
        .await?
        .map(|watermark| Versioned { seq, watermark }))
}

/// Writes the next version after `previous`. Fails with `Error::Conflict` if another run
/// advanced the watermark since `previous` was read.
pub async fn advance(lake: &Lake, previous: Option<&Versioned>, next: &Watermark) -> Result<u64> {
    let seq = previous.map_or(1, |p| p.seq + 1);
    lake.put_json_if_absent(&layout::watermark_key(seq), next)
        .await?;
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, store::temp_lake};

    #[tokio::test]
    async fn only_one_of_two_racing_runs_advances() {
        let (_dir, lake) = temp_lake();
        assert!(current(&lake).await.unwrap().is_none());
        let wm = |h: i64| Watermark {
            high_water: DateTime::from_timestamp(h, 0).unwrap(),
            run_id: RunId::parse("20261124T081500Z-abc123").unwrap(),
            written_at: Utc::now(),
        };
        assert_eq!(advance(&lake, None, &wm(10)).await.unwrap(), 1);
        let read = current(&lake).await.unwrap().unwrap();
        assert_eq!(read.seq, 1);
        assert_eq!(advance(&lake, Some(&read), &wm(20)).await.unwrap(), 2);
        // A second run that read version 1 loses.
        let lost = advance(&lake, Some(&read), &wm(30)).await;
        assert!(matches!(lost, Err(Error::Conflict(_))), "{lost:?}");
        let now = current(&lake).await.unwrap().unwrap();
        assert_eq!((now.seq, now.watermark.high_water.timestamp()), (2, 20));
    }
}
