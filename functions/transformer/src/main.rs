//! Lambda adapter of the transform stage.

use lakehouse_core::{Lake, lease::LeaseConfig};
use lambda_runtime::{Error, run, service_fn, tracing};

// polars allocates and frees many small strings; mimalloc is faster at that than the system
// allocator and gives memory back sooner, which matters inside a fixed Lambda memory size.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Error> {
    lakehouse_tables::allocator::tuned_runtime()?.block_on(serve())
}

async fn serve() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let lease = LeaseConfig::from_env_or(LeaseConfig::default())?;
    let deps = transformer::Deps::new(Lake::from_env()?, lease).await?;
    run(service_fn(|event| transformer::handler(event, &deps))).await
}
