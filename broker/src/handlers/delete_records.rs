//! DeleteRecords: moves a partition's log start offset forward.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::*;
use kafka_protocol::messages::*;

use super::Conn;
use crate::broker::Broker;

pub async fn handle(b: &Broker, _c: &mut Conn, req: DeleteRecordsRequest, _h: &RequestHeader) -> Option<DeleteRecordsResponse> {
    let mut resp = DeleteRecordsResponse::default();
    for t in req.topics {
        let name = t.name.0.to_string();
        let mut tr = DeleteRecordsTopicResult::default().with_name(t.name.clone());
        for p in t.partitions {
            let mut pr = DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index).with_low_watermark(-1);
            match b.leader_log(&name, p.partition_index) {
                Err(c) => pr = pr.with_error_code(c),
                Ok((log, _)) => match log.lock().expect("log lock").delete_records(p.offset) {
                    Ok(Ok(low)) => pr = pr.with_low_watermark(low),
                    Ok(Err(())) => pr = pr.with_error_code(ResponseError::OffsetOutOfRange.code()),
                    Err(e) => {
                        tracing::error!(topic = %name, partition = p.partition_index, error = %e, "delete records failed");
                        pr = pr.with_error_code(ResponseError::KafkaStorageError.code());
                    }
                },
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    Some(resp)
}
