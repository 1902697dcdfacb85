//! InitProducerId: ids for idempotent producers, reserved in blocks through the coordinator.
//! Transactions are not served: a transactional id gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;

use super::Conn;
use crate::broker::Broker;

pub async fn handle(b: &Broker, _c: &mut Conn, req: InitProducerIdRequest, _h: &RequestHeader) -> Option<InitProducerIdResponse> {
    let resp = InitProducerIdResponse::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    if req.transactional_id.as_ref().is_some_and(|t| !t.0.is_empty()) {
        return Some(resp.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code()));
    }
    // KIP-360: a producer that knows its id asks for an epoch bump.
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        return Some(resp.with_producer_id(req.producer_id).with_producer_epoch(req.producer_epoch + 1));
    }
    match b.next_producer_id().await {
        Ok(id) => Some(resp.with_producer_id(ProducerId(id)).with_producer_epoch(0)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot allocate a producer id");
            Some(resp.with_error_code(ResponseError::CoordinatorNotAvailable.code()))
        }
    }
}
