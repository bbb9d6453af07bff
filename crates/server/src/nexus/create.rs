//! `CreateNexusEndpoint`: a new endpoint (version 1, a fresh UUID) under a name no other
//! endpoint has.

use temper_api::proto::nexus::v1::Endpoint;
use temper_api::proto::operatorservice::v1::{
    CreateNexusEndpointRequest, CreateNexusEndpointResponse,
};
use tonic::Status;

use super::{NexusEndpoints, spec, url_prefix};
use crate::records;

impl NexusEndpoints {
    pub async fn create(
        &self,
        request: CreateNexusEndpointRequest,
    ) -> Result<CreateNexusEndpointResponse, Status> {
        spec::check(request.spec.as_ref(), &self.namespaces)?;
        let spec = request.spec.unwrap_or_default();
        let _writing = self.writing.lock().await;
        if self.by_name(&spec.name).is_some() {
            return Err(Status::already_exists(format!(
                "error creating Nexus endpoint. Endpoint with name {} already registered",
                spec.name
            )));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let mut endpoint = Endpoint {
            version: 0,
            url_prefix: url_prefix(&id),
            id,
            spec: Some(spec),
            created_time: temper_engine::time::ms_timestamp(self.clock.now_ms()),
            last_modified_time: None,
        };
        records::save(self.store.as_ref(), &mut endpoint).await?;
        debug_assert_eq!(endpoint.version, 1);
        self.write().insert(endpoint.id.clone(), endpoint.clone());
        Ok(CreateNexusEndpointResponse {
            endpoint: Some(endpoint),
        })
    }
}
