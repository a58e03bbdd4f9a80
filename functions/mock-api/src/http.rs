//! The HTTP face of the store. Every endpoint is paged (a Lambda response is capped at 6 MB)
//! and every bad parameter gets a 400 with a JSON error, never a 500.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
};

use axum::{
    Json, Router,
    extract::{Query, State, rejection::QueryRejection},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::{
    openapi,
    record::SourceRecord,
    store::{DEFAULT_LIMIT, MAX_LIMIT, Query as StoreQuery, SyntheticStore},
};

/// The API's notion of "now": the wall clock, or a fixed instant that tests and the local
/// runner move forward to simulate time passing between incremental loads.
#[derive(Debug)]
pub struct Clock {
    fixed_secs: AtomicI64,
}

const SYSTEM: i64 = i64::MIN;

impl Clock {
    pub fn system() -> Self {
        Clock {
            fixed_secs: AtomicI64::new(SYSTEM),
        }
    }

    pub fn fixed(at: DateTime<Utc>) -> Self {
        Clock {
            fixed_secs: AtomicI64::new(at.timestamp()),
        }
    }

    pub fn set(&self, at: DateTime<Utc>) {
        self.fixed_secs.store(at.timestamp(), Ordering::SeqCst);
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self.fixed_secs.load(Ordering::SeqCst) {
            SYSTEM => Utc::now(),
            secs => DateTime::from_timestamp(secs, 0).unwrap_or_default(),
        }
    }
}

#[derive(Debug)]
pub struct SourceState {
    pub store: SyntheticStore,
    pub clock: Clock,
}

pub fn router(state: Arc<SourceState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/extract/full", get(extract_full))
        .route("/extract/incremental", get(extract_incremental))
        .route("/openapi.json", get(|| async { Json(openapi::document()) }))
        .route("/docs", get(|| async { Html(openapi::DOCS_HTML) }))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such route: see /openapi.json",
            )
        })
        .with_state(state)
}

/// Serves the API on a free loopback port in a background task: for the local runner and tests.
/// Returns the base URL; the server stops when the handle is aborted or the runtime ends.
pub async fn serve_on_loopback(
    state: Arc<SourceState>,
) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = router(state);
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "source API stopped");
        }
    });
    Ok((url, handle))
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.code, "message": self.message});
        (self.status, Json(body)).into_response()
    }
}

#[derive(Serialize)]
struct PageBody<'a> {
    records: &'a [SourceRecord],
    count: usize,
    next_cursor: Option<String>,
    until: String,
}

async fn health(State(state): State<Arc<SourceState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "now": state.clock.now().to_rfc3339_opts(SecondsFormat::Secs, true),
    }))
}

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

async fn extract_full(
    State(state): State<Arc<SourceState>>,
    params: Params,
) -> Result<Response, ApiError> {
    extract(&state, params, false)
}

async fn extract_incremental(
    State(state): State<Arc<SourceState>>,
    params: Params,
) -> Result<Response, ApiError> {
    extract(&state, params, true)
}

fn parse_time(name: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{name}={value:?} is not an RFC 3339 timestamp (e.g. 2026-01-31T12:00:00Z)"
            ))
        })
}

fn extract(state: &SourceState, params: Params, incremental: bool) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let allowed: &[&str] = if incremental {
        &["since", "until", "limit", "cursor"]
    } else {
        &["until", "limit", "cursor"]
    };
    if let Some(unknown) = params.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "unknown parameter {unknown:?}; this endpoint takes {allowed:?}"
        )));
    }
    let now = state.clock.now();
    let since = match (incremental, params.get("since")) {
        (true, None) => {
            return Err(ApiError::bad_request(
                "since is required (RFC 3339 timestamp)",
            ));
        }
        (true, Some(v)) => Some(parse_time("since", v)?),
        (false, _) => None,
    };
    let until = match params.get("until") {
        Some(v) => parse_time("until", v)?,
        None => now,
    };
    if until > now {
        return Err(ApiError::bad_request(format!(
            "until={until} is later than the source's current time {now}"
        )));
    }
    if since.is_some_and(|s| s > until) {
        return Err(ApiError::bad_request("since is later than until"));
    }
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "limit={v:?} must be an integer from 1 to {MAX_LIMIT}"
                )));
            }
        },
    };
    let not_issued =
        |v: &str| ApiError::bad_request(format!("cursor={v:?} is not a cursor this API issued"));
    let cursor = match params.get("cursor") {
        None => 0,
        Some(v) => {
            let cursor = v.parse::<u64>().map_err(|_| not_issued(v))?;
            // Pages end where the window does: a cursor past its end was never issued (and
            // would name an order beyond any time the store can render).
            if cursor > state.store.end_of(until) {
                return Err(not_issued(v));
            }
            cursor
        }
    };
    let page = state.store.page(&StoreQuery {
        since,
        until,
        cursor,
        limit,
    });
    let body = PageBody {
        records: &page.records,
        count: page.records.len(),
        next_cursor: page.next_cursor.map(|c| c.to_string()),
        until: until.to_rfc3339_opts(SecondsFormat::Secs, true),
    };
    Ok(Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreConfig;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn app() -> Router {
        let store = SyntheticStore::new(StoreConfig {
            orders: 500,
            ..StoreConfig::default()
        })
        .unwrap();
        let clock = Clock::fixed(store.config().day0_end());
        router(Arc::new(SourceState { store, clock }))
    }

    async fn get(uri: &str) -> (StatusCode, serde_json::Value) {
        let response = app()
            .oneshot(axum::http::Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn bad_parameters_get_400_with_a_json_error() {
        for uri in [
            "/extract/incremental",
            "/extract/incremental?since=yesterday",
            "/extract/full?limit=0",
            "/extract/full?limit=abc",
            "/extract/full?limit=100000",
            "/extract/full?cursor=-1",
            "/extract/full?until=2099-01-01T00:00:00Z",
            "/extract/full?sinse=2026-01-01T00:00:00Z",
            "/extract/incremental?since=2026-02-01T00:00:00Z&until=2026-01-02T00:00:00Z",
        ] {
            let (status, body) = get(uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert_eq!(body["error"], "bad_request", "{uri}");
            assert!(body["message"].as_str().unwrap().len() > 10, "{uri}");
        }
        let (status, body) = get("/nope").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
    }

    /// Any parameters, however out of range, get a 200 page or a 400 with a JSON error: never
    /// a 500, never a dropped connection (a panic in a handler drops it).
    #[tokio::test]
    async fn random_parameters_get_a_page_or_a_400() {
        let values = [
            "",
            "0",
            "1",
            "-1",
            "5000",
            "10001",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999",
            "1e30",
            "NaN",
            "abc",
            "%00",
            "💥",
            "2026-01-15T00:00:00Z",
            "2026-01-31T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2026-02-30T00:00:00Z",
            "2026-01-15T00:00:00+14:00",
            "-262143-01-01T00:00:00Z",
            "yesterday",
        ];
        let names = ["since", "until", "limit", "cursor", "sinse"];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound as u64) as usize
        };
        let (mut pages, mut refused) = (0, 0);
        for _ in 0..600 {
            let route = ["/extract/full", "/extract/incremental"][next(2)];
            let query: Vec<String> = (0..next(4))
                .map(|_| {
                    let value: String = values[next(values.len())]
                        .bytes()
                        .map(|b| format!("%{b:02X}"))
                        .collect();
                    format!("{}={value}", names[next(names.len())])
                })
                .collect();
            let uri = format!("{route}?{}", query.join("&"));
            let (status, body) = get(&uri).await;
            match status {
                StatusCode::OK => pages += 1,
                StatusCode::BAD_REQUEST => {
                    assert_eq!(body["error"], "bad_request", "{uri}");
                    refused += 1;
                }
                other => panic!("{uri}: {other} {body}"),
            }
        }
        assert!(
            pages > 20 && refused > 100,
            "{pages} pages, {refused} refusals"
        );
        // The cursor that panicked the store: far past any order.
        let (status, _) = get("/extract/full?cursor=18446744073709551615").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn pages_chain_through_cursors() {
        let (status, first) = get("/extract/full?limit=200").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(first["count"], first["records"].as_array().unwrap().len());
        let cursor = first["next_cursor"].as_str().unwrap();
        let until = first["until"].as_str().unwrap();
        let (_, second) = get(&format!(
            "/extract/full?limit=200&cursor={cursor}&until={until}"
        ))
        .await;
        assert_ne!(first["records"][0], second["records"][0]);
        let (status, health) = get("/health").await;
        assert_eq!(
            (status, health["status"].as_str()),
            (StatusCode::OK, Some("ok"))
        );
        let (_, spec) = get("/openapi.json").await;
        assert!(spec["paths"]["/extract/incremental"].is_object());
    }
}
