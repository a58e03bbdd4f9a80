//! lakehouse-runtime: how a stage runs as a Lambda function, the same way for every stage.
//!
//! A stage crate says what it is ([`Stage`]: its input, output, error and what it builds once
//! per cold start) and its `main.rs` is one line, [`lambda_main!`]. This crate supplies the
//! rest: mimalloc with its tuned options ([`allocator`]), the tokio runtime, tracing, the
//! lake and lease from the environment, and for each invocation the run's figures as
//! CloudWatch metrics or its error under its stable `errorType` ([`invoke`]).
//!
//! The CLI runs the same stages in-process without this crate's Lambda loop; it shares only
//! the allocator settings and the runtime.

pub mod allocator;

use std::time::Instant;

use lakehouse_core::{
    ErrorKind, Lake,
    lease::LeaseConfig,
    metrics::{Figured, StageFailure, Unit},
};
use serde::{Serialize, de::DeserializeOwned};

pub use lambda_runtime::{Context, Diagnostic, Error, LambdaEvent};
#[doc(hidden)]
pub use mimalloc::MiMalloc;

/// A pipeline stage as its Lambda function runs it.
pub trait Stage {
    /// The function's name in logs and metrics.
    const NAME: &'static str;
    /// What every invocation of a warm function shares, built once per cold start.
    type Deps;
    type Input: DeserializeOwned;
    type Output: Serialize + Figured;
    type Error: StageFailure;

    /// Builds [`Stage::Deps`] for the lake and lease the environment names, reading whatever
    /// else the stage configures from the environment.
    fn deps(lake: Lake, lease: LeaseConfig) -> impl Future<Output = Result<Self::Deps, Error>>;

    /// One invocation.
    fn run(
        input: Self::Input,
        deps: &Self::Deps,
    ) -> impl Future<Output = Result<Self::Output, Self::Error>>;
}

/// One invocation of `S`: its figures (and its wall time) as one EMF line when it succeeds, its
/// error under its `errorType` when it fails, for the state machine's Retry and Catch.
pub async fn invoke<S: Stage>(
    event: LambdaEvent<S::Input>,
    deps: &S::Deps,
) -> Result<S::Output, Diagnostic> {
    let started = Instant::now();
    match S::run(event.payload, deps).await {
        Ok(output) => {
            output
                .figures(S::NAME)
                .with("Seconds", started.elapsed().as_secs_f64(), Unit::Seconds)
                .emit();
            Ok(output)
        }
        Err(e) => Err(diagnostic(e.kind(), &e)),
    }
}

/// The Lambda error report of a failed stage: `errorType` is the stable kind name.
pub fn diagnostic(kind: ErrorKind, error: &dyn std::error::Error) -> Diagnostic {
    tracing::error!(error_type = kind.as_str(), error = %error, "stage failed");
    Diagnostic {
        error_type: kind.as_str().to_owned(),
        error_message: error.to_string(),
    }
}

/// The function's whole life: the tuned runtime, tracing, [`Stage::deps`] once, then the
/// Lambda runtime's loop over [`invoke`].
pub fn serve<S: Stage>() -> Result<(), Error> {
    allocator::tuned_runtime()?.block_on(async {
        lambda_runtime::tracing::init_default_subscriber();
        let lease = LeaseConfig::from_env_or(LeaseConfig::default())?;
        let deps = S::deps(Lake::from_env()?, lease).await?;
        lambda_runtime::run(lambda_runtime::service_fn(|event| {
            invoke::<S>(event, &deps)
        }))
        .await
    })
}

/// The `main.rs` of a stage's Lambda function: mimalloc as the global allocator (polars
/// allocates and frees many small strings, which mimalloc does faster than the system allocator,
/// and it gives memory back sooner inside a fixed Lambda memory size), then [`serve`].
#[macro_export]
macro_rules! lambda_main {
    ($stage:ty) => {
        #[global_allocator]
        static GLOBAL: $crate::MiMalloc = $crate::MiMalloc;

        fn main() -> Result<(), $crate::Error> {
            $crate::serve::<$stage>()
        }
    };
}
