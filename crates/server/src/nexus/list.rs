//! `ListNexusEndpoints`: endpoints in id order, a page at a time (the token is the last id
//! of the page before), or the one endpoint with a given name.

use temper_api::proto::operatorservice::v1::{
    ListNexusEndpointsRequest, ListNexusEndpointsResponse,
};
use tonic::Status;

use super::NexusEndpoints;
use crate::errors;

const DEFAULT_PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: i32 = 1000;

impl NexusEndpoints {
    pub fn list(
        &self,
        request: ListNexusEndpointsRequest,
    ) -> Result<ListNexusEndpointsResponse, Status> {
        if !request.name.is_empty() {
            return Ok(ListNexusEndpointsResponse {
                next_page_token: Vec::new(),
                endpoints: self.by_name(&request.name).into_iter().collect(),
            });
        }
        let page_size = match request.page_size {
            size if size < 0 => return Err(errors::invalid("page_size is negative")),
            size if size > MAX_PAGE_SIZE => {
                return Err(errors::invalid("page_size exceeds limit of 1000"));
            }
            0 => DEFAULT_PAGE_SIZE,
            size => size as usize,
        };
        let after = String::from_utf8(request.next_page_token)
            .map_err(|_| Status::internal("error listing Nexus endpoints"))?;
        let endpoints = self.read();
        let mut page: Vec<_> = endpoints
            .range::<String, _>((
                std::ops::Bound::Excluded(&after),
                std::ops::Bound::Unbounded,
            ))
            .map(|(_, endpoint)| endpoint.clone())
            .take(page_size + 1)
            .collect();
        let next_page_token = if page.len() > page_size {
            page.truncate(page_size);
            page.last()
                .map(|e| e.id.clone().into_bytes())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(ListNexusEndpointsResponse {
            next_page_token,
            endpoints: page,
        })
    }
}
