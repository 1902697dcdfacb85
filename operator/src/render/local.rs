//! The same resources on one machine, for `stromctl up`: every replica a process on its own
//! loopback address with the standard ports (so configs look like the seed's), its state in a
//! directory of its own, its config from the same rendering the operator uses. Pure.

use std::path::{Path, PathBuf};

use crate::crd::broker::BrokerClusterSpec;
use crate::crd::ensemble::CoordinatorEnsembleSpec;
use crate::crd::pipeline::LogPipelineSpec;

/// One replica as a local process.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// `namespace/name` of its resource.
    pub resource: String,
    /// `name-ordinal`, as the pod would be called.
    pub pod: String,
    pub ordinal: i32,
    pub address: String,
    /// The port clients use (2181, 9092).
    pub port: i32,
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub config: String,
}

/// Loopback address of replica `ordinal` of the `index`-th resource of a kind (1: coordinator
/// ensembles, 2: broker clusters): 127.kind.index.(ordinal + 1).
pub fn address(kind: u8, index: usize, ordinal: i32) -> String {
    format!("127.{kind}.{index}.{}", ordinal + 1)
}

fn dir(state: &Path, namespace: &str, name: &str, ordinal: i32) -> PathBuf {
    state.join(namespace).join(name).join(ordinal.to_string())
}

/// Members of an ensemble; each gets its own zoo.cfg (its client and admin addresses differ)
/// and, in its data directory, the myid file strom-coordinator reads (ordinal + 1).
pub fn ensemble_members(namespace: &str, name: &str, index: usize, spec: &CoordinatorEnsembleSpec, state: &Path) -> Vec<Member> {
    ensemble_members_with(namespace, name, index, spec, state, None)
}

/// As `ensemble_members`, with the super user's digest in zoo.cfg (who may reconfig: `stromctl
/// up` scales a running ensemble as the operator does).
pub fn ensemble_members_with(namespace: &str, name: &str, index: usize, spec: &CoordinatorEnsembleSpec, state: &Path, super_digest: Option<&str>) -> Vec<Member> {
    let hosts: Vec<String> = (0..spec.replicas).map(|i| address(1, index, i)).collect();
    (0..spec.replicas)
        .map(|i| {
            let d = dir(state, namespace, name, i);
            let data = d.join("data");
            let addr = hosts[i as usize].clone();
            let header = format!("zoo.cfg of {name}-{i} (CoordinatorEnsemble {namespace}/{name}), rendered by stromctl up");
            let mut local = vec![("clientPortAddress", addr.clone()), ("admin.serverAddress", addr.clone())];
            if let Some(d) = super_digest {
                local.push(("DigestAuthenticationProvider.superDigest", d.to_string()));
            }
            let config = super::ensemble::zoo_cfg_with(&header, spec, &hosts, &data.display().to_string(), &local);
            Member { resource: format!("{namespace}/{name}"), pod: format!("{name}-{i}"), ordinal: i, address: addr, port: spec.ports.client, config_path: d.join("zoo.cfg"), dir: d, config }
        })
        .collect()
}

/// The connect string of a local ensemble.
pub fn ensemble_connect(index: usize, spec: &CoordinatorEnsembleSpec) -> String {
    (0..spec.replicas).map(|i| format!("{}:{}", address(1, index, i), spec.ports.client)).collect::<Vec<_>>().join(",")
}

/// Brokers of a cluster: broker.id = ordinal, listening and advertised on their own address.
pub fn broker_members(namespace: &str, name: &str, index: usize, spec: &BrokerClusterSpec, coordinator_connect: &str, state: &Path) -> Vec<Member> {
    (0..spec.replicas)
        .map(|i| {
            let d = dir(state, namespace, name, i);
            let addr = address(2, index, i);
            let header = format!("server.properties of {name}-{i} (BrokerCluster {namespace}/{name}), rendered by stromctl up");
            let listener = format!("PLAINTEXT://{addr}:{}", spec.port);
            let local = [("broker.id", i.to_string()), ("listeners", listener.clone()), ("advertised.listeners", listener)];
            let config = super::broker::server_properties_with(&header, name, namespace, spec, coordinator_connect, &d.join("logs").display().to_string(), &local);
            Member { resource: format!("{namespace}/{name}"), pod: format!("{name}-{i}"), ordinal: i, address: addr, port: spec.port, config_path: d.join("server.properties"), dir: d, config }
        })
        .collect()
}

/// A log pipeline's processes: its shipper (when a source runs on the nodes: here, this machine's
/// files) and its processor, each with its config and directory (`<name>-shipper/0`,
/// `<name>-processor/0`); the shipper's registry in its directory. No address of their own.
pub fn pipeline_members(namespace: &str, name: &str, spec: &LogPipelineSpec, bootstrap: &str, state: &Path) -> Vec<Member> {
    let by = "stromctl up";
    let mut out = Vec::new();
    if spec.sources.iter().any(|s| s.mode == "DaemonSet") {
        let d = dir(state, namespace, &format!("{name}-shipper"), 0);
        let config = super::pipeline::shipper_config_with(spec, bootstrap, &d.join("registry.json").display().to_string(), by);
        out.push(Member { resource: format!("{namespace}/{name}"), pod: format!("{name}-shipper-0"), ordinal: 0, address: String::new(), port: 0, config_path: d.join(super::pipeline::SHIPPER_FILE), dir: d, config });
    }
    let d = dir(state, namespace, &format!("{name}-processor"), 0);
    let config = super::pipeline::processor_config_with(spec, bootstrap, false, by);
    out.push(Member { resource: format!("{namespace}/{name}"), pod: format!("{name}-processor-0"), ordinal: 0, address: String::new(), port: 0, config_path: d.join(super::pipeline::PROCESSOR_FILE), dir: d, config });
    out
}

/// Bootstrap servers of a local broker cluster.
pub fn bootstrap(index: usize, spec: &BrokerClusterSpec) -> String {
    (0..spec.replicas).map(|i| format!("{}:{}", address(2, index, i), spec.port)).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_have_their_own_addresses_and_directories() {
        let zk: CoordinatorEnsembleSpec = serde_json::from_value(serde_json::json!({"replicas": 3, "storage": {"size": "1Gi"}})).unwrap();
        let m = ensemble_members("default", "zk", 0, &zk, Path::new("/s"));
        assert_eq!(m.iter().map(|x| x.address.as_str()).collect::<Vec<_>>(), ["127.1.0.1", "127.1.0.2", "127.1.0.3"]);
        assert_eq!(m[1].dir, Path::new("/s/default/zk/1"));
        assert!(m[1].config.lines().any(|l| l == "clientPortAddress=127.1.0.2"));
        assert!(m[1].config.lines().any(|l| l == "server.3=127.1.0.3:2888:3888:participant;2181"));
        assert!(m[1].config.lines().any(|l| l == "dataDir=/s/default/zk/1/data"));
        assert_eq!(ensemble_connect(0, &zk), "127.1.0.1:2181,127.1.0.2:2181,127.1.0.3:2181");
        let b: BrokerClusterSpec = serde_json::from_value(serde_json::json!({"replicas": 2, "coordinator": {"ensemble": "zk"}, "storage": {"size": "1Gi"}})).unwrap();
        let bm = broker_members("default", "kafka", 0, &b, &ensemble_connect(0, &zk), Path::new("/s"));
        assert!(bm[1].config.lines().any(|l| l == "broker.id=1"));
        assert!(bm[1].config.lines().any(|l| l == "advertised.listeners=PLAINTEXT://127.2.0.2:9092"));
        assert!(bm[1].config.lines().any(|l| l == "zookeeper.connect=127.1.0.1:2181,127.1.0.2:2181,127.1.0.3:2181/default-kafka"));
        assert_eq!(bootstrap(0, &b), "127.2.0.1:9092,127.2.0.2:9092");
    }

    #[test]
    fn a_pipeline_runs_a_shipper_and_a_processor_with_state_in_their_directories() {
        let p: LogPipelineSpec = serde_json::from_value(serde_json::json!({"cluster": "kafka", "topic": {"name": "nginx"},
            "sources": [{"name": "access", "paths": ["/var/log/nginx/access.log"], "tags": ["access"]}],
            "processor": {"consumerGroup": "logstash"},
            "sinks": [{"hosts": ["http://127.0.0.1:9200"], "index": "nginx-%{+YYYY.MM.dd}", "credentialsSecret": "es"}]})).unwrap();
        let m = pipeline_members("default", "nginx", &p, "127.2.0.1:9092", Path::new("/s"));
        assert_eq!(m.iter().map(|x| x.pod.as_str()).collect::<Vec<_>>(), ["nginx-shipper-0", "nginx-processor-0"]);
        assert_eq!(m[0].dir, Path::new("/s/default/nginx-shipper/0"));
        assert!(m[0].config.contains("registry: /s/default/nginx-shipper/0/registry.json"), "{}", m[0].config);
        // no Kubernetes Secret here: the sink goes without credentials
        assert!(!m[1].config.contains("password_file"), "{}", m[1].config);
    }
}
