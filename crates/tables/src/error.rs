use iceberg_rust::error::Error as IcebergError;

#[derive(Debug, thiserror::Error)]
pub enum TablesError {
    #[error("iceberg: {0}")]
    Iceberg(#[from] IcebergError),
    #[error("iceberg spec: {0}")]
    Spec(#[from] iceberg_rust::spec::error::Error),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("encoding a data file: {0}")]
    Encoding(#[from] tokio::task::JoinError),
    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error(transparent)]
    Core(#[from] lakehouse_core::Error),
    #[error("table {table}: commit kept conflicting after {attempts} attempts: {last}")]
    CommitConflict {
        table: String,
        attempts: u32,
        last: String,
    },
    #[error("table {table} has no column {column:?}")]
    MissingColumn { table: String, column: String },
    #[error("table {0} does not exist yet: run the pipeline first (lakehouse run)")]
    NoSuchTable(String),
}

impl TablesError {
    /// Whether the whole step may succeed if retried later.
    pub fn is_retryable(&self) -> bool {
        match self {
            TablesError::CommitConflict { .. } | TablesError::Store(_) => true,
            TablesError::Core(e) => e.is_retryable(),
            TablesError::Iceberg(IcebergError::ObjectStore(_)) => true,
            _ => false,
        }
    }
}

pub type Result<T, E = TablesError> = std::result::Result<T, E>;
