//! `stromctl groups list|describe`, as kafka-consumer-groups.sh: members, assignments, lag.

use std::collections::BTreeMap;

use clap::Subcommand;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::TopicPartitionList;

use crate::client::{config, timeout, CtlError};
use crate::Bootstrap;

#[derive(Subcommand)]
pub enum Action {
    /// List consumer groups.
    List,
    /// Members with their partitions, and committed offset, log end and lag per partition.
    Describe {
        #[arg(long)]
        group: String,
    },
}

/// Decodes a consumer protocol assignment: version, [(topic, [partition])], user data.
pub fn decode_assignment(b: &[u8]) -> Vec<(String, Vec<i32>)> {
    fn take<'a>(b: &'a [u8], at: &mut usize, n: usize) -> Option<&'a [u8]> {
        let s = b.get(*at..*at + n)?;
        *at += n;
        Some(s)
    }
    let mut at = 0;
    let mut out = Vec::new();
    let mut parse = || -> Option<Vec<(String, Vec<i32>)>> {
        let mut res = Vec::new();
        take(b, &mut at, 2)?;
        let n = i32::from_be_bytes(take(b, &mut at, 4)?.try_into().ok()?);
        for _ in 0..n.clamp(0, 100_000) {
            let len = i16::from_be_bytes(take(b, &mut at, 2)?.try_into().ok()?);
            let topic = String::from_utf8_lossy(take(b, &mut at, len.max(0) as usize)?).to_string();
            let pn = i32::from_be_bytes(take(b, &mut at, 4)?.try_into().ok()?);
            let mut ps = Vec::new();
            for _ in 0..pn.clamp(0, 100_000) {
                ps.push(i32::from_be_bytes(take(b, &mut at, 4)?.try_into().ok()?));
            }
            res.push((topic, ps));
        }
        Some(res)
    };
    if let Some(r) = parse() {
        out = r;
    }
    out
}

pub fn run(action: Action, b: &Bootstrap) -> Result<(), CtlError> {
    let probe: BaseConsumer = config(b).create()?;
    match action {
        Action::List => {
            let list = probe.fetch_group_list(None, timeout(b))?;
            let mut names: Vec<String> = list.groups().iter().map(|g| g.name().to_string()).collect();
            names.sort();
            for n in names {
                println!("{n}");
            }
        }
        Action::Describe { group } => {
            let list = probe.fetch_group_list(Some(&group), timeout(b))?;
            let g = list.groups().iter().find(|g| g.name() == group).ok_or_else(|| CtlError::Kafka(format!("group {group} not found")))?;
            println!("GROUP {}  STATE {}  PROTOCOL {}", g.name(), g.state(), g.protocol());
            let mut owner: BTreeMap<(String, i32), String> = BTreeMap::new();
            for m in g.members() {
                let parts = m.assignment().map(decode_assignment).unwrap_or_default();
                let desc: Vec<String> = parts.iter().map(|(t, ps)| format!("{t}:{}", ps.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(","))).collect();
                println!("MEMBER {}  CLIENT {}  HOST {}  PARTITIONS {}", m.id(), m.client_id(), m.client_host(), desc.join(" "));
                for (t, ps) in parts {
                    for p in ps {
                        owner.insert((t.clone(), p), m.id().to_string());
                    }
                }
            }
            // Committed offsets of the group, for every partition of the topics it touches.
            let member: BaseConsumer = config(b).set("group.id", &group).set("enable.auto.commit", "false").create()?;
            let md = member.fetch_metadata(None, timeout(b))?;
            let mut tpl = TopicPartitionList::new();
            for t in md.topics() {
                if t.name().starts_with("__") {
                    continue;
                }
                for p in t.partitions() {
                    tpl.add_partition(t.name(), p.id());
                }
            }
            let committed = member.committed_offsets(tpl, timeout(b))?;
            println!("{:<30} {:>9} {:>15} {:>15} {:>8}  CONSUMER", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG");
            for e in committed.elements() {
                let current = match e.offset() {
                    rdkafka::Offset::Offset(o) => Some(o),
                    _ => None,
                };
                let who = owner.get(&(e.topic().to_string(), e.partition())).cloned();
                if current.is_none() && who.is_none() {
                    continue;
                }
                let (_, high) = member.fetch_watermarks(e.topic(), e.partition(), timeout(b))?;
                let cur = current.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
                let lag = current.map(|c| (high - c).max(0).to_string()).unwrap_or_else(|| "-".into());
                println!("{:<30} {:>9} {:>15} {:>15} {:>8}  {}", e.topic(), e.partition(), cur, high, lag, who.unwrap_or_else(|| "-".into()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::decode_assignment;

    #[test]
    fn decodes_consumer_assignments() {
        // version 0, one topic "lzq" with partitions 0 and 2, no user data
        let b = [0, 0, 0, 0, 0, 1, 0, 3, b'l', b'z', b'q', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(decode_assignment(&b), vec![("lzq".to_string(), vec![0, 2])]);
        assert!(decode_assignment(&[0, 1]).is_empty());
    }
}
