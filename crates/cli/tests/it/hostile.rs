//! Hostile input, from the corpus `tests/corpus/hostile.json`: records a fake source serves
//! (each quarantined with the reason the corpus names, or landed in silver), pages that must end
//! the extraction with a clear error and the watermark unmoved, and raw parts landed by hand.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use lakehouse_cli::pipeline::Pipeline;
use lakehouse_core::{
    Lake,
    checksum::Checksum,
    config::S3Settings,
    contracts::{ExtractInput, ExtractOutput, LeaseHolder, Manifest, Mode, PartInfo, Window},
    layout, ledger,
    runid::RunId,
    store::LakeLocation,
    watermark,
};
use lakehouse_tables::{
    Warehouse,
    schemas::{ORDERS, QUARANTINE},
};
use polars::prelude::*;
use serde_json::Value;

use crate::harness::repo_root;

/// Responses the fake source gives, in turn; the last one again once they run out.
#[derive(Default)]
struct Script {
    responses: VecDeque<(StatusCode, String)>,
    last: Option<(StatusCode, String)>,
}

async fn respond(State(script): State<Arc<Mutex<Script>>>) -> impl IntoResponse {
    let mut script = script.lock().unwrap();
    let next = script.responses.pop_front().or_else(|| script.last.clone());
    if let Some(response) = &next {
        script.last = Some(response.clone());
    }
    let (status, body) = next.unwrap_or((StatusCode::NOT_FOUND, "{}".into()));
    (status, [("content-type", "application/json")], body)
}

async fn fake_source() -> (String, Arc<Mutex<Script>>) {
    let script = Arc::new(Mutex::new(Script::default()));
    let app = Router::new()
        .route("/extract/full", get(respond))
        .route("/extract/incremental", get(respond))
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, script)
}

fn serve(script: &Mutex<Script>, responses: Vec<(StatusCode, String)>) {
    let mut script = script.lock().unwrap();
    script.responses = responses.into();
    script.last = None;
}

fn corpus() -> Value {
    let text = std::fs::read_to_string(repo_root().join("tests/corpus/hostile.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn strings(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    let column = df.column(name).unwrap().cast(&DataType::String).unwrap();
    column
        .str()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_owned))
        .collect()
}

async fn table(lake: &Lake, def: &lakehouse_tables::TableDef) -> DataFrame {
    let warehouse = Warehouse::open(lake).await.unwrap();
    warehouse
        .read_table(def)
        .await
        .unwrap()
        .unwrap()
        .collect()
        .unwrap()
}

/// The quarantine's reason for each raw line, and the order ids in silver.
async fn outcomes(lake: &Lake) -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let quarantine = table(lake, &QUARANTINE).await;
    let mut reasons: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (raw, reason) in strings(&quarantine, "raw")
        .into_iter()
        .zip(strings(&quarantine, "reason"))
    {
        reasons
            .entry(raw.unwrap_or_default())
            .or_default()
            .push(reason.unwrap_or_default());
    }
    let orders = table(lake, &ORDERS).await;
    let ids = strings(&orders, "order_id").into_iter().flatten().collect();
    (reasons, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hostile_corpus_is_quarantined_or_refused_and_nothing_stored_is_lost() {
    let corpus = corpus();
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(
        LakeLocation::parse(dir.path().to_str().unwrap(), S3Settings::default()).unwrap(),
    )
    .unwrap();
    let (url, script) = fake_source().await;
    let until = "2026-01-31T00:00:00Z";

    // Records: one page of the whole corpus, as a day-0 load.
    let records = corpus["records"].as_array().unwrap();
    assert!(records.len() >= 40, "{} records", records.len());
    let texts: Vec<&str> = records
        .iter()
        .map(|r| r["json"].as_str().unwrap())
        .collect();
    let page = format!(
        r#"{{"records": [{}], "next_cursor": null, "until": "{until}"}}"#,
        texts.join(",\n")
    );
    serve(&script, vec![(StatusCode::OK, page)]);
    let pipeline = Pipeline::new(lake.clone(), &url, true).await.unwrap();
    let day0 = pipeline.round(Mode::Full, None).await.unwrap();
    assert_eq!(day0.extract.records as usize, records.len());

    let (reasons, ids) = outcomes(&lake).await;
    let mut checked = 0;
    for record in records {
        let (json, expect) = (
            record["json"].as_str().unwrap(),
            record["expect"].as_str().unwrap(),
        );
        let what = record["what"].as_str().unwrap();
        // Bad records are single lines, landed byte for byte.
        let got = reasons.get(json).cloned().unwrap_or_default();
        if expect == "valid" {
            let id: Value = serde_json::from_str(json).unwrap();
            let id = id["order_id"].as_str().unwrap().to_owned();
            assert!(
                ids.contains(&id),
                "{what}: {id} is not in silver (quarantined as {got:?})"
            );
        } else if expect == "duplicate_record" {
            // Refused only across records: its line is rebuilt from its fields.
            let id = serde_json::from_str::<Value>(json).unwrap()["order_id"].clone();
            let rebuilt = reasons.iter().any(|(raw, reasons)| {
                reasons.iter().any(|r| r == expect)
                    && serde_json::from_str::<Value>(raw).is_ok_and(|r| r["order_id"] == id)
            });
            assert!(rebuilt, "{what}: no duplicate_record of {id}");
        } else {
            assert!(
                got.iter().any(|r| r == expect),
                "{what}: quarantined as {got:?}, not {expect}"
            );
        }
        checked += 1;
    }
    let bad = records.iter().filter(|r| r["expect"] != "valid").count();
    let quarantined: usize = reasons.values().map(Vec::len).sum();
    assert_eq!(
        quarantined, bad,
        "every bad record once, nothing else: {reasons:#?}"
    );
    assert_eq!(checked, records.len());

    // Pages: each ends the extraction with its error, lands nothing under a manifest and
    // leaves the watermark where it was.
    let mut config = extractor::Config::new(url.clone());
    config.retry = extractor::RetryPolicy {
        max_attempts: 3,
        first_backoff: Duration::from_millis(5),
        ..Default::default()
    };
    config.limits.max_pages = 20;
    config.limits.max_response_bytes = 1 << 20;
    let extract = extractor::Deps::new(lake.clone(), config, Default::default())
        .await
        .unwrap();
    let before = watermark::current(&lake).await.unwrap().unwrap();
    let since = before.watermark.high_water - chrono::Duration::minutes(15);
    let fill = |body: &str, n: usize| {
        body.replace("UNTIL", &(since + chrono::Duration::hours(1)).to_rfc3339())
            .replace(
                "EARLIER",
                &(since + chrono::Duration::minutes(30)).to_rfc3339(),
            )
            .replace("NEXT", &format!("c{n}"))
            .replace("BIG", &format!("\"{}\"", "x".repeat(2 << 20)))
    };
    let pages = corpus["pages"].as_array().unwrap();
    for page in pages {
        let what = page["what"].as_str().unwrap();
        let status = StatusCode::from_u16(page["status"].as_u64().unwrap_or(200) as u16).unwrap();
        let body = page["body"].as_str().unwrap();
        let mut responses: Vec<(StatusCode, String)> = if page["repeat"] == true {
            (0..40).map(|n| (status, fill(body, n))).collect()
        } else {
            vec![(status, fill(body, 0))]
        };
        if let Some(then) = page["then"].as_str() {
            responses.push((status, fill(then, 1)));
        }
        serve(&script, responses);
        let input = ExtractInput {
            mode: Mode::Incremental,
            run_id: None,
            lease: None,
        };
        let err = extractor::run(input, &extract).await.unwrap_err();
        let expected = page["error"].as_str().unwrap();
        assert!(
            format!("{err:?}").starts_with(expected),
            "{what}: {err:?}, not {expected}"
        );
        let now = watermark::current(&lake).await.unwrap().unwrap();
        assert_eq!(now.seq, before.seq, "{what}: the watermark moved");
        assert!(ledger::open_runs(&lake).await.unwrap().is_empty(), "{what}");
    }
    let manifests = lake
        .list(layout::RAW)
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.ends_with("_manifest.json"))
        .count();
    assert_eq!(manifests, 1, "only day 0 landed under a manifest");

    // Raw parts landed by hand, as another writer might have: their bad lines quarantined,
    // their good ones in silver.
    let parts = corpus["parts"].as_array().unwrap();
    let mut body = Vec::new();
    for part in parts {
        match (part["text"].as_str(), part["bytes_hex"].as_str()) {
            (Some(text), _) => body.extend_from_slice(text.as_bytes()),
            (None, Some(hex)) => body.extend(
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()),
            ),
            _ => panic!("a part entry without its line"),
        }
        body.push(b'\n');
    }
    let landed = land_by_hand(&lake, &body, parts.len() as u64, None).await;
    let tables = lakehouse_tables::StageDeps::new(lake.clone(), Default::default())
        .await
        .unwrap();
    let silver_deps = transformer::Deps {
        tables,
        rules: transformer::Rules::default(),
    };
    let out = transformer::run(landed.clone(), &silver_deps)
        .await
        .unwrap();
    assert_eq!(out.rows_in, parts.len() as u64);
    let quarantine = table(&lake, &QUARANTINE).await;
    let lines = strings(&quarantine, "line");
    let runs = strings(&quarantine, "run_id");
    let reasons = strings(&quarantine, "reason");
    for (i, part) in parts.iter().enumerate() {
        let what = part["what"].as_str().unwrap();
        let line = (i + 1).to_string();
        let found = (0..quarantine.height()).find(|&row| {
            runs[row].as_deref() == Some(landed.run_id.as_str())
                && lines[row].as_deref() == Some(line.as_str())
        });
        match part["expect"].as_str().unwrap() {
            "valid" => assert!(found.is_none(), "{what}: quarantined"),
            reason => assert_eq!(
                found.and_then(|row| reasons[row].clone()).as_deref(),
                Some(reason),
                "{what}"
            ),
        }
    }

    // A part that does not match its manifest's checksum fails its batch, as a lie should.
    let lie = land_by_hand(
        &lake,
        b"{\"order_id\":\"A\"}\n",
        1,
        Some(Checksum::of(b"else")),
    )
    .await;
    let refused = transformer::run(lie, &silver_deps).await.unwrap_err();
    assert_eq!(
        refused.kind(),
        lakehouse_core::ErrorKind::DataQuality,
        "{refused}"
    );
}

/// Lands `body` as the one part of a new incremental run, with its manifest (recording
/// `checksum` if given, else the body's own).
async fn land_by_hand(
    lake: &Lake,
    body: &[u8],
    records: u64,
    checksum: Option<Checksum>,
) -> ExtractOutput {
    let run_id = RunId::new(chrono::Utc::now());
    let key = layout::part_key(Mode::Incremental, &run_id, 0);
    lake.put(&key, body.to_vec().into()).await.unwrap();
    let window = Window {
        since: None,
        until: "2026-01-31T00:00:00Z".parse().unwrap(),
    };
    let manifest = Manifest {
        run_id: run_id.clone(),
        mode: Mode::Incremental,
        window: window.clone(),
        parts: vec![PartInfo {
            key,
            records,
            bytes: body.len() as u64,
            checksum: checksum.unwrap_or_else(|| Checksum::of(body)),
        }],
        records,
        created_at: chrono::Utc::now(),
    };
    let manifest_key = layout::manifest_key(Mode::Incremental, &run_id);
    lake.put_json(&manifest_key, &manifest).await.unwrap();
    ExtractOutput {
        run_id,
        mode: Mode::Incremental,
        manifest_key,
        records,
        parts: 1,
        window,
        extracted: true,
        // One owner for the hand-landed runs: a transform keeps the lease for its gold stage.
        lease: Some(LeaseHolder {
            owner: "corpus".into(),
        }),
        pending: Vec::new(),
    }
}
