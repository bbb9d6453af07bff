//! Queries in flight: a query task waits for its worker's answer here.

use temper_api::proto::query::v1::WorkflowQuery;
use temper_engine::Execution;
use tokio::sync::oneshot;

use super::History;
use crate::matching::{QueueKind, QueuedTask};

/// A worker's answer to a query task.
pub enum QueryAnswer {
    Answered(Option<temper_api::proto::common::v1::Payloads>),
    Failed(String, Box<Option<temper_api::proto::failure::v1::Failure>>),
}

/// Unregisters a pending query when the waiting RPC ends.
pub struct QueryRegistration<'a> {
    history: &'a History,
    id: String,
}

impl Drop for QueryRegistration<'_> {
    fn drop(&mut self) {
        self.history
            .queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

impl History {
    /// Registers a query waiting for a worker's answer; the guard unregisters it when dropped.
    pub fn register_query(
        &self,
    ) -> (
        String,
        oneshot::Receiver<QueryAnswer>,
        QueryRegistration<'_>,
    ) {
        let id = uuid::Uuid::new_v4().to_string();
        let (sender, receiver) = oneshot::channel();
        self.queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), sender);
        (
            id.clone(),
            receiver,
            QueryRegistration { history: self, id },
        )
    }

    /// Delivers a worker's answer; false if nobody waits for this query any more.
    pub fn answer_query(&self, query_id: &str, answer: QueryAnswer) -> bool {
        let sender = self
            .queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(query_id);
        sender.is_some_and(|s| s.send(answer).is_ok())
    }

    pub fn offer_query(&self, exec: &Execution, query_id: &str, query: WorkflowQuery) {
        self.matching.offer(
            &exec.namespace,
            &exec.task_queue,
            QueueKind::Workflow,
            QueuedTask::Query {
                run_id: exec.run_id.clone(),
                query_id: query_id.to_string(),
                query,
            },
        );
    }
}
