//! LogPipeline → the shipper's and the processor's configs (ConfigMaps), a DaemonSet of shippers
//! reading the nodes' log files (hostPath, read-only), a Deployment of processors, and the Topic
//! between them. The binary (`strom-pipeline ship|process <config>`) comes with issue 9; the
//! config files below are its input format, Filebeat's and Logstash's settings in one place.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{ConfigMap, ConfigMapVolumeSource, Container, EnvVar, EnvVarSource, HostPathVolumeSource, PodSpec, PodTemplateSpec, SecretKeySelector, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde_json::json;

use super::{config_hash, labels, Owner, CONFIG_DIR, CONFIG_HASH, DEFAULT_IMAGE};
use crate::crd::pipeline::LogPipelineSpec;
use crate::crd::topic::{Topic, TopicSpec};

pub const SHIPPER_FILE: &str = "shipper.yml";
pub const PROCESSOR_FILE: &str = "processor.yml";

#[derive(Debug, Clone)]
pub struct RenderedPipeline {
    pub topic: Topic,
    pub shipper_config: ConfigMap,
    /// Absent when every source runs as a sidecar (users add the shipper container to their pods).
    pub shipper: Option<DaemonSet>,
    pub processor_config: ConfigMap,
    pub processor: Deployment,
}

/// The shipper's config: inputs as Filebeat's (paths, tags, fields, multiline) and the Kafka
/// output (the cluster's bootstrap servers, the pipeline's topic).
pub fn shipper_config(spec: &LogPipelineSpec, bootstrap: &str) -> String {
    let inputs: Vec<_> = spec
        .sources
        .iter()
        .map(|s| json!({"name": s.name, "paths": s.paths, "tags": s.tags, "fields": s.fields, "multiline_pattern": s.multiline_pattern}))
        .collect();
    let cfg = json!({"inputs": inputs, "output": {"kafka": {"bootstrap_servers": bootstrap, "topic": spec.topic.name, "acks": "all"}}});
    serde_yaml::to_string(&cfg).expect("yaml")
}

/// The processor's config: the Kafka input (consumer group, codec, offset reset), parsing, and
/// one Elasticsearch output per sink, routed by tag.
pub fn processor_config(spec: &LogPipelineSpec, bootstrap: &str) -> String {
    let p = &spec.processor;
    let outputs: Vec<_> = spec.sinks.iter().map(|s| json!({"elasticsearch": {"hosts": s.hosts, "index": s.index, "when_tag": s.when_tag, "credentials_from_env": s.credentials_secret.is_some()}})).collect();
    let cfg = json!({
        "input": {"kafka": {"bootstrap_servers": bootstrap, "topics": [spec.topic.name], "group_id": p.consumer_group, "auto_offset_reset": p.auto_offset_reset, "codec": p.codec}},
        "filter": {"parse": p.parse},
        "outputs": outputs,
    });
    serde_yaml::to_string(&cfg).expect("yaml")
}

/// Host directories the DaemonSet mounts: the directory of every path (a glob's fixed prefix).
pub fn host_dirs(spec: &LogPipelineSpec) -> BTreeSet<String> {
    spec.sources
        .iter()
        .filter(|s| s.mode == "DaemonSet")
        .flat_map(|s| s.paths.iter())
        .map(|p| {
            let fixed: String = p.split('/').take_while(|c| !c.contains(['*', '?', '['])).collect::<Vec<_>>().join("/");
            let dir = if fixed == *p { p.rsplit_once('/').map_or("/", |(d, _)| d).to_string() } else { fixed };
            if dir.is_empty() { "/".to_string() } else { dir }
        })
        .collect()
}

pub fn render(owner: &Owner, spec: &LogPipelineSpec, bootstrap: &str) -> RenderedPipeline {
    let name = &owner.name;
    let image = spec.processor.pod.image.clone().unwrap_or_else(|| DEFAULT_IMAGE.into());
    let topic = Topic {
        metadata: owner.meta(format!("{name}-{}", spec.topic.name), &labels("pipeline", name)),
        spec: TopicSpec { cluster: spec.cluster.clone(), topic_name: Some(spec.topic.name.clone()), partitions: spec.topic.partitions, replication_factor: spec.topic.replication_factor, config: BTreeMap::new() },
        status: None,
    };
    // The shipper.
    let sl = labels("shipper", name);
    let sfiles: BTreeMap<String, String> = [(SHIPPER_FILE.to_string(), shipper_config(spec, bootstrap))].into();
    let shash = config_hash(&sfiles);
    let shipper_config = ConfigMap { metadata: owner.meta(format!("{name}-shipper"), &sl), data: Some(sfiles), ..Default::default() };
    let dirs = host_dirs(spec);
    let shipper = (!dirs.is_empty()).then(|| {
        let mut volumes = vec![config_volume(&format!("{name}-shipper"))];
        let mut mounts = vec![config_mount()];
        for (i, d) in dirs.iter().enumerate() {
            volumes.push(Volume { name: format!("logs-{i}"), host_path: Some(HostPathVolumeSource { path: d.clone(), type_: Some("Directory".into()) }), ..Default::default() });
            mounts.push(VolumeMount { name: format!("logs-{i}"), mount_path: d.clone(), read_only: Some(true), ..Default::default() });
        }
        // The shipper's read positions survive restarts on the node.
        volumes.push(Volume { name: "state".into(), host_path: Some(HostPathVolumeSource { path: format!("/var/lib/strom/{}/{name}", owner.namespace), type_: Some("DirectoryOrCreate".into()) }), ..Default::default() });
        mounts.push(VolumeMount { name: "state".into(), mount_path: "/var/lib/strom-shipper".into(), ..Default::default() });
        let c = Container { name: "shipper".into(), image: Some(image.clone()), command: Some(vec!["strom-pipeline".into(), "ship".into(), format!("{CONFIG_DIR}/{SHIPPER_FILE}")]), volume_mounts: Some(mounts), ..Default::default() };
        DaemonSet {
            metadata: owner.meta(format!("{name}-shipper"), &sl),
            spec: Some(DaemonSetSpec { selector: LabelSelector { match_labels: Some(sl.clone()), ..Default::default() }, template: template(&sl, &shash, c, volumes), ..Default::default() }),
            ..Default::default()
        }
    });
    // The processor.
    let pl = labels("processor", name);
    let pfiles: BTreeMap<String, String> = [(PROCESSOR_FILE.to_string(), processor_config(spec, bootstrap))].into();
    let phash = config_hash(&pfiles);
    let processor_config = ConfigMap { metadata: owner.meta(format!("{name}-processor"), &pl), data: Some(pfiles), ..Default::default() };
    let mut env = Vec::new();
    if let Some(secret) = spec.sinks.iter().find_map(|s| s.credentials_secret.clone()) {
        for (var, key) in [("ES_USERNAME", "username"), ("ES_PASSWORD", "password")] {
            env.push(EnvVar { name: var.into(), value_from: Some(EnvVarSource { secret_key_ref: Some(SecretKeySelector { name: secret.clone(), key: key.into(), optional: Some(false) }), ..Default::default() }), ..Default::default() });
        }
    }
    let c = Container {
        name: "processor".into(),
        image: Some(image),
        command: Some(vec!["strom-pipeline".into(), "process".into(), format!("{CONFIG_DIR}/{PROCESSOR_FILE}")]),
        env: (!env.is_empty()).then_some(env),
        resources: spec.processor.pod.resources.clone(),
        volume_mounts: Some(vec![config_mount()]),
        ..Default::default()
    };
    let processor = Deployment {
        metadata: owner.meta(format!("{name}-processor"), &pl),
        spec: Some(DeploymentSpec {
            replicas: Some(spec.processor.replicas),
            selector: LabelSelector { match_labels: Some(pl.clone()), ..Default::default() },
            template: template(&pl, &phash, c, vec![config_volume(&format!("{name}-processor"))]),
            ..Default::default()
        }),
        ..Default::default()
    };
    RenderedPipeline { topic, shipper_config, shipper, processor_config, processor }
}

fn config_volume(config_map: &str) -> Volume {
    Volume { name: "config".into(), config_map: Some(ConfigMapVolumeSource { name: config_map.into(), ..Default::default() }), ..Default::default() }
}

fn config_mount() -> VolumeMount {
    VolumeMount { name: "config".into(), mount_path: CONFIG_DIR.into(), read_only: Some(true), ..Default::default() }
}

fn template(lbl: &BTreeMap<String, String>, hash: &str, c: Container, volumes: Vec<Volume>) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta { labels: Some(lbl.clone()), annotations: Some([(CONFIG_HASH.to_string(), hash.to_string())].into()), ..Default::default() }),
        spec: Some(PodSpec { containers: vec![c], volumes: Some(volumes), ..Default::default() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> LogPipelineSpec {
        serde_json::from_value(serde_json::json!({
            "cluster": "kafka", "topic": {"name": "nginx"},
            "sources": [{"name": "access", "paths": ["/var/log/nginx/access.log"], "tags": ["access"]},
                        {"name": "error", "paths": ["/var/log/nginx/error.log"], "tags": ["error"]},
                        {"name": "apps", "paths": ["/srv/apps/*/logs/*.log"]}],
            "processor": {"consumerGroup": "logstash", "parse": "nginx-combined", "autoOffsetReset": "earliest"},
            "sinks": [{"hosts": ["http://es:9200"], "index": "nginx_access-%{+YYYY.MM.dd}", "whenTag": "access", "credentialsSecret": "es-creds"},
                      {"hosts": ["http://es:9200"], "index": "nginx_error-%{+YYYY.MM.dd}", "whenTag": "error"}]})).unwrap()
    }

    #[test]
    fn the_seeds_nginx_pipeline_renders_shipper_processor_and_topic() {
        let owner = Owner { name: "nginx".into(), namespace: "logs".into(), reference: None };
        let r = render(&owner, &seed(), "kafka-bootstrap.logs.svc.cluster.local:9092");
        assert_eq!(r.topic.spec.topic_name.as_deref(), Some("nginx"));
        assert_eq!((r.topic.spec.partitions, r.topic.spec.replication_factor), (3, 1));
        let ship: serde_yaml::Value = serde_yaml::from_str(&r.shipper_config.data.as_ref().unwrap()[SHIPPER_FILE]).unwrap();
        assert_eq!(ship["inputs"][0]["tags"][0], "access");
        assert_eq!(ship["output"]["kafka"]["topic"], "nginx");
        let proc_: serde_yaml::Value = serde_yaml::from_str(&r.processor_config.data.as_ref().unwrap()[PROCESSOR_FILE]).unwrap();
        assert_eq!(proc_["input"]["kafka"]["group_id"], "logstash");
        assert_eq!(proc_["outputs"][0]["elasticsearch"]["index"], "nginx_access-%{+YYYY.MM.dd}");
        assert_eq!(proc_["outputs"][1]["elasticsearch"]["when_tag"], "error");
        // the nodes' log directories, read-only; a glob is mounted from its fixed prefix
        let ds = r.shipper.unwrap();
        let pod = ds.spec.unwrap().template.spec.unwrap();
        let mounts: Vec<(String, Option<bool>)> = pod.containers[0].volume_mounts.clone().unwrap().into_iter().map(|m| (m.mount_path, m.read_only)).collect();
        assert!(mounts.contains(&("/var/log/nginx".into(), Some(true))), "{mounts:?}");
        assert!(mounts.contains(&("/srv/apps".into(), Some(true))), "{mounts:?}");
        // credentials from the Secret, never in the ConfigMap
        let dep = r.processor.spec.unwrap();
        let env = dep.template.spec.unwrap().containers[0].env.clone().unwrap();
        assert_eq!(env.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["ES_USERNAME", "ES_PASSWORD"]);
        assert!(!r.processor_config.data.unwrap()[PROCESSOR_FILE].contains("password"));
        assert_eq!(dep.replicas, Some(1));
    }

    #[test]
    fn sidecar_only_sources_need_no_daemonset() {
        let mut s = seed();
        for src in &mut s.sources {
            src.mode = "Sidecar".into();
        }
        let r = render(&Owner { name: "n".into(), namespace: "x".into(), reference: None }, &s, "b:9092");
        assert!(r.shipper.is_none());
        assert!(r.shipper_config.data.unwrap()[SHIPPER_FILE].contains("access.log"));
    }
}
