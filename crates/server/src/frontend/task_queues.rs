//! `DescribeTaskQueue`, in both of Temporal's modes: legacy (pollers, a backlog hint for one
//! queue type, and the routing of the worker deployment the queue belongs to) and enhanced
//! (per type, under the unversioned build id).

use temper_api::proto::enums::v1::{BuildIdTaskReachability, DescribeTaskQueueMode, TaskQueueType};
use temper_api::proto::taskqueue::v1::{
    PollerInfo, TaskQueueStats, TaskQueueStatus, TaskQueueTypeInfo, TaskQueueVersionInfo,
};
use temper_api::proto::workflowservice::v1::{DescribeTaskQueueRequest, DescribeTaskQueueResponse};
use tonic::Status;

use super::Frontend;
use crate::errors;
use crate::matching::QueueKind;
use crate::validation::check_id;

/// The matching queue kind of a `TaskQueueType`; `None` for kinds Temper has no queues of.
fn queue_kind(task_queue_type: i32) -> Option<QueueKind> {
    match TaskQueueType::try_from(task_queue_type) {
        Ok(TaskQueueType::Workflow | TaskQueueType::Unspecified) => Some(QueueKind::Workflow),
        Ok(TaskQueueType::Activity) => Some(QueueKind::Activity),
        _ => None,
    }
}

impl Frontend {
    // The enhanced-mode fields are deprecated in the API but still what the CLI sends.
    #[allow(deprecated)]
    pub(super) async fn describe_queue(
        &self,
        request: DescribeTaskQueueRequest,
    ) -> Result<DescribeTaskQueueResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let queue = request
            .task_queue
            .clone()
            .ok_or_else(|| errors::invalid("TaskQueue is not set on request."))?;
        check_id(&queue.name, "TaskQueue")?;
        let matching = self.history.matching();
        let pollers = |kind| -> Vec<PollerInfo> {
            matching
                .recent_pollers(&request.namespace, &queue.name, kind)
                .into_iter()
                .map(|p| PollerInfo {
                    last_access_time: Some(p.last_access.into()),
                    identity: p.identity,
                    ..Default::default()
                })
                .collect()
        };
        let backlog = |kind| matching.backlog(&request.namespace, &queue.name, kind) as i64;
        if request.api_mode == DescribeTaskQueueMode::Enhanced as i32 {
            // Temper has no worker versioning: everything is the unversioned queue ("").
            let types = if request.task_queue_types.is_empty() {
                vec![
                    TaskQueueType::Workflow as i32,
                    TaskQueueType::Activity as i32,
                ]
            } else {
                request.task_queue_types.clone()
            };
            let types_info = types
                .into_iter()
                .filter_map(|ty| {
                    let kind = queue_kind(ty)?;
                    let info = TaskQueueTypeInfo {
                        pollers: if request.report_pollers {
                            pollers(kind)
                        } else {
                            Vec::new()
                        },
                        stats: request.report_stats.then(|| TaskQueueStats {
                            approximate_backlog_count: backlog(kind),
                            ..Default::default()
                        }),
                    };
                    Some((ty, info))
                })
                .collect();
            return Ok(DescribeTaskQueueResponse {
                versions_info: [(
                    String::new(),
                    TaskQueueVersionInfo {
                        types_info,
                        task_reachability: BuildIdTaskReachability::Reachable as i32,
                    },
                )]
                .into(),
                ..Default::default()
            });
        }
        let kind = queue_kind(request.task_queue_type).unwrap_or(QueueKind::Workflow);
        let versioning_info = self
            .deployments
            .queue_versioning(&request.namespace, &queue.name)
            .await;
        let (config, effective) = self
            .task_queue_configs
            .describe(&request.namespace, &queue.name, request.task_queue_type)
            .await;
        Ok(DescribeTaskQueueResponse {
            versioning_info,
            config: config.filter(|_| request.report_config),
            effective_rate_limit: Some(effective),
            pollers: pollers(kind),
            task_queue_status: request.include_task_queue_status.then(|| TaskQueueStatus {
                backlog_count_hint: backlog(kind),
                ..Default::default()
            }),
            ..Default::default()
        })
    }
}
