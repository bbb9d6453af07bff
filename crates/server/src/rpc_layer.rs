//! A tower layer around every RPC: logs each call (method, gRPC status, duration) and records
//! its metrics (labelled with the namespace the codec read from the request), names the
//! RPC in UNIMPLEMENTED answers, which the generated default bodies leave generic, and keeps
//! every error message short: a message that quotes a huge request field (a 1 MB workflow id,
//! say) is cut to [`MAX_MESSAGE_BYTES`], so errors never echo large input back.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderValue, Request, Response};

/// Longest error message sent: room for Temporal's messages quoting a 1,000-byte id whole.
const MAX_MESSAGE_BYTES: usize = 2048;
/// Longest error details (base64 of a `google.rpc.Status`) sent. Details that quote a huge
/// field (a 1 MB namespace in `NamespaceNotFoundFailure`) are left out: clients refuse
/// response headers over 16 KiB, and the message says what went wrong.
const MAX_DETAILS_BYTES: usize = 8192;

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
        let compressed = request
            .headers()
            .get("grpc-encoding")
            .is_some_and(|encoding| encoding != "identity");
        let started = Instant::now();
        let namespace = temper_api::request_namespace::NamespaceSlot::default();
        let call = temper_api::request_namespace::with_namespace_slot(
            namespace.clone(),
            self.inner.call(request),
        );
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
            if compressed {
                word_as_decompressed(headers);
            }
            shorten_message(headers);
            tracing::debug!(rpc = %path, grpc_status = %status, elapsed_ms = started.elapsed().as_millis() as u64, "rpc");
            let namespace = namespace.lock().unwrap_or_else(|e| e.into_inner()).take();
            let namespace = namespace
                .as_deref()
                .unwrap_or(crate::metrics::UNKNOWN_NAMESPACE);
            let code = status.parse().unwrap_or(2);
            crate::metrics::rpc(&method, namespace, code, started.elapsed());
            Ok(response)
        })
    }
}

/// The codec measures requests after decompression; for a compressed one grpc-go words the
/// refusal differently, and clients may match on it.
fn word_as_decompressed(headers: &mut http::HeaderMap) {
    let too_large = headers.get("grpc-status").is_some_and(|s| s == "8")
        && headers.get("grpc-message").is_some_and(|m| {
            m.as_bytes()
                .starts_with(b"grpc:%20received%20message%20larger%20than%20max")
        });
    if too_large {
        let message = format!(
            "grpc:%20received%20message%20after%20decompression%20larger%20than%20max%20{}",
            temper_api::codec::MAX_REQUEST_BYTES
        );
        if let Ok(value) = HeaderValue::from_str(&message) {
            headers.insert("grpc-message", value);
        }
    }
}

/// Cuts a `grpc-message` (percent-encoded UTF-8) longer than [`MAX_MESSAGE_BYTES`] at a
/// character boundary and marks the cut; drops details longer than [`MAX_DETAILS_BYTES`].
fn shorten_message(headers: &mut http::HeaderMap) {
    if headers
        .get("grpc-status-details-bin")
        .is_some_and(|details| details.len() > MAX_DETAILS_BYTES)
    {
        headers.remove("grpc-status-details-bin");
    }
    let Some(encoded) = headers.get("grpc-message") else {
        return;
    };
    if encoded.len() <= MAX_MESSAGE_BYTES {
        return;
    }
    let decoded = percent_encoding::percent_decode(encoded.as_bytes()).decode_utf8_lossy();
    let mut end = MAX_MESSAGE_BYTES.min(decoded.len());
    while !decoded.is_char_boundary(end) {
        end -= 1;
    }
    let shortened = format!(
        "{}… (message cut at {MAX_MESSAGE_BYTES} bytes)",
        &decoded[..end]
    );
    let encoded =
        percent_encoding::utf8_percent_encode(&shortened, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    if let Ok(value) = HeaderValue::from_str(&encoded) {
        headers.insert("grpc-message", value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let mut headers = http::HeaderMap::new();
        let long = format!("workflow not found for ID: {}", "€".repeat(100_000));
        let encoded =
            percent_encoding::utf8_percent_encode(&long, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        headers.insert("grpc-message", HeaderValue::from_str(&encoded).unwrap());
        shorten_message(&mut headers);
        let value = headers.get("grpc-message").unwrap().as_bytes();
        let message = percent_encoding::percent_decode(value)
            .decode_utf8()
            .unwrap();
        assert!(message.starts_with("workflow not found for ID: €€"));
        assert!(message.ends_with("… (message cut at 2048 bytes)"));
        assert!(message.len() < MAX_MESSAGE_BYTES + 64);
    }
}
