//! Calling the server's own gRPC services in process: the HTTP API hands each request,
//! encoded as protobuf, to the same tower service the gRPC port serves (with its metrics and
//! logging layer), so both APIs share one implementation and one set of checks.

use std::convert::Infallible;

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

/// The server's gRPC services as one cloneable tower service.
pub type GrpcService = tower::util::BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    Infallible,
>;

/// Largest message either way, as the gRPC port allows.
const MAX_MESSAGE_BYTES: usize = 128 * 1024 * 1024;

/// Calls the unary RPC at `method` (`/package.Service/Method`) with an encoded request.
pub async fn unary(
    service: GrpcService,
    method: &'static str,
    request: Vec<u8>,
    metadata: MetadataMap,
) -> Result<Bytes, Status> {
    let mut client = tonic::client::Grpc::new(service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    client
        .ready()
        .await
        .map_err(|e| Status::new(Code::Unavailable, format!("service not ready: {e}")))?;
    let mut request = tonic::Request::new(Bytes::from(request));
    *request.metadata_mut() = metadata;
    let path = http::uri::PathAndQuery::from_static(method);
    client
        .unary(request, path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

/// Passes already-encoded protobuf messages through unchanged.
#[derive(Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
