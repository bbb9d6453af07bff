//! gRPC server reflection (what `grpcurl` and other generic clients list and describe the
//! services with), built on its first call.
//!
//! Building it decodes the descriptors of every Temporal proto file (1.3 MB encoded) and
//! indexes their symbols: milliseconds of start-up and megabytes of memory for a service most
//! servers never see called. So the route is served by [`LazyReflection`], which builds the
//! real service once, when a client first asks.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::server::NamedService;

type Request = http::Request<Body>;
type Response = http::Response<Body>;
type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;
/// The built service, type-erased (its concrete type cannot be named).
type Call = Arc<dyn Fn(Request) -> ResponseFuture + Send + Sync>;

/// The services reflection describes.
const SERVICES: [&str; 4] = [
    "temporal.api.workflowservice.v1.WorkflowService",
    "temporal.api.operatorservice.v1.OperatorService",
    "grpc.health.v1.Health",
    "temporal.api.testservice.v1.TestService",
];

/// The reflection route; the service behind it is built on the first request.
#[derive(Clone, Default)]
pub struct LazyReflection {
    built: Arc<OnceLock<Result<Call, String>>>,
}

impl NamedService for LazyReflection {
    const NAME: &'static str = "grpc.reflection.v1.ServerReflection";
}

impl tower::Service<Request> for LazyReflection {
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> ResponseFuture {
        match self.built.get_or_init(build) {
            Ok(call) => call(request),
            Err(message) => {
                let status = tonic::Status::internal(format!("server reflection: {message}"));
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}

/// Builds tonic's reflection service over Temper's descriptors.
fn build() -> Result<Call, String> {
    let mut builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(temper_api::FILE_DESCRIPTOR_SET);
    for service in SERVICES {
        builder = builder.with_service_name(service);
    }
    let server = builder.build_v1().map_err(|e| e.to_string())?;
    Ok(Arc::new(move |request| {
        let mut server = server.clone();
        Box::pin(async move { tower::Service::call(&mut server, request).await })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptors_build_a_reflection_service() {
        assert!(build().is_ok());
    }
}
