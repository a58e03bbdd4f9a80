//! `lakehouse`: the local runner. Runs the same stage libraries the Lambdas run, in-process,
//! on a local directory (the default, `./lake`) or an S3 bucket.

use anyhow::{Context, Result, bail};
use chrono::Duration;
use clap::{Args, Parser, Subcommand, ValueEnum};
use lakehouse_cli::{
    bench, catalog, inspect, maintain, pipeline, soak,
    source::{self, SourceArgs},
};
use lakehouse_core::{
    Lake,
    config::{
        CatalogSettings, DEFAULT_LAKE, ENV_API_URL, ENV_CATALOG_SIGV4, ENV_CATALOG_URI,
        ENV_CATALOG_WAREHOUSE, ENV_LAKE, S3Settings,
    },
    contracts::Mode,
    runid::RunId,
    store::LakeLocation,
    watermark,
};
use lakehouse_tables::Warehouse;

// polars allocates and frees many small strings; mimalloc is markedly faster at that than the
// system allocator and gives memory back sooner.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "lakehouse",
    version,
    about = "Run the e-commerce lakehouse pipeline locally: source API -> raw -> silver -> gold Iceberg tables"
)]
struct Cli {
    /// The lake: a directory, or s3://bucket/prefix (endpoint and credentials from the AWS environment).
    #[arg(long, global = true, env = ENV_LAKE, default_value = DEFAULT_LAKE)]
    lake: String,
    /// Log filter for diagnostics on stderr (e.g. info, debug, transformer=debug).
    #[arg(long, global = true, env = "LAKEHOUSE_LOG", default_value = "warn")]
    log: String,
    #[command(flatten)]
    catalog: CatalogArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where the Iceberg tables are registered: the file catalog under the lake's `warehouse/`
/// unless a REST catalog's URL is given.
#[derive(Args)]
struct CatalogArgs {
    /// Iceberg REST catalog base URL (S3 Tables, Glue, SeaweedFS, ...) [default: the file catalog in the lake].
    #[arg(long, global = true, env = ENV_CATALOG_URI)]
    catalog_uri: Option<String>,
    /// The REST catalog's warehouse: a table bucket s3://name, an S3 Tables bucket ARN, a Glue catalog id.
    #[arg(long, global = true, env = ENV_CATALOG_WAREHOUSE)]
    catalog_warehouse: Option<String>,
    /// SigV4 service name for the REST catalog's requests (s3tables, glue), or none.
    #[arg(long, global = true, env = ENV_CATALOG_SIGV4)]
    catalog_sigv4: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline: a day-0 full load then incremental rounds on a new lake, incremental rounds on an existing one.
    Run(RunArgs),
    /// Serve the synthetic source API on a local port.
    Api(ApiArgs),
    /// List the lake's Iceberg tables: rows, files, snapshots, last run.
    Tables,
    /// Run a SQL query (polars SQL) over the tables, named without namespace, e.g. fact_sales.
    Sql {
        query: String,
        /// Rows to print.
        #[arg(long, default_value_t = 25)]
        rows: usize,
    },
    /// Print a run report (the latest by default).
    Report { run_id: Option<String> },
    /// Measure each stage's throughput and memory on a fresh lake.
    Bench(bench::BenchArgs),
    /// Run many incremental rounds on one lake, printing each few rounds' time and the lake's size.
    Soak(soak::SoakArgs),
    /// Compact small files, expire old snapshots, delete files nothing reaches.
    Maintain(maintain::MaintainArgs),
    /// The tables' catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Move the lake's tables from its file catalog into the REST catalog the --catalog-* flags name (safe to re-run).
    Migrate,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Full,
    Incremental,
}

#[derive(Args)]
struct RunArgs {
    /// Only this kind of load; without it a new lake gets full + incremental rounds.
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Incremental rounds [default: 2 after a full load, 1 otherwise].
    #[arg(long)]
    rounds: Option<u32>,
    /// Simulated hours between rounds [default: 1% of the history, so each round brings ~1% new orders].
    #[arg(long)]
    round_hours: Option<f64>,
    /// Finish (or re-run) an earlier run by its id: nothing is fetched again, committed tables are left alone.
    #[arg(long)]
    resume: Option<String>,
    /// Extract from this source API instead of the in-process one.
    #[arg(long, env = ENV_API_URL)]
    api_url: Option<String>,
    /// Print only the reports, no progress.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    source: SourceArgs,
}

#[derive(Args)]
struct ApiArgs {
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The source's "now" (RFC 3339) [default: the end of its history].
    #[arg(long)]
    now: Option<String>,
    #[command(flatten)]
    source: SourceArgs,
}

fn open_lake(location: &str, catalog: &CatalogArgs, create: bool) -> Result<Lake> {
    let is_dir = !location.contains("://");
    if is_dir && !create && !std::path::Path::new(location).is_dir() {
        bail!(
            "no lake at {location:?}: run `lakehouse run --lake {location}` to create one, or pass --lake"
        );
    }
    let location = LakeLocation::parse(location, S3Settings::from_env()?)?;
    Ok(Lake::open(location)?.with_catalog(catalog_settings(catalog)?))
}

fn catalog_settings(catalog: &CatalogArgs) -> Result<CatalogSettings> {
    Ok(CatalogSettings::from_parts(
        catalog.catalog_uri.clone(),
        catalog.catalog_warehouse.clone(),
        catalog.catalog_sigv4.clone(),
        S3Settings::from_env()?,
    )?)
}

async fn run(lake: Lake, args: RunArgs) -> Result<()> {
    let config = source::settings(&lake, args.source.config(), args.source.given()).await?;
    let local = match &args.api_url {
        Some(_) => None,
        None => Some(source::LocalSource::start(config.clone(), config.day0_end()).await?),
    };
    let url = match (&args.api_url, &local) {
        (Some(url), _) => url.clone(),
        (None, Some(local)) => local.url.clone(),
        (None, None) => bail!("no source API"),
    };
    let pipeline = pipeline::Pipeline::new(lake.clone(), &url, args.quiet).await?;

    if let Some(resume) = &args.resume {
        let run_id = RunId::parse(resume)?;
        let mode = pipeline::mode_of(&lake, &run_id).await?;
        let round = pipeline.round(mode, Some(run_id)).await?;
        print_round(&round);
        return Ok(());
    }

    let has_watermark = watermark::current(&lake).await?.is_some();
    let modes: Vec<Mode> = match (args.mode, has_watermark) {
        (Some(ModeArg::Full), _) => vec![Mode::Full],
        (Some(ModeArg::Incremental), false) => {
            bail!(
                "this lake has no watermark yet: run a full load first (`lakehouse run --mode full`)"
            )
        }
        (Some(ModeArg::Incremental), true) | (None, true) => {
            vec![Mode::Incremental; args.rounds.unwrap_or(1) as usize]
        }
        (None, false) => std::iter::once(Mode::Full)
            .chain(std::iter::repeat_n(
                Mode::Incremental,
                args.rounds.unwrap_or(2) as usize,
            ))
            .collect(),
    };
    let round_hours = args
        .round_hours
        .unwrap_or(f64::from(config.history_days) * 24.0 / 100.0);
    if round_hours.is_nan() || round_hours <= 0.0 {
        bail!("--round-hours must be positive");
    }
    let step = Duration::seconds((round_hours * 3600.0) as i64);
    for mode in modes {
        // The simulated clock moves on from the watermark another run may be about to move:
        // only with the lake's lease in hand is it the one this round extracts from.
        let held = pipeline.hold_lake().await?;
        if let Some(local) = &local {
            local.advance_for(&lake, mode, step).await?;
        }
        let round = pipeline.round(mode, None).await;
        held.finish(true).await?;
        print_round(&round?);
    }
    Ok(())
}

/// The reports of a round: the earlier runs it finished first, then its own.
fn print_round(round: &pipeline::Round) {
    for earlier in &round.finished {
        println!(
            "finished run {}, which had landed and not finished",
            earlier.run_id
        );
        inspect::print_report(earlier);
    }
    inspect::print_report(&round.report);
}

async fn serve_api(args: ApiArgs) -> Result<()> {
    let config = args.source.config();
    let store = mock_api::SyntheticStore::new(config.clone())?;
    let now = match &args.now {
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .with_context(|| format!("--now {t:?} is not an RFC 3339 timestamp"))?
            .to_utc(),
        None => config.day0_end(),
    };
    let state = std::sync::Arc::new(mock_api::SourceState {
        store,
        clock: mock_api::Clock::fixed(now),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    eprintln!(
        "source API on http://{} (docs at /docs, now = {now})",
        listener.local_addr()?
    );
    axum::serve(listener, mock_api::router(state)).await?;
    Ok(())
}

fn main() -> Result<()> {
    lakehouse_runtime::allocator::tuned_runtime()?.block_on(cli_main())
}

async fn cli_main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log)
                .context("--log is not a valid filter")?,
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Run(args) => run(open_lake(&cli.lake, &cli.catalog, true)?, args).await,
        Command::Api(args) => serve_api(args).await,
        Command::Tables => {
            let lake = open_lake(&cli.lake, &cli.catalog, false)?;
            inspect::tables(&Warehouse::open(&lake).await?).await
        }
        Command::Sql { query, rows } => {
            let lake = open_lake(&cli.lake, &cli.catalog, false)?;
            let df = inspect::sql(&Warehouse::open(&lake).await?, &query).await?;
            let shown = df.head(Some(rows));
            println!("{shown}");
            if df.height() > rows {
                println!("({} rows, {rows} shown; use --rows)", df.height());
            }
            Ok(())
        }
        Command::Report { run_id } => {
            let lake = open_lake(&cli.lake, &cli.catalog, false)?;
            inspect::report(&lake, run_id.map(|r| RunId::parse(&r)).transpose()?).await
        }
        Command::Bench(args) => bench::run(args).await,
        Command::Soak(args) => soak::run(args, catalog_settings(&cli.catalog)?).await,
        Command::Catalog(CatalogCommand::Migrate) => {
            let lake = open_lake(&cli.lake, &cli.catalog, false)?;
            catalog::print(&catalog::migrate(&lake, &pipeline::cli_lease()?).await?);
            Ok(())
        }
        Command::Maintain(args) => {
            let lake = open_lake(&cli.lake, &cli.catalog, false)?;
            maintain::run(&lake, &args).await
        }
    }
}
