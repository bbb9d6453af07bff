//! The visibility RPCs on workflow runs: `ListWorkflowExecutions`, `ScanWorkflowExecutions`,
//! `CountWorkflowExecutions`, the legacy `ListOpenWorkflowExecutions`/
//! `ListClosedWorkflowExecutions` (their filters become a query) and `GetSearchAttributes`.
//! The query language, the attribute registry and the legacy filters are in
//! `crate::visibility`; this module pages and shapes the answers.

use temper_api::proto::workflow::v1::WorkflowExecutionInfo;
use temper_api::proto::workflowservice::v1::*;
use tonic::Status;

use super::Frontend;
use super::responses::execution_info;
use crate::errors;
use crate::namespaces;
use crate::visibility;

impl Frontend {
    /// One page of `ListWorkflowExecutions`/`ScanWorkflowExecutions`.
    async fn list_runs(
        &self,
        namespace: &str,
        query: &str,
        page_size: i32,
        page_token: &[u8],
    ) -> Result<(Vec<WorkflowExecutionInfo>, Vec<u8>), Status> {
        self.namespaces.require(namespace)?;
        let custom = self.namespaces.search_attributes(namespace)?;
        let filter = visibility::compile(query, &custom, self.history.store().dialect())?;
        let page_size = match usize::try_from(page_size) {
            Ok(0) | Err(_) => visibility::DEFAULT_PAGE_SIZE,
            Ok(n) => n.min(visibility::DEFAULT_PAGE_SIZE),
        };
        let page = self
            .history
            .store()
            .list_executions(namespace, &filter, page_size, page_token)
            .await
            .map_err(errors::storage)?;
        let executions = page
            .executions
            .iter()
            .map(|exec| {
                let mut info = execution_info(exec);
                // Temporal's visibility records do not carry the chain's first run.
                info.first_run_id = String::new();
                if let Some(attributes) = info.search_attributes.as_mut() {
                    visibility::annotate_types(attributes, &custom);
                }
                if exec.is_running() {
                    // Visibility records history counters at close, as Temporal's does.
                    info.history_length = 0;
                    info.history_size_bytes = 0;
                    info.state_transition_count = 0;
                }
                info
            })
            .collect();
        Ok((executions, page.next_page_token))
    }

    pub(super) async fn list_workflow_executions_op(
        &self,
        request: ListWorkflowExecutionsRequest,
    ) -> Result<ListWorkflowExecutionsResponse, Status> {
        let (executions, next_page_token) = self
            .list_runs(
                &request.namespace,
                &request.query,
                request.page_size,
                &request.next_page_token,
            )
            .await?;
        Ok(ListWorkflowExecutionsResponse {
            executions,
            next_page_token,
        })
    }

    pub(super) async fn scan_workflow_executions_op(
        &self,
        request: ScanWorkflowExecutionsRequest,
    ) -> Result<ScanWorkflowExecutionsResponse, Status> {
        let (executions, next_page_token) = self
            .list_runs(
                &request.namespace,
                &request.query,
                request.page_size,
                &request.next_page_token,
            )
            .await?;
        Ok(ScanWorkflowExecutionsResponse {
            executions,
            next_page_token,
        })
    }

    pub(super) async fn list_open_workflow_executions_op(
        &self,
        request: ListOpenWorkflowExecutionsRequest,
    ) -> Result<ListOpenWorkflowExecutionsResponse, Status> {
        use list_open_workflow_executions_request::Filters;
        visibility::check_time_range(request.start_time_filter.as_ref())
            .map_err(errors::invalid)?;
        let query = visibility::legacy_filter(
            true,
            "StartTime",
            request.start_time_filter.as_ref(),
            match &request.filters {
                Some(Filters::ExecutionFilter(f)) => Some(f),
                _ => None,
            },
            match &request.filters {
                Some(Filters::TypeFilter(f)) => Some(f),
                _ => None,
            },
            None,
        );
        let (executions, next_page_token) = self
            .list_runs(
                &request.namespace,
                &query,
                request.maximum_page_size,
                &request.next_page_token,
            )
            .await?;
        Ok(ListOpenWorkflowExecutionsResponse {
            executions,
            next_page_token,
        })
    }

    pub(super) async fn list_closed_workflow_executions_op(
        &self,
        request: ListClosedWorkflowExecutionsRequest,
    ) -> Result<ListClosedWorkflowExecutionsResponse, Status> {
        use list_closed_workflow_executions_request::Filters;
        visibility::check_time_range(request.start_time_filter.as_ref())
            .map_err(errors::invalid)?;
        // For closed runs the legacy time filter applies to the close time, as in Temporal's
        // SQL visibility.
        let query = visibility::legacy_filter(
            false,
            "CloseTime",
            request.start_time_filter.as_ref(),
            match &request.filters {
                Some(Filters::ExecutionFilter(f)) => Some(f),
                _ => None,
            },
            match &request.filters {
                Some(Filters::TypeFilter(f)) => Some(f),
                _ => None,
            },
            match &request.filters {
                Some(Filters::StatusFilter(f)) => Some(f),
                _ => None,
            },
        );
        let (executions, next_page_token) = self
            .list_runs(
                &request.namespace,
                &query,
                request.maximum_page_size,
                &request.next_page_token,
            )
            .await?;
        Ok(ListClosedWorkflowExecutionsResponse {
            executions,
            next_page_token,
        })
    }

    pub(super) async fn count_workflow_executions_op(
        &self,
        request: CountWorkflowExecutionsRequest,
    ) -> Result<CountWorkflowExecutionsResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let custom = self.namespaces.search_attributes(&request.namespace)?;
        let filter = visibility::compile(&request.query, &custom, self.history.store().dialect())?;
        if filter.order_by.is_some() {
            return Err(errors::invalid(
                "invalid query: operation is not supported: 'ORDER BY' clause",
            ));
        }
        let count = self
            .history
            .store()
            .count_executions(&request.namespace, &filter)
            .await
            .map_err(errors::storage)?;
        Ok(CountWorkflowExecutionsResponse {
            count: count.count,
            groups: visibility::count_groups(&count),
        })
    }

    pub(super) fn get_search_attributes_op(&self) -> Result<GetSearchAttributesResponse, Status> {
        let custom = self
            .namespaces
            .search_attributes(namespaces::DEFAULT_NAMESPACE)?;
        Ok(GetSearchAttributesResponse {
            keys: visibility::all_attributes(&custom),
        })
    }
}
