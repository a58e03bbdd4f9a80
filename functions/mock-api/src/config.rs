//! The source's settings from the environment, for the Lambda (the CLI takes flags instead).

use chrono::{DateTime, Utc};
use lakehouse_core::config::{env_parse, env_var};

use crate::{Clock, SourceState, StoreConfig, SyntheticStore, store::ConfigError};

pub const ENV_SEED: &str = "MOCK_SEED";
pub const ENV_ORDERS: &str = "MOCK_ORDERS";
pub const ENV_HISTORY_DAYS: &str = "MOCK_HISTORY_DAYS";
/// When the first order was created (RFC 3339). Fixed, so every cold start serves the same data.
pub const ENV_START: &str = "MOCK_START";
/// The source's "now": `system` (default) or a fixed RFC 3339 instant.
pub const ENV_NOW: &str = "MOCK_NOW";
pub const ENV_BAD_SHARE: &str = "MOCK_BAD_SHARE";
pub const ENV_UPDATE_SHARE: &str = "MOCK_UPDATE_SHARE";
pub const ENV_DATE_MOVE_SHARE: &str = "MOCK_DATE_MOVE_SHARE";
pub const ENV_CHANGE_SHARE: &str = "MOCK_CHANGE_SHARE";

fn time(name: &str, value: &str) -> Result<DateTime<Utc>, ConfigError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.to_utc())
        .map_err(|_| ConfigError(format!("{name}={value:?} is not an RFC 3339 timestamp")))
}

fn parse<T: std::str::FromStr>(name: &str) -> Result<Option<T>, ConfigError> {
    env_parse(name).map_err(|e| ConfigError(e.to_string()))
}

impl StoreConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = StoreConfig::default();
        let config = StoreConfig {
            seed: parse(ENV_SEED)?.unwrap_or(d.seed),
            orders: parse(ENV_ORDERS)?.unwrap_or(d.orders),
            history_days: parse(ENV_HISTORY_DAYS)?.unwrap_or(d.history_days),
            start: match env_var(ENV_START) {
                Some(v) => time(ENV_START, &v)?,
                None => d.start,
            },
            bad_share: parse(ENV_BAD_SHARE)?.unwrap_or(d.bad_share),
            update_share: parse(ENV_UPDATE_SHARE)?.unwrap_or(d.update_share),
            date_move_share: parse(ENV_DATE_MOVE_SHARE)?.unwrap_or(d.date_move_share),
            change_share: parse(ENV_CHANGE_SHARE)?.unwrap_or(d.change_share),
            ..d
        };
        config.validate()?;
        Ok(config)
    }
}

impl SourceState {
    pub fn from_env() -> Result<Self, ConfigError> {
        let clock = match env_var(ENV_NOW).as_deref() {
            None | Some("system") => Clock::system(),
            Some(v) => Clock::fixed(time(ENV_NOW, v)?),
        };
        Ok(SourceState {
            store: SyntheticStore::new(StoreConfig::from_env()?)?,
            clock,
        })
    }
}
