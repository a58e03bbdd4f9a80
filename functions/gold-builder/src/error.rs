use lakehouse_core::{Error as CoreError, ErrorKind};
use lakehouse_tables::TablesError;

#[derive(Debug, thiserror::Error)]
pub enum GoldError {
    #[error(transparent)]
    Tables(#[from] TablesError),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),
}

impl GoldError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            GoldError::Tables(e) => e.kind(),
            GoldError::Core(e) => e.kind(),
            _ => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = GoldError> = std::result::Result<T, E>;

impl lakehouse_core::metrics::StageFailure for GoldError {
    fn kind(&self) -> lakehouse_core::ErrorKind {
        GoldError::kind(self)
    }
}
