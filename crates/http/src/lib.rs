//! `temper-http` owns Temporal's HTTP API: the JSON routes that `temporalio/api` declares
//! with `google.api.http` annotations (`GET /api/v1/namespaces/{namespace}/workflows`, …).
//! The route table is generated from those annotations at build time (`temper_api::
//! HTTP_ROUTES`); each request is transcoded from JSON to the RPC's protobuf request, handed
//! to the server's own gRPC services in process, and the answer or error is written back as
//! Temporal's HTTP API writes it (protojson with payload shorthand, HTTP status from the gRPC
//! code, `{"code","message","details"}` bodies). It holds no server state of its own.

mod call;
mod payload;
mod routes;
mod transcode;

use axum::body::Body;
use axum::response::Response;
use tonic::Status;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};

pub use call::GrpcService;
use routes::RouteMatch;
use transcode::{HttpRequest, Style};

/// Largest request body accepted, as Temporal's HTTP API (4 MiB).
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// HTTP headers handed on to the RPC as metadata (Temporal forwards the same ones).
const FORWARDED_HEADERS: &[&str] = &[
    "authorization",
    "authorization-extras",
    "x-forwarded-for",
    "client-name",
    "client-version",
];
/// Headers with this prefix are handed on without it, as grpc-gateway does.
const METADATA_PREFIX: &str = "grpc-metadata-";

/// The HTTP API as a router: every path is looked up in the route table.
pub fn router(grpc: GrpcService) -> axum::Router {
    axum::Router::new().fallback(move |request: http::Request<Body>| handle(grpc.clone(), request))
}

/// Serves the HTTP API on `listener` until the server stops.
pub async fn serve<L>(listener: L, grpc: GrpcService)
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    if let Err(error) = axum::serve(listener, router(grpc)).await {
        tracing::warn!(%error, "HTTP API stopped");
    }
}

/// Answers one HTTP API request.
pub async fn handle(grpc: GrpcService, request: http::Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let query = query_pairs(parts.uri.query());
    let style = Style::from_query(&query);
    let (route, captures) = match routes::find(parts.method.as_str(), parts.uri.path()) {
        RouteMatch::Found { route, captures } => (route, captures),
        RouteMatch::WrongVerb => return error(&Status::unimplemented("Method Not Allowed"), style),
        RouteMatch::NotFound => return error(&Status::not_found("Not Found"), style),
    };
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(body) => body,
        Err(e) => return error(&Status::invalid_argument(e.to_string()), style),
    };
    let http_request = HttpRequest {
        body_field: route.body,
        body: &body,
        captures: &captures,
        query: &query,
        style,
    };
    let answer = match transcode::request(route.input, &http_request) {
        Ok(encoded) => call::unary(grpc, route.method, encoded, metadata(&parts.headers)).await,
        Err(status) => Err(status),
    };
    match answer.and_then(|bytes| transcode::response(route.output, &bytes, style)) {
        Ok(json) => json_response(http::StatusCode::OK, json),
        Err(status) => error(&status, style),
    }
}

fn error(status: &Status, style: Style) -> Response {
    json_response(
        transcode::http_status(status.code()),
        transcode::status(status, style),
    )
}

fn json_response(code: http::StatusCode, json: String) -> Response {
    let mut response = Response::new(Body::from(json));
    *response.status_mut() = code;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let Some(query) = query else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(key), form_decode(value))
        })
        .collect()
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, then percent escapes.
fn form_decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// The request headers an RPC sees as metadata.
fn metadata(headers: &http::HeaderMap) -> MetadataMap {
    let mut metadata = MetadataMap::new();
    for (name, value) in headers {
        let name = name.as_str();
        let key = if FORWARDED_HEADERS.contains(&name) {
            name
        } else if let Some(stripped) = name.strip_prefix(METADATA_PREFIX) {
            stripped
        } else {
            continue;
        };
        let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_bytes()),
        ) else {
            continue;
        };
        metadata.append(key, value);
    }
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn query_strings_decode_as_forms() {
        assert_eq!(
            query_pairs(Some("query=WorkflowType%3D%22a+b%22&pretty")),
            [
                ("query".to_string(), "WorkflowType=\"a b\"".to_string()),
                ("pretty".to_string(), String::new())
            ]
        );
    }

    #[test]
    fn unknown_codes_map_like_grpc_gateway() {
        assert_eq!(transcode::http_status(Code::NotFound), 404);
        assert_eq!(transcode::http_status(Code::AlreadyExists), 409);
        assert_eq!(transcode::http_status(Code::Unimplemented), 501);
    }
}
