//! DeleteTopics: removes the topic's znodes; every broker then drops its local logs.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::*;
use kafka_protocol::messages::*;

use super::{s, topic_name, Conn};
use crate::broker::{Broker, OFFSETS_TOPIC};
use crate::cluster::zk::ClusterError;

pub async fn handle(b: &Broker, _c: &mut Conn, req: DeleteTopicsRequest, _h: &RequestHeader) -> Option<DeleteTopicsResponse> {
    let snap = b.snapshot();
    // v6 names topics by name or id; older versions by name.
    let mut targets: Vec<(Option<String>, uuid::Uuid)> = req.topic_names.iter().map(|n| (Some(n.0.to_string()), uuid::Uuid::nil())).collect();
    for t in &req.topics {
        let name = t.name.as_ref().map(|n| n.0.to_string()).or_else(|| snap.topic_by_id(t.topic_id.as_bytes()).map(|i| i.name.clone()));
        targets.push((name, t.topic_id));
    }
    let mut resp = DeleteTopicsResponse::default();
    for (name, id) in targets {
        let mut r = DeletableTopicResult::default().with_name(name.clone().map(topic_name)).with_topic_id(id);
        let code = match &name {
            None => Err((ResponseError::UnknownTopicId.code(), "unknown topic id".to_string())),
            Some(_) if !b.config.delete_topic_enable => Err((ResponseError::TopicDeletionDisabled.code(), "delete.topic.enable is false".into())),
            Some(n) if n == OFFSETS_TOPIC => Err((ResponseError::InvalidRequest.code(), format!("{OFFSETS_TOPIC} is internal and cannot be deleted"))),
            Some(n) if !b.snapshot().topics.contains_key(n) => Err((ResponseError::UnknownTopicOrPartition.code(), format!("topic {n} does not exist"))),
            Some(n) => match b.cluster.delete_topic(n).await {
                Ok(()) => {
                    b.sync_with_cluster();
                    if let Some(info) = snap.topics.get(n) {
                        r = r.with_topic_id(uuid::Uuid::from_bytes(info.id));
                    }
                    Ok(())
                }
                Err(ClusterError::Refused(m)) => Err((ResponseError::UnknownTopicOrPartition.code(), m)),
                Err(e) => Err((ResponseError::UnknownServerError.code(), e.to_string())),
            },
        };
        if let Err((c, m)) = code {
            r = r.with_error_code(c).with_error_message(Some(s(m)));
        }
        resp.responses.push(r);
    }
    Some(resp)
}
