//! The Lambda provisioned-concurrency control plane, behind one client-side
//! rate limiter shared by every control-plane call of the process.
//!
//! Lambda allows 15 control-plane requests per second per account and Region
//! (everything but invocation, `GetFunction` and `GetPolicy`: the
//! provisioned-concurrency and concurrency APIs included,
//! <https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html#api-requests>).
//! pcscale stays under it by pacing its own calls (default 10/s) instead of
//! provoking `TooManyRequestsException` and leaning on retries.
//!
//! Error mapping (API reference of each operation):
//! * `ProvisionedConcurrencyConfigNotFoundException` (404): no config ->
//!   `Ok(None)` from `get_config`, `Ok(())` from `delete_config`;
//! * `ResourceConflictException` (409, e.g. an allocation in progress) ->
//!   [`ErrorKind::Conflict`];
//! * `TooManyRequestsException` (429, after the SDK's retries) ->
//!   [`ErrorKind::Throttled`];
//! * `ResourceNotFoundException` (function or alias missing) -> [`ErrorKind::NotFound`]
//!   (`Ok(())` from `delete_config`: no function, no config).

use std::future::Future;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::types::ProvisionedConcurrencyStatusEnum;
use tokio::time::Instant;
use tracing::{Instrument, info_span};

use super::Service;
use crate::core::decide::{CurrentPc, PcStatus};
use crate::core::policy::ResourceId;
use crate::ports::{AliasTarget, ConcurrencyApi, ErrorKind, PortError};

/// The tag CloudFormation puts on every resource of a stack.
pub const STACK_NAME_TAG: &str = "aws:cloudformation:stack-name";

/// [`super::port_error`] for Lambda.
fn port_error<E>(
    operation: &str,
    resource: Option<&str>,
    err: &aws_sdk_lambda::error::SdkError<E, aws_sdk_lambda::config::http::HttpResponse>,
) -> crate::ports::PortError
where
    E: aws_sdk_lambda::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    super::port_error(Service::Lambda, operation, resource, err)
}

/// A token bucket in its "generic cell rate" form: each call reserves the
/// next free slot, `1/rate` apart, and sleeps until it; up to `burst` calls
/// may go at once after a quiet period. Reserving under a short lock keeps
/// it fair (first come, first served) across concurrent tasks.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    /// How far ahead of now reservations may run without waiting.
    tolerance: Duration,
    /// The theoretical time of the next free slot.
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// `rate` calls per second, no burst (`burst` = 1).
    pub fn per_second(rate: f64) -> Self {
        Self::new(rate, 1)
    }

    /// `rate` calls per second on average, `burst` at once at most.
    /// A non-positive or non-finite rate means one call per second.
    pub fn new(rate: f64, burst: u32) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            1.0
        };
        let interval = Duration::from_secs_f64(1.0 / rate);
        RateLimiter {
            interval,
            tolerance: interval * burst.max(1).saturating_sub(1),
            next: Mutex::new(None),
        }
    }

    /// Waits for this call's slot.
    pub async fn acquire(&self) {
        let now = Instant::now();
        let wait_until = {
            // A poisoned lock only means another task panicked mid-update of
            // an Instant; the value is still usable.
            let mut next = self
                .next
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot.checked_sub(self.tolerance).unwrap_or(slot)
        };
        if wait_until > now {
            tokio::time::sleep_until(wait_until).await;
        }
    }
}

/// The Lambda adapter.
#[derive(Debug, Clone)]
pub struct LambdaApi {
    client: Client,
    limiter: Arc<RateLimiter>,
}

impl LambdaApi {
    /// An adapter over `client`, pacing every call through `limiter`.
    pub fn new(client: Client, limiter: Arc<RateLimiter>) -> Self {
        LambdaApi { client, limiter }
    }

    /// The underlying SDK client (calls made through it bypass the limiter).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The shared limiter.
    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.limiter
    }
}

fn to_u32(v: Option<i32>) -> u32 {
    v.and_then(|x| u32::try_from(x).ok()).unwrap_or(0)
}

// Futures are boxed at the port boundary: see the `aws` module docs.
impl ConcurrencyApi for LambdaApi {
    fn get_config(
        &self,
        resource: &ResourceId,
    ) -> impl Future<Output = Result<Option<CurrentPc>, PortError>> + Send {
        Box::pin(async move {
            let key = resource.to_string();
            async {
                self.limiter.acquire().await;
                let out = self
                    .client
                    .get_provisioned_concurrency_config()
                    .function_name(&resource.function)
                    .qualifier(&resource.qualifier)
                    .send()
                    .await;
                match out {
                    Ok(o) => Ok(Some(CurrentPc {
                        requested: to_u32(o.requested_provisioned_concurrent_executions),
                        allocated: to_u32(o.allocated_provisioned_concurrent_executions),
                        status: match o.status {
                            Some(ProvisionedConcurrencyStatusEnum::Ready) => PcStatus::Ready,
                            Some(ProvisionedConcurrencyStatusEnum::Failed) => PcStatus::Failed,
                            // IN_PROGRESS, and any status added later: leave it alone
                            // until it settles into one we know.
                            _ => PcStatus::InProgress,
                        },
                        status_reason: o.status_reason,
                    })),
                    Err(e)
                        if e.as_service_error().is_some_and(|se| {
                            se.is_provisioned_concurrency_config_not_found_exception()
                        }) =>
                    {
                        Ok(None)
                    }
                    Err(e) => Err(port_error(
                        "GetProvisionedConcurrencyConfig",
                        Some(&key),
                        &e,
                    )),
                }
            }
            .instrument(info_span!("lambda.get_config", resource = %key))
            .await
        })
    }

    fn put_config(
        &self,
        resource: &ResourceId,
        capacity: u32,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        Box::pin(async move {
            let key = resource.to_string();
            async {
                let Ok(n) = i32::try_from(capacity) else {
                    return Err(PortError::new(
                        "PutProvisionedConcurrencyConfig",
                        Some(key.clone()),
                        ErrorKind::Invalid,
                        format!("capacity {capacity} is out of range"),
                    ));
                };
                self.limiter.acquire().await;
                self.client
                    .put_provisioned_concurrency_config()
                    .function_name(&resource.function)
                    .qualifier(&resource.qualifier)
                    .provisioned_concurrent_executions(n)
                    .send()
                    .await
                    .map_err(|e| port_error("PutProvisionedConcurrencyConfig", Some(&key), &e))?;
                Ok(())
            }
            .instrument(info_span!("lambda.put_config", resource = %key, capacity))
            .await
        })
    }

    fn delete_config(
        &self,
        resource: &ResourceId,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        Box::pin(async move {
            let key = resource.to_string();
            async {
                self.limiter.acquire().await;
                match self
                    .client
                    .delete_provisioned_concurrency_config()
                    .function_name(&resource.function)
                    .qualifier(&resource.qualifier)
                    .send()
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        let err = port_error("DeleteProvisionedConcurrencyConfig", Some(&key), &e);
                        // No config (404 ProvisionedConcurrencyConfigNotFoundException),
                        // or no function/alias at all (404 ResourceNotFoundException):
                        // either way there is no config, which is what was wanted.
                        if err.kind == ErrorKind::NotFound {
                            Ok(())
                        } else {
                            Err(err)
                        }
                    }
                }
            }
            .instrument(info_span!("lambda.delete_config", resource = %key))
            .await
        })
    }

    fn reserved_concurrency(
        &self,
        function: &str,
    ) -> impl Future<Output = Result<Option<u32>, PortError>> + Send {
        Box::pin(async move {
            async {
                self.limiter.acquire().await;
                let out = self
                    .client
                    .get_function_concurrency()
                    .function_name(function)
                    .send()
                    .await
                    .map_err(|e| port_error("GetFunctionConcurrency", Some(function), &e))?;
                Ok(out
                    .reserved_concurrent_executions
                    .and_then(|r| u32::try_from(r).ok()))
            }
            .instrument(info_span!("lambda.reserved_concurrency", function))
            .await
        })
    }

    fn unreserved_concurrency(&self) -> impl Future<Output = Result<u32, PortError>> + Send {
        Box::pin(async move {
            async {
                self.limiter.acquire().await;
                let out = self
                    .client
                    .get_account_settings()
                    .send()
                    .await
                    .map_err(|e| port_error("GetAccountSettings", None, &e))?;
                out.account_limit
                    .and_then(|l| l.unreserved_concurrent_executions)
                    .and_then(|u| u32::try_from(u).ok())
                    .ok_or_else(|| {
                        PortError::new(
                            "GetAccountSettings",
                            None,
                            ErrorKind::Service,
                            "the answer carried no UnreservedConcurrentExecutions",
                        )
                    })
            }
            .instrument(info_span!("lambda.unreserved_concurrency"))
            .await
        })
    }

    fn alias_target(
        &self,
        function: &str,
        alias: &str,
    ) -> impl Future<Output = Result<Option<AliasTarget>, PortError>> + Send {
        Box::pin(async move {
            let key = format!("function:{function}:{alias}");
            async {
                self.limiter.acquire().await;
                let out = self
                    .client
                    .get_alias()
                    .function_name(function)
                    .name(alias)
                    .send()
                    .await;
                let out = match out {
                    Ok(o) => o,
                    Err(e) => {
                        let err = port_error("GetAlias", Some(&key), &e);
                        return if err.kind == ErrorKind::NotFound {
                            Ok(None)
                        } else {
                            Err(err)
                        };
                    }
                };
                let (Some(version), Some(arn)) = (out.function_version, out.alias_arn) else {
                    return Err(PortError::new(
                        "GetAlias",
                        Some(key.clone()),
                        ErrorKind::Service,
                        "Lambda: the answer carried no FunctionVersion or AliasArn",
                    ));
                };
                // `arn:aws:lambda:<region>:<account>:function:<name>:<alias>`.
                let function_arn = arn
                    .strip_suffix(alias)
                    .and_then(|a| a.strip_suffix(':'))
                    .unwrap_or(&arn)
                    .to_owned();
                Ok(Some(AliasTarget {
                    version,
                    function_arn,
                }))
            }
            .instrument(info_span!("lambda.alias_target", resource = %key))
            .await
        })
    }

    fn function_memory(
        &self,
        resource: &ResourceId,
    ) -> impl Future<Output = Result<Option<u32>, PortError>> + Send {
        Box::pin(async move {
            let key = resource.to_string();
            async {
                self.limiter.acquire().await;
                let out = self
                    .client
                    .get_function_configuration()
                    .function_name(&resource.function)
                    .qualifier(&resource.qualifier)
                    .send()
                    .await
                    .map_err(|e| port_error("GetFunctionConfiguration", Some(&key), &e))?;
                Ok(out.memory_size.and_then(|m| u32::try_from(m).ok()))
            }
            .instrument(info_span!("lambda.function_memory", resource = %key))
            .await
        })
    }

    fn cloudformation_stack(
        &self,
        function_arn: &str,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send {
        Box::pin(async move {
            async {
                self.limiter.acquire().await;
                let out = self
                    .client
                    .list_tags()
                    .resource(function_arn)
                    .send()
                    .await
                    .map_err(|e| port_error("ListTags", Some(function_arn), &e))?;
                Ok(out.tags.and_then(|mut t| t.remove(STACK_NAME_TAG)))
            }
            .instrument(info_span!("lambda.cloudformation_stack", function_arn))
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_limiter_spaces_calls_at_the_configured_rate() {
        let limiter = RateLimiter::per_second(10.0);
        let t0 = Instant::now();
        for _ in 0..21 {
            limiter.acquire().await;
        }
        // 21 calls at 10/s: the first at once, the last 2 s later.
        assert_eq!(Instant::now() - t0, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn the_limiter_lets_a_burst_through_then_paces() {
        let limiter = RateLimiter::new(10.0, 5);
        let t0 = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        assert_eq!(Instant::now(), t0, "a burst of 5 must not wait");
        limiter.acquire().await;
        assert_eq!(Instant::now() - t0, Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_limit() {
        let limiter = Arc::new(RateLimiter::per_second(10.0));
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..30)
            .map(|_| {
                let l = Arc::clone(&limiter);
                tokio::spawn(async move { l.acquire().await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(Instant::now() - t0, Duration::from_millis(2900));
    }
}
