//! `temper-ui` owns the built-in Web UI: a page shell, one script and one style sheet, all
//! embedded in the binary at compile time (no CDN, no network, no Node at run time). The UI
//! port serves them under Temporal's UI paths (`/namespaces/{ns}/workflows`,
//! `/namespaces/{ns}/workflows/{workflowId}/{runId}/history`, …: every path that is not an
//! asset or the API gets the shell, and the script renders the page the path names) and
//! mounts Temporal's HTTP API under `/api/v1`, which is where the script reads all its data
//! and sends its actions. The UI therefore holds no state and sees exactly what HTTP clients
//! see, under the same rules.

use axum::body::Body;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use temper_http::GrpcService;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");
const ICON_SVG: &str = include_str!("../assets/icon.svg");

/// The UI: assets, the HTTP API under `/api/`, and the page shell for every other path.
pub fn router(grpc: GrpcService) -> axum::Router {
    axum::Router::new()
        .route(
            "/",
            get(|| async { Redirect::temporary("/namespaces/default/workflows") }),
        )
        .route(
            "/assets/app.js",
            get(|| asset(APP_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/assets/app.css",
            get(|| asset(APP_CSS, "text/css; charset=utf-8")),
        )
        .route("/assets/icon.svg", get(|| asset(ICON_SVG, "image/svg+xml")))
        .fallback(move |request: http::Request<Body>| {
            let grpc = grpc.clone();
            async move {
                if request.uri().path().starts_with("/api/") {
                    temper_http::handle(grpc, request).await
                } else {
                    asset(INDEX_HTML, "text/html; charset=utf-8").await
                }
            }
        })
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (http::header::CONTENT_TYPE, content_type),
            (http::header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Serves the UI on `listener` until the server stops.
pub async fn serve<L>(listener: L, grpc: GrpcService)
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    if let Err(error) = axum::serve(listener, router(grpc)).await {
        tracing::warn!(%error, "web UI stopped");
    }
}
