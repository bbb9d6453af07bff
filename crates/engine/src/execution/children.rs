//! Child workflows: the start command, the child run it creates, and the parent's record of
//! the child's close.

use super::commands::CommandContext;
use super::events::normal_task_queue;
use super::{NewRun, Transition};
use temper_api::proto::command::v1::{self as command};
use temper_api::proto::common::v1::{WorkflowExecution, WorkflowType};
use temper_api::proto::enums::v1::{ParentClosePolicy, StartChildWorkflowExecutionFailedCause};
use temper_api::proto::history::v1::{self as history, HistoryEvent, history_event::Attributes};

impl Transition<'_> {
    /// Starts a child run (created by the server with this transition's write) or, when its
    /// workflow id is taken, records the failure. Either event reaches the workflow after all
    /// command events.
    pub(super) fn start_child(
        &mut self,
        a: &temper_api::proto::command::v1::StartChildWorkflowExecutionCommandAttributes,
        initiated_event_id: i64,
        completed_id: i64,
        user_metadata: Option<temper_api::proto::sdk::v1::UserMetadata>,
    ) {
        let taken = !self.running_workflow_ids.insert(a.workflow_id.clone());
        let run_id = if taken { None } else { self.next_run_id() };
        let Some(run_id) = run_id else {
            let failed = self.new_event(
                Attributes::StartChildWorkflowExecutionFailedEventAttributes(
                    history::StartChildWorkflowExecutionFailedEventAttributes {
                        namespace: self.exec.namespace.clone(),
                        workflow_id: a.workflow_id.clone(),
                        workflow_type: a.workflow_type.clone(),
                        cause: StartChildWorkflowExecutionFailedCause::WorkflowAlreadyExists as i32,
                        initiated_event_id,
                        workflow_task_completed_event_id: completed_id,
                        ..Default::default()
                    },
                ),
                self.now,
            );
            self.after_commands.push(failed);
            return;
        };
        let parent = WorkflowExecution {
            workflow_id: self.exec.workflow_id.clone(),
            run_id: self.exec.run_id.clone(),
        };
        let root = self
            .exec
            .started
            .as_ref()
            .and_then(|s| s.root_workflow_execution.clone())
            .unwrap_or_else(|| parent.clone());
        let started = history::WorkflowExecutionStartedEventAttributes {
            workflow_id: a.workflow_id.clone(),
            workflow_type: a.workflow_type.clone(),
            parent_workflow_namespace: self.exec.namespace.clone(),
            parent_workflow_execution: Some(parent),
            parent_initiated_event_id: initiated_event_id,
            task_queue: a.task_queue.clone(),
            input: a.input.clone(),
            workflow_execution_timeout: a.workflow_execution_timeout,
            workflow_run_timeout: a.workflow_run_timeout,
            workflow_task_timeout: a.workflow_task_timeout,
            retry_policy: a.retry_policy.clone(),
            cron_schedule: a.cron_schedule.clone(),
            memo: a.memo.clone(),
            search_attributes: a.search_attributes.clone(),
            header: a.header.clone(),
            root_workflow_execution: Some(root),
            priority: a.priority.clone(),
            attempt: 1,
            ..Default::default()
        };
        self.new_runs.push(NewRun {
            run_id: run_id.clone(),
            started,
            user_metadata,
        });
        let child_started = self.new_event(
            Attributes::ChildWorkflowExecutionStartedEventAttributes(
                history::ChildWorkflowExecutionStartedEventAttributes {
                    namespace: self.exec.namespace.clone(),
                    initiated_event_id,
                    workflow_execution: Some(WorkflowExecution {
                        workflow_id: a.workflow_id.clone(),
                        run_id: run_id.clone(),
                    }),
                    workflow_type: a.workflow_type.clone(),
                    header: a.header.clone(),
                    ..Default::default()
                },
            ),
            self.now,
        );
        self.after_commands.push(child_started);
    }

    /// A child's chain of runs ended with `close` (its last run's close event): the parent
    /// records the matching Child…{Completed,Failed,Canceled,Terminated,TimedOut} event.
    pub fn child_closed(&mut self, initiated_event_id: i64, close: &HistoryEvent) {
        if !self.exec.is_running() {
            return;
        }
        let Some(child) = self.exec.children.get(&initiated_event_id).cloned() else {
            return;
        };
        let namespace = child.namespace.clone();
        let workflow_execution = Some(WorkflowExecution {
            workflow_id: child.workflow_id.clone(),
            run_id: child.run_id.clone(),
        });
        let workflow_type = Some(WorkflowType {
            name: child.workflow_type.clone(),
        });
        let started_event_id = child.started_event_id;
        let attributes = match &close.attributes {
            Some(Attributes::WorkflowExecutionCompletedEventAttributes(c)) => {
                Attributes::ChildWorkflowExecutionCompletedEventAttributes(
                    history::ChildWorkflowExecutionCompletedEventAttributes {
                        result: c.result.clone(),
                        namespace,
                        workflow_execution,
                        workflow_type,
                        initiated_event_id,
                        started_event_id,
                        ..Default::default()
                    },
                )
            }
            Some(Attributes::WorkflowExecutionFailedEventAttributes(c)) => {
                Attributes::ChildWorkflowExecutionFailedEventAttributes(
                    history::ChildWorkflowExecutionFailedEventAttributes {
                        failure: c.failure.clone(),
                        namespace,
                        workflow_execution,
                        workflow_type,
                        initiated_event_id,
                        started_event_id,
                        retry_state: c.retry_state,
                        ..Default::default()
                    },
                )
            }
            Some(Attributes::WorkflowExecutionCanceledEventAttributes(c)) => {
                Attributes::ChildWorkflowExecutionCanceledEventAttributes(
                    history::ChildWorkflowExecutionCanceledEventAttributes {
                        details: c.details.clone(),
                        namespace,
                        workflow_execution,
                        workflow_type,
                        initiated_event_id,
                        started_event_id,
                        ..Default::default()
                    },
                )
            }
            Some(Attributes::WorkflowExecutionTerminatedEventAttributes(_)) => {
                Attributes::ChildWorkflowExecutionTerminatedEventAttributes(
                    history::ChildWorkflowExecutionTerminatedEventAttributes {
                        namespace,
                        workflow_execution,
                        workflow_type,
                        initiated_event_id,
                        started_event_id,
                        ..Default::default()
                    },
                )
            }
            Some(Attributes::WorkflowExecutionTimedOutEventAttributes(c)) => {
                Attributes::ChildWorkflowExecutionTimedOutEventAttributes(
                    history::ChildWorkflowExecutionTimedOutEventAttributes {
                        namespace,
                        workflow_execution,
                        workflow_type,
                        initiated_event_id,
                        started_event_id,
                        retry_state: c.retry_state,
                        ..Default::default()
                    },
                )
            }
            _ => return,
        };
        let event = self.new_event(attributes, self.now);
        self.append_or_buffer(event);
        self.schedule_workflow_task();
    }

    /// A StartChildWorkflowExecution command; the child's start (or failure) reaches the workflow after every command event.
    pub(super) fn start_child_workflow(
        &mut self,
        a: &command::StartChildWorkflowExecutionCommandAttributes,
        command: &CommandContext,
    ) -> bool {
        let mut a = a.clone();
        if a.task_queue.as_ref().is_none_or(|q| q.name.is_empty()) {
            a.task_queue = normal_task_queue(&self.exec.task_queue);
        }
        if a.parent_close_policy == ParentClosePolicy::Unspecified as i32 {
            a.parent_close_policy = ParentClosePolicy::Terminate as i32;
        }
        let initiated_event_id = self.append_for(
            command,
            Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(
                history::StartChildWorkflowExecutionInitiatedEventAttributes {
                    namespace: self.exec.namespace.clone(),
                    workflow_id: a.workflow_id.clone(),
                    workflow_type: a.workflow_type.clone(),
                    task_queue: a.task_queue.clone(),
                    input: a.input.clone(),
                    workflow_execution_timeout: a.workflow_execution_timeout,
                    workflow_run_timeout: a.workflow_run_timeout,
                    workflow_task_timeout: a.workflow_task_timeout,
                    parent_close_policy: a.parent_close_policy,
                    workflow_task_completed_event_id: command.completed_id,
                    workflow_id_reuse_policy: a.workflow_id_reuse_policy,
                    retry_policy: a.retry_policy.clone(),
                    cron_schedule: a.cron_schedule.clone(),
                    header: a.header.clone(),
                    memo: a.memo.clone(),
                    search_attributes: a.search_attributes.clone(),
                    priority: a.priority.clone(),
                    ..Default::default()
                },
            ),
        );
        self.start_child(
            &a,
            initiated_event_id,
            command.completed_id,
            command.metadata.clone(),
        );
        true
    }
}
