//! The source API run in-process on a loopback port, with a clock the runner moves forward
//! between rounds to simulate time passing. The extractor reaches it over HTTP, exactly as it
//! reaches the Lambda.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use lakehouse_core::{Lake, contracts::Mode, watermark};
use mock_api::{Clock, SourceState, StoreConfig, SyntheticStore, serve_on_loopback};
use tokio::task::JoinHandle;

/// Where the simulated source's settings are kept, so later runs continue the same story.
pub const SETTINGS_KEY: &str = "state/source.json";

pub struct LocalSource {
    pub state: Arc<SourceState>,
    pub url: String,
    server: JoinHandle<()>,
}

impl LocalSource {
    pub async fn start(config: StoreConfig, now: DateTime<Utc>) -> Result<Self> {
        let store = SyntheticStore::new(config)?;
        let state = Arc::new(SourceState {
            store,
            clock: Clock::fixed(now),
        });
        let (url, server) = serve_on_loopback(state.clone())
            .await
            .context("binding a loopback port for the in-process source API")?;
        Ok(LocalSource { state, url, server })
    }

    pub fn set_now(&self, now: DateTime<Utc>) {
        self.state.clock.set(now);
    }

    /// Moves the simulated clock for the next load of `lake`: to the end of the history for a
    /// full load (or the watermark, if later), `step` past the watermark for an incremental one.
    pub async fn advance_for(&self, lake: &Lake, mode: Mode, step: chrono::Duration) -> Result<()> {
        let day0 = self.state.store.config().day0_end();
        let last = watermark::current(lake)
            .await?
            .map(|v| v.watermark.high_water);
        let now = match (mode, last) {
            (Mode::Full, Some(last)) => last.max(day0),
            (Mode::Full, None) => day0,
            (Mode::Incremental, Some(last)) => last + step,
            (Mode::Incremental, None) => bail!("no watermark: run a full load first"),
        };
        self.set_now(now);
        Ok(())
    }
}

impl Drop for LocalSource {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The source settings this lake was started with, or `requested` for a new lake. A lake keeps
/// its source: asking for a different one is an error, not a silent restart.
pub async fn settings(lake: &Lake, requested: StoreConfig, explicit: bool) -> Result<StoreConfig> {
    match lake.get_json::<StoreConfig>(SETTINGS_KEY).await? {
        Some(stored) if explicit && stored != requested => bail!(
            "this lake was loaded from a source with different settings (seed {}, {} orders over {} days); \
             use a new --lake, or run without --orders/--seed/--days to continue it",
            stored.seed,
            stored.orders,
            stored.history_days
        ),
        Some(stored) => Ok(stored),
        None => {
            lake.put_json(SETTINGS_KEY, &requested).await?;
            Ok(requested)
        }
    }
}

#[derive(Args, Clone, Default)]
pub struct SourceArgs {
    /// Orders created during the source's history (the day-0 volume) [default: 100000].
    #[arg(long)]
    pub orders: Option<u64>,
    /// Days of history before day 0 [default: 30].
    #[arg(long)]
    pub days: Option<u32>,
    /// Seed of the synthetic source [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Share of bad records, 0 to 1 [default: 0.01].
    #[arg(long)]
    pub bad_share: Option<f64>,
    /// Share of orders updated after creation, 0 to 1 [default: 0.10].
    #[arg(long)]
    pub update_share: Option<f64>,
    /// Share of updates that also move the order to the day of the update, 0 to 1 [default: 0.05].
    #[arg(long)]
    pub date_move_share: Option<f64>,
    /// Share of customers, and of products, whose attributes change once, 0 to 1 [default: 0.02].
    #[arg(long)]
    pub change_share: Option<f64>,
}

impl SourceArgs {
    pub fn given(&self) -> bool {
        self.orders.is_some()
            || self.days.is_some()
            || self.seed.is_some()
            || self.bad_share.is_some()
            || self.update_share.is_some()
            || self.date_move_share.is_some()
            || self.change_share.is_some()
    }

    pub fn config(&self) -> StoreConfig {
        let d = StoreConfig::default();
        let orders = self.orders.unwrap_or(d.orders);
        StoreConfig {
            seed: self.seed.unwrap_or(d.seed),
            orders,
            history_days: self.days.unwrap_or(d.history_days),
            // About five orders per customer, as in a real shop; never fewer than 100.
            customers: (orders / 5).clamp(100, d.customers * 10),
            bad_share: self.bad_share.unwrap_or(d.bad_share),
            update_share: self.update_share.unwrap_or(d.update_share),
            date_move_share: self.date_move_share.unwrap_or(d.date_move_share),
            change_share: self.change_share.unwrap_or(d.change_share),
            ..d
        }
    }
}
