use thiserror::Error;

/// Every storage failure the API distinguishes. sqlx errors are mapped once, here and in each
/// backend's `map_constraint`, so handlers never see driver types or messages.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint was violated. `constraint` is `table.column` on both backends.
    #[error("conflict on {constraint}")]
    Conflict { constraint: String },
    /// The row changed since the caller read it (optimistic concurrency via `version`).
    #[error("version mismatch")]
    VersionMismatch,
    /// The database cannot be reached: the API answers 503, not 500.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Every pooled connection stayed busy for the acquire timeout: overload, not an outage.
    #[error("database pool exhausted")]
    PoolExhausted,
    /// The database refused a value (SQLSTATE class 22: a NUL byte in text, a number out of
    /// range): the input's fault, so 422, never 500. Validation should have caught it first.
    #[error("value refused by the database: {0}")]
    InvalidValue(String),
    /// A coalition rule refused the change, decided under the lock of the transaction that would
    /// have made it (nothing was written).
    #[error("refused: {0}")]
    Refused(#[from] crate::coalitions::CoalitionRefusal),
    /// Anything else; the source is kept for the log line of the failing request.
    #[error("database error")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// An error that is none of the above, with its cause.
    pub fn other(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Other(cause.into())
    }

    /// The column a conflict is about (`users.email` → `email`), for field-level 409 bodies.
    pub fn conflict_field(&self) -> Option<&str> {
        match self {
            StoreError::Conflict { constraint } => constraint.rsplit('.').next(),
            _ => None,
        }
    }

    pub(crate) fn from_sqlx(
        error: sqlx::Error,
        map_constraint: fn(&dyn sqlx::error::DatabaseError) -> Option<String>,
    ) -> Self {
        use sqlx::error::ErrorKind;
        match error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut => StoreError::PoolExhausted,
            sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                StoreError::Unavailable(error.to_string())
            }
            sqlx::Error::Database(db) => {
                if matches!(db.kind(), ErrorKind::UniqueViolation) {
                    let constraint = map_constraint(db.as_ref()).unwrap_or_else(|| "unknown".to_owned());
                    return StoreError::Conflict { constraint };
                }
                // SQLSTATE classes 08 (connection), 53 (resources), 57 (operator intervention,
                // incl. statement_timeout's 57014): transient, so 503 and let the client retry.
                let transient = db
                    .code()
                    .is_some_and(|code| code.starts_with("08") || code.starts_with("53") || code.starts_with("57"));
                if transient {
                    return StoreError::Unavailable(db.to_string());
                }
                if db.code().is_some_and(|code| code.starts_with("22")) {
                    return StoreError::InvalidValue(db.to_string());
                }
                StoreError::Other(db.into())
            }
            other => StoreError::Other(other.into()),
        }
    }
}
