//! Checks of a workflow-task completion's commands before any is applied, with Temporal's
//! causes and messages: the sequence as a whole, then each command against the run's state.

use temper_api::proto::command::v1::{
    self as command, Command, command::Attributes as CommandAttributes,
};
use temper_api::proto::enums::v1::WorkflowTaskFailedCause;
use temper_api::proto::history::v1::history_event::Attributes;

use std::collections::BTreeSet;

use super::Transition;
use super::errors::CompletionError;
use crate::limits::{MAX_ID_LENGTH, MAX_PENDING_ACTIVITIES};
use crate::retry;
use crate::time::{duration_ms, duration_problem};

pub(super) type CommandProblem = (WorkflowTaskFailedCause, String);

/// Checks a ScheduleActivityTask command: ids, timeouts, retry policy and the pending limit.
/// `activity_ids` holds the ids pending or scheduled earlier in the same completion, so its
/// size is the number of pending activities.
pub(super) fn validate_schedule_activity(
    a: &command::ScheduleActivityTaskCommandAttributes,
    activity_ids: &mut BTreeSet<String>,
) -> Result<(), CommandProblem> {
    use WorkflowTaskFailedCause as Cause;
    let bad = |m: String| Err((Cause::BadScheduleActivityAttributes, m));
    if a.activity_id.is_empty() {
        return bad("activityId is not set".into());
    }
    if a.activity_id.len() > MAX_ID_LENGTH {
        return bad(format!(
            "activityId exceeds length limit. Length={} Limit={MAX_ID_LENGTH}",
            a.activity_id.len()
        ));
    }
    if a.activity_type.as_ref().is_none_or(|t| t.name.is_empty()) {
        return bad("ActivityType is not set.".into());
    }
    for (name, timeout) in [
        ("ScheduleToCloseTimeout", &a.schedule_to_close_timeout),
        ("ScheduleToStartTimeout", &a.schedule_to_start_timeout),
        ("StartToCloseTimeout", &a.start_to_close_timeout),
        ("HeartbeatTimeout", &a.heartbeat_timeout),
    ] {
        if let Some(problem) = duration_problem(timeout.as_ref()) {
            return bad(format!("invalid {name}: {problem}"));
        }
    }
    if duration_ms(a.schedule_to_close_timeout.as_ref()) == 0
        && duration_ms(a.start_to_close_timeout.as_ref()) == 0
    {
        return bad(
            "A valid StartToCloseTimeout or ScheduleToCloseTimeout is not set on ScheduleActivityTaskCommand.".into(),
        );
    }
    if let Some(policy) = &a.retry_policy
        && let Err(m) = retry::validate(policy)
    {
        return bad(m);
    }
    let count = activity_ids.len();
    if count >= MAX_PENDING_ACTIVITIES {
        return Err((
            Cause::PendingActivitiesLimitExceeded,
            format!(
                "the number of pending activities, {count}, has reached the per-workflow limit of {MAX_PENDING_ACTIVITIES}"
            ),
        ));
    }
    if !activity_ids.insert(a.activity_id.clone()) {
        return Err((
            Cause::ScheduleActivityDuplicateId,
            format!("Activity with ID {} already exists.", a.activity_id),
        ));
    }
    Ok(())
}

/// Checks a StartTimer command. `timers` holds the ids pending or started earlier in the same
/// completion. A zero or absent duration is a valid timer that fires at once.
pub(super) fn validate_start_timer(
    a: &command::StartTimerCommandAttributes,
    timers: &mut BTreeSet<String>,
) -> Result<(), CommandProblem> {
    use WorkflowTaskFailedCause as Cause;
    let bad = |m: String| Err((Cause::BadStartTimerAttributes, m));
    if a.timer_id.is_empty() {
        return bad("TimerId is not set.".into());
    }
    if a.timer_id.len() > MAX_ID_LENGTH {
        return bad(format!(
            "TimerId on StartTimerCommand exceeds length limit. TimerId={} Length={} Limit={MAX_ID_LENGTH}",
            a.timer_id,
            a.timer_id.len()
        ));
    }
    if let Some(problem) = duration_problem(a.start_to_fire_timeout.as_ref()) {
        return bad(format!(
            "An invalid StartToFireTimeout is set on StartTimerCommand: {problem}. TimerId={}",
            a.timer_id
        ));
    }
    if !timers.insert(a.timer_id.clone()) {
        return Err((
            Cause::StartTimerDuplicateId,
            format!("Timer with ID {} already exists.", a.timer_id),
        ));
    }
    Ok(())
}

/// Temporal rejects a completion whose close command is followed by other commands.
pub(super) fn validate_command_sequence(commands: &[Command]) -> Result<(), CompletionError> {
    let is_close = |c: &Command| {
        matches!(
            c.attributes,
            Some(
                CommandAttributes::CompleteWorkflowExecutionCommandAttributes(_)
                    | CommandAttributes::FailWorkflowExecutionCommandAttributes(_)
                    | CommandAttributes::CancelWorkflowExecutionCommandAttributes(_)
                    | CommandAttributes::ContinueAsNewWorkflowExecutionCommandAttributes(_)
            )
        )
    };
    match commands.iter().position(is_close) {
        Some(close_index) if close_index + 1 < commands.len() => {
            Err(CompletionError::CommandAfterClose {
                command_types: commands
                    .iter()
                    .map(|c| format!("{:?}", c.command_type()))
                    .collect(),
                close_index,
            })
        }
        _ => Ok(()),
    }
}

/// Ids a completion's commands must not reuse or must find pending.
struct PendingNames {
    /// Nexus operations the completion schedules (they count towards the pending limit).
    nexus_scheduled: usize,
    timers: BTreeSet<String>,
    activity_ids: BTreeSet<String>,
}

/// Checks a StartChildWorkflowExecution command.
fn validate_start_child(
    a: &command::StartChildWorkflowExecutionCommandAttributes,
) -> Result<(), CommandProblem> {
    let bad = |m: &str| {
        Err((
            WorkflowTaskFailedCause::BadStartChildExecutionAttributes,
            m.to_string(),
        ))
    };
    if a.workflow_id.is_empty() {
        return bad("Required field WorkflowId is not set.");
    }
    if a.workflow_type.as_ref().is_none_or(|t| t.name.is_empty()) {
        return bad("Required field WorkflowType is not set.");
    }
    match &a.retry_policy {
        Some(policy) => retry::validate(policy).or_else(|m| bad(&m)),
        None => Ok(()),
    }
}

/// Checks a SignalExternalWorkflowExecution command.
fn validate_signal_external(
    a: &command::SignalExternalWorkflowExecutionCommandAttributes,
) -> Result<(), CommandProblem> {
    let bad = |m: &str| {
        Err((
            WorkflowTaskFailedCause::BadSignalWorkflowExecutionAttributes,
            m.to_string(),
        ))
    };
    if a.execution
        .as_ref()
        .is_none_or(|e| e.workflow_id.is_empty())
    {
        return bad("Required field WorkflowId is not set.");
    }
    if a.signal_name.is_empty() {
        return bad("Required field SignalName is not set.");
    }
    Ok(())
}

impl Transition<'_> {
    /// Checks every command before any is applied, so a rejected completion writes nothing but
    /// the task failure.
    pub(super) fn validate_commands(&self, commands: &[Command]) -> Result<(), CommandProblem> {
        let mut pending = self.pending_names();
        for command in commands {
            let Some(attributes) = &command.attributes else {
                return Err((
                    WorkflowTaskFailedCause::UnhandledCommand,
                    "command has no attributes".into(),
                ));
            };
            self.validate_command(attributes, &mut pending)?;
        }
        Ok(())
    }

    /// The timer and activity ids in use: a completion may cancel a timer whose firing is
    /// still buffered, and may not reuse an activity id that is pending.
    fn pending_names(&self) -> PendingNames {
        let mut timers: BTreeSet<String> = self.exec.timers.keys().cloned().collect();
        for event in &self.exec.buffered_events {
            if let Some(Attributes::TimerFiredEventAttributes(a)) = &event.attributes {
                timers.insert(a.timer_id.clone());
            }
        }
        let activity_ids = self
            .exec
            .activities
            .values()
            .map(|a| a.activity_id.clone())
            .collect();
        PendingNames {
            nexus_scheduled: 0,
            timers,
            activity_ids,
        }
    }

    /// Checks one command against the run's state and the commands before it.
    fn validate_command(
        &self,
        attributes: &CommandAttributes,
        pending: &mut PendingNames,
    ) -> Result<(), CommandProblem> {
        use CommandAttributes as C;
        use WorkflowTaskFailedCause as Cause;
        match attributes {
            C::ScheduleActivityTaskCommandAttributes(a) => {
                validate_schedule_activity(a, &mut pending.activity_ids)
            }
            C::RequestCancelActivityTaskCommandAttributes(a) => {
                if self.exec.activities.contains_key(&a.scheduled_event_id) {
                    return Ok(());
                }
                Err((
                    Cause::BadRequestCancelActivityAttributes,
                    format!(
                        "Activity with scheduled event id {} is not pending.",
                        a.scheduled_event_id
                    ),
                ))
            }
            C::StartTimerCommandAttributes(a) => validate_start_timer(a, &mut pending.timers),
            C::CancelTimerCommandAttributes(a) => {
                if pending.timers.remove(&a.timer_id) {
                    return Ok(());
                }
                Err((
                    Cause::BadCancelTimerAttributes,
                    format!("Timer with ID {} is not pending.", a.timer_id),
                ))
            }
            C::ContinueAsNewWorkflowExecutionCommandAttributes(a) => {
                self.validate_continue_as_new(a)?;
                self.validate_close()
            }
            C::CompleteWorkflowExecutionCommandAttributes(_)
            | C::FailWorkflowExecutionCommandAttributes(_)
            | C::CancelWorkflowExecutionCommandAttributes(_) => self.validate_close(),
            C::RecordMarkerCommandAttributes(a) if a.marker_name.is_empty() => Err((
                Cause::BadRecordMarkerAttributes,
                "MarkerName is not set.".into(),
            )),
            C::StartChildWorkflowExecutionCommandAttributes(a) => validate_start_child(a),
            C::SignalExternalWorkflowExecutionCommandAttributes(a) => validate_signal_external(a),
            C::RequestCancelExternalWorkflowExecutionCommandAttributes(a)
                if a.workflow_id.is_empty() =>
            {
                Err((
                    Cause::BadRequestCancelExternalWorkflowExecutionAttributes,
                    "Required field WorkflowId is not set.".into(),
                ))
            }
            C::ScheduleNexusOperationCommandAttributes(a) => {
                self.validate_schedule_nexus(a, &mut pending.nexus_scheduled)
            }
            C::RequestCancelNexusOperationCommandAttributes(a) => {
                self.validate_cancel_nexus(a.scheduled_event_id)
            }
            C::RecordMarkerCommandAttributes(_)
            | C::RequestCancelExternalWorkflowExecutionCommandAttributes(_)
            | C::UpsertWorkflowSearchAttributesCommandAttributes(_)
            | C::ModifyWorkflowPropertiesCommandAttributes(_)
            | C::ProtocolMessageCommandAttributes(_) => Ok(()),
        }
    }

    /// A command that closes the run needs the workflow to have seen every event: with events
    /// buffered during the task, the completion is refused and the workflow runs again.
    fn validate_close(&self) -> Result<(), CommandProblem> {
        if self.exec.buffered_events.is_empty() {
            return Ok(());
        }
        Err((
            WorkflowTaskFailedCause::UnhandledCommand,
            "new events arrived while the workflow task was running".into(),
        ))
    }

    /// Checks a ContinueAsNew command's timeouts and retry policy, with Temporal's messages
    /// (which name the new run's type and task queue, defaulted from this run).
    pub(super) fn validate_continue_as_new(
        &self,
        a: &command::ContinueAsNewWorkflowExecutionCommandAttributes,
    ) -> Result<(), CommandProblem> {
        let workflow_type = a
            .workflow_type
            .as_ref()
            .map_or(self.exec.workflow_type.as_str(), |t| t.name.as_str());
        let queue = a
            .task_queue
            .as_ref()
            .map_or(self.exec.task_queue.as_str(), |q| q.name.as_str());
        let queue = if queue.is_empty() {
            &self.exec.task_queue
        } else {
            queue
        };
        let named = format!(
            "WorkflowType={workflow_type} TaskQueue=name:\"{queue}\" kind:TASK_QUEUE_KIND_NORMAL"
        );
        let bad = |m: String| Err((WorkflowTaskFailedCause::BadContinueAsNewAttributes, m));
        for (name, duration) in [
            ("WorkflowRunTimeout", &a.workflow_run_timeout),
            ("WorkflowTaskTimeout", &a.workflow_task_timeout),
            ("BackoffStartInterval", &a.backoff_start_interval),
        ] {
            if let Some(problem) = duration_problem(duration.as_ref()) {
                return bad(format!(
                    "Invalid {name} on ContinueAsNewWorkflowExecutionCommand: {problem}. {named}"
                ));
            }
        }
        if let Some(policy) = &a.retry_policy
            && let Err(m) = retry::validate(policy)
        {
            return bad(format!(
                "invalid WorkflowRetryPolicy on ContinueAsNewWorkflowExecutionCommand: {m}. {named}"
            ));
        }
        Ok(())
    }
}
