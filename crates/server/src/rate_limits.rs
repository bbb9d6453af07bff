//! Per-namespace request rate limits (Temporal's `frontend.namespaceRPS`, with its default
//! burst of twice the rate): every request naming a namespace takes a token of that
//! namespace's bucket; without one it is refused with RESOURCE_EXHAUSTED and the
//! `ResourceExhaustedFailure` detail (cause RPS_LIMIT, scope NAMESPACE) that the SDKs retry on.
//! Long polls are not counted: a worker's polls wait server-side and are bounded by the
//! pollers themselves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use temper_api::proto::enums::v1::{ResourceExhaustedCause, ResourceExhaustedScope};
use temper_api::proto::errordetails::v1::ResourceExhaustedFailure;
use tonic::{Code, Status};

use crate::errors;
use crate::token_bucket::RateLimit;

/// Temporal's `frontend.namespaceBurstRatio` default.
const BURST_RATIO: f64 = 2.0;

/// Long polls, not counted against the rate.
const LONG_POLLS: &[&str] = &[
    "PollWorkflowTaskQueue",
    "PollActivityTaskQueue",
    "PollNexusTaskQueue",
];

pub struct NamespaceRateLimits {
    per_second: f64,
    buckets: Mutex<HashMap<String, RateLimit>>,
}

impl NamespaceRateLimits {
    pub fn new(per_second: f64) -> Arc<NamespaceRateLimits> {
        Arc::new(NamespaceRateLimits {
            per_second,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a token for a `method` call on `namespace`, or refuses it.
    pub fn check(&self, method: &str, namespace: Option<&str>) -> Result<(), Status> {
        let Some(namespace) = namespace else {
            return Ok(());
        };
        if LONG_POLLS.contains(&method) {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(namespace.to_string()).or_insert_with(|| {
            RateLimit::with_burst(self.per_second, self.per_second * BURST_RATIO)
        });
        if bucket.has_token() {
            bucket.take();
            return Ok(());
        }
        Err(errors::with_detail(
            Code::ResourceExhausted,
            "namespace rate limit exceeded".to_string(),
            ResourceExhaustedFailure {
                cause: ResourceExhaustedCause::RpsLimit as i32,
                scope: ResourceExhaustedScope::Namespace as i32,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_over_the_limit_is_refused_and_polls_are_not_counted() {
        let limits = NamespaceRateLimits::new(5.0);
        let allowed = (0..30)
            .filter(|_| limits.check("DescribeNamespace", Some("a")).is_ok())
            .count();
        assert!((10..=11).contains(&allowed), "{allowed} of 30 allowed");
        let refused = limits
            .check("StartWorkflowExecution", Some("a"))
            .unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(limits.check("PollWorkflowTaskQueue", Some("a")).is_ok());
        assert!(
            limits.check("DescribeNamespace", Some("b")).is_ok(),
            "per namespace"
        );
        assert!(limits.check("ListNamespaces", None).is_ok());
    }
}

/// Temporal's `frontend.namespaceCount` default: concurrent long polls per namespace and API.
pub const DEFAULT_LONG_POLLS: usize = 1200;

/// APIs that hold a request open for long (Temporal's long-running requests).
const LONG_RUNNING: &[&str] = &[
    "PollWorkflowTaskQueue",
    "PollActivityTaskQueue",
    "PollNexusTaskQueue",
    "QueryWorkflow",
];

/// A bound on concurrent long polls per namespace and API: past it, a poll is refused with
/// RESOURCE_EXHAUSTED (cause CONCURRENT_LIMIT), so a misbehaving client cannot hold the
/// server's connections and memory without limit.
pub struct LongPollLimits {
    max: usize,
    open: Arc<Mutex<HashMap<(String, String), usize>>>,
}

/// A long poll in progress; dropping it frees its place.
pub struct PollPermit {
    key: (String, String),
    open: Arc<Mutex<HashMap<(String, String), usize>>>,
}

impl Drop for PollPermit {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl LongPollLimits {
    pub fn new(max: usize) -> Arc<LongPollLimits> {
        Arc::new(LongPollLimits {
            max,
            open: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// A place for a `method` call on `namespace` (`None` for calls that are not long polls),
    /// or a refusal when the namespace already holds the maximum.
    pub fn enter(
        &self,
        method: &str,
        namespace: Option<&str>,
    ) -> Result<Option<PollPermit>, Status> {
        let (Some(namespace), true) = (namespace, LONG_RUNNING.contains(&method)) else {
            return Ok(None);
        };
        let key = (namespace.to_string(), method.to_string());
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key.clone()).or_default();
        if *count >= self.max {
            return Err(errors::with_detail(
                Code::ResourceExhausted,
                "namespace concurrent poller limit exceeded".to_string(),
                ResourceExhaustedFailure {
                    cause: ResourceExhaustedCause::ConcurrentLimit as i32,
                    scope: ResourceExhaustedScope::Namespace as i32,
                },
            ));
        }
        *count += 1;
        Ok(Some(PollPermit {
            key,
            open: self.open.clone(),
        }))
    }
}

#[cfg(test)]
mod long_poll_tests {
    use super::*;

    #[test]
    fn long_polls_are_bounded_per_namespace_and_api() {
        let limits = LongPollLimits::new(2);
        let first = limits.enter("PollActivityTaskQueue", Some("a")).unwrap();
        let _second = limits.enter("PollActivityTaskQueue", Some("a")).unwrap();
        let refused = limits
            .enter("PollActivityTaskQueue", Some("a"))
            .err()
            .unwrap();
        assert_eq!(
            refused.message(),
            "namespace concurrent poller limit exceeded"
        );
        assert!(
            limits
                .enter("PollWorkflowTaskQueue", Some("a"))
                .unwrap()
                .is_some()
        );
        assert!(
            limits
                .enter("PollActivityTaskQueue", Some("b"))
                .unwrap()
                .is_some()
        );
        assert!(
            limits
                .enter("StartWorkflowExecution", Some("a"))
                .unwrap()
                .is_none()
        );
        drop(first);
        assert!(
            limits
                .enter("PollActivityTaskQueue", Some("a"))
                .unwrap()
                .is_some()
        );
    }
}
