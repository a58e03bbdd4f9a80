use lakehouse_core::{Error as CoreError, ErrorKind};
use lakehouse_tables::TablesError;

#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("no manifest at {0}: extract the run first (or check the run id and mode)")]
    MissingManifest(String),
    #[error("data quality: {0}")]
    DataQuality(String),
    #[error(transparent)]
    Tables(#[from] TablesError),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),
    /// A task on the blocking pool panicked or was cancelled: a bug, whatever the data.
    #[error("{what} stopped: {source}")]
    Task {
        what: String,
        source: tokio::task::JoinError,
    },
}

impl TransformError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            TransformError::MissingManifest(_) => ErrorKind::InvalidInput,
            TransformError::DataQuality(_) => ErrorKind::DataQuality,
            TransformError::Tables(e) => e.kind(),
            TransformError::Core(e) => e.kind(),
            _ => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = TransformError> = std::result::Result<T, E>;

impl lakehouse_core::metrics::StageFailure for TransformError {
    fn kind(&self) -> lakehouse_core::ErrorKind {
        TransformError::kind(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic on the blocking pool is the code's fault: the state machine must not retry it,
    /// nor report the data as bad.
    #[tokio::test]
    async fn a_panicked_task_is_an_internal_error_naming_its_work() {
        let source = tokio::task::spawn_blocking(|| panic!("boom"))
            .await
            .unwrap_err();
        let error = TransformError::Task {
            what: "reading raw/part-00000.json".into(),
            source,
        };
        assert_eq!(error.kind(), ErrorKind::Internal);
        assert!(
            error
                .to_string()
                .starts_with("reading raw/part-00000.json stopped: "),
            "{error}"
        );
    }
}
