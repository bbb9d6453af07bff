//! A batch operation as stored: the request that started it, its state and counts, and
//! where it is in its targets (the page of executions being worked through, and how to get
//! the next one). Written after every execution acted on, so a restart resumes at the next
//! execution and the counts stay exact.

use temper_api::proto::common::v1::WorkflowExecution;
use temper_api::proto::workflowservice::v1::StartBatchOperationRequest;

#[derive(Clone, PartialEq, prost::Message)]
pub struct BatchRecord {
    #[prost(message, optional, tag = "1")]
    pub request: Option<StartBatchOperationRequest>,
    /// `temporal.api.enums.v1.BatchOperationState`.
    #[prost(int32, tag = "2")]
    pub state: i32,
    #[prost(int64, tag = "3")]
    pub start_time_ms: i64,
    #[prost(int64, tag = "4")]
    pub close_time_ms: i64,
    #[prost(int64, tag = "5")]
    pub total: i64,
    #[prost(int64, tag = "6")]
    pub complete: i64,
    #[prost(int64, tag = "7")]
    pub failure: i64,
    /// The executions of the page being worked through.
    #[prost(message, repeated, tag = "8")]
    pub page: Vec<WorkflowExecution>,
    /// The next execution of `page` to act on.
    #[prost(int64, tag = "9")]
    pub page_index: i64,
    /// Query mode: the visibility page token after `page`.
    #[prost(bytes = "vec", tag = "10")]
    pub next_page_token: Vec<u8>,
    /// List mode: how many of the request's executions have been paged.
    #[prost(int64, tag = "11")]
    pub listed: i64,
    /// No page follows `page`.
    #[prost(bool, tag = "12")]
    pub exhausted: bool,
    /// The store's version of this record (optimistic concurrency).
    #[prost(int64, tag = "13")]
    pub version: i64,
}

impl BatchRecord {
    pub fn request(&self) -> &StartBatchOperationRequest {
        self.request.as_ref().unwrap_or_else(|| default_request())
    }

    pub fn namespace(&self) -> &str {
        &self.request().namespace
    }

    pub fn job_id(&self) -> &str {
        &self.request().job_id
    }
}

fn default_request() -> &'static StartBatchOperationRequest {
    static EMPTY: std::sync::OnceLock<StartBatchOperationRequest> = std::sync::OnceLock::new();
    EMPTY.get_or_init(StartBatchOperationRequest::default)
}

impl crate::records::StoredState for BatchRecord {
    const KIND: temper_store::RecordKind = temper_store::RecordKind::BatchOperation;

    fn namespace(&self) -> &str {
        BatchRecord::namespace(self)
    }

    fn id(&self) -> String {
        self.job_id().to_string()
    }

    fn version_mut(&mut self) -> &mut i64 {
        &mut self.version
    }
}
