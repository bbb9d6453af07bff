//! `DeleteNexusEndpoint`: removes an endpoint. As Temporal, any positive version is taken.

use temper_api::proto::operatorservice::v1::{
    DeleteNexusEndpointRequest, DeleteNexusEndpointResponse,
};
use temper_store::RecordKind;
use tonic::Status;

use super::{CLUSTER, NexusEndpoints, check_id};
use crate::errors;

impl NexusEndpoints {
    pub async fn delete(
        &self,
        request: DeleteNexusEndpointRequest,
    ) -> Result<DeleteNexusEndpointResponse, Status> {
        check_id(&request.id)?;
        if request.version <= 0 {
            return Err(errors::invalid("endpoint version is non-positive"));
        }
        let _writing = self.writing.lock().await;
        if self.by_id(&request.id).is_none() {
            return Err(errors::not_found(format!(
                "error deleting nexus endpoint with ID: {}",
                request.id
            )));
        }
        self.store
            .delete_record(RecordKind::NexusEndpoint, CLUSTER, &request.id)
            .await
            .map_err(errors::storage)?;
        self.write().remove(&request.id);
        Ok(DeleteNexusEndpointResponse {})
    }
}
