use agentry_store::StoreError;

/// What a use case can fail with. Each refusal carries the client's message; the HTTP edge
/// maps each variant to one status and never shows a `Store` cause.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request is understood but not acceptable.
    #[error("{0}")]
    BadRequest(String),
    /// 422 with a location, for fields the request got wrong: `field` names a body field, or
    /// `query.NAME` a query parameter.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// 401.
    #[error("{0}")]
    Unauthorized(String),
    /// 401 `{"detail": "MFA token required", "mfa_required": true}`.
    #[error("MFA token required")]
    MfaRequired,
    /// 402 with the reference's detail (a message, or an object for the paywall).
    #[error("payment required: {0}")]
    PaymentRequired(serde_json::Value),
    /// 403.
    #[error("{0}")]
    Forbidden(String),
    /// 403 `{"detail": ..., "mfa_setup_required": true}`.
    #[error("MFA setup required by your organization")]
    MfaSetupRequired,
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 413: what the caller asks to store is larger than the configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// 429 with `Retry-After`: the caller is being slowed down.
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after: u64 },
    /// 502: the payment provider refused or could not be reached; nothing was changed.
    #[error("{0}")]
    BadGateway(String),
    /// 503 with `Retry-After`: every password-hashing slot stayed taken (the server is
    /// saturated with logins; nothing was checked).
    #[error("too many password checks at once")]
    Busy { retry_after: u64 },
    /// 503: nothing can serve the request now (no model provider is configured).
    #[error("{0}")]
    ServiceUnavailable(String),
    /// 503: the database cannot be reached right now.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] StoreError),
    /// 500: anything else the store reports (logged, never sent).
    #[error(transparent)]
    Store(StoreError),
    /// 500: a bug or an impossible state (logged, never sent).
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    /// No connection to be had (the pool timed out): 503, not 500.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Pool(_) => AppError::Unavailable(error),
            other => AppError::Store(other),
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(error: diesel::result::Error) -> Self {
        AppError::Store(StoreError::Query(error))
    }
}

impl From<agentry_auth::password::PasswordError> for AppError {
    fn from(error: agentry_auth::password::PasswordError) -> Self {
        use agentry_auth::password::PasswordError;
        match error {
            PasswordError::Busy => AppError::Busy { retry_after: 1 },
            PasswordError::Weak(_) | PasswordError::Mismatch => {
                AppError::BadRequest(error.to_string())
            }
            PasswordError::Hashing(cause) => AppError::Internal(cause),
        }
    }
}

impl AppError {
    /// 403 for a missing scope, in the reference's words (clients look for both the phrase
    /// and the scope's name).
    pub fn insufficient(scope: &str) -> Self {
        AppError::Forbidden(format!("Insufficient permissions. Required scope: {scope}"))
    }
}
