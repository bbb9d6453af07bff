//! Visibility queries, timed after the `e2e` load over the runs it completed: `--visibility-
//! queries` sequential `CountWorkflowExecutions` and as many first pages of 100 of
//! `ListWorkflowExecutions`, both filtered on the load's task queue and the Completed status.
//! Prints queries per second and p50 latency of each kind. Calls the server rate-limits are
//! retried, the wait counting as latency.

use std::time::{Duration, Instant};

use temper_api::proto::workflowservice::v1::{
    CountWorkflowExecutionsRequest, CountWorkflowExecutionsResponse, ListWorkflowExecutionsRequest,
    ListWorkflowExecutionsResponse,
};

use crate::grpc::{self, Client};
use crate::{Error, Figure, ms, percentile};

/// Latencies of sequential visibility queries of one kind.
pub struct QueryTimes {
    kind: &'static str,
    /// The name of its throughput figure.
    figure: &'static str,
    latencies: Vec<Duration>,
}

impl QueryTimes {
    fn per_second(&self) -> f64 {
        let total: Duration = self.latencies.iter().sum();
        self.latencies.len() as f64 / total.as_secs_f64().max(1e-9)
    }

    fn p50_ms(&self) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        ms(percentile(&sorted, 0.5))
    }

    pub fn line(&self) -> String {
        format!(
            "visibility {} {} at {:.0}/s, p50 {:.2} ms",
            self.latencies.len(),
            self.kind,
            self.per_second(),
            self.p50_ms()
        )
    }

    pub fn figure(&self) -> Figure {
        Figure::higher(self.figure, self.per_second())
    }
}

/// Times `queries` counts and `queries` first list pages over the runs on `task_queue`; none
/// when `queries` is 0.
pub async fn run(
    client: &Client,
    task_queue: &str,
    queries: usize,
) -> Result<Vec<QueryTimes>, Error> {
    if queries == 0 {
        return Ok(Vec::new());
    }
    let query = format!("TaskQueue = '{task_queue}' AND ExecutionStatus = 'Completed'");
    let mut counts = QueryTimes {
        kind: "counts",
        figure: "visibility counts/s",
        latencies: Vec::with_capacity(queries),
    };
    let mut lists = QueryTimes {
        kind: "list pages of 100",
        figure: "visibility list pages/s",
        latencies: Vec::with_capacity(queries),
    };
    for _ in 0..queries {
        let at = Instant::now();
        let count = CountWorkflowExecutionsRequest {
            namespace: grpc::NAMESPACE.into(),
            query: query.clone(),
        };
        let (counted, _) = client
            .call_until_admitted::<_, CountWorkflowExecutionsResponse>(grpc::COUNT, count)
            .await;
        counted?;
        counts.latencies.push(at.elapsed());
        let at = Instant::now();
        let list = ListWorkflowExecutionsRequest {
            namespace: grpc::NAMESPACE.into(),
            page_size: 100,
            query: query.clone(),
            ..Default::default()
        };
        let (listed, _) = client
            .call_until_admitted::<_, ListWorkflowExecutionsResponse>(grpc::LIST, list)
            .await;
        listed?;
        lists.latencies.push(at.elapsed());
    }
    Ok(vec![counts, lists])
}
