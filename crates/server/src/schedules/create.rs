//! `CreateSchedule`: checks the schedule as Temporal's frontend does (spec canonicalised,
//! the workflow to start validated), stores it and takes its first wake-up (an initial patch
//! may trigger at once).

use temper_api::proto::common::v1::SearchAttributes;
use temper_api::proto::schedule::v1::{Schedule, ScheduleInfo, SchedulePolicies, ScheduleState};
use temper_api::proto::workflowservice::v1::{CreateScheduleRequest, CreateScheduleResponse};
use temper_schedule::CompiledSpec;
use tonic::Status;

use super::actions::{catchup_window_ns, resolve_policy, timestamp};
use super::{ScheduleRecord, Schedules};
use crate::errors;
use crate::validation::check_id;

/// Temporal's first conflict token.
const INITIAL_CONFLICT_TOKEN: i64 = 1;

impl Schedules {
    pub async fn create(
        &self,
        request: CreateScheduleRequest,
    ) -> Result<CreateScheduleResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        check_id(&request.schedule_id, "ScheduleId")?;
        if request.request_id.is_empty() {
            return Err(errors::invalid("RequestId is not set on request."));
        }
        let mut schedule = request.schedule.unwrap_or_default();
        self.check_schedule(&request.namespace, &mut schedule)?;
        let mut search_attributes = request.search_attributes;
        self.check_attributes(&request.namespace, search_attributes.as_mut())?;
        let namespace_id = self
            .namespaces
            .describe(&request.namespace)?
            .namespace_info
            .map(|info| info.id)
            .unwrap_or_default();
        // The id is reserved by an empty entry while the schedule is built and stored;
        // taken, it is ALREADY_EXISTS with the detail the SDKs look for.
        let entry = self
            .entries
            .claim(&request.namespace, &request.schedule_id, None)
            .ok_or_else(errors::schedule_already_running)?;
        let mut guard = entry.lock().await;
        let now = self.now_ns();
        let mut record = ScheduleRecord {
            namespace: request.namespace.clone(),
            schedule_id: request.schedule_id.clone(),
            namespace_id,
            schedule: Some(schedule),
            info: Some(ScheduleInfo {
                create_time: Some(timestamp(now)),
                ..Default::default()
            }),
            memo: request.memo,
            search_attributes,
            conflict_token: INITIAL_CONFLICT_TOKEN,
            last_processed_ns: now,
            ..Default::default()
        };
        if let Some(patch) = &request.initial_patch {
            self.apply_patch(&mut record, patch, now);
        }
        if let Err(status) = self.run(&mut record).await {
            self.entries
                .remove(&request.namespace, &request.schedule_id);
            return Err(status);
        }
        *guard = Some(record);
        Ok(CreateScheduleResponse {
            conflict_token: INITIAL_CONFLICT_TOKEN.to_be_bytes().to_vec(),
        })
    }

    /// Canonicalises the spec, checks the workflow to start and fills in Temporal's defaults
    /// (overlap policy SKIP, catch-up window 365 days), as Describe shows them.
    pub(super) fn check_schedule(
        &self,
        namespace: &str,
        schedule: &mut Schedule,
    ) -> Result<(), Status> {
        let spec = schedule.spec.take().unwrap_or_default();
        let compiled = CompiledSpec::new(&spec)
            .map_err(|error| errors::invalid(format!("Invalid schedule spec: {error}")))?;
        schedule.spec = Some(compiled.canonical().clone());
        self.check_start_workflow(namespace, schedule)?;
        let record = ScheduleRecord {
            schedule: Some(schedule.clone()),
            ..Default::default()
        };
        let policies = schedule
            .policies
            .get_or_insert_with(SchedulePolicies::default);
        policies.overlap_policy = resolve_policy(&record, policies.overlap_policy) as i32;
        let window_ms = catchup_window_ns(&record) / super::NANOS_PER_MS;
        policies.catchup_window = temper_engine::time::ms_duration(window_ms);
        schedule.state.get_or_insert_with(ScheduleState::default);
        Ok(())
    }

    /// The schedule's own search attributes, checked against the namespace's registry and
    /// typed, as for a workflow start.
    pub(super) fn check_attributes(
        &self,
        namespace: &str,
        attributes: Option<&mut SearchAttributes>,
    ) -> Result<(), Status> {
        let Some(attributes) = attributes else {
            return Ok(());
        };
        let custom = self.namespaces.search_attributes(namespace)?;
        crate::visibility::validate_search_attributes(Some(attributes), &custom)
            .map_err(errors::invalid)?;
        crate::visibility::annotate_types(attributes, &custom);
        Ok(())
    }

    fn check_start_workflow(&self, namespace: &str, schedule: &mut Schedule) -> Result<(), Status> {
        use temper_api::proto::enums::v1::{TaskQueueKind, WorkflowIdReusePolicy as Reuse};
        use temper_api::proto::schedule::v1::schedule_action::Action;
        let action = schedule.action.as_mut().and_then(|a| a.action.as_mut());
        let Some(Action::StartWorkflow(start)) = action else {
            return Ok(());
        };
        // The started id gets `-<RFC 3339 time>` appended; it must still be a valid id.
        check_id(
            &format!("{}-2009-11-10T23:00:00Z", start.workflow_id),
            "WorkflowId",
        )?;
        let type_name = start.workflow_type.as_ref().map_or("", |t| t.name.as_str());
        if type_name.is_empty() {
            return Err(errors::invalid("WorkflowType is not set on request."));
        }
        check_id(
            start.task_queue.as_ref().map_or("", |q| q.name.as_str()),
            "TaskQueue",
        )?;
        if let Some(queue) = start.task_queue.as_mut()
            && queue.kind == TaskQueueKind::Unspecified as i32
        {
            queue.kind = TaskQueueKind::Normal as i32;
        }
        if !start.cron_schedule.is_empty() {
            return Err(errors::invalid("Cron not allowed in schedule action"));
        }
        let reuse = start.workflow_id_reuse_policy;
        if reuse != Reuse::Unspecified as i32 && reuse != Reuse::AllowDuplicate as i32 {
            return Err(errors::invalid(
                "WorkflowIdReusePolicy must be unspecified or AllowDuplicate for schedules",
            ));
        }
        if let Some(attributes) = start.search_attributes.as_mut() {
            let custom = self.namespaces.search_attributes(namespace)?;
            crate::visibility::validate_search_attributes(Some(attributes), &custom)
                .map_err(errors::invalid)?;
        }
        Ok(())
    }
}
