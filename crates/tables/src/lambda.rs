//! The Lambda entry point of a stage that works on the tables (transformer, gold builder,
//! maintainer): one definition instead of a copy in each `main.rs`.

/// Defines `main` for the stage crate `$stage`: the tuned runtime, tracing, `$stage::Deps` built
/// once per cold start from the lake and the lease the environment names, then the runtime loop
/// over `$stage::handler`. The crate must depend on `lambda_runtime`.
#[macro_export]
macro_rules! stage_main {
    ($stage:ident) => {
        fn main() -> Result<(), ::lambda_runtime::Error> {
            $crate::allocator::tuned_runtime()?.block_on(async {
                ::lambda_runtime::tracing::init_default_subscriber();
                let lease = ::lakehouse_core::lease::LeaseConfig::from_env_or(
                    ::lakehouse_core::lease::LeaseConfig::default(),
                )?;
                let deps = $stage::Deps::new(::lakehouse_core::Lake::from_env()?, lease).await?;
                ::lambda_runtime::run(::lambda_runtime::service_fn(|event| {
                    $stage::handler(event, &deps)
                }))
                .await
            })
        }
    };
}
