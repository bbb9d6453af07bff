//! `temper-api` owns the protocol surface: the tonic server traits for Temporal's
//! `WorkflowService`, `OperatorService`, `TestService` and gRPC `Health`, generated at build
//! time from the descriptor set of `temporalio-protos` and bound to that crate's message
//! types. It re-exports those types so every other crate names one set of protos.
//! Every RPC has a default body answering UNIMPLEMENTED; the server overrides what it serves.
//! Temper's own services (`proto/temper/`, compiled from source) come with clients too.

pub mod codec;
pub mod lenient;
pub mod linear;
pub mod request_gate;
pub mod request_namespace;

pub use prost_wkt_types::{Duration, Timestamp};
pub use temporalio_protos::temporal::api as proto;

pub mod workflowservice {
    tonic::include_proto!("temporal.api.workflowservice.v1");
}
pub mod operatorservice {
    tonic::include_proto!("temporal.api.operatorservice.v1");
}
pub mod testservice {
    tonic::include_proto!("temporal.api.testservice.v1");
}
pub mod health {
    tonic::include_proto!("grpc.health.v1");
}
/// Temper's own service: the membership and shard leases of nodes sharing one database.
pub mod cluster {
    tonic::include_proto!("temper.cluster.v1");

    impl RemoteTask {
        /// The namespace of the task's run (its queue's, unless a Nexus endpoint targets
        /// another namespace's queue).
        pub fn run_namespace(&self) -> &str {
            if self.run_namespace.is_empty() {
                &self.namespace
            } else {
                &self.run_namespace
            }
        }
    }
}

/// The encoded descriptor set, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/temporal_descriptors.bin"));

/// One binding of Temporal's HTTP API: an HTTP verb and path template (`{field.path}`
/// captures) routed to a gRPC method, with the request field its body fills (`*` for the
/// whole request, empty for none).
#[derive(Debug, Clone, Copy)]
pub struct HttpRoute {
    pub verb: &'static str,
    pub pattern: &'static str,
    pub body: &'static str,
    /// The gRPC path, `/package.Service/Method`.
    pub method: &'static str,
    /// Full names of the request and response messages.
    pub input: &'static str,
    pub output: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/http_routes.rs"));
