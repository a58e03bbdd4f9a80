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
}

impl TransformError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            TransformError::MissingManifest(_) => ErrorKind::InvalidInput,
            TransformError::DataQuality(_) => ErrorKind::DataQuality,
            TransformError::Tables(e) if e.is_retryable() => ErrorKind::Retryable,
            TransformError::Core(e) => e.kind(),
            _ => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = TransformError> = std::result::Result<T, E>;
