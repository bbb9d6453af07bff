//! `ListWorkers` and `CountWorkers`: a namespace's workers that match a query in Temporal's
//! worker query language (`TaskQueue = 'q' AND Status = 'Running'`, `StartTime > '…'`),
//! evaluated in memory. A syntax error is INVALID_ARGUMENT; a field the language does not
//! know matches nothing, as in Temporal. Workers whose task queue starts with
//! `temporal-sys-` are listed only when asked for.

use temper_api::proto::worker::v1::{WorkerHeartbeat, WorkerInfo, WorkerListInfo};
use temper_api::proto::workflowservice::v1::{
    CountWorkersRequest, CountWorkersResponse, ListWorkersRequest, ListWorkersResponse,
};
use tonic::Status;

use super::{Workers, field};
use crate::errors;

const SYSTEM_QUEUE_PREFIX: &str = "temporal-sys-";

impl Workers {
    // `workers_info` is deprecated, but it is the field the CLI reads: both are filled.
    #[allow(deprecated)]
    pub fn list(&self, request: ListWorkersRequest) -> Result<ListWorkersResponse, Status> {
        let matching = self.matching(
            &request.namespace,
            &request.query,
            request.include_system_workers,
        )?;
        let after = String::from_utf8(request.next_page_token)
            .map_err(|_| errors::invalid("invalid next_page_token"))?;
        let mut page: Vec<WorkerHeartbeat> = matching
            .into_iter()
            .filter(|w| after.is_empty() || w.worker_instance_key > after)
            .collect();
        // No page size (or a negative one) lists every match, as Temporal does.
        let page_size = usize::try_from(request.page_size).unwrap_or(0);
        let mut next_page_token = Vec::new();
        if page_size > 0 && page.len() > page_size {
            page.truncate(page_size);
            next_page_token = page
                .last()
                .map(|w| w.worker_instance_key.clone().into_bytes())
                .unwrap_or_default();
        }
        Ok(ListWorkersResponse {
            workers: page.iter().map(list_info).collect(),
            workers_info: page
                .into_iter()
                .map(|heartbeat| WorkerInfo {
                    worker_heartbeat: Some(heartbeat),
                })
                .collect(),
            next_page_token,
        })
    }

    pub fn count(&self, request: CountWorkersRequest) -> Result<CountWorkersResponse, Status> {
        let matching = self.matching(
            &request.namespace,
            &request.query,
            request.include_system_workers,
        )?;
        Ok(CountWorkersResponse {
            count: matching.len() as i64,
        })
    }

    /// The namespace's workers the query selects, by instance key.
    fn matching(
        &self,
        namespace: &str,
        query: &str,
        include_system: bool,
    ) -> Result<Vec<WorkerHeartbeat>, Status> {
        self.namespaces.require(namespace)?;
        let query = temper_query::parse(query)
            .map_err(|e| errors::invalid(format!("malformed query: {e}")))?;
        Ok(self
            .of_namespace(namespace)
            .into_iter()
            .filter(|w| include_system || !w.task_queue.starts_with(SYSTEM_QUEUE_PREFIX))
            .filter(|w| temper_query::evaluate(&query, &|name| field(w, name)))
            .collect())
    }
}

/// The summary `ListWorkers` gives beside the full heartbeat.
fn list_info(heartbeat: &WorkerHeartbeat) -> WorkerListInfo {
    let host = heartbeat.host_info.clone().unwrap_or_default();
    WorkerListInfo {
        worker_instance_key: heartbeat.worker_instance_key.clone(),
        worker_identity: heartbeat.worker_identity.clone(),
        task_queue: heartbeat.task_queue.clone(),
        deployment_version: heartbeat.deployment_version.clone(),
        sdk_name: heartbeat.sdk_name.clone(),
        sdk_version: heartbeat.sdk_version.clone(),
        status: heartbeat.status,
        start_time: heartbeat.start_time,
        host_name: host.host_name,
        worker_grouping_key: host.worker_grouping_key,
        process_id: host.process_id,
        plugins: heartbeat.plugins.clone(),
        drivers: heartbeat.drivers.clone(),
    }
}
