//! The error type at the core boundary.

/// Errors raised by the shared lake plumbing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration that cannot work: a bad location, a missing variable.
    #[error("configuration error: {0}")]
    Config(String),
    /// A caller asked for something that does not make sense (bad run id, missing manifest).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The object store failed; usually transient on S3.
    #[error("object store error at {key}: {source}")]
    Store {
        key: String,
        #[source]
        source: object_store::Error,
    },
    /// An object that should hold JSON does not.
    #[error("object {key} is not valid JSON for its contract: {source}")]
    Json {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    /// A conditional write lost the race: somebody else wrote first.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data does not match what its manifest promises.
    #[error("data quality: {0}")]
    DataQuality(String),
    /// Another run holds the lake's lease (`lease`): try again after it ends or expires.
    #[error("the lake is busy: run {holder} holds it until {until}; try again later")]
    LakeBusy {
        holder: String,
        until: chrono::DateTime<chrono::Utc>,
    },
    /// This run's lease expired and another run took the lake over.
    #[error("run {owner} lost the lake's lease to {taken_by}; its work is left for a later run")]
    LeaseLost { owner: String, taken_by: String },
}

impl Error {
    /// Whether retrying the same call later may succeed (network, throttling, lost races).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Store { source, .. } => !matches!(
                source,
                object_store::Error::NotFound { .. }
                    | object_store::Error::NotImplemented { .. }
                    | object_store::Error::InvalidPath { .. }
            ),
            Error::Conflict(_) => true,
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The stable error names a failed stage reports (Step Functions' `errorType`), which the
/// state machine's Retry and Catch match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Transient: the same input may succeed later (network, throttling, lost commit races).
    Retryable,
    /// The request cannot succeed as given (bad mode, missing manifest, no watermark yet).
    InvalidInput,
    /// The data is not what its manifest or contract promises.
    DataQuality,
    /// A bug or an unexpected state.
    Internal,
    /// Another run works on the lake: the same input succeeds once it is done (the state
    /// machine retries this one on a slower schedule than `Retryable`).
    LakeBusy,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Retryable => "Retryable",
            ErrorKind::InvalidInput => "InvalidInput",
            ErrorKind::DataQuality => "DataQuality",
            ErrorKind::Internal => "Internal",
            ErrorKind::LakeBusy => "LakeBusy",
        }
    }
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::DataQuality(_) => ErrorKind::DataQuality,
            Error::Json { .. } => ErrorKind::DataQuality,
            Error::LakeBusy { .. } | Error::LeaseLost { .. } => ErrorKind::LakeBusy,
            e if e.is_retryable() => ErrorKind::Retryable,
            Error::Store { .. } => ErrorKind::Internal,
            _ => ErrorKind::InvalidInput,
        }
    }
}
