//! The workflow-task lifecycle: scheduling (normal, sticky, transient retries and speculative
//! tasks for updates), handing a task to a worker, and its completion, failure or refusal.

use super::errors::{CompletionError, TaskError, cause_name};
use super::events::{normal_task_queue, started_event, transient_events};
use super::updates::only_rejections;
use super::validate::validate_command_sequence;
use super::{
    Completed, DEFAULT_STICKY_SCHEDULE_TO_START_TIMEOUT_MS, ReadyTask, Transition,
    WorkflowTaskGrant, updates,
};
use crate::state::WorkflowTaskInfo;
use crate::time::{duration_ms, ms_duration};
use temper_api::proto::command::v1::command::Attributes as CommandAttributes;
use temper_api::proto::enums::v1::{
    SuggestContinueAsNewReason, TaskQueueKind, WorkflowTaskFailedCause,
};
use temper_api::proto::failure::v1::{Failure, ServerFailureInfo, failure::FailureInfo};
use temper_api::proto::history::v1::{self as history, history_event::Attributes};
use temper_api::proto::taskqueue::v1::TaskQueue;
use temper_api::proto::workflowservice::v1::RespondWorkflowTaskCompletedRequest;

/// Whether a workflow task is an ordinary one or only delivers updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskKind {
    Normal,
    /// Scheduled only to deliver updates (Temporal's speculative task): transient, and a
    /// completion that merely rejects them leaves no trace in history.
    Speculative,
}

impl Transition<'_> {
    /// Schedules a workflow task unless one is already scheduled or started.
    pub(super) fn schedule_workflow_task(&mut self) {
        self.schedule_task(TaskKind::Normal);
    }

    /// Schedules a workflow task to deliver updates: speculative (no events) when nothing else
    /// is waiting for the workflow, a normal one otherwise.
    pub(super) fn schedule_speculative_workflow_task(&mut self) {
        let kind = if self.exec.buffered_events.is_empty() && self.exec.workflow_task_attempt <= 1 {
            TaskKind::Speculative
        } else {
            TaskKind::Normal
        };
        self.schedule_task(kind);
    }

    /// Schedules a workflow task of `kind` unless one is already scheduled or started (or the
    /// run's first task is not due yet).
    fn schedule_task(&mut self, kind: TaskKind) {
        // A run's first task is always a normal one: its Scheduled event is written.
        let speculative =
            kind == TaskKind::Speculative && self.exec.first_workflow_task_time_ms == 0;
        if !self.exec.is_running()
            || self.exec.workflow_task.is_some()
            || self.exec.first_workflow_task_time_ms > self.now
        {
            return;
        }
        if self.flush_buffer() {
            // New events make this a fresh task the worker must see, not a retry.
            self.exec.workflow_task_attempt = 1;
        }
        let attempt = self.exec.workflow_task_attempt.max(1);
        let timeout = self.exec.workflow_task_timeout_ms;
        let sticky = !self.exec.sticky_task_queue.is_empty();
        let queue = if sticky {
            self.exec.sticky_task_queue.clone()
        } else {
            self.exec.task_queue.clone()
        };
        let event_queue = if sticky {
            Some(TaskQueue {
                name: queue.clone(),
                kind: TaskQueueKind::Sticky as i32,
                normal_name: self.exec.task_queue.clone(),
            })
        } else {
            normal_task_queue(&queue)
        };
        let transient = attempt > 1 || speculative;
        let scheduled = self.new_event(
            Attributes::WorkflowTaskScheduledEventAttributes(
                history::WorkflowTaskScheduledEventAttributes {
                    task_queue: event_queue,
                    start_to_close_timeout: ms_duration(timeout),
                    attempt,
                },
            ),
            self.now,
        );
        // A retry or speculative task's events are transient: applied, not written.
        let scheduled_event_id = self.exec.next_event_id;
        if transient {
            self.apply_unwritten(scheduled, scheduled_event_id);
        } else {
            self.write(scheduled);
        }
        if let Some(wft) = self.exec.workflow_task.as_mut() {
            wft.transient = transient;
            wft.speculative = speculative;
        }
        self.tasks.push(ReadyTask::Workflow {
            task_queue: queue,
            scheduled_event_id,
            attempt,
        });
    }

    /// Hands the scheduled workflow task to a worker (writes WorkflowTaskStarted).
    pub fn start_workflow_task(
        &mut self,
        scheduled_event_id: i64,
        identity: &str,
        request_id: &str,
    ) -> Result<WorkflowTaskGrant, TaskError> {
        let current = self
            .exec
            .workflow_task
            .clone()
            .filter(|w| self.exec.is_running() && w.scheduled_event_id == scheduled_event_id);
        let Some(mut wft) = current else {
            return Err(TaskError::WorkflowTaskNotCurrent);
        };
        if wft.started_event_id != 0 {
            return Err(TaskError::WorkflowTaskAlreadyStarted);
        }
        wft.started_time_ms = self.now;
        wft.started_identity = identity.to_string();
        wft.started_request_id = request_id.to_string();
        let mut reasons = Vec::new();
        if self.exec.history_size_bytes >= self.limits.suggest_continue_as_new_size {
            reasons.push(SuggestContinueAsNewReason::HistorySizeTooLarge as i32);
        }
        if self.exec.next_event_id >= self.limits.suggest_continue_as_new_count {
            reasons.push(SuggestContinueAsNewReason::TooManyHistoryEvents as i32);
        }
        wft.suggest_continue_as_new_reasons = reasons;
        let started = started_event(&wft, self.exec.history_size_bytes);
        let started_event_id = if wft.transient {
            self.apply_unwritten(started, scheduled_event_id + 1);
            scheduled_event_id + 1
        } else {
            self.write(started)
        };
        let grant = WorkflowTaskGrant {
            scheduled_event_id,
            started_event_id,
            attempt: wft.attempt,
            previous_started_event_id: self.exec.last_completed_workflow_task_started_id,
            scheduled_time_ms: wft.scheduled_time_ms,
            started_time_ms: self.now,
        };
        Ok(grant)
    }

    /// Writes a transient task's Scheduled and Started events for real (when it completes).
    pub(super) fn materialize_transient_task(&mut self, wft: &mut WorkflowTaskInfo) {
        if !wft.transient {
            return;
        }
        for event in transient_events(wft, self.exec.history_size_bytes) {
            self.push_event(event);
        }
        wft.transient = false;
    }

    /// A transient task that has not started yet cannot keep its place once other events are
    /// written: it is replaced by a normal task (attempt 1) after them.
    pub(super) fn demote_waiting_transient_task(&mut self) {
        if self
            .exec
            .workflow_task
            .as_ref()
            .is_some_and(|w| w.transient && w.started_event_id == 0)
        {
            self.exec.workflow_task = None;
            self.exec.workflow_task_attempt = 1;
        }
    }

    /// The started workflow task a worker's token names. The attempt counts: retry attempts
    /// are transient, so a timed-out attempt and the next one share their event ids.
    pub(super) fn current_started_task(
        &self,
        scheduled_event_id: i64,
        started_event_id: i64,
        attempt: i32,
    ) -> Option<WorkflowTaskInfo> {
        self.exec.workflow_task.clone().filter(|w| {
            self.exec.is_running()
                && w.scheduled_event_id == scheduled_event_id
                && w.started_event_id == started_event_id
                && w.attempt == attempt
                && started_event_id > 0
        })
    }

    /// Fails the in-flight workflow task and schedules the next attempt.
    pub(super) fn fail_workflow_task(
        &mut self,
        wft: &WorkflowTaskInfo,
        cause: WorkflowTaskFailedCause,
        failure: Option<Failure>,
        identity: &str,
    ) {
        let mut wft = wft.clone();
        // A failing retry attempt leaves no trace, except when the worker must see new events.
        // A failing speculative task is recorded: the failure must be visible.
        if !wft.transient || wft.speculative || cause == WorkflowTaskFailedCause::UnhandledCommand {
            self.materialize_transient_task(&mut wft);
            self.append(Attributes::WorkflowTaskFailedEventAttributes(
                history::WorkflowTaskFailedEventAttributes {
                    scheduled_event_id: wft.scheduled_event_id,
                    started_event_id: wft.started_event_id,
                    cause: cause as i32,
                    failure,
                    identity: identity.to_string(),
                    ..Default::default()
                },
            ));
        }
        self.exec.workflow_task = None;
        self.exec.workflow_task_attempt = wft.attempt + 1;
        self.exec.sticky_task_queue.clear();
        self.schedule_workflow_task();
    }

    /// Forgets the run's sticky queue; a task waiting there is offered on the normal queue
    /// (`ResetStickyTaskQueue`, or the sticky worker shut down).
    pub fn reset_stickiness(&mut self) {
        self.exec.sticky_task_queue.clear();
        let normal = self.exec.task_queue.clone();
        if let Some(wft) = self.exec.workflow_task.as_mut()
            && wft.started_event_id == 0
            && wft.task_queue != normal
        {
            wft.task_queue = normal.clone();
            self.tasks.push(ReadyTask::Workflow {
                task_queue: normal,
                scheduled_event_id: wft.scheduled_event_id,
                attempt: wft.attempt,
            });
        }
    }

    /// The server refused a workflow-task completion (a bad command, a bad search attribute).
    /// The first attempt's refusal is recorded and the task retried at once. As Temporal does,
    /// a later attempt's refused completion changes nothing: the task is left to time out, so a
    /// worker that keeps sending the same bad commands retries once per workflow-task timeout
    /// instead of in a tight loop. `UnhandledCommand` is the exception: new events must reach
    /// the worker now.
    pub(super) fn refuse_completion(
        &mut self,
        wft: &WorkflowTaskInfo,
        cause: WorkflowTaskFailedCause,
        message: &str,
        identity: &str,
    ) {
        if wft.attempt > 1 && cause != WorkflowTaskFailedCause::UnhandledCommand {
            return;
        }
        // The recorded message is the one the caller gets: the cause's name, then the text.
        let failure = Failure {
            message: format!("{}: {message}", cause_name(cause)),
            failure_info: Some(FailureInfo::ServerFailureInfo(ServerFailureInfo::default())),
            ..Default::default()
        };
        self.fail_workflow_task(wft, cause, Some(failure), identity);
    }

    /// The frontend refused a completion for a reason it checks itself (search attributes
    /// against the namespace's registry); see `Self::refuse_completion`.
    pub fn refuse_workflow_task_completion(
        &mut self,
        scheduled_event_id: i64,
        started_event_id: i64,
        attempt: i32,
        cause: WorkflowTaskFailedCause,
        message: &str,
        identity: &str,
    ) -> Result<(), TaskError> {
        let Some(wft) = self.current_started_task(scheduled_event_id, started_event_id, attempt)
        else {
            return Err(TaskError::WorkflowTaskNotCurrent);
        };
        self.refuse_completion(&wft, cause, message, identity);
        Ok(())
    }

    /// A worker reported that it could not process the workflow task.
    pub fn workflow_task_failed_by_worker(
        &mut self,
        scheduled_event_id: i64,
        started_event_id: i64,
        attempt: i32,
        cause: i32,
        failure: Option<Failure>,
        identity: &str,
    ) -> Result<(), TaskError> {
        let Some(wft) = self.current_started_task(scheduled_event_id, started_event_id, attempt)
        else {
            return Err(TaskError::WorkflowTaskNotCurrent);
        };
        let cause = WorkflowTaskFailedCause::try_from(cause)
            .unwrap_or(WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure);
        self.fail_workflow_task(&wft, cause, failure, identity);
        Ok(())
    }

    /// Applies a workflow-task completion: WorkflowTaskCompleted, the commands' events in order,
    /// the buffered events, and a new workflow task when one is needed.
    pub fn complete_workflow_task(
        &mut self,
        scheduled_event_id: i64,
        started_event_id: i64,
        attempt: i32,
        request: &RespondWorkflowTaskCompletedRequest,
    ) -> Result<Completed, CompletionError> {
        let Some(mut wft) =
            self.current_started_task(scheduled_event_id, started_event_id, attempt)
        else {
            return Err(TaskError::WorkflowTaskNotCurrent.into());
        };
        validate_command_sequence(&request.commands)?;
        self.refuse_invalid_completion(&wft, request)?;
        if wft.speculative
            && request.commands.is_empty()
            && !request.force_create_new_workflow_task
            && self.exec.buffered_events.is_empty()
            && only_rejections(&request.messages)
        {
            return Ok(self.discard_speculative_task(request));
        }
        self.materialize_transient_task(&mut wft);
        let mut completed = history::WorkflowTaskCompletedEventAttributes {
            scheduled_event_id,
            started_event_id,
            identity: request.identity.clone(),
            sdk_metadata: request.sdk_metadata.clone(),
            metering_metadata: request.metering_metadata,
            ..Default::default()
        };
        super::versioning::completed_versioning(request, &mut completed);
        let completed_id = self.append(Attributes::WorkflowTaskCompletedEventAttributes(completed));
        self.apply_sticky_attributes(request);
        let mut needs_new_task = request.force_create_new_workflow_task;
        needs_new_task |= self.apply_commands_and_messages(request, completed_id);
        // Updates admitted meanwhile (or left unanswered) need another task.
        needs_new_task |= self.exec.has_admitted_updates();
        self.write_after_commands();
        if self.exec.is_running() {
            needs_new_task |= self.flush_buffer();
            if needs_new_task {
                self.schedule_workflow_task();
            }
        }
        self.enforce_history_limits();
        Ok(Completed::Recorded)
    }

    /// Checks the commands and messages; a refused completion fails the task (see
    /// [`Self::refuse_completion`]), and one carrying an oversized message ends the run.
    fn refuse_invalid_completion(
        &mut self,
        wft: &WorkflowTaskInfo,
        request: &RespondWorkflowTaskCompletedRequest,
    ) -> Result<(), CompletionError> {
        let validation = self
            .validate_commands(&request.commands)
            .and_then(|()| self.validate_messages(&request.commands, &request.messages));
        let Err((cause, message)) = validation else {
            return Ok(());
        };
        self.refuse_completion(wft, cause, &message, &request.identity);
        if updates::has_oversized_message(&request.messages) {
            // As Temporal: a message over the size limit ends the run.
            self.fail_delivered_updates();
            let reason = format!("{}: {message}", cause_name(cause));
            self.terminate(&reason, None, "history-service");
        }
        Err(CompletionError::TaskFailed { cause, message })
    }

    /// A speculative task that only rejected updates leaves no trace in history.
    fn discard_speculative_task(
        &mut self,
        request: &RespondWorkflowTaskCompletedRequest,
    ) -> Completed {
        for message in &request.messages {
            self.apply_message(message);
        }
        self.exec.workflow_task = None;
        self.exec.workflow_task_attempt = 1;
        self.apply_sticky_attributes(request);
        if self.exec.has_admitted_updates() {
            self.schedule_speculative_workflow_task();
        }
        Completed::Discarded {
            reset_history_event_id: self.exec.last_completed_workflow_task_started_id,
        }
    }

    /// Applies the commands in order, each protocol message where its command places it and
    /// the others after all commands; true when one of them needs a new workflow task.
    fn apply_commands_and_messages(
        &mut self,
        request: &RespondWorkflowTaskCompletedRequest,
        completed_id: i64,
    ) -> bool {
        let mut needs_new_task = false;
        let mut placed_messages = std::collections::BTreeSet::new();
        for command in &request.commands {
            if let Some(CommandAttributes::ProtocolMessageCommandAttributes(a)) =
                &command.attributes
            {
                if let Some(message) = request.messages.iter().find(|m| m.id == a.message_id) {
                    self.apply_message(message);
                    placed_messages.insert(a.message_id.clone());
                }
            } else if let Some(attributes) = &command.attributes {
                needs_new_task |= self.apply_command(command, attributes, completed_id);
            }
        }
        for message in &request.messages {
            if !placed_messages.contains(&message.id) && self.exec.is_running() {
                self.apply_message(message);
            }
        }
        needs_new_task
    }

    /// Writes the events that follow every command event (children started or refused). As
    /// Temporal does, a child whose parent closed in the same task is not started.
    fn write_after_commands(&mut self) {
        let after_commands = std::mem::take(&mut self.after_commands);
        if self.exec.is_running() {
            for event in after_commands {
                self.write(event);
            }
            return;
        }
        let run_id = self.exec.run_id.clone();
        self.new_runs.retain(|run| {
            run.started
                .parent_workflow_execution
                .as_ref()
                .is_none_or(|parent| parent.run_id != run_id)
        });
    }

    /// The worker's sticky queue from a completion (none: the run is not sticky any more).
    pub(super) fn apply_sticky_attributes(
        &mut self,
        request: &RespondWorkflowTaskCompletedRequest,
    ) {
        match request
            .sticky_attributes
            .as_ref()
            .and_then(|a| a.worker_task_queue.as_ref().map(|q| (q, a)))
        {
            Some((queue, attributes)) if !queue.name.is_empty() => {
                self.exec.sticky_task_queue = queue.name.clone();
                self.exec.sticky_schedule_to_start_timeout_ms =
                    match duration_ms(attributes.schedule_to_start_timeout.as_ref()) {
                        0 => DEFAULT_STICKY_SCHEDULE_TO_START_TIMEOUT_MS,
                        ms => ms,
                    };
            }
            _ => self.exec.sticky_task_queue.clear(),
        }
    }

    /// Terminates a run whose history outgrew the hard limits, as Temporal does.
    pub(super) fn enforce_history_limits(&mut self) {
        if !self.exec.is_running() {
            return;
        }
        let reason = if self.exec.history_size_bytes > self.limits.max_size {
            "Workflow history size exceeds limit."
        } else if self.exec.next_event_id - 1 > self.limits.max_count {
            "Workflow history count exceeds limit."
        } else {
            return;
        };
        self.terminate(reason, None, "temper");
    }
}
