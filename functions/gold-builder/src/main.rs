//! Lambda adapter of the gold stage.

use lakehouse_core::{Lake, lease::LeaseConfig};
use lambda_runtime::{Error, run, service_fn, tracing};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Error> {
    lakehouse_tables::allocator::tuned_runtime()?.block_on(serve())
}

async fn serve() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let lease = LeaseConfig::from_env_or(LeaseConfig::default())?;
    let deps = gold_builder::Deps::new(Lake::from_env()?, lease).await?;
    run(service_fn(|event| gold_builder::handler(event, &deps))).await
}
