//! Where a call belongs in the cluster: with the node that holds the shard of the run it
//! names, or of the task queue it polls or describes, or, for a call that names neither,
//! with the coordinator (the owner of shard 0, which serves the cluster's schedules,
//! batches, deployments, standalone activities, Nexus endpoints and worker heartbeats). The
//! key is read off the request itself: (namespace, workflow id) from the message, or from
//! the task token a worker sends back (`tokens.rs`), or (namespace, task queue name). Polls
//! are streaming-free unary calls too, so every call named here has its body read; a body
//! that cannot be read belongs to the coordinator, whose frontend answers it with the error
//! it deserves.

use std::borrow::Cow;
use std::io::Read;

use prost::Message;
use temper_api::proto::common::v1::WorkflowExecution;
use temper_api::proto::taskqueue::v1::TaskQueue;
use temper_api::proto::update::v1::UpdateRef;
use temper_api::proto::workflowservice::v1::ExecuteMultiOperationRequest;
use temper_api::proto::workflowservice::v1::execute_multi_operation_request::operation::Operation;

use crate::MAX_MESSAGE_SIZE;
use crate::tokens::TaskToken;

/// The path prefix of the calls that may name a run.
const WORKFLOW_SERVICE: &str = "/temporal.api.workflowservice.v1.WorkflowService/";

/// Where a call runs.
#[derive(Debug, PartialEq, Eq)]
pub enum Destination {
    /// With the owner of the shard of this (namespace, workflow id).
    Run {
        namespace: String,
        workflow_id: String,
    },
    /// With the owner of the shard of this (namespace, task queue name).
    Queue { namespace: String, queue: String },
    /// With the coordinator.
    Coordinator,
}

/// Where in its message a call names its run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    /// `namespace` = 1, a `WorkflowExecution` = 2.
    Execution,
    /// `namespace` = 1, `workflow_id` = 2 (empty for a standalone activity's calls).
    WorkflowId,
    /// `namespace` = 1, an `UpdateRef` = 2.
    UpdateRef,
    /// A task token at this field number.
    Token(u32),
    /// Every operation names the same workflow id.
    MultiOperation,
    /// `namespace` = 1, a `TaskQueue` at this field number.
    TaskQueue(u32),
    /// `namespace` = 1, `sticky_task_queue` = 2 (empty: the worker had none).
    StickyQueue,
}

/// The calls that name a run, and where.
const KEYS: &[(&str, Key)] = &[
    ("GetWorkflowExecutionHistory", Key::Execution),
    ("GetWorkflowExecutionHistoryReverse", Key::Execution),
    ("DescribeWorkflowExecution", Key::Execution),
    ("QueryWorkflow", Key::Execution),
    ("ResetStickyTaskQueue", Key::Execution),
    ("SignalWorkflowExecution", Key::Execution),
    ("RequestCancelWorkflowExecution", Key::Execution),
    ("TerminateWorkflowExecution", Key::Execution),
    ("DeleteWorkflowExecution", Key::Execution),
    ("ResetWorkflowExecution", Key::Execution),
    ("UpdateWorkflowExecution", Key::Execution),
    ("UpdateWorkflowExecutionOptions", Key::Execution),
    ("UpdateActivityOptions", Key::Execution),
    ("PauseActivity", Key::Execution),
    ("UnpauseActivity", Key::Execution),
    ("ResetActivity", Key::Execution),
    ("TriggerWorkflowRule", Key::Execution),
    ("PollWorkflowExecutionTimeSkipping", Key::Execution),
    ("StartWorkflowExecution", Key::WorkflowId),
    ("SignalWithStartWorkflowExecution", Key::WorkflowId),
    ("RecordActivityTaskHeartbeatById", Key::WorkflowId),
    ("RespondActivityTaskCompletedById", Key::WorkflowId),
    ("RespondActivityTaskFailedById", Key::WorkflowId),
    ("RespondActivityTaskCanceledById", Key::WorkflowId),
    ("PauseWorkflowExecution", Key::WorkflowId),
    ("UnpauseWorkflowExecution", Key::WorkflowId),
    ("UpdateActivityExecutionOptions", Key::WorkflowId),
    ("PauseActivityExecution", Key::WorkflowId),
    ("UnpauseActivityExecution", Key::WorkflowId),
    ("ResetActivityExecution", Key::WorkflowId),
    ("PollWorkflowExecutionUpdate", Key::UpdateRef),
    ("RespondWorkflowTaskCompleted", Key::Token(1)),
    ("RespondWorkflowTaskFailed", Key::Token(1)),
    ("RespondQueryTaskCompleted", Key::Token(1)),
    ("RecordActivityTaskHeartbeat", Key::Token(1)),
    ("RespondActivityTaskCompleted", Key::Token(1)),
    ("RespondActivityTaskFailed", Key::Token(1)),
    ("RespondActivityTaskCanceled", Key::Token(1)),
    ("RespondNexusTaskCompleted", Key::Token(3)),
    ("RespondNexusTaskFailed", Key::Token(3)),
    ("ExecuteMultiOperation", Key::MultiOperation),
    ("PollWorkflowTaskQueue", Key::TaskQueue(2)),
    ("PollActivityTaskQueue", Key::TaskQueue(2)),
    ("PollNexusTaskQueue", Key::TaskQueue(3)),
    ("DescribeTaskQueue", Key::TaskQueue(2)),
    ("ShutdownWorker", Key::StickyQueue),
];

/// How the call `path` (its gRPC path) names its run; `None` for calls that name none.
fn key_of(path: &str) -> Option<Key> {
    let method = path.strip_prefix(WORKFLOW_SERVICE)?;
    KEYS.iter()
        .find(|(name, _)| *name == method)
        .map(|(_, key)| *key)
}

/// Calls every node answers itself, without asking another (an entry ending in `/`: every
/// method of that service): those about the node (its capabilities, cluster facts, health
/// and service descriptions: a client connecting while shard 0 changes hands must not be
/// refused for want of a coordinator), the visibility reads of workflow runs, which go
/// straight to the database from any node, and the reads of the namespace and
/// search-attribute registries (every node keeps them, read again after each change:
/// `refresh.rs`).
const ANSWERED_BY_EVERY_NODE: &[&str] = &[
    "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo",
    "/temporal.api.workflowservice.v1.WorkflowService/GetClusterInfo",
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/temporal.api.workflowservice.v1.WorkflowService/ListWorkflowExecutions",
    "/temporal.api.workflowservice.v1.WorkflowService/ScanWorkflowExecutions",
    "/temporal.api.workflowservice.v1.WorkflowService/CountWorkflowExecutions",
    "/temporal.api.workflowservice.v1.WorkflowService/ListOpenWorkflowExecutions",
    "/temporal.api.workflowservice.v1.WorkflowService/ListClosedWorkflowExecutions",
    "/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace",
    "/temporal.api.workflowservice.v1.WorkflowService/ListNamespaces",
    "/temporal.api.workflowservice.v1.WorkflowService/GetSearchAttributes",
    "/temporal.api.operatorservice.v1.OperatorService/ListSearchAttributes",
];

/// True when any node answers the call `path` itself.
pub fn answered_by_every_node(path: &str) -> bool {
    ANSWERED_BY_EVERY_NODE
        .iter()
        .any(|entry| path == *entry || (entry.ends_with('/') && path.starts_with(entry)))
}

/// True when the call `path` may name a run or a task queue, so its body is worth reading.
pub fn names_a_run(path: &str) -> bool {
    key_of(path).is_some()
}

/// Where the call `path` with the gRPC-framed `body` runs (`gzip`: the call's
/// `grpc-encoding` is gzip).
pub fn destination_of(path: &str, body: &[u8], gzip: bool) -> Destination {
    let Some(key) = key_of(path) else {
        return Destination::Coordinator;
    };
    let Some(message) = message_of(body, gzip, MAX_MESSAGE_SIZE) else {
        return Destination::Coordinator;
    };
    run_named(key, &message)
        .or_else(|| {
            // A field with the wrong wire type, which the frontend skips as Go does.
            let method = path.strip_prefix(WORKFLOW_SERVICE)?;
            let request = format!("temporal.api.workflowservice.v1.{method}Request");
            let cleaned = temper_api::lenient::without_mistyped_fields(&message, &request)?;
            run_named(key, &cleaned)
        })
        .unwrap_or(Destination::Coordinator)
}

/// The message of a gRPC frame (a compressed flag, a 4-byte big-endian length, the message),
/// decompressed; `None` when it is no single well-formed frame, or inflates past `limit`
/// bytes (the server's message limit: a small body must not inflate without bound here; an
/// uncompressed one was bounded as it was read).
fn message_of(body: &[u8], gzip: bool, limit: usize) -> Option<Cow<'_, [u8]>> {
    let (&compressed, rest) = body.split_first()?;
    let (length, message) = rest.split_first_chunk::<4>()?;
    if usize::try_from(u32::from_be_bytes(*length)).ok()? != message.len() {
        return None;
    }
    match compressed {
        0 => Some(Cow::Borrowed(message)),
        1 if gzip => {
            let mut plain = Vec::new();
            let most = u64::try_from(limit).ok()?.saturating_add(1);
            flate2::read::GzDecoder::new(message)
                .take(most)
                .read_to_end(&mut plain)
                .ok()?;
            (plain.len() <= limit).then_some(Cow::Owned(plain))
        }
        _ => None,
    }
}

/// The run (or task queue) `message` names, as `key` says where.
fn run_named(key: Key, message: &[u8]) -> Option<Destination> {
    let (namespace, workflow_id) = match key {
        Key::TaskQueue(field) => return queue_named(field, message),
        Key::StickyQueue => {
            let named = NamedStickyQueue::decode(message).ok()?;
            return queue(named.namespace, named.sticky_task_queue);
        }
        Key::Execution => {
            let named = NamedExecution::decode(message).ok()?;
            (named.namespace, named.execution?.workflow_id)
        }
        Key::WorkflowId => {
            let named = NamedWorkflowId::decode(message).ok()?;
            (named.namespace, named.workflow_id)
        }
        Key::UpdateRef => {
            let named = NamedUpdate::decode(message).ok()?;
            let execution = named.update_ref?.workflow_execution?;
            (named.namespace, execution.workflow_id)
        }
        Key::Token(field) => return run_of_token(field, message),
        Key::MultiOperation => {
            let request = ExecuteMultiOperationRequest::decode(message).ok()?;
            let first = request.operations.into_iter().next()?.operation?;
            let Operation::StartWorkflow(start) = first else {
                return None;
            };
            (request.namespace, start.workflow_id)
        }
    };
    run(namespace, workflow_id)
}

/// The task queue a poll or a `DescribeTaskQueue` names (`field`: where its `TaskQueue` is).
fn queue_named(field: u32, message: &[u8]) -> Option<Destination> {
    let (namespace, task_queue) = match field {
        2 => {
            let named = NamedQueueAt2::decode(message).ok()?;
            (named.namespace, named.task_queue?)
        }
        _ => {
            let named = NamedQueueAt3::decode(message).ok()?;
            (named.namespace, named.task_queue?)
        }
    };
    queue(namespace, task_queue.name)
}

fn queue(namespace: String, queue: String) -> Option<Destination> {
    (!queue.is_empty()).then_some(Destination::Queue { namespace, queue })
}

/// The run a task token names; standalone activities' tokens name none.
fn run_of_token(field: u32, message: &[u8]) -> Option<Destination> {
    let token = match field {
        1 => TokenAt1::decode(message).ok()?.task_token,
        _ => TokenAt3::decode(message).ok()?.task_token,
    };
    let token = TaskToken::decode(token.as_slice()).ok()?;
    if token.standalone {
        return None;
    }
    run(token.namespace, token.workflow_id)
}

fn run(namespace: String, workflow_id: String) -> Option<Destination> {
    if workflow_id.is_empty() {
        return None;
    }
    Some(Destination::Run {
        namespace,
        workflow_id,
    })
}

/// The leading fields of the requests that name a run by execution (the rest is skipped).
#[derive(Clone, PartialEq, prost::Message)]
struct NamedExecution {
    #[prost(string, tag = "1")]
    namespace: String,
    #[prost(message, optional, tag = "2")]
    execution: Option<WorkflowExecution>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NamedStickyQueue {
    #[prost(string, tag = "1")]
    namespace: String,
    #[prost(string, tag = "2")]
    sticky_task_queue: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NamedQueueAt2 {
    #[prost(string, tag = "1")]
    namespace: String,
    #[prost(message, optional, tag = "2")]
    task_queue: Option<TaskQueue>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NamedQueueAt3 {
    #[prost(string, tag = "1")]
    namespace: String,
    #[prost(message, optional, tag = "3")]
    task_queue: Option<TaskQueue>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NamedWorkflowId {
    #[prost(string, tag = "1")]
    namespace: String,
    #[prost(string, tag = "2")]
    workflow_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NamedUpdate {
    #[prost(string, tag = "1")]
    namespace: String,
    #[prost(message, optional, tag = "2")]
    update_ref: Option<UpdateRef>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TokenAt1 {
    #[prost(bytes = "vec", tag = "1")]
    task_token: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TokenAt3 {
    #[prost(bytes = "vec", tag = "3")]
    task_token: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use temper_api::proto::workflowservice::v1 as wf;

    use super::*;
    use crate::tokens::TokenKind;

    fn framed(message: &impl Message) -> Vec<u8> {
        let bytes = message.encode_to_vec();
        let mut body = vec![0];
        body.extend_from_slice(&u32::try_from(bytes.len()).expect("small").to_be_bytes());
        body.extend_from_slice(&bytes);
        body
    }

    fn gzipped(message: &impl Message) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder
            .write_all(&message.encode_to_vec())
            .expect("in memory");
        let bytes = encoder.finish().expect("in memory");
        let mut body = vec![1];
        body.extend_from_slice(&u32::try_from(bytes.len()).expect("small").to_be_bytes());
        body.extend_from_slice(&bytes);
        body
    }

    fn path(method: &str) -> String {
        format!("{WORKFLOW_SERVICE}{method}")
    }

    fn the_run() -> Destination {
        Destination::Run {
            namespace: "ns".into(),
            workflow_id: "wf".into(),
        }
    }

    fn execution() -> Option<WorkflowExecution> {
        Some(WorkflowExecution {
            workflow_id: "wf".into(),
            run_id: "r".into(),
        })
    }

    #[test]
    fn a_call_naming_a_run_goes_to_its_shard() {
        let signal = wf::SignalWorkflowExecutionRequest {
            namespace: "ns".into(),
            workflow_execution: execution(),
            signal_name: "s".into(),
            ..Default::default()
        };
        let path = path("SignalWorkflowExecution");
        assert_eq!(destination_of(&path, &framed(&signal), false), the_run());
        assert_eq!(destination_of(&path, &gzipped(&signal), true), the_run());
        let start = wf::StartWorkflowExecutionRequest {
            namespace: "ns".into(),
            workflow_id: "wf".into(),
            ..Default::default()
        };
        let path = super::tests::path("StartWorkflowExecution");
        assert_eq!(destination_of(&path, &framed(&start), false), the_run());
        let poll_update = wf::PollWorkflowExecutionUpdateRequest {
            namespace: "ns".into(),
            update_ref: Some(UpdateRef {
                workflow_execution: execution(),
                update_id: "u".into(),
            }),
            ..Default::default()
        };
        let path = super::tests::path("PollWorkflowExecutionUpdate");
        assert_eq!(
            destination_of(&path, &framed(&poll_update), false),
            the_run()
        );
    }

    #[test]
    fn a_poll_goes_to_its_task_queues_shard() {
        let queue = || {
            Some(temper_api::proto::taskqueue::v1::TaskQueue {
                name: "q".into(),
                ..Default::default()
            })
        };
        let the_queue = Destination::Queue {
            namespace: "ns".into(),
            queue: "q".into(),
        };
        let poll = wf::PollWorkflowTaskQueueRequest {
            namespace: "ns".into(),
            task_queue: queue(),
            ..Default::default()
        };
        let path = super::tests::path("PollWorkflowTaskQueue");
        assert_eq!(destination_of(&path, &gzipped(&poll), true), the_queue);
        let nexus = wf::PollNexusTaskQueueRequest {
            namespace: "ns".into(),
            identity: "worker".into(),
            task_queue: queue(),
            ..Default::default()
        };
        let path = super::tests::path("PollNexusTaskQueue");
        assert_eq!(destination_of(&path, &framed(&nexus), false), the_queue);
        let nameless = wf::PollActivityTaskQueueRequest {
            namespace: "ns".into(),
            ..Default::default()
        };
        let path = super::tests::path("PollActivityTaskQueue");
        assert_eq!(
            destination_of(&path, &framed(&nameless), false),
            Destination::Coordinator
        );
    }

    #[test]
    fn a_field_of_the_wrong_wire_type_is_skipped_as_the_frontend_skips_it() {
        let start = wf::StartWorkflowExecutionRequest {
            namespace: "ns".into(),
            workflow_id: "wf".into(),
            ..Default::default()
        };
        // Field 1 (a string) written as a varint first: Go skips it, prost refuses.
        let mut message = vec![0x08, 0x07];
        message.extend(start.encode_to_vec());
        let mut body = vec![0];
        body.extend_from_slice(&u32::try_from(message.len()).expect("small").to_be_bytes());
        body.extend_from_slice(&message);
        let path = path("StartWorkflowExecution");
        assert_eq!(destination_of(&path, &body, false), the_run());
    }

    #[test]
    fn a_task_token_names_its_run() {
        let token = TaskToken {
            namespace: "ns".into(),
            workflow_id: "wf".into(),
            kind: TokenKind::ActivityTask as i32,
            ..Default::default()
        };
        let completed = wf::RespondActivityTaskCompletedRequest {
            task_token: token.encode(),
            ..Default::default()
        };
        let path = path("RespondActivityTaskCompleted");
        assert_eq!(destination_of(&path, &framed(&completed), false), the_run());
        let nexus = wf::RespondNexusTaskCompletedRequest {
            namespace: "ns".into(),
            task_token: token.encode(),
            ..Default::default()
        };
        let path = super::tests::path("RespondNexusTaskCompleted");
        assert_eq!(destination_of(&path, &framed(&nexus), false), the_run());
        let standalone = TaskToken {
            standalone: true,
            workflow_id: String::new(),
            activity_id: "a".into(),
            ..token
        };
        let completed = wf::RespondActivityTaskCompletedRequest {
            task_token: standalone.encode(),
            ..Default::default()
        };
        let path = super::tests::path("RespondActivityTaskCompleted");
        assert_eq!(
            destination_of(&path, &framed(&completed), false),
            Destination::Coordinator
        );
    }

    #[test]
    fn a_body_inflating_past_the_limit_is_not_read() {
        let signal = wf::SignalWorkflowExecutionRequest {
            namespace: "ns".into(),
            workflow_execution: execution(),
            signal_name: "s".repeat(1_000),
            ..Default::default()
        };
        let size = signal.encoded_len();
        let body = gzipped(&signal);
        assert!(message_of(&body, true, size).is_some());
        assert!(message_of(&body, true, size - 1).is_none());
        assert!(matches!(
            message_of(&framed(&signal), false, 0),
            Some(Cow::Borrowed(_))
        ));
    }

    /// The calls reaching a task queue's owner whose `TaskQueue` is field 2.
    const POLLED_AT_2: [&str; 3] = [
        "PollWorkflowTaskQueue",
        "PollActivityTaskQueue",
        "DescribeTaskQueue",
    ];

    /// Every call listed names its run where its request type has that field, and every
    /// call whose request has such a field is listed (the protos' own descriptors).
    #[test]
    fn the_keys_match_the_request_types() {
        use prost_types::field_descriptor_proto::Type;
        let set = prost_types::FileDescriptorSet::decode(temper_api::FILE_DESCRIPTOR_SET)
            .expect("descriptors");
        let file = |name: &str| set.file.iter().find(|f| f.name() == name).expect(name);
        let service = file("temporal/api/workflowservice/v1/service.proto")
            .service
            .iter()
            .find(|s| s.name() == "WorkflowService")
            .expect("WorkflowService");
        let requests = &file("temporal/api/workflowservice/v1/request_response.proto").message_type;
        for method in &service.method {
            let input = method.input_type().rsplit('.').next().expect("a name");
            let request = requests.iter().find(|m| m.name() == input).expect(input);
            let named_by = |number: i32| {
                let field = request.field.iter().find(|f| f.number() == number)?;
                Some((field.name(), field.r#type(), field.type_name()))
            };
            let queue_at = |number: i32| {
                let named = named_by(number);
                assert_eq!(
                    named.map(|(_, _, type_name)| type_name),
                    Some(".temporal.api.taskqueue.v1.TaskQueue"),
                    "{}",
                    method.name()
                );
                Some(Key::TaskQueue(number as u32))
            };
            let expected = match (named_by(2), named_by(1), named_by(3)) {
                _ if POLLED_AT_2.contains(&method.name()) => queue_at(2),
                _ if method.name() == "PollNexusTaskQueue" => queue_at(3),
                (Some(("sticky_task_queue", Type::String, _)), ..) => Some(Key::StickyQueue),
                (Some((_, Type::Message, ".temporal.api.common.v1.WorkflowExecution")), ..) => {
                    Some(Key::Execution)
                }
                (Some(("workflow_id", Type::String, _)), ..) => Some(Key::WorkflowId),
                (Some((_, Type::Message, ".temporal.api.update.v1.UpdateRef")), ..) => {
                    Some(Key::UpdateRef)
                }
                (_, Some(("task_token", ..)), _) => Some(Key::Token(1)),
                (_, _, Some(("task_token", ..))) => Some(Key::Token(3)),
                _ if method.name() == "ExecuteMultiOperation" => Some(Key::MultiOperation),
                _ => None,
            };
            let path = path(method.name());
            assert_eq!(key_of(&path), expected, "{}", method.name());
        }
        assert!(
            KEYS.iter()
                .all(|(name, _)| service.method.iter().any(|m| m.name() == *name)),
            "every listed call is a WorkflowService method"
        );
    }

    #[test]
    fn calls_about_the_node_and_visibility_reads_stay_on_it() {
        let here = [
            "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo",
            "/grpc.health.v1.Health/Check",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/temporal.api.workflowservice.v1.WorkflowService/CountWorkflowExecutions",
        ];
        for path in here {
            assert!(answered_by_every_node(path), "{path}");
        }
        let elsewhere = [
            "/temporal.api.workflowservice.v1.WorkflowService/DescribeTaskQueue",
            "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfoMore",
            "/temporal.api.workflowservice.v1.WorkflowService/ListWorkflowExecutionsX",
        ];
        for path in elsewhere {
            assert!(!answered_by_every_node(path), "{path}");
        }
    }

    #[test]
    fn other_calls_and_unreadable_bodies_go_to_the_coordinator() {
        let poll = wf::PollWorkflowTaskQueueRequest {
            namespace: "ns".into(),
            ..Default::default()
        };
        let coordinator = Destination::Coordinator;
        assert_eq!(
            destination_of(&path("PollWorkflowTaskQueue"), &framed(&poll), false),
            coordinator
        );
        assert!(!names_a_run(&path("ListWorkflowExecutions")));
        let signal = path("SignalWorkflowExecution");
        assert!(names_a_run(&signal));
        for body in [&b""[..], &[0, 0, 0, 0, 9, 1][..], &[1, 0, 0, 0, 1, 7][..]] {
            assert_eq!(destination_of(&signal, body, true), coordinator, "{body:?}");
        }
        let no_execution = wf::SignalWorkflowExecutionRequest {
            namespace: "ns".into(),
            ..Default::default()
        };
        assert_eq!(
            destination_of(&signal, &framed(&no_execution), false),
            coordinator
        );
        let compressed_without_encoding = gzipped(&no_execution);
        assert_eq!(
            destination_of(&signal, &compressed_without_encoding, false),
            coordinator
        );
    }
}
