//! What a failed delivery means, pure: send it again, drop it for good, or stop the shipper.
//!
//! librdkafka retries transient failures itself (`message.timeout.ms=0`: for ever), so an error
//! that reaches a delivery report or `produce()` is one it gave up on. Most of those are about the
//! record or its topic and would fail the same way every time: a topic that does not exist (with
//! `auto.create.topics.enable=false`; librdkafka waits `topic.metadata.propagation.max.ms`, 30 s,
//! before it says so), an invalid topic name, a topic the client may not write, a record larger
//! than the broker takes. Filebeat drops such events with an error log ("dropping event") and moves
//! on; so does the shipper, counting them, so that one bad topic does not hold every file's
//! registry back. A fatal error (the idempotent producer's state is lost for good) leaves the
//! producer unusable: the shipper stops, and what was not acknowledged is read again at the next
//! start. Anything else, known or not, is sent again: never lose an event on a guess.

use std::collections::HashSet;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Why an event was dropped (one log line per kind and topic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The topic does not exist and the brokers do not create it.
    UnknownTopic,
    /// Not a valid topic name (Kafka: TOPIC_EXCEPTION).
    InvalidTopic,
    /// The client may not write to the topic.
    NotAuthorized,
    /// Larger than the broker (or topic) takes.
    TooLarge,
    /// The broker refuses the record itself (timestamp out of range, format, policy).
    InvalidRecord,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::UnknownTopic => "unknown topic",
            DropReason::InvalidTopic => "invalid topic name",
            DropReason::NotAuthorized => "not authorized to write the topic",
            DropReason::TooLarge => "record too large for the broker",
            DropReason::InvalidRecord => "record refused by the broker",
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do with an event whose delivery (or hand-over to librdkafka) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it again after a pause.
    Retry,
    /// It can never be delivered: count it, log it, and move the registry past it.
    Drop(DropReason),
    /// The producer is unusable (see `rd_kafka_fatal_error`): stop the shipper.
    Fatal,
}

/// The verdict on a librdkafka error code.
pub fn verdict(code: RDKafkaErrorCode) -> Verdict {
    use RDKafkaErrorCode as C;
    match code {
        C::UnknownTopic | C::UnknownTopicOrPartition => Verdict::Drop(DropReason::UnknownTopic),
        C::InvalidTopic => Verdict::Drop(DropReason::InvalidTopic),
        C::TopicAuthorizationFailed => Verdict::Drop(DropReason::NotAuthorized),
        C::MessageSizeTooLarge | C::MessageBatchTooLarge | C::InvalidMessageSize => Verdict::Drop(DropReason::TooLarge),
        C::InvalidTimestamp | C::UnsupportedForMessageFormat | C::PolicyViolation | C::InvalidRecord => {
            Verdict::Drop(DropReason::InvalidRecord)
        }
        C::Fatal => Verdict::Fatal,
        _ => Verdict::Retry,
    }
}

/// The verdict on an error from `produce()` or a delivery report. Errors without a librdkafka code
/// (none are expected here) are retried.
pub fn classify(error: &KafkaError) -> Verdict {
    error.rdkafka_error_code().map_or(Verdict::Retry, verdict)
}

/// Which drops were logged already: the first of each reason and topic is an error line, the rest
/// are only counted (a missing topic can drop every line of a busy file).
#[derive(Debug, Default)]
pub struct DropLog {
    seen: HashSet<(DropReason, String)>,
}

impl DropLog {
    /// True the first time `reason` is seen for `topic`.
    pub fn first(&mut self, reason: DropReason, topic: &str) -> bool {
        if self.seen.contains(&(reason, topic.to_string())) {
            return false;
        }
        self.seen.insert((reason, topic.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_about_the_record_or_its_topic_drop_it() {
        use RDKafkaErrorCode as C;
        for (code, reason) in [
            (C::UnknownTopic, DropReason::UnknownTopic),
            (C::UnknownTopicOrPartition, DropReason::UnknownTopic),
            (C::InvalidTopic, DropReason::InvalidTopic),
            (C::TopicAuthorizationFailed, DropReason::NotAuthorized),
            (C::MessageSizeTooLarge, DropReason::TooLarge),
            (C::MessageBatchTooLarge, DropReason::TooLarge),
            (C::InvalidMessageSize, DropReason::TooLarge),
            (C::InvalidTimestamp, DropReason::InvalidRecord),
            (C::PolicyViolation, DropReason::InvalidRecord),
        ] {
            assert_eq!(verdict(code), Verdict::Drop(reason), "{code:?}");
        }
    }

    #[test]
    fn transient_and_unknown_errors_are_retried() {
        use RDKafkaErrorCode as C;
        for code in [
            C::NotLeaderForPartition,
            C::LeaderNotAvailable,
            C::NotEnoughReplicas,
            C::NotEnoughReplicasAfterAppend,
            C::RequestTimedOut,
            C::MessageTimedOut,
            C::BrokerTransportFailure,
            C::AllBrokersDown,
            C::QueueFull,
            C::OutOfOrderSequenceNumber,
            C::InvalidMessage,
            C::PurgeQueue,
            C::Unknown,
            // Cluster-wide: dropping would lose every event until an operator fixes the ACLs.
            C::ClusterAuthorizationFailed,
        ] {
            assert_eq!(verdict(code), Verdict::Retry, "{code:?}");
        }
    }

    #[test]
    fn a_fatal_error_stops_the_shipper() {
        assert_eq!(verdict(RDKafkaErrorCode::Fatal), Verdict::Fatal);
        assert_eq!(classify(&KafkaError::MessageProduction(RDKafkaErrorCode::Fatal)), Verdict::Fatal);
        assert_eq!(classify(&KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopic)), Verdict::Drop(DropReason::UnknownTopic));
        assert_eq!(classify(&KafkaError::Canceled), Verdict::Retry);
    }

    #[test]
    fn each_reason_and_topic_is_logged_once() {
        let mut log = DropLog::default();
        assert!(log.first(DropReason::UnknownTopic, "a"));
        assert!(!log.first(DropReason::UnknownTopic, "a"));
        assert!(log.first(DropReason::UnknownTopic, "b"));
        assert!(log.first(DropReason::TooLarge, "a"));
        assert!(!log.first(DropReason::TooLarge, "a"));
    }
}
