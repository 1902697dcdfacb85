//! ApiVersions: the served version ranges, derived from `wire::versions`.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::*;

use super::{Conn, Reply};
use crate::broker::Broker;
use crate::wire;

fn response(error: i16) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_error_code(error).with_api_keys(
        wire::versions::all().into_iter().map(|(k, r)| ApiVersion::default().with_api_key(k as i16).with_min_version(r.min).with_max_version(r.max)).collect(),
    )
}

pub async fn handle(_b: &Broker, _c: &mut Conn, _req: ApiVersionsRequest, _h: &RequestHeader) -> Option<ApiVersionsResponse> {
    Some(response(0))
}

/// A version newer than served: UNSUPPORTED_VERSION with the list, encoded as v0 so any client
/// can read it and retry lower.
pub fn too_new(h: &RequestHeader) -> Reply {
    match wire::encode_response(h.correlation_id, ApiKey::ApiVersions, 0, &response(35)) {
        Ok(b) => Reply::Frame(b),
        Err(e) => Reply::Close(e),
    }
}
