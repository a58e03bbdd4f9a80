use lakehouse_core::{Error as CoreError, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("configuration error: {0}")]
    Config(String),
    #[error("no watermark in the lake yet: run a full load first (mode \"full\")")]
    NoWatermark,
    /// The API refused the request: retrying the same request cannot help.
    #[error("source API answered {status} to {url}: {body}")]
    Rejected {
        status: u16,
        url: String,
        body: String,
    },
    /// Server errors or timeouts that outlasted the retry budget.
    #[error("source API unavailable after {attempts} attempts ({url}): {last}")]
    Unavailable {
        attempts: u32,
        url: String,
        last: String,
    },
    #[error("source API sent a malformed page: {0}")]
    Malformed(String),
    /// The source sent what no correct source sends: pages that loop, a window that ends
    /// before it starts or in the future, a window that moves between pages.
    #[error("the source API misbehaved: {0}")]
    SourceMisbehaved(String),
    /// The run reached a bound on what one extraction may take (`bounds::Limits`).
    #[error(
        "limit reached: {0} (the LAKEHOUSE_MAX_* and LAKEHOUSE_EXTRACT_SECONDS settings raise it if the source is right)"
    )]
    LimitReached(String),
    /// S3 did not store a raw part.
    #[error("landing {key} on S3: {message}")]
    Landing {
        key: String,
        message: String,
        /// Whether the same upload may succeed later (a damaged body, throttling, a timeout).
        retryable: bool,
    },
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl ExtractError {
    /// The stable error name Step Functions' Retry/Catch match on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ExtractError::Unavailable { .. }
            | ExtractError::Landing {
                retryable: true, ..
            } => ErrorKind::Retryable,
            ExtractError::Landing { .. } => ErrorKind::InvalidInput,
            ExtractError::Malformed(_)
            | ExtractError::SourceMisbehaved(_)
            | ExtractError::LimitReached(_) => ErrorKind::DataQuality,
            ExtractError::Core(e) => e.kind(),
            ExtractError::Config(_) | ExtractError::NoWatermark | ExtractError::Rejected { .. } => {
                ErrorKind::InvalidInput
            }
        }
    }
}

pub type Result<T, E = ExtractError> = std::result::Result<T, E>;

impl lakehouse_core::metrics::StageFailure for ExtractError {
    fn kind(&self) -> lakehouse_core::ErrorKind {
        ExtractError::kind(self)
    }
}
