//! A schedule as stored: Temporal's `Schedule` (spec in canonical form) and `ScheduleInfo`,
//! plus the scheduler's own bookkeeping (where time processing stopped, buffered starts,
//! ongoing backfills, the last result handed to the next run). One record per schedule,
//! written whole after every change.

use temper_api::proto::common::v1::{Memo, Payloads, SearchAttributes};
use temper_api::proto::enums::v1::ScheduleOverlapPolicy;
use temper_api::proto::failure::v1::Failure;
use temper_api::proto::schedule::v1::{BackfillRequest, Schedule, ScheduleInfo};

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScheduleRecord {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub schedule_id: String,
    /// Seeds jitter, as Temporal's `<namespace id>-<schedule id>`.
    #[prost(string, tag = "3")]
    pub namespace_id: String,
    #[prost(message, optional, tag = "4")]
    pub schedule: Option<Schedule>,
    #[prost(message, optional, tag = "5")]
    pub info: Option<ScheduleInfo>,
    #[prost(message, optional, tag = "6")]
    pub memo: Option<Memo>,
    #[prost(message, optional, tag = "7")]
    pub search_attributes: Option<SearchAttributes>,
    #[prost(int64, tag = "8")]
    pub conflict_token: i64,
    /// Action times up to here (nanoseconds) have been processed.
    #[prost(int64, tag = "9")]
    pub last_processed_ns: i64,
    #[prost(message, repeated, tag = "10")]
    pub buffered: Vec<BufferedStart>,
    #[prost(message, repeated, tag = "11")]
    pub backfills: Vec<BackfillRequest>,
    #[prost(message, optional, tag = "12")]
    pub last_completion_result: Option<Payloads>,
    #[prost(message, optional, tag = "13")]
    pub continued_failure: Option<Failure>,
    /// The store's version of this record (optimistic concurrency).
    #[prost(int64, tag = "14")]
    pub version: i64,
}

/// An action waiting for the overlap policy to let it start.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BufferedStart {
    #[prost(int64, tag = "1")]
    pub nominal_ns: i64,
    #[prost(int64, tag = "2")]
    pub actual_ns: i64,
    #[prost(enumeration = "ScheduleOverlapPolicy", tag = "3")]
    pub overlap_policy: i32,
    /// Triggered or backfilled (not subject to pause, remaining actions or catch-up).
    #[prost(bool, tag = "4")]
    pub manual: bool,
}

impl ScheduleRecord {
    pub fn schedule(&self) -> &Schedule {
        const EMPTY: &Schedule = &Schedule {
            spec: None,
            action: None,
            policies: None,
            state: None,
        };
        self.schedule.as_ref().unwrap_or(EMPTY)
    }

    pub fn info_mut(&mut self) -> &mut ScheduleInfo {
        self.info.get_or_insert_with(Default::default)
    }

    pub fn jitter_seed(&self) -> String {
        format!("{}-{}", self.namespace_id, self.schedule_id)
    }
}

impl crate::records::StoredState for ScheduleRecord {
    const KIND: temper_store::RecordKind = temper_store::RecordKind::Schedule;

    fn namespace(&self) -> &str {
        &self.namespace
    }

    fn id(&self) -> String {
        self.schedule_id.clone()
    }

    fn version_mut(&mut self) -> &mut i64 {
        &mut self.version
    }
}
