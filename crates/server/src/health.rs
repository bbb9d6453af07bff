//! gRPC health: the names Temporal's frontend registers answer SERVING while the store still
//! commits, NOT_SERVING when a probe write fails or takes too long (a full disk, a lost or
//! read-only database), so a load balancer stops sending work the server cannot keep. The
//! probe is one row written per check, reused for a second so a burst of checks is one write.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use temper_api::health::health_server::Health;
use temper_store::Store;
use temporalio_protos::grpc::health::v1::{
    HealthCheckRequest, HealthCheckResponse, health_check_response::ServingStatus,
};
use tonic::{Request, Response, Status};

use crate::clock::Clock;

/// The names gRPC health checks may ask about, as Temporal's frontend registers them (the
/// empty name is the server as a whole).
const HEALTH_CHECKED_SERVICES: &[&str] = &[
    "",
    "temporal.api.workflowservice.v1.WorkflowService",
    "temporal.api.operatorservice.v1.OperatorService",
    "temporal.api.adminservice.v1.AdminService",
];

/// A probe slower than this counts as a store that cannot commit.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one probe's outcome answers later checks.
const PROBE_REUSE: Duration = Duration::from_secs(1);

pub struct HealthService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    last_probe: Mutex<Option<(Instant, bool)>>,
}

impl HealthService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        HealthService {
            store,
            clock,
            last_probe: Mutex::new(None),
        }
    }

    /// Whether the store committed a probe write just now (or within [`PROBE_REUSE`]).
    async fn store_commits(&self) -> bool {
        let recent = *self.last_probe.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, healthy)) = recent.filter(|(at, _)| at.elapsed() < PROBE_REUSE) {
            return healthy;
        }
        let probe = self.store.probe_commit(self.clock.now_ms());
        let healthy = match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                tracing::warn!(%error, "health probe: the store cannot commit");
                false
            }
            Err(_) => {
                tracing::warn!("health probe: the store did not commit within 5 s");
                false
            }
        };
        *self.last_probe.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), healthy));
        healthy
    }
}

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        if !HEALTH_CHECKED_SERVICES.contains(&request.get_ref().service.as_str()) {
            return Err(Status::not_found("unknown service"));
        }
        let status = if self.store_commits().await {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        Ok(Response::new(HealthCheckResponse {
            status: status as i32,
        }))
    }
}
