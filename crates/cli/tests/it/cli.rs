//! The `lakehouse` binary as a user runs it.

use std::process::{Command, Output};

fn lakehouse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lakehouse"))
        .args(args)
        .env_remove("LAKEHOUSE_LAKE")
        .env_remove("LAKEHOUSE_API_URL")
        .env_remove("LAKEHOUSE_CATALOG_URI")
        .env_remove("LAKEHOUSE_CATALOG_WAREHOUSE")
        .env_remove("LAKEHOUSE_CATALOG_SIGV4")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn run_then_inspect_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake = lake.to_str().unwrap();

    let out = lakehouse(&[
        "run", "--lake", lake, "--orders", "3000", "--rounds", "1", "--quiet",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let report = text(&out);
    for stage in ["extract", "transform", "gold"] {
        assert!(report.contains(stage), "{report}");
    }
    assert!(report.contains("fact_sales"), "{report}");

    let out = lakehouse(&["tables", "--lake", lake]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("lakehouse_db.orders_transformed"),
        "{}",
        text(&out)
    );

    let out = lakehouse(&[
        "sql",
        "--lake",
        lake,
        "select count(*) as n, count(distinct order_id) as d from fact_sales",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // Count and distinct count agree: no duplicate orders in the fact table.
    let printed = text(&out);
    let numbers: Vec<u64> = printed
        .lines()
        .filter(|l| l.starts_with('│'))
        .flat_map(|l| {
            l.split(['│', '┆'])
                .filter_map(|c| c.trim().parse().ok())
                .collect::<Vec<u64>>()
        })
        .collect();
    assert_eq!(numbers.len(), 2, "{printed}");
    assert!(numbers[0] > 2_900 && numbers[0] == numbers[1], "{printed}");

    let out = lakehouse(&["report", "--lake", lake]);
    assert!(out.status.success(), "{}", text(&out));

    // SQL sees the lake's tables and nothing else: a file outside them is refused, however the
    // query spells the function that would read it.
    let outside = dir.path().join("outside.json");
    std::fs::write(&outside, "{\"secret\": 1}\n").unwrap();
    for query in [
        format!("select * from read_json('{}')", outside.display()),
        format!("SELECT * FROM Read_Json /* x */ ('{}')", outside.display()),
    ] {
        let out = lakehouse(&["sql", "--lake", lake, &query]);
        assert!(!out.status.success(), "{query}: {}", text(&out));
        assert!(
            text(&out).contains("reads only the lake's tables"),
            "{}",
            text(&out)
        );
        assert!(!text(&out).contains("secret"), "{}", text(&out));
    }

    // A lake keeps its source: different settings are refused, not silently mixed in.
    let out = lakehouse(&["run", "--lake", lake, "--orders", "5000", "--quiet"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("different settings"), "{}", text(&out));
}

#[test]
fn helpful_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = lakehouse(&["tables", "--lake", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no lake at"), "{}", text(&out));

    let fresh = dir.path().join("fresh");
    let out = lakehouse(&[
        "run",
        "--lake",
        fresh.to_str().unwrap(),
        "--mode",
        "incremental",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("run a full load first"),
        "{}",
        text(&out)
    );

    let out = lakehouse(&["tables", "--lake", fresh.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no tables yet"), "{}", text(&out));
    assert!(text(&out).contains("file catalog at"), "{}", text(&out));

    let out = lakehouse(&["catalog", "migrate", "--lake", fresh.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--catalog-uri"), "{}", text(&out));
    let lake = fresh.to_str().unwrap();
    let out = lakehouse(&["tables", "--lake", lake, "--catalog-warehouse", "s3://t"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("without LAKEHOUSE_CATALOG_URI"),
        "{}",
        text(&out)
    );

    let out = lakehouse(&["run", "--lake", "gs://bucket/x"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("s3://bucket/prefix"), "{}", text(&out));

    let out = lakehouse(&[
        "run",
        "--resume",
        "not-a-run",
        "--lake",
        fresh.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("is not of the form"), "{}", text(&out));

    let out = lakehouse(&["run", "--bogus"]);
    assert!(!out.status.success());
}
