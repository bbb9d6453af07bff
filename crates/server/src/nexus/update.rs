//! `UpdateNexusEndpoint`: replaces an endpoint's spec when the caller names its current
//! version. (Temporal lets a rename take another endpoint's name; Temper refuses it, as a
//! name must find one endpoint.)

use temper_api::proto::operatorservice::v1::{
    UpdateNexusEndpointRequest, UpdateNexusEndpointResponse,
};
use tonic::Status;

use super::{NexusEndpoints, check_id, spec};
use crate::{errors, records};

impl NexusEndpoints {
    pub async fn update(
        &self,
        request: UpdateNexusEndpointRequest,
    ) -> Result<UpdateNexusEndpointResponse, Status> {
        check_id(&request.id)?;
        spec::check(request.spec.as_ref(), &self.namespaces)?;
        let spec = request.spec.unwrap_or_default();
        let _writing = self.writing.lock().await;
        let mut endpoint = self.by_id(&request.id).ok_or_else(|| {
            errors::not_found(format!(
                "error updating Nexus endpoint. endpoint ID {} not found",
                request.id
            ))
        })?;
        if endpoint.version != request.version {
            return Err(Status::failed_precondition(format!(
                "nexus endpoint version mismatch. received: {} expected {}",
                request.version, endpoint.version
            )));
        }
        if self
            .by_name(&spec.name)
            .is_some_and(|other| other.id != endpoint.id)
        {
            return Err(Status::already_exists(format!(
                "error updating Nexus endpoint. Endpoint with name {} already registered",
                spec.name
            )));
        }
        endpoint.spec = Some(spec);
        endpoint.last_modified_time = temper_engine::time::ms_timestamp(self.clock.now_ms());
        records::save(self.store.as_ref(), &mut endpoint).await?;
        self.write().insert(endpoint.id.clone(), endpoint.clone());
        Ok(UpdateNexusEndpointResponse {
            endpoint: Some(endpoint),
        })
    }
}
