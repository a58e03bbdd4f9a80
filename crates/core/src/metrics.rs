//! A run's figures as CloudWatch metrics, through the Embedded Metric Format: one JSON line per
//! stage run on stdout, which CloudWatch Logs turns into metrics without an API call (and
//! without a failure path of its own). Namespace `Lakehouse`, dimension `Stage`; the names are
//! listed in docs/operations.md, and the template's alarms watch them.
//!
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::{
    ErrorKind,
    contracts::{ExtractOutput, GoldOutput, TableCommit, TransformOutput},
};

pub const NAMESPACE: &str = "Lakehouse";

/// The CloudWatch units the figures use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    Bytes,
    Percent,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::Bytes => "Bytes",
            Unit::Percent => "Percent",
        }
    }
}

/// One stage run's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub stage: &'static str,
    pub run_id: String,
    pub values: Vec<(String, f64, Unit)>,
}

impl Figures {
    pub fn new(stage: &'static str, run_id: impl ToString) -> Self {
        Figures {
            stage,
            run_id: run_id.to_string(),
            values: Vec::new(),
        }
    }

    pub fn with(mut self, name: impl Into<String>, value: f64, unit: Unit) -> Self {
        self.values.push((name.into(), value, unit));
        self
    }

    pub fn count(self, name: impl Into<String>, value: u64) -> Self {
        self.with(name, value as f64, Unit::Count)
    }

    /// The figures as one EMF line.
    pub fn to_emf(&self, at: DateTime<Utc>) -> Value {
        let metrics: Vec<(&str, f64, Unit)> = self
            .values
            .iter()
            .map(|(name, value, unit)| (name.as_str(), *value, *unit))
            .collect();
        emf(
            NAMESPACE,
            &[("Stage", self.stage)],
            &metrics,
            &[("RunId", self.run_id.as_str())],
            at,
        )
    }

    /// Prints the EMF line on stdout, where the Lambda runtime sends it to CloudWatch Logs.
    pub fn emit(&self) {
        println!("{}", self.to_emf(Utc::now()));
    }
}

/// An EMF line: one metric directive of `namespace` with the one dimension set `dimensions`,
/// the `metrics` as its members, and `properties` as members no metric is made of.
pub fn emf(
    namespace: &str,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, f64, Unit)],
    properties: &[(&str, &str)],
    at: DateTime<Utc>,
) -> Value {
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": metrics
                    .iter()
                    .map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    for (key, value) in dimensions.iter().chain(properties) {
        line.insert((*key).into(), json!(value));
    }
    for (name, value, _) in metrics {
        line.insert((*name).into(), json!(value));
    }
    Value::Object(line)
}

/// What a stage's output says in figures.
pub trait Figured {
    fn figures(&self, stage: &'static str) -> Figures;
}

impl Figured for ExtractOutput {
    fn figures(&self, stage: &'static str) -> Figures {
        // A resumed run lands nothing new: its records were counted when they landed.
        let landed = if self.extracted { self.records } else { 0 };
        Figures::new(stage, &self.run_id)
            .count("RecordsLanded", landed)
            .count(
                "PartsLanded",
                if self.extracted { self.parts as u64 } else { 0 },
            )
            .count("PendingRuns", self.pending.len() as u64)
    }
}

impl Figured for TransformOutput {
    fn figures(&self, stage: &'static str) -> Figures {
        if self.replayed {
            return Figures::new(stage, &self.run_id).count("Replayed", 1);
        }
        let share = if self.rows_in == 0 {
            0.0
        } else {
            100.0 * self.quarantined as f64 / self.rows_in as f64
        };
        let mut figures = Figures::new(stage, &self.run_id)
            .count("RecordsIn", self.rows_in)
            .count("RecordsValid", self.rows_valid)
            .count("Quarantined", self.quarantined)
            .with("QuarantineShare", share, Unit::Percent);
        for (reason, n) in &self.quarantined_by_reason {
            figures = figures.count(format!("Quarantined_{reason}"), *n);
        }
        with_commits(figures.count("Replayed", 0), &self.tables)
    }
}

impl Figured for GoldOutput {
    fn figures(&self, stage: &'static str) -> Figures {
        let figures = Figures::new(stage, &self.run_id).count("Replayed", u64::from(self.replayed));
        if self.replayed {
            return figures;
        }
        with_commits(figures, &self.tables)
    }
}

/// Rows and files the run's table commits wrote, and the attempts they took.
pub fn with_commits(figures: Figures, tables: &[TableCommit]) -> Figures {
    let sum = |f: fn(&TableCommit) -> u64| tables.iter().map(f).sum::<u64>();
    figures
        .count("RowsWritten", sum(|t| t.rows_written))
        .count("FilesWritten", sum(|t| t.files_added))
        .count("CommitAttempts", sum(|t| u64::from(t.attempts)))
}

/// A stage error with its stable `errorType`.
pub trait StageFailure: std::error::Error {
    fn kind(&self) -> ErrorKind;
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{contracts::Mode, runid::RunId};

    /// The specification's own example (its optional StorageResolution left out), made by the
    /// serializer.
    #[test]
    fn the_specifications_example_comes_out_as_written() {
        let at = DateTime::from_timestamp_millis(1_574_109_732_004).unwrap();
        let line = emf(
            "lambda-function-metrics",
            &[("functionVersion", "$LATEST")],
            &[("time", 100.0, Unit::Count)],
            &[("requestId", "989ffbf8-9ace-4817-a57c-e4dd734019ee")],
            at,
        );
        let spec: Value = serde_json::from_str(
            r#"{
              "_aws": {
                "Timestamp": 1574109732004,
                "CloudWatchMetrics": [{
                  "Namespace": "lambda-function-metrics",
                  "Dimensions": [["functionVersion"]],
                  "Metrics": [{"Name": "time", "Unit": "Count"}]
                }]
              },
              "functionVersion": "$LATEST",
              "time": 100.0,
              "requestId": "989ffbf8-9ace-4817-a57c-e4dd734019ee"
            }"#,
        )
        .unwrap();
        assert_eq!(line, spec);
    }

    /// What the specification requires of every line: each metric and dimension a member of
    /// the root, metrics numbers, dimensions strings, at most 100 metrics, names unique.
    fn check_valid(line: &Value) {
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert!(line["_aws"]["Timestamp"].is_i64());
        let metrics = directive["Metrics"].as_array().unwrap();
        assert!(!metrics.is_empty() && metrics.len() <= 100);
        let mut names = std::collections::BTreeSet::new();
        for metric in metrics {
            let name = metric["Name"].as_str().unwrap();
            assert!(names.insert(name), "{name} twice");
            assert!(line[name].is_number(), "{name}: {line}");
            assert!(
                ["Count", "Seconds", "Bytes", "Percent"]
                    .contains(&metric["Unit"].as_str().unwrap())
            );
        }
        for set in directive["Dimensions"].as_array().unwrap() {
            for key in set.as_array().unwrap() {
                assert!(line[key.as_str().unwrap()].is_string(), "{key}: {line}");
            }
        }
    }

    /// A transform's output with these counts and commits.
    fn transformed(
        rows_in: u64,
        quarantined_by_reason: BTreeMap<String, u64>,
        tables: Vec<TableCommit>,
    ) -> TransformOutput {
        let quarantined = quarantined_by_reason.values().sum();
        TransformOutput {
            run_id: RunId::new(Utc::now()),
            mode: Mode::Incremental,
            rows_in,
            rows_valid: rows_in - quarantined,
            quarantined,
            quarantined_by_reason,
            touched_dates: Vec::new(),
            tables,
            lease: None,
            replayed: false,
        }
    }

    #[test]
    fn a_transform_reports_its_quarantine_share_and_each_reason() {
        let output = transformed(
            200,
            BTreeMap::from([("malformed_record".into(), 4), ("invalid_amount".into(), 6)]),
            vec![
                TableCommit {
                    rows_written: 190,
                    files_added: 3,
                    attempts: 2,
                    ..TableCommit::nothing("orders_transformed")
                },
                TableCommit {
                    rows_written: 10,
                    files_added: 1,
                    attempts: 1,
                    ..TableCommit::nothing("orders_quarantine")
                },
            ],
        );
        let line = output.figures("transformer").to_emf(Utc::now());
        check_valid(&line);
        assert_eq!(line["Stage"], "transformer");
        assert_eq!(line["QuarantineShare"], 5.0);
        assert_eq!(line["Quarantined_malformed_record"], 4.0);
        assert_eq!(line["Quarantined_invalid_amount"], 6.0);
        assert_eq!(line["RowsWritten"], 200.0);
        assert_eq!(line["CommitAttempts"], 3.0);
        assert_eq!(line["RunId"], output.run_id.to_string());
    }

    #[test]
    fn an_empty_batch_has_no_quarantine_share_and_a_resumed_extraction_lands_nothing() {
        let output = transformed(0, BTreeMap::new(), Vec::new());
        let line = output.figures("transformer").to_emf(Utc::now());
        check_valid(&line);
        assert_eq!(line["QuarantineShare"], 0.0);

        let resumed = ExtractOutput {
            run_id: output.run_id.clone(),
            mode: Mode::Incremental,
            manifest_key: "raw/increment/manifest.json".into(),
            records: 500,
            parts: 2,
            window: crate::contracts::Window {
                since: None,
                until: Utc::now(),
            },
            extracted: false,
            lease: None,
            pending: Vec::new(),
        };
        let line = resumed.figures("extractor").to_emf(Utc::now());
        check_valid(&line);
        assert_eq!(
            (&line["RecordsLanded"], &line["PartsLanded"]),
            (&0.0.into(), &0.0.into())
        );
        let fresh = ExtractOutput {
            extracted: true,
            ..resumed
        };
        let line = fresh.figures("extractor").to_emf(Utc::now());
        assert_eq!(
            (&line["RecordsLanded"], &line["PartsLanded"]),
            (&500.0.into(), &2.0.into())
        );
    }

    /// A step the ledger had done, returned again (a retried invocation, a stranded run
    /// finished): its figures were counted the first time, and counting them again would move
    /// the alarms.
    #[test]
    fn a_replayed_step_reports_that_it_was_replayed_and_counts_nothing_again() {
        let commit = TableCommit {
            rows_written: 190,
            files_added: 3,
            attempts: 1,
            ..TableCommit::nothing("orders_transformed")
        };
        let made = transformed(
            200,
            BTreeMap::from([("invalid_amount".into(), 10)]),
            vec![commit],
        );
        let line = made.figures("transformer").to_emf(Utc::now());
        assert_eq!(
            (&line["RecordsIn"], &line["Replayed"]),
            (&200.0.into(), &0.0.into())
        );
        let again = TransformOutput {
            replayed: true,
            ..made.clone()
        };
        let line = again.figures("transformer").to_emf(Utc::now());
        check_valid(&line);
        assert_eq!(line["Replayed"], 1.0);
        for counted in ["RecordsIn", "Quarantined", "QuarantineShare", "RowsWritten"] {
            assert!(
                line.get(counted).is_none(),
                "{counted} counted again: {line}"
            );
        }
        let gold = GoldOutput {
            run_id: made.run_id.clone(),
            tables: made.tables.clone(),
            report_key: "runs/x/report.json".into(),
            replayed: true,
        };
        let line = gold.figures("gold-builder").to_emf(Utc::now());
        assert_eq!(line["Replayed"], 1.0);
        assert!(line.get("RowsWritten").is_none(), "{line}");
    }
}
