//! The `OperatorService`: custom search attributes, namespace deletion (with the
//! namespace's runs, schedules and batch operations) and Nexus endpoints (`nexus/`).

use std::sync::Arc;

use temper_api::operatorservice::operator_service_server::OperatorService;
use temper_api::proto::operatorservice::v1::*;
use tonic::{Request, Response, Status};

use crate::batches::Batches;
use crate::history::History;
use crate::namespaces::Namespaces;
use crate::nexus::NexusEndpoints;
use crate::schedules::Schedules;
use crate::visibility;

pub struct Operator {
    namespaces: Arc<Namespaces>,
    history: Arc<History>,
    schedules: Arc<Schedules>,
    batches: Arc<Batches>,
    endpoints: Arc<NexusEndpoints>,
}

impl Operator {
    pub fn new(
        namespaces: Arc<Namespaces>,
        history: Arc<History>,
        schedules: Arc<Schedules>,
        batches: Arc<Batches>,
        endpoints: Arc<NexusEndpoints>,
    ) -> Self {
        Operator {
            namespaces,
            history,
            schedules,
            batches,
            endpoints,
        }
    }
}

#[tonic::async_trait]
impl OperatorService for Operator {
    async fn create_nexus_endpoint(
        &self,
        request: Request<CreateNexusEndpointRequest>,
    ) -> Result<Response<CreateNexusEndpointResponse>, Status> {
        self.endpoints
            .create(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_nexus_endpoint(
        &self,
        request: Request<GetNexusEndpointRequest>,
    ) -> Result<Response<GetNexusEndpointResponse>, Status> {
        self.endpoints.get(request.into_inner()).map(Response::new)
    }

    async fn update_nexus_endpoint(
        &self,
        request: Request<UpdateNexusEndpointRequest>,
    ) -> Result<Response<UpdateNexusEndpointResponse>, Status> {
        self.endpoints
            .update(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn delete_nexus_endpoint(
        &self,
        request: Request<DeleteNexusEndpointRequest>,
    ) -> Result<Response<DeleteNexusEndpointResponse>, Status> {
        self.endpoints
            .delete(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_nexus_endpoints(
        &self,
        request: Request<ListNexusEndpointsRequest>,
    ) -> Result<Response<ListNexusEndpointsResponse>, Status> {
        self.endpoints.list(request.into_inner()).map(Response::new)
    }

    async fn add_search_attributes(
        &self,
        request: Request<AddSearchAttributesRequest>,
    ) -> Result<Response<AddSearchAttributesResponse>, Status> {
        let request = request.into_inner();
        self.namespaces
            .add_search_attributes(&request.namespace, &request.search_attributes)
            .await?;
        Ok(Response::new(AddSearchAttributesResponse {}))
    }

    async fn remove_search_attributes(
        &self,
        request: Request<RemoveSearchAttributesRequest>,
    ) -> Result<Response<RemoveSearchAttributesResponse>, Status> {
        let request = request.into_inner();
        self.namespaces
            .remove_search_attributes(&request.namespace, &request.search_attributes)
            .await?;
        Ok(Response::new(RemoveSearchAttributesResponse {}))
    }

    async fn list_search_attributes(
        &self,
        request: Request<ListSearchAttributesRequest>,
    ) -> Result<Response<ListSearchAttributesResponse>, Status> {
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        Ok(Response::new(ListSearchAttributesResponse {
            custom_attributes: self.namespaces.search_attributes(&request.namespace)?,
            system_attributes: visibility::system_attributes(),
            storage_schema: Default::default(),
        }))
    }

    async fn delete_namespace(
        &self,
        request: Request<DeleteNamespaceRequest>,
    ) -> Result<Response<DeleteNamespaceResponse>, Status> {
        let request = request.into_inner();
        let name = self
            .namespaces
            .resolve_name(&request.namespace, &request.namespace_id)?;
        self.namespaces.delete(&name).await?;
        self.history.forget_namespace(&name).await;
        self.schedules.forget_namespace(&name);
        self.batches.forget_namespace(&name);
        Ok(Response::new(DeleteNamespaceResponse {
            deleted_namespace: name,
        }))
    }
}
