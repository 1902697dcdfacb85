//! `stromctl produce`: one record per stdin line, as kafka-console-producer.sh.

use std::io::BufRead;
use std::time::Duration;

use clap::Args;
use std::sync::{Arc, Mutex};

use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use crate::client::{config, describe, CtlError};
use crate::Bootstrap;

#[derive(Args)]
pub struct Opts {
    #[arg(long)]
    topic: String,
    /// Split each line at the first key separator into key and value.
    #[arg(long)]
    parse_key: bool,
    #[arg(long, default_value = "\t")]
    key_separator: String,
    /// acks: all, 1 or 0.
    #[arg(long, default_value = "all")]
    acks: String,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    compression: String,
    #[command(flatten)]
    bootstrap: Bootstrap,
}

/// Collects delivery failures (the first is reported).
#[derive(Clone, Default)]
struct Deliveries {
    failures: Arc<Mutex<Vec<String>>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failures.lock().expect("lock").push(describe(e));
        }
    }
}

pub fn run(o: Opts) -> Result<(), CtlError> {
    let ctx = Deliveries::default();
    let failures = ctx.failures.clone();
    let producer: ThreadedProducer<Deliveries> = config(&o.bootstrap)
        .set("acks", &o.acks)
        .set("compression.type", &o.compression)
        .set("enable.idempotence", if o.acks == "all" { "true" } else { "false" })
        .set("message.timeout.ms", (o.bootstrap.timeout * 1000).to_string())
        .create_with_context(ctx)?;
    let stdin = std::io::stdin();
    let mut sent = 0u64;
    for line in stdin.lock().lines() {
        let line = line?;
        let (key, value) = match (o.parse_key, line.split_once(o.key_separator.as_str())) {
            (true, Some((k, v))) => (Some(k.to_string()), v.to_string()),
            (true, None) => return Err(CtlError::Usage(format!("line {} has no key separator {:?}", sent + 1, o.key_separator))),
            (false, _) => (None, line),
        };
        let mut rec: BaseRecord<'_, String, String> = BaseRecord::to(&o.topic).payload(&value);
        if let Some(k) = &key {
            rec = rec.key(k);
        }
        let mut pending = rec;
        loop {
            match producer.send(pending) {
                Ok(()) => break,
                Err((e, r)) if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) => {
                    std::thread::sleep(Duration::from_millis(10));
                    pending = r;
                }
                Err((e, _)) => {
                    failures.lock().expect("lock").push(describe(&e));
                    break;
                }
            }
        }
        sent += 1;
    }
    producer.flush(Duration::from_secs(o.bootstrap.timeout)).map_err(|e| CtlError::Kafka(format!("records not delivered: {}", describe(&e))))?;
    let in_flight = producer.in_flight_count();
    if in_flight > 0 {
        return Err(CtlError::Kafka(format!("{in_flight} of {sent} records not delivered")));
    }
    if let Some(f) = failures.lock().expect("lock").first() {
        return Err(CtlError::Kafka(format!("failed to produce: {f}")));
    }
    Ok(())
}
