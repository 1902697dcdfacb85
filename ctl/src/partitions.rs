//! `stromctl partitions reassign|list-reassignments` (kafka-reassign-partitions.sh) and
//! `stromctl brokers drain <id>`: partition reassignment through the controller with the
//! AlterPartitionReassignments / ListPartitionReassignments APIs, which librdkafka lacks, so
//! these speak the Kafka protocol directly (codecs from `kafka-protocol`).

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Subcommand;
use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use kafka_protocol::messages::{AlterPartitionReassignmentsRequest, BrokerId, ListPartitionReassignmentsRequest, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use strom_broker::replication::client::KafkaConn;

use crate::client::CtlError;
use crate::Bootstrap;

#[derive(Subcommand)]
pub enum Action {
    /// Move a partition's replicas (the first listed becomes the preferred leader), or every
    /// partition of a plan file in kafka-reassign-partitions.sh's JSON format.
    Reassign {
        #[arg(long, required_unless_present = "reassignment_json_file")]
        topic: Option<String>,
        #[arg(long, required_unless_present = "reassignment_json_file")]
        partition: Option<i32>,
        /// Broker ids, comma separated.
        #[arg(long, value_delimiter = ',', required_unless_present = "reassignment_json_file")]
        replicas: Vec<i32>,
        /// {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}
        #[arg(long)]
        reassignment_json_file: Option<std::path::PathBuf>,
        /// Wait up to this many seconds for the reassignment to complete.
        #[arg(long, default_value_t = 0)]
        wait: u64,
    },
    /// Reassignments in progress.
    ListReassignments,
}

#[derive(Subcommand)]
pub enum BrokerAction {
    /// Move every replica off a broker (to the live brokers holding the fewest replicas), then
    /// wait until it holds none: it can then be stopped without any partition losing a replica.
    Drain {
        id: i32,
        /// Seconds to wait for the moves to complete.
        #[arg(long, default_value_t = 300)]
        wait: u64,
    },
}

type Plan = Vec<(String, i32, Vec<i32>)>;

fn rt() -> Result<tokio::runtime::Runtime, CtlError> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

fn kafka(e: impl std::fmt::Display) -> CtlError {
    CtlError::Kafka(e.to_string())
}

async fn connect(addr: &str, b: &Bootstrap) -> Result<KafkaConn, CtlError> {
    KafkaConn::connect(addr, "stromctl", Duration::from_secs(b.timeout)).await.map_err(kafka)
}

/// Metadata of every topic from the first bootstrap broker that answers.
pub(crate) async fn metadata(b: &Bootstrap) -> Result<MetadataResponse, CtlError> {
    let mut last = None;
    for addr in b.bootstrap_server.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        match connect(addr, b).await {
            Ok(mut c) => match c.send(&MetadataRequest::default().with_topics(None), 9, Duration::from_secs(b.timeout)).await {
                Ok(md) => return Ok(md),
                Err(e) => last = Some(kafka(e)),
            },
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| CtlError::Usage("no bootstrap server given".into())))
}

/// A connection to the controller.
async fn controller(b: &Bootstrap) -> Result<(KafkaConn, MetadataResponse), CtlError> {
    let md = metadata(b).await?;
    let id = md.controller_id.0;
    let broker = md.brokers.iter().find(|x| x.node_id.0 == id).ok_or_else(|| CtlError::Kafka(format!("the controller (broker {id}) is not in the metadata")))?;
    let c = connect(&format!("{}:{}", broker.host, broker.port), b).await?;
    Ok((c, md))
}

/// Current replicas per (topic, partition).
fn replicas_of(md: &MetadataResponse) -> BTreeMap<(String, i32), Vec<i32>> {
    md.topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| (n.0.to_string(), t)))
        .flat_map(|(n, t)| t.partitions.iter().map(move |p| ((n.clone(), p.partition_index), p.replica_nodes.iter().map(|r| r.0).collect())))
        .collect()
}

async fn submit(c: &mut KafkaConn, plan: &Plan, b: &Bootstrap) -> Result<(), CtlError> {
    let mut topics: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
    for (t, p, r) in plan {
        topics.entry(t).or_default().push(ReassignablePartition::default().with_partition_index(*p).with_replicas(Some(r.iter().map(|x| BrokerId(*x)).collect())));
    }
    let req = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms((b.timeout * 1000) as i32)
        .with_topics(topics.into_iter().map(|(t, ps)| ReassignableTopic::default().with_name(TopicName(StrBytes::from_string(t.to_string()))).with_partitions(ps)).collect());
    let resp = c.send(&req, 0, Duration::from_secs(b.timeout)).await.map_err(kafka)?;
    if resp.error_code != 0 {
        return Err(CtlError::Kafka(format!("reassignment refused: error {} {}", resp.error_code, resp.error_message.map(|m| m.to_string()).unwrap_or_default())));
    }
    let mut failed = Vec::new();
    for t in resp.responses {
        for p in t.partitions {
            if p.error_code != 0 {
                failed.push(format!("{}-{}: error {} {}", t.name.0, p.partition_index, p.error_code, p.error_message.map(|m| m.to_string()).unwrap_or_default()));
            }
        }
    }
    if !failed.is_empty() {
        return Err(CtlError::Kafka(format!("reassignment refused for {}", failed.join("; "))));
    }
    println!("Started the reassignment of {} partition(s).", plan.len());
    Ok(())
}

/// Ongoing reassignments: (topic, partition, replicas, adding, removing).
async fn ongoing(c: &mut KafkaConn, b: &Bootstrap) -> Result<Vec<(String, i32, Vec<i32>, Vec<i32>, Vec<i32>)>, CtlError> {
    let resp = c.send(&ListPartitionReassignmentsRequest::default().with_timeout_ms((b.timeout * 1000) as i32).with_topics(None), 0, Duration::from_secs(b.timeout)).await.map_err(kafka)?;
    if resp.error_code != 0 {
        return Err(CtlError::Kafka(format!("listing reassignments failed: error {}", resp.error_code)));
    }
    let ids = |v: &[BrokerId]| v.iter().map(|x| x.0).collect::<Vec<_>>();
    Ok(resp.topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.name.0.to_string(), p.partition_index, ids(&p.replicas), ids(&p.adding_replicas), ids(&p.removing_replicas)))).collect())
}

/// Waits until none of `plan`'s partitions is being reassigned and each has its target
/// replicas (as a set) in the metadata.
async fn wait_done(plan: &Plan, secs: u64, b: &Bootstrap) -> Result<(), CtlError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let md = metadata(b).await?;
        let now = replicas_of(&md);
        let pending: Vec<String> = plan
            .iter()
            .filter(|(t, p, r)| {
                let mut want = r.clone();
                want.sort_unstable();
                let mut have = now.get(&(t.clone(), *p)).cloned().unwrap_or_default();
                have.sort_unstable();
                have != want
            })
            .map(|(t, p, _)| format!("{t}-{p}"))
            .collect();
        if pending.is_empty() {
            println!("Reassignment of {} partition(s) complete.", plan.len());
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(CtlError::Kafka(format!("reassignment not complete after {secs}s: {}", pending.join(", "))));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn read_plan(path: &std::path::Path) -> Result<Plan, CtlError> {
    #[derive(serde::Deserialize)]
    struct File {
        partitions: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        topic: String,
        partition: i32,
        replicas: Vec<i32>,
    }
    let text = std::fs::read_to_string(path)?;
    let f: File = serde_json::from_str(&text).map_err(|e| CtlError::Usage(format!("{}: {e}", path.display())))?;
    Ok(f.partitions.into_iter().map(|e| (e.topic, e.partition, e.replicas)).collect())
}

pub fn run(action: Action, b: &Bootstrap) -> Result<(), CtlError> {
    rt()?.block_on(async {
        match action {
            Action::Reassign { topic, partition, replicas, reassignment_json_file, wait } => {
                let plan = match reassignment_json_file {
                    Some(f) => read_plan(&f)?,
                    None => vec![(topic.unwrap_or_default(), partition.unwrap_or_default(), replicas)],
                };
                let (mut c, _) = controller(b).await?;
                submit(&mut c, &plan, b).await?;
                if wait > 0 {
                    wait_done(&plan, wait, b).await?;
                }
            }
            Action::ListReassignments => {
                let (mut c, _) = controller(b).await?;
                for (t, p, r, a, rm) in ongoing(&mut c, b).await? {
                    let list = |v: &[i32]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
                    println!("Topic: {t}\tPartition: {p}\tReplicas: {}\tAdding: {}\tRemoving: {}", list(&r), list(&a), list(&rm));
                }
            }
        }
        Ok(())
    })
}

/// Replicas being added by reassignments in progress, per (topic, partition).
/// A partition's leader, replicas and ISR.
pub type PartitionView = (i32, Vec<i32>, Vec<i32>);

fn views(md: &MetadataResponse) -> BTreeMap<(String, i32), PartitionView> {
    let ids = |v: &[BrokerId]| v.iter().map(|x| x.0).collect::<Vec<_>>();
    md.topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| (n.0.to_string(), t)))
        .flat_map(|(n, t)| t.partitions.iter().map(move |p| ((n.clone(), p.partition_index), (p.leader_id.0, ids(&p.replica_nodes), ids(&p.isr_nodes)))))
        .collect()
}

/// Whether a partition is under-replicated: fewer in sync than its replicas, not counting the
/// replicas a reassignment is still adding (they catch up before the reassignment ends).
pub fn is_under_replicated(view: &PartitionView, adding: &[i32]) -> bool {
    let (_, replicas, isr) = view;
    let catching_up = adding.iter().filter(|a| replicas.contains(a) && !isr.contains(a)).count();
    isr.len() < replicas.len() - catching_up
}

/// The under-replicated partitions, judged on one consistent view of the controller's: its
/// metadata, then its reassignments in progress, then its metadata again. A partition whose
/// state changed between the two metadata reads (a reassignment starting or ending meanwhile) is
/// judged again in another round, so a replica being added is never taken for a lagging one.
pub fn under_replicated(b: &Bootstrap) -> Result<BTreeMap<(String, i32), PartitionView>, CtlError> {
    const ROUNDS: usize = 5;
    rt()?.block_on(async {
        let (mut c, _) = controller(b).await?;
        let req = MetadataRequest::default().with_topics(None);
        let wait = Duration::from_secs(b.timeout);
        let mut settled: BTreeMap<(String, i32), Option<PartitionView>> = BTreeMap::new();
        for round in 1..=ROUNDS {
            let before = views(&c.send(&req, 9, wait).await.map_err(kafka)?);
            let adding: BTreeMap<(String, i32), Vec<i32>> = ongoing(&mut c, b).await?.into_iter().map(|(t, p, _, a, _)| ((t, p), a)).collect();
            let after = views(&c.send(&req, 9, wait).await.map_err(kafka)?);
            let mut changed = false;
            for (k, v) in after {
                if settled.contains_key(&k) {
                    continue;
                }
                if before.get(&k) != Some(&v) && round < ROUNDS {
                    changed = true;
                    continue;
                }
                let under = is_under_replicated(&v, adding.get(&k).map_or(&[][..], |a| a.as_slice()));
                settled.insert(k, under.then_some(v));
            }
            if !changed {
                break;
            }
        }
        Ok(settled.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
    })
}

/// The drain plan: each partition holding `id` gets, in its place, the live broker holding the
/// fewest replicas that is not already a replica of it.
pub fn drain_plan(id: i32, brokers: &[i32], current: &BTreeMap<(String, i32), Vec<i32>>) -> Result<Plan, CtlError> {
    let mut load: BTreeMap<i32, usize> = brokers.iter().filter(|b| **b != id).map(|b| (*b, 0)).collect();
    for r in current.values().flatten() {
        if let Some(n) = load.get_mut(r) {
            *n += 1;
        }
    }
    let mut plan = Vec::new();
    for ((t, p), reps) in current {
        let Some(pos) = reps.iter().position(|r| *r == id) else { continue };
        let Some((&to, _)) = load.iter().filter(|(b, _)| !reps.contains(b)).min_by_key(|(b, n)| (**n, **b)) else {
            return Err(CtlError::Kafka(format!("no broker can take {t}-{p}'s replica from broker {id}: every other broker already holds it")));
        };
        *load.get_mut(&to).expect("listed") += 1;
        let mut target = reps.clone();
        target[pos] = to;
        plan.push((t.clone(), *p, target));
    }
    Ok(plan)
}

pub fn run_brokers(action: BrokerAction, b: &Bootstrap) -> Result<(), CtlError> {
    rt()?.block_on(async {
        match action {
            BrokerAction::Drain { id, wait } => {
                let (mut c, md) = controller(b).await?;
                let brokers: Vec<i32> = md.brokers.iter().map(|x| x.node_id.0).collect();
                if !brokers.contains(&id) {
                    println!("Broker {id} is not registered; nothing to drain.");
                }
                let plan = drain_plan(id, &brokers, &replicas_of(&md))?;
                if plan.is_empty() {
                    println!("Broker {id} holds no replica.");
                    return Ok(());
                }
                submit(&mut c, &plan, b).await?;
                wait_done(&plan, wait, b).await?;
                println!("Broker {id} holds no replica; it can be stopped.");
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_moves_each_replica_to_the_least_loaded_other_broker() {
        let cur: BTreeMap<(String, i32), Vec<i32>> = [(("t".to_string(), 0), vec![1, 2]), (("t".to_string(), 1), vec![2, 3]), (("t".to_string(), 2), vec![3, 1])].into();
        let plan = drain_plan(1, &[1, 2, 3, 4], &cur).unwrap();
        assert_eq!(plan, vec![("t".to_string(), 0, vec![4, 2]), ("t".to_string(), 2, vec![3, 4])]);
        // with no broker free, it says so
        assert!(drain_plan(1, &[1, 2], &[(("t".to_string(), 0), vec![1, 2])].into()).is_err());
    }

    #[test]
    fn replicas_being_added_do_not_count_as_lagging() {
        // a drain moving [2,0] to [1,0]: replicas 1,0,2 while 1 catches up
        assert!(!is_under_replicated(&(2, vec![1, 0, 2], vec![2, 0]), &[1]));
        // the same view with no reassignment known is under-replicated
        assert!(is_under_replicated(&(2, vec![1, 0, 2], vec![2, 0]), &[]));
        // an added replica already in sync does not excuse another that lags
        assert!(is_under_replicated(&(2, vec![1, 0, 2], vec![2, 1]), &[1]));
        assert!(!is_under_replicated(&(0, vec![0, 1], vec![1, 0]), &[]));
    }
}
