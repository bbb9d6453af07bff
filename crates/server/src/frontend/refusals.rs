//! RPCs Temper answers as Temporal's dev server does when the feature is off or gone: the
//! deprecated v0.31 deployments, workflow pause (off unless a namespace enables it),
//! standalone Nexus operations (off by default) and archival (not configured). Each answer
//! is the dev server's status and message, so clients see what they would see there.

use tonic::Status;

pub(super) fn deprecated_deployments() -> Status {
    Status::unimplemented(
        "Deployments are deprecated and no longer supported, use Worker Deployments instead",
    )
}

pub(super) fn workflow_pause_disabled(namespace: &str) -> Status {
    Status::unimplemented(format!(
        "workflow pause is not enabled for namespace: {namespace}"
    ))
}

pub(super) fn standalone_nexus_disabled() -> Status {
    Status::unimplemented("Standalone Nexus operation is disabled")
}

pub(super) fn archival_disabled() -> Status {
    Status::invalid_argument("Cluster is not configured for visibility archival.")
}
