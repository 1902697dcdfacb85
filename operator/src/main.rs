//! `strom-operator`: reconciles CoordinatorEnsembles and BrokerClusters into StatefulSets,
//! Services, ConfigMaps and PodDisruptionBudgets, and Topics into Kafka topics. Logs JSON lines (`--text-logs` for people).

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::{watcher, Controller};
use kube::{Api, Client};
use strom_operator::controller::{error_policy, reconcile_brokers, reconcile_ensemble, reconcile_topic, Context};
use strom_operator::crd::broker::BrokerCluster;
use strom_operator::crd::ensemble::CoordinatorEnsemble;
use strom_operator::crd::topic::Topic;

fn usage() -> ! {
    eprintln!("usage: strom-operator [--watch-namespace NS] [--text-logs] | --version");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut namespace: Option<String> = None;
    let mut text = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--version" => {
                println!("strom-operator {}", env!("CARGO_PKG_VERSION"));
                return std::process::ExitCode::SUCCESS;
            }
            "--watch-namespace" => namespace = Some(args.next().unwrap_or_else(|| usage())),
            "--text-logs" => text = true,
            _ => usage(),
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if text {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    } else {
        tracing_subscriber::fmt().json().with_env_filter(filter).init();
    }
    let client = match Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strom-operator: cannot reach the Kubernetes API: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    fn api<K>(client: &Client, ns: &Option<String>) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        match ns {
            Some(n) => Api::namespaced(client.clone(), n),
            None => Api::all(client.clone()),
        }
    }
    let ctx = Arc::new(Context { client: client.clone() });
    let ensembles = Controller::new(api::<CoordinatorEnsemble>(&client, &namespace), watcher::Config::default())
        .owns(api::<StatefulSet>(&client, &namespace), watcher::Config::default())
        .owns(api::<ConfigMap>(&client, &namespace), watcher::Config::default())
        .shutdown_on_signal()
        .run(reconcile_ensemble, error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "ensemble reconcile");
            }
        });
    let brokers = Controller::new(api::<BrokerCluster>(&client, &namespace), watcher::Config::default())
        .owns(api::<StatefulSet>(&client, &namespace), watcher::Config::default())
        .owns(api::<ConfigMap>(&client, &namespace), watcher::Config::default())
        .shutdown_on_signal()
        .run(reconcile_brokers, error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "broker cluster reconcile");
            }
        });
    let topics = Controller::new(api::<Topic>(&client, &namespace), watcher::Config::default())
        .shutdown_on_signal()
        .run(reconcile_topic, error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "topic reconcile");
            }
        });
    tracing::info!(namespace = ?namespace, "strom-operator started");
    futures::join!(ensembles, brokers, topics);
    std::process::ExitCode::SUCCESS
}
