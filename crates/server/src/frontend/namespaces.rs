//! The namespace RPCs: `RegisterNamespace`, `DescribeNamespace` (by name or by id),
//! `ListNamespaces` and `UpdateNamespace`. The registry itself, with its checks and
//! persistence, is `crate::namespaces`; this module unpacks requests and shapes the answers.

use temper_api::proto::workflowservice::v1::*;
use tonic::Status;

use super::Frontend;
use crate::errors;
use crate::namespaces;

impl Frontend {
    pub(super) async fn register_namespace_op(
        &self,
        request: RegisterNamespaceRequest,
    ) -> Result<(), Status> {
        namespaces::check_registration(&request)?;
        let retention =
            temper_engine::time::duration_ms(request.workflow_execution_retention_period.as_ref());
        self.namespaces
            .register(
                &request.namespace,
                &request.description,
                &request.owner_email,
                retention,
            )
            .await
    }

    pub(super) fn describe_namespace_op(
        &self,
        request: DescribeNamespaceRequest,
    ) -> Result<DescribeNamespaceResponse, Status> {
        if request.namespace.is_empty() && request.id.is_empty() {
            return Err(errors::invalid("Namespace not set on request."));
        }
        let name = if request.namespace.is_empty() {
            self.namespaces
                .list()
                .into_iter()
                .find_map(|d| {
                    d.namespace_info
                        .filter(|i| i.id == request.id)
                        .map(|i| i.name)
                })
                .ok_or_else(|| errors::namespace_not_found(&request.id))?
        } else {
            request.namespace
        };
        self.namespaces.describe(&name)
    }

    pub(super) fn list_namespaces_op(
        &self,
        request: ListNamespacesRequest,
    ) -> ListNamespacesResponse {
        let (namespaces, next_page_token) = self
            .namespaces
            .list_page(request.page_size, &request.next_page_token);
        ListNamespacesResponse {
            namespaces,
            next_page_token,
        }
    }

    pub(super) async fn update_namespace_op(
        &self,
        request: UpdateNamespaceRequest,
    ) -> Result<UpdateNamespaceResponse, Status> {
        let described = self.namespaces.update(request).await?;
        Ok(UpdateNamespaceResponse {
            namespace_info: described.namespace_info,
            config: described.config,
            replication_config: described.replication_config,
            failover_version: described.failover_version,
            is_global_namespace: described.is_global_namespace,
        })
    }
}
