//! The consumer lag a LogPipeline's status reports, against a real broker in this process and
//! a real consumer group (librdkafka): records behind the end of each partition the group has
//! committed, summed.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lag_is_what_the_group_has_not_consumed() {
    let dir = std::env::temp_dir().join(format!("strom-operator-lag-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (bootstrap, _brokers) = common::stack(&dir, 1).await;
    strom_operator::kafka::create(&bootstrap, "logs", 2, 1, &Default::default()).await.unwrap();
    let p: FutureProducer = ClientConfig::new().set("bootstrap.servers", &bootstrap).create().unwrap();
    for i in 0..10 {
        let rec = FutureRecord::to("logs").partition(i % 2).payload("x").key("k");
        p.send(rec, Duration::from_secs(10)).await.unwrap();
    }
    // nothing committed yet: nothing counted
    assert_eq!(strom_operator::kafka::group_lag(&bootstrap, "proc", "logs").await.unwrap(), 0);
    let c: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &bootstrap).set("group.id", "proc").create().unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("logs", 0, Offset::Offset(2)).unwrap();
    tpl.add_partition_offset("logs", 1, Offset::Offset(5)).unwrap();
    tokio::task::spawn_blocking(move || c.commit(&tpl, CommitMode::Sync)).await.unwrap().unwrap();
    // partition 0: 5 records, committed 2 -> 3 behind; partition 1: 5 records, committed 5 -> 0
    assert_eq!(strom_operator::kafka::group_lag(&bootstrap, "proc", "logs").await.unwrap(), 3);
    assert!(strom_operator::kafka::group_lag(&bootstrap, "proc", "missing").await.is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
