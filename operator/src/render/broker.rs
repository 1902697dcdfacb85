//! BrokerCluster → server.properties, headless and bootstrap Services, StatefulSet, PDB.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, ContainerPort, DownwardAPIVolumeFile, DownwardAPIVolumeSource, ObjectFieldSelector, Probe, Service, ServicePort, ServiceSpec, TCPSocketAction, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::ensemble::{pdb, stateful_set};
use super::{config_hash, labels, properties, Owner, Rendered, DEFAULT_IMAGE};
use crate::crd::broker::BrokerClusterSpec;

pub const CONFIG_FILE: &str = "server.properties";
/// Where a broker pod sees its own annotations (downward API), for broker.rack.
pub const PODINFO: &str = "/etc/podinfo";
/// The pod annotation holding the rack (the operator copies it from the node's label).
pub const RACK_ANNOTATION: &str = "strom.io/rack";
pub use super::headless_name;
use super::{CONFIG_DIR, DATA};

pub fn bootstrap_service_name(name: &str) -> String {
    format!("{name}-bootstrap")
}

pub fn bootstrap_servers(name: &str, namespace: &str, spec: &BrokerClusterSpec) -> String {
    format!("{}.{namespace}.svc.cluster.local:{}", bootstrap_service_name(name), spec.port)
}

/// The chroot of the cluster's znodes in its coordinator.
pub fn chroot(name: &str, namespace: &str, spec: &BrokerClusterSpec) -> String {
    spec.coordinator.chroot.clone().unwrap_or_else(|| format!("/{namespace}-{name}"))
}

/// server.properties, one file for every broker: broker.id comes from the pod's ordinal and the
/// advertised listener from its hostname (`${HOSTNAME}`, which strom-broker expands).
/// `coordinator_connect` is the ensemble's connect string (without chroot).
pub fn server_properties(name: &str, namespace: &str, spec: &BrokerClusterSpec, coordinator_connect: &str) -> String {
    let header = format!("server.properties of BrokerCluster {namespace}/{name}, rendered by strom-operator");
    let mut local = vec![
        ("listeners", format!("PLAINTEXT://0.0.0.0:{}", spec.port)),
        ("advertised.listeners", format!("PLAINTEXT://${{HOSTNAME}}.{}.{namespace}.svc.cluster.local:{}", headless_name(name), spec.port)),
    ];
    if spec.rack_label.is_some() {
        local.push(("strom.rack.annotations.file", format!("{PODINFO}/annotations")));
    }
    server_properties_with(&header, name, namespace, spec, coordinator_connect, &format!("{DATA}/logs"), &local)
}

/// server.properties with the given listener keys (and `broker.id` when several brokers share
/// one machine: `stromctl up`) and log directory.
pub fn server_properties_with(header: &str, name: &str, namespace: &str, spec: &BrokerClusterSpec, coordinator_connect: &str, log_dirs: &str, local: &[(&str, String)]) -> String {
    let c = &spec.config;
    let offsets_rf = c.offsets_topic_replication_factor.unwrap_or(spec.replicas.min(3));
    let mut e: BTreeMap<String, String> = [
        ("log.dirs", log_dirs.to_string()),
        ("zookeeper.connect", format!("{coordinator_connect}{}", chroot(name, namespace, spec))),
        ("num.partitions", c.num_partitions.to_string()),
        ("default.replication.factor", c.default_replication_factor.to_string()),
        ("min.insync.replicas", c.min_insync_replicas.to_string()),
        ("offsets.topic.replication.factor", offsets_rf.to_string()),
        ("log.retention.hours", c.log_retention_hours.to_string()),
        ("log.segment.bytes", c.log_segment_bytes.to_string()),
        ("auto.create.topics.enable", c.auto_create_topics_enable.to_string()),
        ("delete.topic.enable", c.delete_topic_enable.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in local {
        e.insert(k.to_string(), v.clone());
    }
    for (k, v) in &spec.extra_config {
        e.insert(k.clone(), v.clone());
    }
    properties(header, &e)
}

pub fn render(owner: &Owner, spec: &BrokerClusterSpec, coordinator_connect: &str) -> Rendered {
    let name = &owner.name;
    let lbl = labels("broker", name);
    let files: BTreeMap<String, String> = [(CONFIG_FILE.to_string(), server_properties(name, &owner.namespace, spec, coordinator_connect))].into();
    let hash = config_hash(&files);
    let config_map = ConfigMap { metadata: owner.meta(name.clone(), &lbl), data: Some(files), ..Default::default() };
    let port = ServicePort { name: Some("kafka".into()), port: spec.port, target_port: Some(IntOrString::Int(spec.port)), ..Default::default() };
    let headless = Service {
        metadata: owner.meta(headless_name(name), &lbl),
        spec: Some(ServiceSpec { cluster_ip: Some("None".into()), publish_not_ready_addresses: Some(true), selector: Some(lbl.clone()), ports: Some(vec![port.clone()]), ..Default::default() }),
        ..Default::default()
    };
    let bootstrap = Service {
        metadata: owner.meta(bootstrap_service_name(name), &lbl),
        spec: Some(ServiceSpec { selector: Some(lbl.clone()), ports: Some(vec![port]), ..Default::default() }),
        ..Default::default()
    };
    let probe = |delay: i32| Probe { tcp_socket: Some(TCPSocketAction { port: IntOrString::Int(spec.port), ..Default::default() }), initial_delay_seconds: Some(delay), period_seconds: Some(5), failure_threshold: Some(6), ..Default::default() };
    let container = Container {
        name: "broker".into(),
        image: Some(spec.pod.image.clone().unwrap_or_else(|| DEFAULT_IMAGE.into())),
        command: Some(vec!["strom-broker".into()]),
        args: Some(vec![format!("{CONFIG_DIR}/{CONFIG_FILE}")]),
        ports: Some(vec![ContainerPort { name: Some("kafka".into()), container_port: spec.port, ..Default::default() }]),
        readiness_probe: Some(probe(5)),
        liveness_probe: Some(probe(60)),
        resources: spec.pod.resources.clone(),
        volume_mounts: Some(vec![
            VolumeMount { name: "data".into(), mount_path: DATA.into(), ..Default::default() },
            VolumeMount { name: "config".into(), mount_path: CONFIG_DIR.into(), read_only: Some(true), ..Default::default() },
        ]),
        ..Default::default()
    };
    let mut container = container;
    let mut stateful_set = stateful_set(owner, &lbl, spec.replicas, &spec.pod, &hash, container.clone(), &spec.storage, &headless_name(name), "Parallel");
    if spec.rack_label.is_some() {
        // The pod's annotations as a file: the operator writes strom.io/rack there from the
        // node's label, and the broker waits for it at start (strom.rack.annotations.file).
        container.volume_mounts.get_or_insert_with(Vec::new).push(VolumeMount { name: "podinfo".into(), mount_path: PODINFO.into(), read_only: Some(true), ..Default::default() });
        if let Some(pod) = stateful_set.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
            pod.containers = vec![container];
            pod.volumes.get_or_insert_with(Vec::new).push(Volume {
                name: "podinfo".into(),
                downward_api: Some(DownwardAPIVolumeSource { items: Some(vec![DownwardAPIVolumeFile { path: "annotations".into(), field_ref: Some(ObjectFieldSelector { field_path: "metadata.annotations".into(), ..Default::default() }), ..Default::default() }]), ..Default::default() }),
                ..Default::default()
            });
        }
    }
    Rendered { config_map, services: vec![headless, bootstrap], stateful_set, pdb: pdb(owner, &lbl) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(replicas: i32) -> BrokerClusterSpec {
        serde_json::from_value(serde_json::json!({"replicas": replicas, "coordinator": {"ensemble": "zk"}, "storage": {"size": "10Gi"},
            "config": {"numPartitions": 3, "defaultReplicationFactor": 2, "minInsyncReplicas": 1}})).unwrap()
    }

    #[test]
    fn server_properties_as_the_seed_writes_them_per_broker() {
        let p = server_properties("kafka", "logs", &spec(3), "zk-client.logs.svc.cluster.local:2181");
        for line in [
            "zookeeper.connect=zk-client.logs.svc.cluster.local:2181/logs-kafka",
            "advertised.listeners=PLAINTEXT://${HOSTNAME}.kafka-headless.logs.svc.cluster.local:9092",
            "listeners=PLAINTEXT://0.0.0.0:9092",
            "num.partitions=3",
            "default.replication.factor=2",
            "offsets.topic.replication.factor=3",
            "log.dirs=/data/logs",
        ] {
            assert!(p.lines().any(|l| l == line), "{line} missing in\n{p}");
        }
        assert!(!p.contains("broker.id"), "broker.id comes from the pod ordinal");
        // one broker: offsets topic replicated once
        assert!(server_properties("k", "n", &spec(1), "z:2181").lines().any(|l| l == "offsets.topic.replication.factor=1"));
    }

    #[test]
    fn the_rendered_config_parses_as_a_broker_config() {
        let p = server_properties("kafka", "logs", &spec(3), "zk-client.logs.svc.cluster.local:2181");
        let r = render(&Owner { name: "kafka".into(), namespace: "logs".into(), reference: None }, &spec(3), "zk:2181");
        assert_eq!(r.stateful_set.spec.as_ref().unwrap().replicas, Some(3));
        assert_eq!(r.services.iter().map(|s| s.metadata.name.clone().unwrap()).collect::<Vec<_>>(), vec!["kafka-headless", "kafka-bootstrap"]);
        assert!(p.starts_with("# server.properties of BrokerCluster logs/kafka"));
        assert!(!p.contains("strom.rack"));
    }

    #[test]
    fn rack_awareness_reads_the_pods_annotations() {
        let mut s = spec(3);
        s.rack_label = Some("topology.kubernetes.io/zone".into());
        let r = render(&Owner { name: "kafka".into(), namespace: "logs".into(), reference: None }, &s, "zk:2181");
        let props = &r.config_map.data.as_ref().unwrap()[CONFIG_FILE];
        assert!(props.lines().any(|l| l == "strom.rack.annotations.file=/etc/podinfo/annotations"), "{props}");
        let pod = r.stateful_set.spec.unwrap().template.spec.unwrap();
        let v = pod.volumes.unwrap().into_iter().find(|v| v.name == "podinfo").expect("a downward API volume");
        assert_eq!(v.downward_api.unwrap().items.unwrap()[0].field_ref.as_ref().unwrap().field_path, "metadata.annotations");
        assert!(pod.containers[0].volume_mounts.as_ref().unwrap().iter().any(|m| m.name == "podinfo" && m.mount_path == PODINFO));
        // the broker reads what is rendered for it
        let cfg = strom_broker::config::BrokerConfig::parse(&format!("broker.id=0\n{}", props.replace("${HOSTNAME}", "kafka-0")), "server.properties", &[]).unwrap();
        assert_eq!(cfg.rack_annotations_file.as_deref(), Some(std::path::Path::new("/etc/podinfo/annotations")));
    }
}
