//! Looking at the lake: tables, SQL over them, run reports.

use anyhow::{Context, Result, bail};
use comfy_table::{Table as Grid, presets::UTF8_FULL_CONDENSED};
use lakehouse_core::{Lake, layout, report::RunReport, runid::RunId};
use lakehouse_tables::{
    Warehouse,
    live::{RUN_ID_KEY, live_files, snapshot_stamp},
    schemas::ALL,
};
use polars::{prelude::*, sql::SQLContext};

pub fn grid(header: &[&str]) -> Grid {
    let mut g = Grid::new();
    g.load_preset(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    g
}

pub fn print_report(report: &RunReport) {
    let mut stages = grid(&["stage", "rows in", "rows out", "seconds"]);
    for s in &report.stages {
        stages.add_row(vec![
            s.stage.clone(),
            s.rows_in.to_string(),
            s.rows_out.to_string(),
            format!("{:.2}", s.seconds),
        ]);
    }
    println!("run {}\n{stages}", report.run_id);
    let quarantined: Vec<_> = report
        .stages
        .iter()
        .flat_map(|s| s.quarantined_by_reason.iter())
        .collect();
    if !quarantined.is_empty() {
        let mut q = grid(&["quarantined: reason", "records"]);
        for (reason, n) in quarantined {
            q.add_row(vec![reason.clone(), n.to_string()]);
        }
        println!("{q}");
    }
    let mut tables = grid(&["table", "rows written", "files +", "files -", "snapshot"]);
    for t in report.stages.iter().flat_map(|s| s.tables.iter()) {
        let snapshot = match (t.snapshot_id, t.already_committed) {
            (Some(id), true) => format!("{id} (already committed)"),
            (Some(id), false) => id.to_string(),
            (None, _) => "unchanged".into(),
        };
        tables.add_row(vec![
            t.table.clone(),
            t.rows_written.to_string(),
            t.files_added.to_string(),
            t.files_removed.to_string(),
            snapshot,
        ]);
    }
    println!("{tables}");
}

pub async fn report(lake: &Lake, run_id: Option<RunId>) -> Result<()> {
    let run_id = match run_id {
        Some(id) => id,
        None => {
            let keys = lake.list(layout::RUNS).await?;
            let latest = keys
                .iter()
                .filter(|k| k.ends_with("/report.json"))
                .filter_map(|k| k.split('/').nth(1))
                .filter_map(|id| RunId::parse(id).ok())
                .max();
            latest.context("this lake has no run reports yet: run `lakehouse run` first")?
        }
    };
    let report: RunReport = lake
        .get_json(&layout::report_key(&run_id))
        .await?
        .with_context(|| format!("no report for run {run_id} in this lake"))?;
    print_report(&report);
    Ok(())
}

pub async fn tables(warehouse: &Warehouse) -> Result<()> {
    let mut g = grid(&["table", "rows", "files", "bytes", "snapshots", "last run"]);
    let mut any = false;
    for def in ALL {
        let Some(table) = warehouse.load(def.name).await? else {
            g.add_row(vec![
                def.name.to_string(),
                "-".into(),
                "-".into(),
                "-".into(),
                "0".into(),
                "(not created)".into(),
            ]);
            continue;
        };
        any = true;
        let files = live_files(&table, None).await?;
        let metadata = table.metadata();
        let last_run = snapshot_stamp(&table, RUN_ID_KEY)?.unwrap_or_else(|| "-".into());
        g.add_row(vec![
            format!("{}.{}", layout::NAMESPACE, def.name),
            files.iter().map(|f| f.records).sum::<i64>().to_string(),
            files.len().to_string(),
            files.iter().map(|f| f.bytes).sum::<i64>().to_string(),
            metadata.snapshots.len().to_string(),
            last_run,
        ]);
    }
    if !any {
        bail!(
            "the lake's {} has no tables yet: run `lakehouse run` first",
            warehouse.describe()
        );
    }
    println!("{}\n{g}", warehouse.describe());
    Ok(())
}

/// Runs a polars SQL query over every table of the lake (by its bare name, e.g. `fact_sales`).
pub async fn sql(warehouse: &Warehouse, query: &str) -> Result<DataFrame> {
    let mut ctx = SQLContext::new();
    let mut registered = 0;
    for def in ALL {
        if let Some(frame) = warehouse.read_table(def).await? {
            ctx.register(def.name, frame);
            registered += 1;
        }
    }
    if registered == 0 {
        bail!(
            "the lake's {} has no tables yet: run `lakehouse run` first",
            warehouse.describe()
        );
    }
    let names: Vec<&str> = ALL.iter().map(|d| d.name).collect();
    if let Some(function) = file_function(query) {
        bail!(
            "`lakehouse sql` reads only the lake's tables ({}); {function}(...) would read a file \
             outside them and is refused",
            names.join(", ")
        );
    }
    let plan = anyhow::Context::with_context(ctx.execute(query), || {
        format!("query failed; the tables are {}", names.join(", "))
    })?;
    // The check above reads the query's text; this one what polars made of it: the registered
    // tables are frames in memory, so any scan of a file came from somewhere else.
    if plan.describe_plan()?.contains("SCAN") {
        bail!(
            "`lakehouse sql` reads only the lake's tables ({}); this query reads a file",
            names.join(", ")
        );
    }
    anyhow::Context::with_context(plan.collect(), || {
        format!("query failed; the tables are {}", names.join(", "))
    })
}

/// The first file-reading table function (`read_csv(`, `read_parquet(`, ...) the query calls,
/// outside its string literals and comments.
fn file_function(query: &str) -> Option<String> {
    let mut code = String::with_capacity(query.len());
    let mut chars = query.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                for inner in chars.by_ref() {
                    if inner == c {
                        break;
                    }
                }
                code.push(' ');
            }
            '-' if chars.peek() == Some(&'-') => {
                for inner in chars.by_ref() {
                    if inner == '\n' {
                        break;
                    }
                }
                code.push(' ');
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut last = ' ';
                for inner in chars.by_ref() {
                    if last == '*' && inner == '/' {
                        break;
                    }
                    last = inner;
                }
                code.push(' ');
            }
            c => code.push(c.to_ascii_lowercase()),
        }
    }
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '('))
        .collect();
    let called = |word: &str, next: Option<&&str>| {
        word.ends_with('(') || next.is_some_and(|n| n.starts_with('('))
    };
    words.iter().enumerate().find_map(|(i, word)| {
        let name = word.split('(').next().unwrap_or_default();
        (name.starts_with("read_") && called(word, words[i + 1..].iter().find(|w| !w.is_empty())))
            .then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::file_function;

    #[test]
    fn file_reading_functions_are_found_outside_strings_and_comments() {
        for query in [
            "select * from read_json('/etc/x.ndjson')",
            "SELECT * FROM READ_PARQUET ('f.parquet')",
            "select * from read_csv/* hidden */('f.csv')",
            "select * from fact_sales union all select * from\nread_ipc(\n'f')",
        ] {
            assert!(file_function(query).is_some(), "{query}");
        }
        for query in [
            "select count(*) from fact_sales",
            "select 'read_json(x)' as s from fact_sales",
            "select read_count from t -- read_json(\n",
        ] {
            assert_eq!(file_function(query), None, "{query}");
        }
    }
}
