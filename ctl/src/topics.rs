//! `stromctl topics create|list|describe|delete`, as kafka-topics.sh.

use clap::Subcommand;
use futures::executor::block_on;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::client::{config, pairs, timeout, CtlError};
use crate::Bootstrap;

#[derive(Subcommand)]
pub enum Action {
    /// Create a topic.
    Create {
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        #[arg(long = "replication-factor", default_value_t = 1)]
        replication_factor: i32,
        /// Topic config overrides, key=value (repeatable).
        #[arg(long = "config")]
        configs: Vec<String>,
        /// Succeed if the topic already exists.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// List topic names.
    List,
    /// Partitions, leaders, replicas, ISR and configs of one or all topics.
    Describe {
        #[arg(long)]
        topic: Option<String>,
        /// Only partitions with fewer in-sync replicas than they should have (replicas being
        /// added by a reassignment do not count), as kafka-topics.sh's option.
        #[arg(long)]
        under_replicated_partitions: bool,
        /// Only partitions without a leader.
        #[arg(long)]
        unavailable_partitions: bool,
    },
    /// Delete a topic.
    Delete {
        #[arg(long)]
        topic: String,
    },
}

fn admin(b: &Bootstrap) -> Result<AdminClient<DefaultClientContext>, CtlError> {
    Ok(config(b).create()?)
}

pub fn run(action: Action, b: &Bootstrap) -> Result<(), CtlError> {
    let opts = AdminOptions::new().operation_timeout(Some(timeout(b))).request_timeout(Some(timeout(b)));
    match action {
        Action::Create { topic, partitions, replication_factor, configs, if_not_exists } => {
            let cfg = pairs(&configs)?;
            let mut nt = NewTopic::new(&topic, partitions, TopicReplication::Fixed(replication_factor));
            for (k, v) in &cfg {
                nt = nt.set(k, v);
            }
            let res = block_on(admin(b)?.create_topics([&nt], &opts))?;
            for r in res {
                match r {
                    Ok(t) => println!("Created topic {t}."),
                    Err((t, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) if if_not_exists => println!("Topic {t} already exists."),
                    Err((t, code)) => return Err(CtlError::Kafka(format!("failed to create topic {t}: {code}"))),
                }
            }
        }
        Action::List => {
            let c: BaseConsumer = config(b).create()?;
            let md = c.fetch_metadata(None, timeout(b))?;
            let mut names: Vec<&str> = md.topics().iter().map(|t| t.name()).collect();
            names.sort_unstable();
            for n in names {
                println!("{n}");
            }
        }
        Action::Describe { topic, under_replicated_partitions, unavailable_partitions } => {
            let c: BaseConsumer = config(b).create()?;
            let md = c.fetch_metadata(topic.as_deref(), timeout(b))?;
            // Judged on the controller's consistent view, which is also what is printed for them.
            let urp = if under_replicated_partitions { crate::partitions::under_replicated(b)? } else { Default::default() };
            let a = admin(b)?;
            let mut topics: Vec<_> = md.topics().iter().collect();
            topics.sort_by_key(|t| t.name());
            for t in topics {
                if let Some(e) = t.error() {
                    return Err(CtlError::Kafka(format!("topic {}: {}", t.name(), rdkafka::types::RDKafkaErrorCode::from(e))));
                }
                let rf = t.partitions().first().map_or(0, |p| p.replicas().len());
                let configs = block_on(a.describe_configs([&ResourceSpecifier::Topic(t.name())], &opts))?;
                let mut overrides = Vec::new();
                for r in configs.into_iter().flatten() {
                    for e in r.entries {
                        if matches!(e.source, rdkafka::admin::ConfigSource::DynamicTopic) {
                            overrides.push(format!("{}={}", e.name, e.value.unwrap_or_default()));
                        }
                    }
                }
                let filtered = under_replicated_partitions || unavailable_partitions;
                if !filtered {
                    println!("Topic: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}", t.name(), t.partitions().len(), rf, overrides.join(","));
                }
                for p in t.partitions() {
                    let seen = urp.get(&(t.name().to_string(), p.id()));
                    let unavailable = p.leader() < 0;
                    if filtered && !((under_replicated_partitions && seen.is_some()) || (unavailable_partitions && unavailable)) {
                        continue;
                    }
                    let (leader, replicas, isr) = seen.cloned().unwrap_or_else(|| (p.leader(), p.replicas().to_vec(), p.isr().to_vec()));
                    let list = |v: &[i32]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
                    println!("\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}", t.name(), p.id(), leader, list(&replicas), list(&isr));
                }
            }
        }
        Action::Delete { topic } => {
            let res = block_on(admin(b)?.delete_topics(&[&topic], &opts))?;
            for r in res {
                match r {
                    Ok(t) => println!("Deleted topic {t}."),
                    Err((t, code)) => return Err(CtlError::Kafka(format!("failed to delete topic {t}: {code}"))),
                }
            }
        }
    }
    Ok(())
}
