//! Adapters of the [`crate::ports`] traits over the AWS SDK.
//!
//! * [`dynamodb`]: the policy store (DESIGN.md §2), plus the item helpers the
//!   CLI verbs use (`policy put/get/list/delete`, `activity`);
//! * [`cloudwatch`]: the metrics source, `GetMetricData` in batches of 500;
//! * [`history_fetch`]: an alias's own days of `Invocations` and `Duration`,
//!   for `pcscale simulate --from-cloudwatch`;
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
pub mod dynamodb;
pub mod history_fetch;
pub mod lambda;

use std::error::Error as StdError;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::RequestId;
use tracing::debug;

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

/// The AWS service an adapter talks to, named in its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    /// The policy store.
    DynamoDb,
    /// The metrics source.
    CloudWatch,
    /// The provisioned-concurrency control plane.
    Lambda,
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Service::DynamoDb => "DynamoDB",
            Service::CloudWatch => "CloudWatch",
            Service::Lambda => "Lambda",
        })
    }
}

/// The longest root cause quoted in a [`PortError`]'s message.
const MAX_CAUSE_CHARS: usize = 200;

/// Turns any SDK error into a [`PortError`]: the error code decides the kind
/// where the service sent one, the HTTP status otherwise. The message is
/// short and specific, for activity records, tick logs and the CLI:
/// `<service> <code>: <AWS message> (HTTP <status>)` for an answer from the
/// service (its request id in [`PortError::request_id`]), `<service>: <what failed>: <root cause>` when none came
/// (dispatch failure, timeout). The SDK's whole chain (with its `Debug`
/// dump) is logged at debug level only.
pub(crate) fn port_error<E>(
    service: Service,
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
    debug!(
        service = %service,
        operation,
        resource,
        error = %DisplayErrorContext(err),
        "AWS call failed"
    );
    PortError {
        request_id: err.request_id().map(str::to_owned),
        ..PortError::new(
            operation,
            resource.map(str::to_owned),
            kind,
            short_message(service, err),
        )
    }
}

/// The message of [`port_error`].
fn short_message<E>(service: Service, err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    // The request id is kept beside the text (`PortError::request_id`).
    let answer = status_of(err)
        .map(|status| format!("HTTP {status}"))
        .unwrap_or_default();
    let failed = match err {
        SdkError::ServiceError(_) => {
            let head = match (err.code(), err.message()) {
                (Some(code), Some(m)) => format!("{service} {code}: {m}"),
                (Some(code), None) => format!("{service} {code}"),
                (None, Some(m)) => format!("{service}: {m}"),
                (None, None) => format!("{service}: error without a code"),
            };
            return if answer.is_empty() {
                head
            } else {
                format!("{head} ({answer})")
            };
        }
        SdkError::TimeoutError(_) => "timed out",
        SdkError::DispatchFailure(d) if d.is_timeout() => "timed out (dispatch failure)",
        SdkError::DispatchFailure(_) => "could not send the request (dispatch failure)",
        SdkError::ResponseError(_) => "unreadable response",
        SdkError::ConstructionFailure(_) => "could not build the request",
        _ => "failed",
    };
    let mut text = format!("{service}: {failed}");
    if let Some(cause) = root_cause(err) {
        text.push_str(": ");
        text.push_str(&cause);
    }
    if !answer.is_empty() {
        text.push_str(&format!(" ({answer})"));
    }
    text
}

/// The innermost error of `err`'s source chain, bounded to
/// [`MAX_CAUSE_CHARS`]; `None` when the chain has no source.
fn root_cause(err: &(dyn StdError + 'static)) -> Option<String> {
    let mut cause = err.source()?;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    Some(match text.char_indices().nth(MAX_CAUSE_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    })
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
    use aws_sdk_lambda::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_lambda::operation::put_provisioned_concurrency_config::PutProvisionedConcurrencyConfigError as PutError;
    use aws_sdk_lambda::primitives::SdkBody;

    const OP: &str = "PutProvisionedConcurrencyConfig";
    const KEY: &str = "function:f:live";

    /// What Lambda answers when an alias and the version it points to both
    /// get provisioned concurrency.
    fn conflict() -> SdkError<PutError, HttpResponse> {
        let meta = ErrorMetadata::builder()
            .code("ResourceConflictException")
            .message("Alias live is already provisioned with version 3")
            .build();
        let status = 409.try_into().expect("a status");
        let mut raw = HttpResponse::new(status, SdkBody::from(r#"{"Type":"User"}"#));
        raw.headers_mut().insert("x-amzn-RequestId", "4f1c2b0e-req");
        SdkError::service_error(PutError::generic(meta), raw)
    }

    #[test]
    fn a_service_error_names_service_operation_code_message_and_request_id() {
        let e = port_error(Service::Lambda, OP, Some(KEY), &conflict());
        assert_eq!(e.kind, ErrorKind::Conflict);
        assert_eq!(
            e.to_string(),
            "PutProvisionedConcurrencyConfig on function:f:live: Conflict: Lambda \
             ResourceConflictException: Alias live is already provisioned with version 3 \
             (HTTP 409)"
        );
        // The same refusal twice has the same text (the tick records it
        // once); its request id is beside it.
        assert_eq!(e.request_id.as_deref(), Some("4f1c2b0e-req"));
        assert_eq!(e.request_id_note(), " (request id 4f1c2b0e-req)");
    }

    #[test]
    fn a_dispatch_failure_is_one_short_line_with_its_root_cause() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let err: SdkError<PutError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io(Box::new(refused)));
        // The SDK's own text ends with its Debug dump: what users saw before.
        assert!(
            DisplayErrorContext(&err)
                .to_string()
                .contains("DispatchFailure(")
        );
        let e = port_error(Service::Lambda, OP, Some(KEY), &err);
        assert_eq!(e.kind, ErrorKind::Service);
        assert_eq!(
            e.message,
            "Lambda: could not send the request (dispatch failure): Connection refused (os error 111)"
        );
    }

    #[test]
    fn a_root_cause_is_bounded() {
        let long = std::io::Error::other("x".repeat(10_000));
        let err: SdkError<PutError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io(Box::new(long)));
        let e = port_error(Service::DynamoDb, "Scan", None, &err);
        assert!(
            e.message.starts_with("DynamoDB: could not send"),
            "{}",
            e.message
        );
        assert!(
            e.message.len() < MAX_CAUSE_CHARS + 100,
            "{}",
            e.message.len()
        );
    }

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
