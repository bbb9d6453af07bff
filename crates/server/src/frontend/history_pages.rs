//! `GetWorkflowExecutionHistory` and its reverse form: pages of a run's history with a
//! continuation token, the close-event filter, and long polls for new events.

use std::time::Duration;

use prost::Message;
use temper_api::proto::enums::v1::HistoryEventFilterType;
use temper_api::proto::history::v1::History as HistoryPage;
use temper_api::proto::workflowservice::v1::*;
use tonic::Status;

use crate::errors;

use super::Frontend;

/// Longest a history long poll waits before answering with a "continue" token.
const HISTORY_LONG_POLL_WAIT: Duration = Duration::from_secs(20);
const DEFAULT_HISTORY_PAGE_SIZE: usize = 1000;

/// Where a history page continues.
#[derive(Clone, PartialEq, prost::Message)]
struct HistoryPageToken {
    #[prost(string, tag = "1")]
    run_id: String,
    #[prost(int64, tag = "2")]
    next_event_id: i64,
}

/// Where a page token of run `run_id` continues (`None` for no token: the first page).
fn token_position(token: &[u8], run_id: &str) -> Result<Option<i64>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    let token =
        HistoryPageToken::decode(token).map_err(|_| errors::invalid("Invalid NextPageToken."))?;
    if token.run_id != run_id {
        return Err(errors::invalid(
            "Invalid NextPageToken: it belongs to another run.",
        ));
    }
    Ok(Some(token.next_event_id))
}

impl Frontend {
    /// A page of a run's history, long-polling for new events when asked (`wait_new_event`).
    pub(super) async fn history_page(
        &self,
        request: GetWorkflowExecutionHistoryRequest,
    ) -> Result<GetWorkflowExecutionHistoryResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let exec = self
            .history
            .resolve(&request.namespace, request.execution.as_ref())
            .await?;
        let first_event_id = match token_position(&request.next_page_token, &exec.run_id)? {
            Some(next_event_id) => next_event_id.max(1),
            None => 1,
        };
        let run_id = exec.run_id.clone();
        let continue_token = |next_event_id: i64| {
            HistoryPageToken {
                run_id: run_id.clone(),
                next_event_id,
            }
            .encode_to_vec()
        };
        let close_only =
            request.history_event_filter_type == HistoryEventFilterType::CloseEvent as i32;
        let page_size = if request.maximum_page_size > 0 {
            request.maximum_page_size as usize
        } else {
            DEFAULT_HISTORY_PAGE_SIZE
        };
        let deadline = tokio::time::Instant::now() + HISTORY_LONG_POLL_WAIT;
        loop {
            let seen = self.history.change_version(&run_id);
            let Some(exec) = self.history.snapshot(&run_id).await? else {
                return Err(errors::workflow_not_found(&exec.workflow_id, &run_id));
            };
            let open = exec.is_running();
            if close_only {
                if !open {
                    let events = self
                        .history
                        .read_history(&run_id, exec.next_event_id - 1, 1)
                        .await?;
                    return Ok(GetWorkflowExecutionHistoryResponse {
                        history: Some(HistoryPage { events }),
                        ..Default::default()
                    });
                }
            } else if first_event_id < exec.next_event_id {
                let events = self
                    .history
                    .read_history(&run_id, first_event_id, page_size)
                    .await?;
                let next = events.last().map_or(first_event_id, |e| e.event_id + 1);
                let more = next < exec.next_event_id || (open && request.wait_new_event);
                return Ok(GetWorkflowExecutionHistoryResponse {
                    history: Some(HistoryPage { events }),
                    next_page_token: if more { continue_token(next) } else { vec![] },
                    ..Default::default()
                });
            } else if !open {
                return Ok(GetWorkflowExecutionHistoryResponse {
                    history: Some(HistoryPage::default()),
                    ..Default::default()
                });
            }
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !request.wait_new_event || remaining.is_zero() {
                return Ok(GetWorkflowExecutionHistoryResponse {
                    history: Some(HistoryPage::default()),
                    next_page_token: continue_token(first_event_id),
                    ..Default::default()
                });
            }
            self.history.wait_for_change(&run_id, seen, remaining).await;
        }
    }

    /// A page of a run's history, newest events first.
    pub(super) async fn history_page_reverse(
        &self,
        request: GetWorkflowExecutionHistoryReverseRequest,
    ) -> Result<GetWorkflowExecutionHistoryReverseResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let exec = self
            .history
            .resolve(&request.namespace, request.execution.as_ref())
            .await?;
        let last_event_id = token_position(&request.next_page_token, &exec.run_id)?
            .unwrap_or(exec.next_event_id - 1);
        let page_size = if request.maximum_page_size > 0 {
            request.maximum_page_size as i64
        } else {
            DEFAULT_HISTORY_PAGE_SIZE as i64
        };
        let first = (last_event_id - page_size + 1).max(1);
        let mut events = if last_event_id >= 1 {
            self.history
                .read_history(&exec.run_id, first, (last_event_id - first + 1) as usize)
                .await?
        } else {
            vec![]
        };
        events.reverse();
        let next_page_token = if first > 1 {
            HistoryPageToken {
                run_id: exec.run_id.clone(),
                next_event_id: first - 1,
            }
            .encode_to_vec()
        } else {
            vec![]
        };
        Ok(GetWorkflowExecutionHistoryReverseResponse {
            history: Some(HistoryPage { events }),
            next_page_token,
        })
    }
}
