//! Benchmark (prints, asserts nothing): strom-operator managing 1 and then N ensembles, each
//! with a broker cluster on it, on the cluster KUBECONFIG names. For each size: the time from
//! creating the resources to every child object existing and to every resource Available, the
//! operator's resident memory (peak while converging, and at rest) and CPU, and how many
//! reconciles finished under a second (the operator's own histogram).
//!
//! Usage: operator_scale [SIZES...]   (default: 1 50; run by tests/bench.sh operator)

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use strom_e2e::*;
use strom_operator::crd::broker::BrokerCluster;
use strom_operator::crd::ensemble::CoordinatorEnsemble;

fn available(cs: &[strom_operator::crd::common::Condition]) -> bool {
    cs.iter().any(|c| c.type_ == "Available" && c.status == "True")
}

/// Reconciles finished so far, and how many of them took at most a second.
async fn reconciles(op: &Operator) -> (f64, f64) {
    let total = op.counter("strom_operator_reconcile_duration_seconds_count").await;
    let fast = op.counter("strom_operator_reconcile_duration_seconds_bucket{le=\"1.0\"").await;
    (total, fast)
}

async fn run(client: &Client, op: &Operator, n: usize) {
    let ns = namespace(client, &format!("bench-{n}")).await;
    let ensembles: Api<CoordinatorEnsemble> = Api::namespaced(client.clone(), &ns);
    let brokers: Api<BrokerCluster> = Api::namespaced(client.clone(), &ns);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), &ns);
    let (r0, f0) = reconciles(op).await;
    let cpu0 = op.cpu_seconds();
    let t0 = Instant::now();
    for i in 0..n {
        let e: CoordinatorEnsemble = serde_json::from_value(serde_json::json!({
            "apiVersion": "strom.io/v1alpha1", "kind": "CoordinatorEnsemble", "metadata": {"name": format!("zk-{i}")},
            "spec": {"replicas": 3, "storage": {"size": "1Gi"}}
        }))
        .expect("ensemble");
        ensembles.create(&PostParams::default(), &e).await.expect("create ensemble");
        let b: BrokerCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "strom.io/v1alpha1", "kind": "BrokerCluster", "metadata": {"name": format!("kafka-{i}")},
            "spec": {"replicas": 3, "coordinator": {"ensemble": format!("zk-{i}")}, "storage": {"size": "1Gi"}}
        }))
        .expect("broker cluster");
        brokers.create(&PostParams::default(), &b).await.expect("create broker cluster");
    }
    let created = t0.elapsed();
    let mut peak = op.rss_kib();
    let mut children = None;
    let mut all_available = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while all_available.is_none() && Instant::now() < deadline {
        peak = peak.max(op.rss_kib());
        if children.is_none() {
            let s = sets.list(&ListParams::default()).await.map(|l| l.items.len()).unwrap_or(0);
            let c = cms.list(&ListParams::default().labels("app.kubernetes.io/managed-by=strom-operator")).await.map(|l| l.items.len()).unwrap_or(0);
            let p = pdbs.list(&ListParams::default()).await.map(|l| l.items.len()).unwrap_or(0);
            if s == 2 * n && c >= 2 * n && p == 2 * n {
                children = Some(t0.elapsed());
            }
        }
        let e = ensembles.list(&ListParams::default()).await.map(|l| l.items.iter().filter(|x| available(&x.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default())).count()).unwrap_or(0);
        let b = brokers.list(&ListParams::default()).await.map(|l| l.items.iter().filter(|x| available(&x.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default())).count()).unwrap_or(0);
        if e == n && b == n {
            all_available = Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cpu = op.cpu_seconds() - cpu0;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rest = op.rss_kib();
    let (r1, f1) = reconciles(op).await;
    let secs = |d: Option<Duration>| d.map(|d| format!("{:.1}", d.as_secs_f64())).unwrap_or_else(|| "not within 600 s".into());
    println!("  {n} ensemble(s) + {n} broker cluster(s), {} pods:", 6 * n);
    println!("    {:<58} {:>12.2}", "create requests sent, s", created.as_secs_f64());
    println!("    {:<58} {:>12}", "every StatefulSet, ConfigMap and PDB exists, s", secs(children));
    println!("    {:<58} {:>12}", "every resource Available (pods ready on fake nodes), s", secs(all_available));
    println!("    {:<58} {:>12.1}", "operator RSS, peak while converging, MiB", peak as f64 / 1024.0);
    println!("    {:<58} {:>12.1}", "operator RSS at rest, MiB", rest as f64 / 1024.0);
    println!("    {:<58} {:>12.2}", "operator CPU while converging, s", cpu);
    println!("    {:<58} {:>12}", "reconciles (of which under 1 s)", format!("{} ({})", r1 - r0, f1 - f0));
    delete_namespace(client, &ns).await;
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("sizes are numbers")).collect();
    let sizes = if sizes.is_empty() { vec![1, 50] } else { sizes };
    let client = admin().await;
    install_chart().await;
    let op = Operator::start(&client, "bench").await;
    op.wait_leading().await;
    println!("operator benchmark: strom-operator ({}) on a component cluster with fake nodes", bin("strom-operator").display());
    println!("  targets: under 50 MiB resident for 50 clusters (JVM-based operators such as Strimzi need hundreds), every reconcile under 1 s");
    println!("  operator RSS idle, leading, nothing to manage: {:.1} MiB", op.rss_kib() as f64 / 1024.0);
    for n in sizes {
        run(&client, &op, n).await;
    }
}
