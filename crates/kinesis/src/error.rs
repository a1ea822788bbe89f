//! Sorting AWS SDK errors into what the reader does about them (retry, back off, refresh the
//! iterator, give up) and rendering them as readable one-line messages.
//!
//! Pure classification: no I/O, no retries here.

use std::error::Error;

use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};

/// What a failed request means for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The stream (or shard) does not exist: deleted or never created.
    NotFound,
    /// Over a Kinesis limit; retry after a backoff.
    Throttled,
    /// The shard iterator is too old (five minutes) or unusable; get a fresh one.
    BadIterator,
    /// Permissions or encryption keys forbid reading; retrying will not help.
    Denied,
    /// Anything else: network trouble, timeouts, server errors. Retry with backoff.
    Transient,
}

/// A classified request failure.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub(crate) fn from_sdk<E, R>(operation: &str, err: SdkError<E, R>) -> ApiError
    where
        E: ProvideErrorMetadata + Error + 'static,
        R: std::fmt::Debug,
    {
        let kind = classify(err.code());
        let detail = match err.message() {
            Some(message) => format!("{}: {message}", err.code().unwrap_or("error")),
            None => error_chain(&err),
        };
        ApiError { kind, message: format!("{operation} failed: {detail}") }
    }
}

/// An error and its causes as one line, without the `Debug` dumps of raw responses.
pub(crate) fn error_chain(err: &dyn Error) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// Classifies by the AWS error code, which is the same for every operation that can return it.
pub(crate) fn classify(code: Option<&str>) -> ErrorKind {
    match code {
        Some("ResourceNotFoundException") => ErrorKind::NotFound,
        Some("ProvisionedThroughputExceededException" | "LimitExceededException" | "ThrottlingException")
        | Some("KMSThrottlingException") => ErrorKind::Throttled,
        Some("ExpiredIteratorException" | "InvalidArgumentException") => ErrorKind::BadIterator,
        Some(
            "AccessDeniedException"
            | "KMSAccessDeniedException"
            | "KMSDisabledException"
            | "KMSInvalidStateException"
            | "KMSNotFoundException"
            | "KMSOptInRequired"
            | "UnrecognizedClientException"
            | "InvalidSignatureException",
        ) => ErrorKind::Denied,
        _ => ErrorKind::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_codes() {
        assert_eq!(classify(Some("ResourceNotFoundException")), ErrorKind::NotFound);
        assert_eq!(classify(Some("ProvisionedThroughputExceededException")), ErrorKind::Throttled);
        assert_eq!(classify(Some("LimitExceededException")), ErrorKind::Throttled);
        assert_eq!(classify(Some("ExpiredIteratorException")), ErrorKind::BadIterator);
        assert_eq!(classify(Some("AccessDeniedException")), ErrorKind::Denied);
        assert_eq!(classify(Some("InternalFailureException")), ErrorKind::Transient);
        assert_eq!(classify(None), ErrorKind::Transient);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn chains_causes_on_one_line() {
        let err = Outer(std::io::Error::other("connection refused"));
        assert_eq!(error_chain(&err), "outer: connection refused");
    }
}
