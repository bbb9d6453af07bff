//! `temper-api` owns the protocol surface: the tonic server traits for Temporal's
//! `WorkflowService`, `OperatorService`, `TestService` and gRPC `Health`, generated at build
//! time from the descriptor set of `temporalio-protos` and bound to that crate's message
//! types. It re-exports those types so every other crate names one set of protos.
//! Every RPC has a default body answering UNIMPLEMENTED; the server overrides what it serves.

pub mod codec;
mod lenient;
pub mod linear;
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

/// The encoded descriptor set, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/temporal_descriptors.bin"));
