//! Prometheus metrics, under Temporal's server metric names and labels so a Temporal dashboard
//! finds them: `service_requests`, `service_latency`, `service_error_with_type`,
//! `service_errors_resource_exhausted` per RPC (`operation`, `namespace`, `service_name`);
//! `workflow_success`/`_failed`/`_timeout`/`_terminate`/`_cancel`/`_continued_as_new` per
//! namespace, task queue and workflow type; `poll_success`, `poll_timeouts` and
//! `task_schedule_to_start_latency` per task queue; `approximate_backlog_count`;
//! `persistence_requests`/`_latency`/`_error_with_type` per store operation (recorded by
//! `metered_store.rs`) and `visibility_persistence_*` for visibility reads; the process's
//! CPU and memory; and Temper's own (`temper_cached_runs`, and `temper_group_commits` /
//! `temper_group_commit_writes`, whose ratio is the store's mean group-commit size). Counters carry no `_total`
//! suffix, as in Temporal's exposition. [`serve`] answers `GET /metrics` on the metrics port.
//!
//! The metrics are process-wide statics: every part of the server records without being
//! handed a registry.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use temper_api::proto::enums::v1::WorkflowExecutionStatus;
use temper_engine::Execution;

use crate::history::History;
use crate::matching::Matching;

/// Latency buckets in seconds (Temporal's server uses the same spread).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0,
];

/// The namespace label of requests that name none, as Temporal labels them.
pub const UNKNOWN_NAMESPACE: &str = "_unknown_";

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let registry = Registry::new();
    let collector = prometheus::process_collector::ProcessCollector::for_self();
    // Registering a fresh collector in a fresh registry cannot clash.
    let _ = registry.register(Box::new(collector));
    registry
});

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| unreachable!("metric {name} is well formed: {e}"));
    let _ = REGISTRY.register(Box::new(counter.clone()));
    counter
}

fn histogram(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
    let histogram = HistogramVec::new(opts, labels)
        .unwrap_or_else(|e| unreachable!("metric {name} is well formed: {e}"));
    let _ = REGISTRY.register(Box::new(histogram.clone()));
    histogram
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let gauge = IntGaugeVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| unreachable!("metric {name} is well formed: {e}"));
    let _ = REGISTRY.register(Box::new(gauge.clone()));
    gauge
}

const RPC_LABELS: &[&str] = &["namespace", "operation", "service_name"];
const WORKFLOW_LABELS: &[&str] = &[
    "namespace",
    "namespace_state",
    "operation",
    "service_name",
    "taskqueue",
    "workflowType",
];
const POLL_LABELS: &[&str] = &[
    "namespace",
    "operation",
    "service_name",
    "taskqueue",
    "task_type",
];

static SERVICE_REQUESTS: LazyLock<IntCounterVec> =
    LazyLock::new(|| counter("service_requests", "RPCs received", RPC_LABELS));
static SERVICE_LATENCY: LazyLock<HistogramVec> =
    LazyLock::new(|| histogram("service_latency", "RPC latency in seconds", RPC_LABELS));
static SERVICE_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let labels = ["error_type", "namespace", "operation", "service_name"];
    counter(
        "service_error_with_type",
        "RPCs answered with an error",
        &labels,
    )
});
static RESOURCE_EXHAUSTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let help = "RPCs refused for lack of a resource";
    counter("service_errors_resource_exhausted", help, RPC_LABELS)
});
static WORKFLOW_CLOSES: LazyLock<[IntCounterVec; 6]> = LazyLock::new(|| {
    [
        ("workflow_success", "runs completed"),
        ("workflow_failed", "runs failed"),
        ("workflow_timeout", "runs timed out"),
        ("workflow_terminate", "runs terminated"),
        ("workflow_cancel", "runs canceled"),
        ("workflow_continued_as_new", "runs continued as new"),
    ]
    .map(|(name, help)| counter(name, help, WORKFLOW_LABELS))
});
static POLL_SUCCESS: LazyLock<IntCounterVec> =
    LazyLock::new(|| counter("poll_success", "polls answered with a task", POLL_LABELS));
static POLL_TIMEOUTS: LazyLock<IntCounterVec> =
    LazyLock::new(|| counter("poll_timeouts", "polls answered empty", POLL_LABELS));
static SCHEDULE_TO_START: LazyLock<HistogramVec> = LazyLock::new(|| {
    let help = "time from a task's scheduling to its start, in seconds";
    histogram("task_schedule_to_start_latency", help, POLL_LABELS)
});
static BACKLOG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    let labels = ["namespace", "service_name", "taskqueue", "task_type"];
    gauge(
        "approximate_backlog_count",
        "tasks waiting in a queue",
        &labels,
    )
});
static PERSISTENCE_REQUESTS: LazyLock<IntCounterVec> =
    LazyLock::new(|| counter("persistence_requests", "store calls", RPC_LABELS));
static PERSISTENCE_LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    histogram(
        "persistence_latency",
        "store call latency in seconds",
        RPC_LABELS,
    )
});
static PERSISTENCE_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let labels = ["error_type", "namespace", "operation", "service_name"];
    counter(
        "persistence_error_with_type",
        "store calls that failed",
        &labels,
    )
});
const VISIBILITY_LABELS: &[&str] = &[
    "operation",
    "service_name",
    "visibility_index_name",
    "visibility_plugin_name",
];
static VISIBILITY_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "visibility_persistence_requests",
        "visibility store calls",
        VISIBILITY_LABELS,
    )
});
static VISIBILITY_LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    let help = "visibility store call latency in seconds";
    histogram("visibility_persistence_latency", help, VISIBILITY_LABELS)
});
static CACHED_RUNS: LazyLock<IntGauge> = LazyLock::new(|| {
    let gauge = IntGauge::new("temper_cached_runs", "runs held in memory")
        .unwrap_or_else(|e| unreachable!("metric temper_cached_runs is well formed: {e}"));
    let _ = REGISTRY.register(Box::new(gauge.clone()));
    gauge
});
static CACHED_RUN_BYTES: LazyLock<IntGauge> = LazyLock::new(|| {
    let help = "estimated memory of the runs held in memory (bounded by the run cache's budget)";
    let gauge = IntGauge::new("temper_cached_run_bytes", help)
        .unwrap_or_else(|e| unreachable!("metric temper_cached_run_bytes is well formed: {e}"));
    let _ = REGISTRY.register(Box::new(gauge.clone()));
    gauge
});

static GROUP_COMMITS: LazyLock<IntCounter> = LazyLock::new(|| {
    let help = "transactions committed by the store's group commit";
    registered_counter("temper_group_commits", help)
});
static GROUP_COMMIT_WRITES: LazyLock<IntCounter> = LazyLock::new(|| {
    let help =
        "write requests those transactions carried (per temper_group_commits: the mean group size)";
    registered_counter("temper_group_commit_writes", help)
});

fn registered_counter(name: &str, help: &str) -> IntCounter {
    let counter = IntCounter::new(name, help)
        .unwrap_or_else(|e| unreachable!("metric {name} is well formed: {e}"));
    let _ = REGISTRY.register(Box::new(counter.clone()));
    counter
}

/// Brings a counter up to a total kept elsewhere (the store counts its own commits).
fn catch_up(counter: &IntCounter, total: u64) {
    counter.inc_by(total.saturating_sub(counter.get()));
}

/// Records one RPC: its outcome (gRPC status code) and duration.
pub fn rpc(operation: &str, namespace: &str, code: i32, elapsed: Duration) {
    let labels = [namespace, operation, "frontend"];
    SERVICE_REQUESTS.with_label_values(&labels).inc();
    SERVICE_LATENCY
        .with_label_values(&labels)
        .observe(elapsed.as_secs_f64());
    if code != 0 {
        let error_type = error_type(code);
        SERVICE_ERRORS
            .with_label_values(&[error_type, namespace, operation, "frontend"])
            .inc();
        if code == tonic::Code::ResourceExhausted as i32 {
            RESOURCE_EXHAUSTED.with_label_values(&labels).inc();
        }
    }
}

/// Temporal's `error_type` label: its Go service error's type name.
fn error_type(code: i32) -> &'static str {
    use tonic::Code;
    match Code::from(code) {
        Code::Cancelled => "serviceerror_Canceled",
        Code::InvalidArgument => "serviceerror_InvalidArgument",
        Code::DeadlineExceeded => "serviceerror_DeadlineExceeded",
        Code::NotFound => "serviceerror_NotFound",
        Code::AlreadyExists => "serviceerror_AlreadyExists",
        Code::PermissionDenied => "serviceerror_PermissionDenied",
        Code::ResourceExhausted => "serviceerror_ResourceExhausted",
        Code::FailedPrecondition => "serviceerror_FailedPrecondition",
        Code::Aborted => "serviceerror_Aborted",
        Code::Unimplemented => "serviceerror_Unimplemented",
        Code::Unavailable => "serviceerror_Unavailable",
        Code::Unauthenticated => "serviceerror_Unauthenticated",
        Code::Internal => "serviceerror_Internal",
        _ => "serviceerror_Unknown",
    }
}

/// Records one visibility read (Temporal counts its visibility store apart, by plugin).
pub fn visibility(operation: &str, plugin: &str, elapsed: Duration) {
    let labels = [operation, "frontend", "temper", plugin];
    VISIBILITY_REQUESTS.with_label_values(&labels).inc();
    VISIBILITY_LATENCY
        .with_label_values(&labels)
        .observe(elapsed.as_secs_f64());
}

/// Records one store call.
pub fn persistence(
    operation: &str,
    namespace: &str,
    elapsed: Duration,
    error: Option<&temper_store::StoreError>,
) {
    let labels = [namespace, operation, "history"];
    PERSISTENCE_REQUESTS.with_label_values(&labels).inc();
    PERSISTENCE_LATENCY
        .with_label_values(&labels)
        .observe(elapsed.as_secs_f64());
    if let Some(error) = error {
        let error_type = match error {
            temper_store::StoreError::Conflict(..) => "ConditionFailedError",
            temper_store::StoreError::AlreadyExists(_) => "AlreadyExistsError",
            temper_store::StoreError::NotFound(_) => "NotFoundError",
            _ => "Unavailable",
        };
        PERSISTENCE_ERRORS
            .with_label_values(&[error_type, namespace, operation, "history"])
            .inc();
    }
}

/// Records a run's close by its status.
pub fn workflow_closed(exec: &Execution) {
    use WorkflowExecutionStatus as S;
    let index = match S::try_from(exec.status) {
        Ok(S::Completed) => 0,
        Ok(S::Failed) => 1,
        Ok(S::TimedOut) => 2,
        Ok(S::Terminated) => 3,
        Ok(S::Canceled) => 4,
        Ok(S::ContinuedAsNew) => 5,
        _ => return,
    };
    let labels = [
        exec.namespace.as_str(),
        "active",
        "CompletionStats",
        "history",
        exec.task_queue.as_str(),
        exec.workflow_type.as_str(),
    ];
    WORKFLOW_CLOSES[index].with_label_values(&labels).inc();
}

/// Records a poll's answer: a task scheduled `waited` ago, or nothing.
pub fn poll(operation: &str, namespace: &str, queue: &str, task: Option<Duration>) {
    let task_type = if operation == "PollActivityTaskQueue" {
        "Activity"
    } else {
        "Workflow"
    };
    let labels = [namespace, operation, "matching", queue, task_type];
    match task {
        Some(waited) => {
            POLL_SUCCESS.with_label_values(&labels).inc();
            SCHEDULE_TO_START
                .with_label_values(&labels)
                .observe(waited.as_secs_f64());
        }
        None => POLL_TIMEOUTS.with_label_values(&labels).inc(),
    }
}

/// The exposition: gauges read from the server's state now, then everything.
fn render(history: &History, matching: &Matching) -> String {
    BACKLOG.reset();
    for (namespace, queue, kind, count) in matching.backlogs() {
        let task_type = match kind {
            crate::matching::QueueKind::Workflow => "Workflow",
            crate::matching::QueueKind::Activity => "Activity",
            crate::matching::QueueKind::Nexus => "Nexus",
        };
        BACKLOG
            .with_label_values(&[namespace.as_str(), "matching", queue.as_str(), task_type])
            .set(count as i64);
    }
    CACHED_RUNS.set(history.cached_runs() as i64);
    CACHED_RUN_BYTES.set(history.cached_run_bytes() as i64);
    let (groups, writes) = history.store().group_commits();
    catch_up(&GROUP_COMMITS, groups);
    catch_up(&GROUP_COMMIT_WRITES, writes);
    let mut out = Vec::new();
    // Encoding metric families to a Vec cannot fail.
    let _ = TextEncoder::new().encode(&REGISTRY.gather(), &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Serves `GET /metrics` on `listener` until the server stops.
pub async fn serve<L>(listener: L, history: Arc<History>, matching: Arc<Matching>)
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    use axum::routing::get;
    // Touch the lazily registered metrics so the first scrape lists them all.
    LazyLock::force(&SERVICE_REQUESTS);
    LazyLock::force(&WORKFLOW_CLOSES);
    LazyLock::force(&POLL_SUCCESS);
    LazyLock::force(&PERSISTENCE_REQUESTS);
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let (history, matching) = (history.clone(), matching.clone());
            async move {
                (
                    [("content-type", prometheus::TEXT_FORMAT)],
                    render(&history, &matching),
                )
            }
        }),
    );
    if let Err(error) = axum::serve(listener, app).await {
        tracing::warn!(%error, "metrics endpoint stopped");
    }
}
