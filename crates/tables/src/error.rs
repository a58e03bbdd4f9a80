use iceberg_rust::error::Error as IcebergError;
use lakehouse_core::ErrorKind;

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
    #[error("writing a manifest: {0}")]
    Avro(#[from] apache_avro::Error),
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
    #[error("table {0} has no key column: its rows cannot be upserted")]
    NoKey(String),
    #[error("table {0} does not exist yet: run the pipeline first (lakehouse run)")]
    NoSuchTable(String),
    /// A table to migrate that the REST catalog already holds with commits of its own.
    #[error(
        "table {0}: the REST catalog's table has commits of its own since it was migrated (or was \
         never migrated), and the file catalog's has changed: moving it again would lose them"
    )]
    Diverged(String),
    /// A file-catalog table whose metadata names a directory outside the lake it was found in.
    #[error(
        "table {table} lives at {found}, not in this lake ({expected}): the lake was copied or \
         moved, and Iceberg metadata holds absolute locations, so writing or maintaining this \
         copy would add files to and delete files from {found}. Run on the lake at its \
         original location, or start a new lake with the pipeline"
    )]
    Moved {
        table: String,
        found: String,
        expected: String,
    },
    /// Table metadata that iceberg-rust cannot read back whole: acting on it could lose data.
    #[error("unreadable table metadata: {0}")]
    Unreadable(String),
}

impl TablesError {
    /// The `errorType` a stage failing with this reports: the core error's own kind (so a
    /// lake held by another run is `LakeBusy` at any depth), a missing table is the input's
    /// fault, a transient failure `Retryable`, anything else `Internal`.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TablesError::Core(e) => e.kind(),
            TablesError::NoSuchTable(_) | TablesError::Moved { .. } => ErrorKind::InvalidInput,
            e if e.is_retryable() => ErrorKind::Retryable,
            _ => ErrorKind::Internal,
        }
    }

    /// Whether the whole step may succeed if retried later.
    pub fn is_retryable(&self) -> bool {
        match self {
            TablesError::CommitConflict { .. } | TablesError::Store(_) => true,
            TablesError::Core(e) => e.is_retryable(),
            TablesError::Iceberg(e) => transient(e),
            _ => false,
        }
    }
}

/// Whether an iceberg-rust failure may pass on a reloaded table: a lost compare-and-swap (the
/// file catalog's copy-if-not-exists found the next metadata file taken, or its requirement
/// check saw a newer snapshot; the REST catalog's 409), a call to the REST catalog whose
/// outcome is unknown (5xx, timeout), or a storage error. The commit loop retries these itself
/// after reloading, which finds a commit that did land; a step failing with one is worth
/// retrying too.
pub(crate) fn transient(error: &IcebergError) -> bool {
    match error {
        IcebergError::ObjectStore(_) | IcebergError::IO(_) => true,
        IcebergError::External(e) => e
            .downcast_ref::<crate::rest::RestError>()
            .is_some_and(crate::rest::RestError::may_pass),
        // The wording of iceberg-file-catalog 0.10 (pinned); the real-catalog race test in
        // tests/commit.rs fails if an upgrade changes it.
        IcebergError::InvalidFormat(what) => what.contains("requirements not valid"),
        _ => false,
    }
}

pub type Result<T, E = TablesError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lost_races_and_storage_errors_are_transient() {
        let taken = object_store::Error::AlreadyExists {
            path: "metadata/v3.metadata.json".into(),
            source: "exists".into(),
        };
        let lost_race = IcebergError::InvalidFormat("Table requirements not valid".into());
        let disk = IcebergError::IO(std::io::Error::other("connection reset"));
        for error in [IcebergError::ObjectStore(taken), lost_race, disk] {
            assert!(transient(&error), "{error}");
            // The step's verdict follows the commit loop's.
            assert!(TablesError::Iceberg(error).is_retryable());
        }
        let refused = [
            IcebergError::Schema("amount".into(), "orders_transformed".into()),
            IcebergError::InvalidFormat("Table update on entity that is not a table".into()),
        ];
        for error in refused {
            assert!(!transient(&error), "{error}");
            assert!(!TablesError::Iceberg(error).is_retryable());
        }
    }

    #[test]
    fn a_stage_reports_the_kind_of_the_error_at_any_depth() {
        let until = chrono::Utc::now();
        let busy = lakehouse_core::Error::LakeBusy {
            holder: "run-a".into(),
            until,
        };
        let lost = lakehouse_core::Error::LeaseLost {
            owner: "run-a".into(),
            taken_by: "run-b".into(),
        };
        let conflict = TablesError::CommitConflict {
            table: "fact_sales".into(),
            attempts: 8,
            last: "409".into(),
        };
        for (error, kind) in [
            (TablesError::Core(busy), ErrorKind::LakeBusy),
            (TablesError::Core(lost), ErrorKind::LakeBusy),
            (
                TablesError::NoSuchTable("fact_sales".into()),
                ErrorKind::InvalidInput,
            ),
            (conflict, ErrorKind::Retryable),
            (TablesError::Unreadable("v3".into()), ErrorKind::Internal),
            (
                TablesError::Diverged("fact_sales".into()),
                ErrorKind::Internal,
            ),
        ] {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }
}
