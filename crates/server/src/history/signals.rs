//! Requests that only change an open run: signals, cancellation requests and termination.

use temper_api::proto::common::v1::WorkflowExecution;
use temper_engine::Execution;
use tonic::Status;

use crate::errors;
use crate::history::History;

impl History {
    /// Runs an operation on the run `execution` names, which must still be open (signal,
    /// cancel and terminate requests); the state after it.
    pub async fn transact_open_run<R>(
        &self,
        namespace: &str,
        execution: Option<&WorkflowExecution>,
        operation: impl FnOnce(&mut temper_engine::Transition<'_>) -> R,
    ) -> Result<Execution, Status> {
        let exec = self.resolve(namespace, execution).await?;
        let applied = self
            .transact(&exec.run_id, |t| {
                if t.execution().is_running() {
                    Some(operation(t))
                } else {
                    None
                }
            })
            .await?;
        match applied.value {
            Some(_) => Ok(std::sync::Arc::unwrap_or_clone(applied.execution)),
            None => Err(errors::already_completed()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use temper_api::proto::common::v1::WorkflowType;
    use temper_api::proto::taskqueue::v1::TaskQueue;
    use temper_api::proto::workflowservice::v1::StartWorkflowExecutionRequest;
    use temper_store::Store;
    use temper_store::sqlite::SqliteStore;

    use crate::history::History;

    async fn history(store: Arc<dyn Store>) -> History {
        let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
        let namespaces = Arc::new(
            crate::namespaces::Namespaces::load(store.clone(), &[])
                .await
                .expect("namespaces"),
        );
        let endpoints =
            crate::nexus::NexusEndpoints::load(store.clone(), namespaces, clock.clone())
                .await
                .expect("endpoints");
        History::new(
            store,
            clock,
            Arc::default(),
            Arc::default(),
            temper_engine::HistoryLimits::default(),
            endpoints,
            crate::RUN_CACHE_MIB << 20,
        )
    }

    fn start_request() -> StartWorkflowExecutionRequest {
        StartWorkflowExecutionRequest {
            namespace: "default".into(),
            workflow_id: "signaled".into(),
            workflow_type: Some(WorkflowType { name: "W".into() }),
            task_queue: Some(TaskQueue {
                name: "q".into(),
                ..Default::default()
            }),
            request_id: "start".into(),
            ..Default::default()
        }
    }

    /// The run's stored state stays the same size however many signals it received, and a
    /// retried signal still changes nothing.
    #[tokio::test]
    async fn signal_request_ids_are_kept_beside_the_state_not_in_it() {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().expect("store"));
        let history = history(store.clone()).await;
        let (run_id, _) = history
            .start_workflow("default", &start_request(), None)
            .await
            .expect("started");
        let signal = |request_id: String| {
            let history = &history;
            let run_id = run_id.clone();
            async move {
                history
                    .transact(&run_id, |t| t.signal("s", None, "c", None, &request_id))
                    .await
                    .expect("signaled")
                    .execution
            }
        };
        signal("first".into()).await;
        let stored = store.load_execution(&run_id).await.unwrap().expect("run");
        let size_after_one = prost::Message::encoded_len(&stored);
        for n in 0..100 {
            signal(format!("request-{n}")).await;
        }
        let stored = store.load_execution(&run_id).await.unwrap().expect("run");
        assert!(stored.signal_request_ids.is_empty());
        let size_after_many = prost::Message::encoded_len(&stored);
        assert!(
            size_after_many < size_after_one + 32,
            "{size_after_one} → {size_after_many} bytes"
        );
        let retried = signal("first".into()).await;
        assert_eq!(retried.next_event_id, stored.next_event_id);
        assert_eq!(
            store.load_execution(&run_id).await.unwrap().expect("run"),
            stored
        );
    }
}
