//! Roles and what each RPC requires, following Temporal's default authorizer: readers may
//! describe, list, get and query; writers may also start, signal, cancel, terminate and the
//! rest of a namespace's write RPCs; admins may also manage namespaces, search attributes and
//! (with `temporal-system:admin`) the server's Nexus endpoints and clusters. One change from
//! Temporal: its `worker` role grants nothing there; here it grants exactly what a worker
//! process calls (polls, answers, heartbeats, shutdown, history for replay) and nothing else.

use std::collections::HashMap;

/// A set of roles (Temporal's bit values, so that "at least" compares as it does there).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Role(u8);

impl Role {
    pub const WORKER: Role = Role(1);
    pub const READER: Role = Role(2);
    pub const WRITER: Role = Role(4);
    pub const ADMIN: Role = Role(8);

    /// A role as a permission names it (unknown names grant nothing).
    pub fn named(name: &str) -> Role {
        match name.to_ascii_lowercase().as_str() {
            "read" => Role::READER,
            "write" => Role::WRITER,
            "worker" => Role::WORKER,
            "admin" => Role::ADMIN,
            _ => Role::default(),
        }
    }

    fn contains(self, role: Role) -> bool {
        self.0 & role.0 != 0
    }

    /// Whether some role held ranks at least as high as `required` (worker ranks lowest).
    fn reaches(self, required: Role) -> bool {
        self.0 >= required.0
    }
}

impl std::ops::BitOrAssign for Role {
    fn bitor_assign(&mut self, other: Role) {
        self.0 |= other.0;
    }
}

/// What a caller's token grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    pub subject: String,
    /// Roles on the whole server (`temporal-system:<role>`), valid in every namespace.
    pub system: Role,
    pub namespaces: HashMap<String, Role>,
}

/// What an RPC needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    pub role: Role,
    /// Decided by the server-wide roles only (no namespace in the request).
    pub cluster: bool,
    /// A worker role is enough.
    pub worker: bool,
}

/// RPCs every caller may make, token or not: health checks and `GetSystemInfo`.
pub fn is_open(method: &str) -> bool {
    matches!(method, "Check" | "Watch" | "GetSystemInfo")
}

const WORKER_METHODS: &[&str] = &[
    "DescribeNamespace",
    "PollWorkflowTaskQueue",
    "PollActivityTaskQueue",
    "PollNexusTaskQueue",
    "RespondWorkflowTaskCompleted",
    "RespondWorkflowTaskFailed",
    "RespondQueryTaskCompleted",
    "RespondActivityTaskCompleted",
    "RespondActivityTaskCompletedById",
    "RespondActivityTaskFailed",
    "RespondActivityTaskFailedById",
    "RespondActivityTaskCanceled",
    "RespondActivityTaskCanceledById",
    "RecordActivityTaskHeartbeat",
    "RecordActivityTaskHeartbeatById",
    "RespondNexusTaskCompleted",
    "RespondNexusTaskFailed",
    "ResetStickyTaskQueue",
    "ShutdownWorker",
    "RecordWorkerHeartbeat",
    "GetWorkflowExecutionHistory",
];

const CLUSTER_READ_METHODS: &[&str] = &["ListNamespaces", "GetSearchAttributes", "GetClusterInfo"];

const CLUSTER_ADMIN_METHODS: &[&str] = &[
    "CreateNexusEndpoint",
    "UpdateNexusEndpoint",
    "DeleteNexusEndpoint",
    "GetNexusEndpoint",
    "ListNexusEndpoints",
    "AddOrUpdateRemoteCluster",
    "RemoveRemoteCluster",
    "ListClusters",
];

const ADMIN_METHODS: &[&str] = &[
    "RegisterNamespace",
    "UpdateNamespace",
    "DeprecateNamespace",
    "DeleteNamespace",
    "AddSearchAttributes",
    "RemoveSearchAttributes",
];

/// Read-only RPCs of a namespace: what `Describe*`, `List*`, `Count*`, `Get*` and the polls
/// of a client (not a worker) name, plus queries.
fn is_read(method: &str) -> bool {
    let read_prefix = [
        "Describe", "List", "Count", "Get", "Scan", "Fetch", "Validate",
    ]
    .iter()
    .any(|prefix| method.starts_with(prefix));
    read_prefix
        || matches!(
            method,
            "QueryWorkflow"
                | "PollWorkflowExecutionUpdate"
                | "PollActivityExecution"
                | "PollNexusOperationExecution"
                | "PollWorkflowExecutionTimeSkipping"
        )
}

/// What `method` (its gRPC name) requires.
pub fn requirement(method: &str) -> Requirement {
    let worker = WORKER_METHODS.contains(&method);
    let (role, cluster) = if CLUSTER_ADMIN_METHODS.contains(&method) {
        (Role::ADMIN, true)
    } else if CLUSTER_READ_METHODS.contains(&method) {
        (Role::READER, true)
    } else if ADMIN_METHODS.contains(&method) {
        (Role::ADMIN, false)
    } else if is_read(method) {
        (Role::READER, false)
    } else {
        (Role::WRITER, false)
    };
    Requirement {
        role,
        cluster,
        worker,
    }
}

impl Claims {
    /// Whether these claims allow `method` on `namespace` (`None`: the request names none).
    pub fn allow(&self, method: &str, namespace: Option<&str>) -> bool {
        let needed = requirement(method);
        let held = match (needed.cluster, namespace) {
            (true, _) | (false, None) => self.system,
            (false, Some(namespace)) => {
                let mut held = self.system;
                held |= self.namespaces.get(namespace).copied().unwrap_or_default();
                held
            }
        };
        held.reaches(needed.role) || (needed.worker && held.contains(Role::WORKER))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(namespace: &str, role: &str) -> Claims {
        Claims {
            subject: "s".into(),
            system: Role::default(),
            namespaces: [(namespace.to_string(), Role::named(role))].into(),
        }
    }

    #[test]
    fn readers_read_and_nothing_more() {
        let reader = claims("a", "read");
        assert!(reader.allow("DescribeWorkflowExecution", Some("a")));
        assert!(reader.allow("ListWorkflowExecutions", Some("a")));
        assert!(reader.allow("QueryWorkflow", Some("a")));
        assert!(!reader.allow("StartWorkflowExecution", Some("a")));
        assert!(!reader.allow("TerminateWorkflowExecution", Some("a")));
        assert!(!reader.allow("DescribeWorkflowExecution", Some("b")));
    }

    #[test]
    fn writers_write_but_do_not_administer() {
        let writer = claims("a", "write");
        assert!(writer.allow("StartWorkflowExecution", Some("a")));
        assert!(writer.allow("PollWorkflowTaskQueue", Some("a")));
        assert!(writer.allow("DescribeNamespace", Some("a")));
        assert!(!writer.allow("UpdateNamespace", Some("a")));
        assert!(!writer.allow("CreateNexusEndpoint", None));
    }

    #[test]
    fn workers_only_do_what_workers_do() {
        let worker = claims("a", "worker");
        assert!(worker.allow("PollActivityTaskQueue", Some("a")));
        assert!(worker.allow("RespondWorkflowTaskCompleted", Some("a")));
        assert!(worker.allow("GetWorkflowExecutionHistory", Some("a")));
        assert!(!worker.allow("PollActivityTaskQueue", Some("b")));
        assert!(!worker.allow("StartWorkflowExecution", Some("a")));
        assert!(!worker.allow("ListWorkflowExecutions", Some("a")));
    }

    #[test]
    fn system_admins_administer_everything() {
        let admin = Claims {
            system: Role::ADMIN,
            ..Default::default()
        };
        assert!(admin.allow("RegisterNamespace", Some("new")));
        assert!(admin.allow("CreateNexusEndpoint", None));
        assert!(admin.allow("StartWorkflowExecution", Some("any")));
        let namespace_admin = claims("a", "admin");
        assert!(namespace_admin.allow("RegisterNamespace", Some("a")));
        assert!(!namespace_admin.allow("CreateNexusEndpoint", None));
    }
}
