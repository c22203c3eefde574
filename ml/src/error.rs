//! The ML module's errors.

/// What can go wrong while loading data or training.
#[derive(Debug, thiserror::Error)]
pub enum MlError {
    /// A data file does not parse; names the file (or source) and the 1-based line.
    #[error("{source_name}:{line}: {message}")]
    Parse {
        /// The file or source name.
        source_name: String,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },
    /// An argument or a piece of data is out of range (a feature index beyond the model,
    /// an empty partition, a bad option).
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A collective or message failed.
    #[error(transparent)]
    Comm(#[from] fccl_collectives::Error),
}

impl MlError {
    /// An [`MlError::Invalid`] with `message`.
    pub fn invalid(message: impl Into<String>) -> MlError {
        MlError::Invalid(message.into())
    }

    /// An [`MlError::Io`] for `source` while doing `context`.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> MlError {
        MlError::Io {
            context: context.into(),
            source,
        }
    }
}

/// The ML module's result.
pub type Result<T> = std::result::Result<T, MlError>;
