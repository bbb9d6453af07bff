//! A tower layer around every RPC: logs each call (method, gRPC status, duration) and names
//! the RPC in UNIMPLEMENTED answers, which the generated default bodies leave generic.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderValue, Request, Response};

/// The message of tonic's generated default method bodies.
const GENERATED_UNIMPLEMENTED: &str = "Not%20yet%20implemented";

#[derive(Clone)]
pub struct RpcService<S> {
    inner: S,
}

pub fn layer<S>() -> tower::layer::LayerFn<fn(S) -> RpcService<S>> {
    tower::layer::layer_fn(|inner| RpcService { inner })
}

impl<S, B, ResBody> tower::Service<Request<B>> for RpcService<S>
where
    S: tower::Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let path = request.uri().path().to_string();
        let started = Instant::now();
        let call = self.inner.call(request);
        Box::pin(async move {
            let mut response = call.await?;
            let method = path.rsplit('/').next().unwrap_or_default().to_string();
            let headers = response.headers_mut();
            let status = headers
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("0")
                .to_string();
            let generated = headers.get("grpc-message").is_some_and(|m| {
                m.to_str()
                    .is_ok_and(|m| m == GENERATED_UNIMPLEMENTED || m == "Not yet implemented")
            });
            if status == "12" && generated {
                let message = format!("{method}%20is%20not%20implemented%20by%20Temper%20yet");
                if let Ok(value) = HeaderValue::from_str(&message) {
                    headers.insert("grpc-message", value);
                }
            }
            tracing::debug!(rpc = %path, grpc_status = %status, elapsed_ms = started.elapsed().as_millis() as u64, "rpc");
            Ok(response)
        })
    }
}
