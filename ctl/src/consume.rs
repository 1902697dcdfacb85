//! `stromctl consume`: prints records, as kafka-console-consumer.sh.

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::TopicPartitionList;

use crate::client::{config, CtlError};
use crate::Bootstrap;

#[derive(Args)]
pub struct Opts {
    #[arg(long)]
    topic: String,
    /// Start at the earliest offset when the group has no committed offset.
    #[arg(long)]
    from_beginning: bool,
    /// Consumer group (offsets are committed); without it, all partitions are read directly.
    #[arg(long)]
    group: Option<String>,
    /// Exit after this many records.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Exit after this many milliseconds without a record.
    #[arg(long = "timeout-ms")]
    idle_timeout_ms: Option<u64>,
    /// Print `key<TAB>value`.
    #[arg(long)]
    print_key: bool,
    #[command(flatten)]
    bootstrap: Bootstrap,
}

pub fn run(o: Opts) -> Result<(), CtlError> {
    let mut cfg = config(&o.bootstrap);
    cfg.set("auto.offset.reset", if o.from_beginning { "earliest" } else { "latest" }).set("enable.partition.eof", "false");
    match &o.group {
        Some(g) => {
            cfg.set("group.id", g).set("enable.auto.commit", "true").set("auto.commit.interval.ms", "1000");
        }
        None => {
            cfg.set("group.id", "stromctl-console").set("enable.auto.commit", "false");
        }
    }
    let consumer: BaseConsumer = cfg.create()?;
    if o.group.is_some() {
        consumer.subscribe(&[&o.topic])?;
    } else {
        // No group: assign every partition, at the beginning or the end.
        let md = consumer.fetch_metadata(Some(&o.topic), Duration::from_secs(o.bootstrap.timeout))?;
        let t = md.topics().first().ok_or_else(|| CtlError::Kafka(format!("topic {} not found", o.topic)))?;
        if let Some(e) = t.error() {
            return Err(CtlError::Kafka(format!("topic {}: {}", o.topic, rdkafka::types::RDKafkaErrorCode::from(e))));
        }
        let mut tpl = TopicPartitionList::new();
        for p in t.partitions() {
            tpl.add_partition_offset(&o.topic, p.id(), if o.from_beginning { rdkafka::Offset::Beginning } else { rdkafka::Offset::End })?;
        }
        consumer.assign(&tpl)?;
    }
    let mut out = std::io::stdout().lock();
    let mut n = 0u64;
    let mut last = Instant::now();
    loop {
        if o.max_messages.is_some_and(|m| n >= m) {
            break;
        }
        if o.idle_timeout_ms.is_some_and(|t| last.elapsed() >= Duration::from_millis(t)) {
            break;
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            // A broker going away (stopped, restarted, drained) is a passing event for a
            // consumer, as for kcat: librdkafka reconnects and moves to the partition's new
            // leader; say so on stderr and carry on. Other errors end the command.
            Some(Err(rdkafka::error::KafkaError::MessageConsumption(code))) if transient(code) => {
                eprintln!("stromctl: {code} (retrying)");
            }
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(m)) => {
                let value = m.payload().map(|p| String::from_utf8_lossy(p).to_string()).unwrap_or_default();
                if o.print_key {
                    let key = m.key().map(|k| String::from_utf8_lossy(k).to_string()).unwrap_or_default();
                    writeln!(out, "{key}\t{value}")?;
                } else {
                    writeln!(out, "{value}")?;
                }
                n += 1;
                last = Instant::now();
            }
        }
    }
    out.flush()?;
    if o.group.is_some() {
        let _ = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync);
    }
    Ok(())
}

/// Consumer errors librdkafka recovers from by itself.
fn transient(code: rdkafka::types::RDKafkaErrorCode) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(code, C::BrokerTransportFailure | C::AllBrokersDown | C::NetworkException | C::RequestTimedOut | C::NotLeaderForPartition | C::LeaderNotAvailable | C::Resolve | C::OperationTimedOut)
}
