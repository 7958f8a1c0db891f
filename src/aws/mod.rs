//! Adapters of the [`crate::ports`] traits over the AWS SDK.
//!
//! * [`dynamodb`]: the policy store (DESIGN.md §2), plus the item helpers the
//!   CLI verbs use (`policy put/get/list/delete`, `activity`);
//! * [`cloudwatch`]: the metrics source, `GetMetricData` in batches of 500;
//! * [`lambda`]: the provisioned-concurrency control plane, behind a
//!   process-wide rate limiter;
//! * [`config`]: building the clients once from the environment
//!   ([`AwsPorts::from_env`]).
//!
//! The port methods return boxed futures: the SDK's futures are deep, and
//! nested inside the tick and the Lambda runtime they made rustc's layout
//! computation overflow its recursion limit in release builds of
//! `pcscale-lambda`. A box per AWS call costs nothing next to the call.
//!
//! Every adapter talks to AWS only through the SDK, so pointing the
//! `AWS_ENDPOINT_URL_*` variables at the local emulators exercises exactly
//! the code that runs in AWS.

pub mod cloudwatch;
pub mod config;
pub mod ddb_json;
pub mod dynamodb;
pub mod lambda;

use std::error::Error as StdError;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

pub use cloudwatch::CloudWatchMetrics;
pub use config::{AwsPorts, load_sdk_config, sdk_config_loader};
pub use dynamodb::DynamoStore;
pub use lambda::{LambdaApi, RateLimiter};

use crate::ports::{ErrorKind, PortError};

/// Error codes that mean "slow down", across DynamoDB, CloudWatch and Lambda
/// (the SDK's standard retry mode has already retried them when we see them).
const THROTTLING_CODES: &[&str] = &[
    "TooManyRequestsException",
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
];

/// Error codes that name a missing resource.
const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "ProvisionedConcurrencyConfigNotFoundException",
    "ResourceNotFound",
];

/// Error codes about credentials or permissions.
const ACCESS_CODES: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "MissingAuthenticationTokenException",
    "IncompleteSignature",
    "InvalidClientTokenId",
];

/// Turns any SDK error into a [`PortError`]: the error code decides the kind
/// where the service sent one, the HTTP status otherwise.
pub(crate) fn port_error<E>(
    operation: &str,
    resource: Option<&str>,
    err: &SdkError<E, HttpResponse>,
) -> PortError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let code = err.code();
    let kind = match err {
        SdkError::TimeoutError(_) => ErrorKind::Timeout,
        SdkError::DispatchFailure(d) if d.is_timeout() => ErrorKind::Timeout,
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => ErrorKind::Service,
        SdkError::ConstructionFailure(_) => ErrorKind::Invalid,
        _ => kind_of(code, status_of(err)),
    };
    let message = match err.message() {
        Some(m) => format!("{}: {m}", code.unwrap_or("error")),
        None => DisplayErrorContext(err).to_string(),
    };
    PortError::new(operation, resource.map(str::to_owned), kind, message)
}

/// The HTTP status of a service error's response, if there was one.
fn status_of<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    match err {
        SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
        SdkError::ResponseError(re) => Some(re.raw().status().as_u16()),
        _ => None,
    }
}

/// The [`ErrorKind`] for an error code and/or HTTP status.
pub(crate) fn kind_of(code: Option<&str>, status: Option<u16>) -> ErrorKind {
    if let Some(code) = code {
        if THROTTLING_CODES.contains(&code) {
            return ErrorKind::Throttled;
        }
        if NOT_FOUND_CODES.contains(&code) {
            return ErrorKind::NotFound;
        }
        if ACCESS_CODES.contains(&code) {
            return ErrorKind::AccessDenied;
        }
        if code == "ResourceConflictException" || code == "ConditionalCheckFailedException" {
            return ErrorKind::Conflict;
        }
        if code == "RequestTimeout" || code == "RequestTimeoutException" {
            return ErrorKind::Timeout;
        }
    }
    match status {
        Some(404) => ErrorKind::NotFound,
        Some(409) => ErrorKind::Conflict,
        Some(429) => ErrorKind::Throttled,
        Some(401 | 403) => ErrorKind::AccessDenied,
        Some(408) => ErrorKind::Timeout,
        Some(s) if (400..500).contains(&s) => ErrorKind::Invalid,
        _ => ErrorKind::Service,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_kinds_before_statuses() {
        assert_eq!(
            kind_of(Some("TooManyRequestsException"), Some(429)),
            ErrorKind::Throttled
        );
        assert_eq!(
            kind_of(Some("ResourceConflictException"), Some(409)),
            ErrorKind::Conflict
        );
        assert_eq!(
            kind_of(
                Some("ProvisionedConcurrencyConfigNotFoundException"),
                Some(404)
            ),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind_of(Some("UnrecognizedClientException"), Some(400)),
            ErrorKind::AccessDenied
        );
        assert_eq!(
            kind_of(Some("InvalidParameterValueException"), Some(400)),
            ErrorKind::Invalid
        );
    }

    #[test]
    fn statuses_classify_errors_without_a_known_code() {
        assert_eq!(kind_of(None, Some(404)), ErrorKind::NotFound);
        assert_eq!(kind_of(None, Some(409)), ErrorKind::Conflict);
        assert_eq!(kind_of(None, Some(429)), ErrorKind::Throttled);
        assert_eq!(kind_of(None, Some(403)), ErrorKind::AccessDenied);
        assert_eq!(kind_of(Some("Weird"), Some(418)), ErrorKind::Invalid);
        assert_eq!(kind_of(None, Some(503)), ErrorKind::Service);
        assert_eq!(kind_of(None, None), ErrorKind::Service);
    }
}
