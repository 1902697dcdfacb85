//! `strom-operator`: reconciles CoordinatorEnsembles and BrokerClusters into StatefulSets,
//! Services, ConfigMaps and PodDisruptionBudgets, Topics into Kafka topics, and LogPipelines
//! into shipper DaemonSets and processor Deployments. Logs JSON lines
//! (`--text-logs` for people), serves Prometheus metrics, and acts only while it holds the
//! leader Lease, so that several replicas are safe.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::{watcher, Controller};
use kube::{Api, Client};
use strom_operator::controller::{error_policy, measured, reconcile_brokers, reconcile_ensemble, reconcile_pipeline, reconcile_topic, Context};
use strom_operator::crd::pipeline::LogPipeline;
use strom_operator::crd::broker::BrokerCluster;
use strom_operator::crd::ensemble::CoordinatorEnsemble;
use strom_operator::crd::topic::Topic;
use strom_operator::lease::Elector;
use strom_operator::metrics::Metrics;

const USAGE: &str = "usage: strom-operator [--watch-namespace NS] [--metrics-addr HOST:PORT] [--lease-namespace NS] [--lease-name NAME] [--no-leader-election] [--text-logs] | --version";

struct Opts {
    namespace: Option<String>,
    text: bool,
    metrics_addr: String,
    lease_namespace: Option<String>,
    lease_name: String,
    elect: bool,
}

fn parse() -> Result<Option<Opts>, String> {
    let mut o = Opts { namespace: None, text: false, metrics_addr: "0.0.0.0:8080".into(), lease_namespace: std::env::var("POD_NAMESPACE").ok(), lease_name: "strom-operator".into(), elect: true };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value\n{USAGE}"));
        match a.as_str() {
            "--version" => {
                println!("strom-operator {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            "--watch-namespace" => o.namespace = Some(value(&a)?),
            "--metrics-addr" => o.metrics_addr = value(&a)?,
            "--lease-namespace" => o.lease_namespace = Some(value(&a)?),
            "--lease-name" => o.lease_name = value(&a)?,
            "--no-leader-election" => o.elect = false,
            "--text-logs" => o.text = true,
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(Some(o))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let o = match parse() {
        Ok(Some(o)) => o,
        Ok(None) => return std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strom-operator: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if o.text {
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
    let metrics = Arc::new(Metrics::default());
    match tokio::net::TcpListener::bind(&o.metrics_addr).await {
        Ok(l) => {
            tracing::info!(addr = %o.metrics_addr, "serving /metrics, /healthz and /readyz");
            tokio::spawn(strom_operator::metrics::serve(l, metrics.clone()));
        }
        Err(e) => {
            eprintln!("strom-operator: cannot listen on {} for metrics: {e}", o.metrics_addr);
            return std::process::ExitCode::FAILURE;
        }
    }
    // Leader election: wait for the Lease, then keep it; losing it ends the process (the
    // Deployment restarts it as a standby), so that two replicas never both act.
    let elector = o.elect.then(|| {
        let ns = o.lease_namespace.clone().or_else(|| o.namespace.clone()).unwrap_or_else(|| client.default_namespace().to_string());
        let me = std::env::var("POD_NAME").or_else(|_| std::env::var("HOSTNAME")).unwrap_or_else(|_| "strom-operator".into());
        Elector { api: Api::namespaced(client.clone(), &ns), name: o.lease_name.clone(), me: format!("{me}_{}", std::process::id()), duration: Duration::from_secs(15) }
    });
    if let Some(e) = &elector {
        e.acquire().await;
    }
    metrics.set_ready(true);
    let ctx = Arc::new(Context::new(client.clone(), Arc::new(strom_operator::probe::Live), metrics.clone()));
    let namespace = o.namespace.clone();
    fn key<K: kube::Resource>(o: &K) -> String {
        format!("{}/{}", o.meta().namespace.as_deref().unwrap_or_default(), o.meta().name.as_deref().unwrap_or_default())
    }
    fn api<K>(client: &Client, ns: &Option<String>) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        match ns {
            Some(n) => Api::namespaced(client.clone(), n),
            None => Api::all(client.clone()),
        }
    }
    let ensembles = Controller::new(api::<CoordinatorEnsemble>(&client, &namespace), watcher::Config::default())
        .owns(api::<StatefulSet>(&client, &namespace), watcher::Config::default())
        .owns(api::<ConfigMap>(&client, &namespace), watcher::Config::default())
        .shutdown_on_signal()
        .run(|o, c| measured("CoordinatorEnsemble", c.clone(), key(&*o), reconcile_ensemble(o, c)), error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "ensemble reconcile");
            }
        });
    let brokers = Controller::new(api::<BrokerCluster>(&client, &namespace), watcher::Config::default())
        .owns(api::<StatefulSet>(&client, &namespace), watcher::Config::default())
        .owns(api::<ConfigMap>(&client, &namespace), watcher::Config::default())
        .shutdown_on_signal()
        .run(|o, c| measured("BrokerCluster", c.clone(), key(&*o), reconcile_brokers(o, c)), error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "broker cluster reconcile");
            }
        });
    let topics = Controller::new(api::<Topic>(&client, &namespace), watcher::Config::default())
        .shutdown_on_signal()
        .run(|o, c| measured("Topic", c.clone(), key(&*o), reconcile_topic(o, c)), error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "topic reconcile");
            }
        });
    let pipelines = Controller::new(api::<LogPipeline>(&client, &namespace), watcher::Config::default())
        .owns(api::<DaemonSet>(&client, &namespace), watcher::Config::default())
        .owns(api::<Deployment>(&client, &namespace), watcher::Config::default())
        .owns(api::<ConfigMap>(&client, &namespace), watcher::Config::default())
        .shutdown_on_signal()
        .run(|o, c| measured("LogPipeline", c.clone(), key(&*o), reconcile_pipeline(o, c)), error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "log pipeline reconcile");
            }
        });
    tracing::info!(namespace = ?namespace, "strom-operator started");
    let controllers = async { futures::join!(ensembles, brokers, topics, pipelines) };
    match &elector {
        Some(e) => tokio::select! {
            _ = controllers => std::process::ExitCode::SUCCESS,
            _ = e.keep() => {
                metrics.set_ready(false);
                tracing::error!("lost the leader lease; exiting so that another replica leads");
                std::process::ExitCode::FAILURE
            }
        },
        None => {
            controllers.await;
            std::process::ExitCode::SUCCESS
        }
    }
}
