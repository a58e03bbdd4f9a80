//! extractor: the extract stage.
//!
//! Reads the source API page by page (full, or incremental from the stored watermark minus an
//! overlap window for late updates), lands each page as an NDJSON part under
//! `raw/<full|increment>/<date>/<run_id>/`, then writes the run's `_manifest.json`, and only then
//! advances the watermark with a conditional write. Re-running a run id whose manifest exists
//! fetches nothing. The output is a small pointer for the next stage.

mod auth;
pub mod bounds;
mod client;
mod error;
mod landing;
mod sdk;

use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use lakehouse_core::{
    Lake,
    checksum::Checksum,
    config::{self, env_parse, env_var},
    contracts::{ExtractInput, ExtractOutput, LeaseHolder, Manifest, Mode, PartInfo, Window},
    layout,
    lease::{self, LeaseConfig},
    ledger,
    report::{self, StageReport},
    runid::RunId,
    watermark::{self, Watermark},
};
use tracing::info;

pub use auth::{ApiAuth, IamSigner};
pub use client::{ApiClient, RetryPolicy};
pub use error::{ExtractError, Result};
pub use landing::Landing;

/// Extract settings, read once at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    pub api_url: String,
    pub page_size: usize,
    pub overlap: Duration,
    pub retry: RetryPolicy,
    pub auth: ApiAuth,
    /// Connect to this address instead of resolving the API's host name (the Host header and
    /// the SigV4 signature still name the host).
    pub resolve: Option<std::net::IpAddr>,
    /// What one extraction may take from the source.
    pub limits: bounds::Limits,
}

impl Config {
    pub fn new(api_url: impl Into<String>) -> Self {
        Config {
            api_url: api_url.into(),
            page_size: config::DEFAULT_PAGE_SIZE,
            overlap: config::DEFAULT_OVERLAP,
            retry: RetryPolicy::default(),
            auth: ApiAuth::None,
            resolve: None,
            limits: bounds::Limits::default(),
        }
    }

    /// Settings from the environment, with the API URL from `LAKEHOUSE_API_URL`.
    pub fn from_env() -> Result<Self> {
        let api_url = env_var(config::ENV_API_URL).ok_or_else(|| {
            ExtractError::Config(format!(
                "{} is not set: give the source API's base URL, e.g. http://127.0.0.1:8080",
                config::ENV_API_URL
            ))
        })?;
        Config::new(api_url).with_env_overrides()
    }

    /// Applies `LAKEHOUSE_PAGE_SIZE`, `LAKEHOUSE_OVERLAP_SECONDS`, `LAKEHOUSE_API_AUTH`,
    /// `LAKEHOUSE_API_RESOLVE` and the limits ([`bounds`]) where they are set.
    pub fn with_env_overrides(mut self) -> Result<Self> {
        self.limits = self.limits.with_env_overrides()?;
        if let Some(n) = env_parse::<usize>(config::ENV_PAGE_SIZE)? {
            self.page_size = n;
        }
        if let Some(s) = env_parse::<u64>(config::ENV_OVERLAP_SECONDS)? {
            self.overlap = Duration::from_secs(s);
        }
        if let Some(auth) = env_var(config::ENV_API_AUTH) {
            self.auth = auth.parse()?;
        }
        if let Some(ip) = env_var(config::ENV_API_RESOLVE) {
            self.resolve = Some(ip.trim().parse().map_err(|_| {
                ExtractError::Config(format!(
                    "{}={ip:?} is not an IP address",
                    config::ENV_API_RESOLVE
                ))
            })?);
        }
        Ok(self)
    }
}

/// What the stage needs, built once (at cold start in Lambda).
#[derive(Debug, Clone)]
pub struct Deps {
    pub lake: Lake,
    pub landing: Landing,
    pub api: ApiClient,
    pub config: Config,
    pub lease: LeaseConfig,
}

impl Deps {
    /// Builds the API client (with `ApiAuth::Iam` it also resolves the AWS credential chain)
    /// and, for a lake on S3, the client that lands the parts.
    pub async fn new(lake: Lake, config: Config, lease: LeaseConfig) -> Result<Self> {
        let signer = match config.auth {
            ApiAuth::None => None,
            ApiAuth::Iam => Some(IamSigner::from_environment().await?),
        };
        let api = ApiClient::new(&config, signer)?;
        let landing = Landing::for_lake(lake.location()).await;
        Ok(Deps {
            lake,
            landing,
            api,
            config,
            lease,
        })
    }
}

/// The extract stage of one run, under the lake's lease. Its output names the run's batch and,
/// in `pending`, the earlier runs whose batches landed but did not get through gold (the
/// ledger's open runs), oldest first: the run's driver finishes those before this one. The
/// lease passes on to the transform stage, or is released if there is nothing to do.
pub async fn run(input: ExtractInput, deps: &Deps) -> Result<ExtractOutput> {
    let run_id = input
        .run_id
        .clone()
        .unwrap_or_else(|| RunId::new(Utc::now()));
    let holder = LeaseHolder {
        owner: lakehouse_core::contracts::owner_of(input.lease.as_ref(), &run_id),
    };
    let work = async {
        let pending: Vec<ExtractOutput> = ledger::open_runs(&deps.lake)
            .await?
            .into_iter()
            .filter(|open| open.run_id != run_id)
            .map(|open| ExtractOutput {
                lease: Some(holder.clone()),
                ..open
            })
            .collect();
        let mut out = extract(input.mode, &run_id, deps).await?;
        out.lease = Some(holder.clone());
        out.pending = pending;
        Ok::<_, ExtractError>(out)
    };
    lease::with_lease(&deps.lake, &holder.owner, &deps.lease, work, |out| {
        out.records == 0 && out.pending.is_empty()
    })
    .await
}

async fn extract(mode: Mode, run_id: &RunId, deps: &Deps) -> Result<ExtractOutput> {
    let started = Instant::now();
    let run_id = run_id.clone();
    let lake = &deps.lake;
    let manifest_key = layout::manifest_key(mode, &run_id);
    let previous = watermark::current(lake).await?;

    if let Some(manifest) = lake.get_json::<Manifest>(&manifest_key).await? {
        // Landed before (a re-run, or a crash after the manifest): fetch nothing, but make sure
        // the ledger and watermark steps that may not have happened have.
        info!(%run_id, "manifest exists; nothing to extract");
        let out = output(manifest.clone(), manifest_key, false);
        ledger::record_landed(lake, &out).await?;
        advance_watermark(lake, previous.as_ref(), &manifest).await?;
        return Ok(out);
    }

    let since = match mode {
        Mode::Full => None,
        Mode::Incremental => {
            let wm = previous.as_ref().ok_or(ExtractError::NoWatermark)?;
            let overlap = chrono::Duration::from_std(deps.config.overlap)
                .map_err(|e| ExtractError::Config(format!("overlap: {e}")))?;
            Some(wm.watermark.high_water - overlap)
        }
    };

    let mut parts = Vec::new();
    let mut cursor = None;
    let mut until = None;
    let mut guard = bounds::Guard::new(&deps.config.limits, since);
    loop {
        guard.before_page()?;
        let page = deps
            .api
            .page(mode, since, until, cursor.as_deref(), deps.config.page_size)
            .await?;
        let body = ndjson(&page.records);
        guard.page(
            page.until,
            page.records.len() as u64,
            body.len() as u64,
            page.next_cursor.as_deref(),
            Utc::now(),
        )?;
        until = Some(page.until);
        if !page.records.is_empty() {
            let key = layout::part_key(mode, &run_id, parts.len());
            let info = PartInfo {
                key: key.clone(),
                records: page.records.len() as u64,
                bytes: body.len() as u64,
                checksum: Checksum::of(&body),
            };
            deps.landing.put(lake, &key, body, &info.checksum).await?;
            parts.push(info);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let until = until.ok_or_else(|| ExtractError::Malformed("no page was returned".into()))?;
    let manifest = Manifest {
        run_id: run_id.clone(),
        mode,
        window: Window { since, until },
        records: parts.iter().map(|p| p.records).sum(),
        parts,
        created_at: Utc::now(),
    };
    lake.put_json_if_absent(&manifest_key, &manifest).await?;
    // Manifest, ledger, watermark, in that order: a crash before the ledger leaves the window
    // to the next run (the watermark has not moved), a crash after it leaves the run open for
    // the next run to finish.
    let out = output(manifest.clone(), manifest_key, true);
    ledger::record_landed(lake, &out).await?;
    advance_watermark(lake, previous.as_ref(), &manifest).await?;

    info!(%run_id, records = out.records, parts = out.parts, "extracted");
    report::save_stage(
        lake,
        &run_id,
        &StageReport {
            stage: "extract".into(),
            rows_in: out.records,
            rows_out: out.records,
            seconds: started.elapsed().as_secs_f64(),
            quarantined_by_reason: Default::default(),
            tables: vec![],
            finished_at: Utc::now(),
        },
    )
    .await?;
    Ok(out)
}

/// Moves the watermark up to the manifest's window end; never backwards.
async fn advance_watermark(
    lake: &Lake,
    previous: Option<&watermark::Versioned>,
    manifest: &Manifest,
) -> Result<()> {
    if previous.is_some_and(|p| p.watermark.high_water >= manifest.window.until) {
        return Ok(());
    }
    let next = Watermark {
        high_water: manifest.window.until,
        run_id: manifest.run_id.clone(),
        written_at: Utc::now(),
    };
    watermark::advance(lake, previous, &next).await?;
    Ok(())
}

fn output(manifest: Manifest, manifest_key: String, extracted: bool) -> ExtractOutput {
    ExtractOutput {
        run_id: manifest.run_id,
        mode: manifest.mode,
        manifest_key,
        records: manifest.records,
        parts: manifest.parts.len(),
        window: manifest.window,
        extracted,
        lease: None,
        pending: Vec::new(),
    }
}

/// The records as the API sent them, one per line: a record that spans lines (a page
/// pretty-printed) loses the whitespace outside its strings, so its values and their order
/// stay as they were.
fn ndjson(records: &[Box<serde_json::value::RawValue>]) -> Bytes {
    let len = records.iter().map(|r| r.get().len() + 1).sum();
    let mut out = Vec::with_capacity(len);
    for record in records {
        out.extend_from_slice(one_line(record.get()).as_bytes());
        out.push(b'\n');
    }
    Bytes::from(out)
}

/// `json` on one line: as it is unless it holds a line break, else without the whitespace
/// outside its strings (a JSON string cannot hold a raw line break, so every one is outside).
fn one_line(json: &str) -> std::borrow::Cow<'_, str> {
    if memchr::memchr2(b'\n', b'\r', json.as_bytes()).is_none() {
        return json.into();
    }
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out.into()
}

/// The extract stage as its Lambda function runs it: failures reported under their stable
/// `errorType` (`Retryable`, `InvalidInput`, `DataQuality`) for the state machine's Retry/Catch.
pub struct Extractor;

impl lakehouse_runtime::Stage for Extractor {
    const NAME: &'static str = "extractor";
    type Deps = Deps;
    type Input = ExtractInput;
    type Output = ExtractOutput;
    type Error = ExtractError;

    async fn deps(
        lake: lakehouse_core::Lake,
        lease: lakehouse_core::lease::LeaseConfig,
    ) -> Result<Deps, lakehouse_runtime::Error> {
        Ok(Deps::new(lake, Config::from_env()?, lease).await?)
    }

    async fn run(input: ExtractInput, deps: &Deps) -> Result<ExtractOutput, ExtractError> {
        run(input, deps).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_spanning_lines_lands_on_one_keeping_its_values() {
        let pretty =
            "{\n  \"order_id\": \"A B\",\n  \"note\": \"x \\\" y\",\r\n  \"quantity\": 2\n}";
        let flat = one_line(pretty);
        assert_eq!(flat, r#"{"order_id":"A B","note":"x \" y","quantity":2}"#);
        let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert_eq!(parse(&flat), parse(pretty));
        // A record on one line lands byte for byte, its spaces included.
        let spaced = r#"{ "order_id" : "A" }"#;
        assert!(matches!(one_line(spaced), std::borrow::Cow::Borrowed(s) if s == spaced));
    }

    #[test]
    fn environment_overrides_apply_and_bad_values_are_named() {
        // SAFETY: the only test of this binary that touches the environment; nextest also runs
        // each test in a process of its own.
        unsafe {
            std::env::set_var(config::ENV_OVERLAP_SECONDS, "60");
            std::env::set_var(config::ENV_PAGE_SIZE, "250");
        }
        let c = Config::new("http://127.0.0.1:1")
            .with_env_overrides()
            .unwrap();
        assert_eq!((c.page_size, c.overlap), (250, Duration::from_secs(60)));
        unsafe { std::env::set_var(config::ENV_PAGE_SIZE, "lots") };
        let err = Config::new("http://127.0.0.1:1")
            .with_env_overrides()
            .unwrap_err();
        assert!(err.to_string().contains("LAKEHOUSE_PAGE_SIZE"), "{err}");
        assert_eq!(err.kind(), lakehouse_core::ErrorKind::InvalidInput);
    }
}
