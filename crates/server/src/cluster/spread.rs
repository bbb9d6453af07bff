//! A serving node's gRPC calls in a spread cluster: each goes to the node that serves it, as
//! on a standby (`forward.rs`), except that the calls this node serves itself (those naming a
//! run of a shard it holds, those naming none when it coordinates, forwarded calls and
//! `ClusterService`) go to its own services. A call served here that changes a registry
//! every node keeps (namespaces, Nexus endpoints) is answered once the other nodes have read
//! it again (`refresh.rs`). Without a spread cluster the layer adds nothing.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tonic::body::Body;
use tower::ServiceExt;
use tower::util::Either;

use super::Forwarder;

/// Routes each call to the node that serves it (see the module doc).
#[derive(Clone)]
pub struct ToOwnerLayer {
    /// `None`: not a spread cluster; every call is served here.
    pub forwarder: Option<Arc<Forwarder>>,
}

impl<S> tower::Layer<S> for ToOwnerLayer {
    /// Without a spread cluster the services themselves: nothing is added to each call.
    type Service = Either<ToOwner<S>, S>;

    fn layer(&self, inner: S) -> Self::Service {
        match &self.forwarder {
            Some(forwarder) => Either::Left(ToOwner {
                inner,
                forwarder: forwarder.clone(),
            }),
            None => Either::Right(inner),
        }
    }
}

#[derive(Clone)]
pub struct ToOwner<S> {
    inner: S,
    forwarder: Arc<Forwarder>,
}

type Answer = Result<http::Response<Body>, Infallible>;

impl<S, B> tower::Service<http::Request<B>> for ToOwner<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Each call takes a clone of the inner service, made ready in `oneshot`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let request = request.map(Body::new);
        let (inner, forwarder) = (self.inner.clone(), self.forwarder.clone());
        let changes_registries = super::refresh::changes_registries(request.uri().path());
        Box::pin(async move {
            match forwarder.here_or_forwarded(request).await {
                Ok(request) => {
                    let answer = inner.oneshot(request).await;
                    if changes_registries && !refused(&answer) {
                        forwarder.refresh_other_nodes().await;
                    }
                    answer
                }
                Err(answer) => Ok(answer),
            }
        })
    }
}

/// True for a call answered with an error status (in the headers: gRPC's trailers-only
/// answer), which changed nothing for the other nodes to read.
fn refused(answer: &Answer) -> bool {
    answer.as_ref().is_ok_and(|response| {
        let status = response.headers().get("grpc-status");
        status.is_some_and(|code| code != "0")
    })
}
