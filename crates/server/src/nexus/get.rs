//! `GetNexusEndpoint`: one endpoint by id.

use temper_api::proto::operatorservice::v1::{GetNexusEndpointRequest, GetNexusEndpointResponse};
use tonic::Status;

use super::{NexusEndpoints, check_id};
use crate::errors;

impl NexusEndpoints {
    pub fn get(
        &self,
        request: GetNexusEndpointRequest,
    ) -> Result<GetNexusEndpointResponse, Status> {
        check_id(&request.id)?;
        let endpoint = self.by_id(&request.id).ok_or_else(|| {
            errors::not_found(format!("Nexus endpoint with ID `{}` not found", request.id))
        })?;
        Ok(GetNexusEndpointResponse {
            endpoint: Some(endpoint),
        })
    }
}
