//! LogPipeline → the shipper's and the processor's configs (ConfigMaps), a DaemonSet of shippers
//! reading the nodes' log files (hostPath, read-only), a Deployment of processors, and the Topic
//! between them. The config files are strom-pipeline's own YAML (`ship` and `process` sections),
//! read back by its config loader in the tests.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource, HostPathVolumeSource, ObjectFieldSelector, PodSpec, PodTemplateSpec, SecretVolumeSource, SecurityContext, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde_json::json;

use super::{config_hash, labels, Owner, CONFIG_DIR, CONFIG_HASH, DEFAULT_IMAGE};
use crate::crd::pipeline::LogPipelineSpec;
use crate::crd::topic::{Topic, TopicSpec};

pub const SHIPPER_FILE: &str = "shipper.yml";
pub const PROCESSOR_FILE: &str = "processor.yml";
/// The processor's Prometheus metrics port (Logstash's API port).
pub const METRICS_PORT: i32 = 9600;

#[derive(Debug, Clone)]
pub struct RenderedPipeline {
    pub topic: Topic,
    /// Where the processor puts events Elasticsearch refuses for good (`<topic>-dead-letter`).
    pub dead_letter_topic: Topic,
    pub shipper_config: ConfigMap,
    /// Absent when every source runs as a sidecar (users add the shipper container to their pods).
    pub shipper: Option<DaemonSet>,
    pub processor_config: ConfigMap,
    pub processor: Deployment,
}

/// Where a sink's credentials or TLS Secret is mounted in the processor pods.
pub fn secret_dir(secret: &str) -> String {
    format!("/etc/strom/secrets/{secret}")
}

/// The key of a sink's `tlsSecret` holding the CA certificate (PEM), as ECK and Strimzi name it.
pub const TLS_CA_FILE: &str = "ca.crt";

/// Where the shipper keeps its registry of read offsets (a hostPath on the node).
pub const SHIPPER_STATE: &str = "/var/lib/strom-shipper";

/// The shipper's config (strom-pipeline's `ship` section): one input per source (Filebeat's
/// paths, tags, fields, multiline with `negate: true, match: after`), the pipeline's topic on
/// the cluster, every in-sync replica acknowledging.
pub fn shipper_config(spec: &LogPipelineSpec, bootstrap: &str) -> String {
    shipper_config_with(spec, bootstrap, &format!("{SHIPPER_STATE}/registry.json"), "strom-operator")
}

/// The shipper's config with its registry at `registry` (`stromctl up`: in the state directory).
pub fn shipper_config_with(spec: &LogPipelineSpec, bootstrap: &str, registry: &str, by: &str) -> String {
    let inputs: Vec<_> = spec
        .sources
        .iter()
        .map(|s| {
            let mut i = json!({"id": s.name, "paths": s.paths, "tags": s.tags, "fields": s.fields});
            if let Some(p) = &s.multiline_pattern {
                i["multiline"] = json!({"pattern": p, "negate": true, "match": "after"});
            }
            i
        })
        .collect();
    let brokers: Vec<&str> = bootstrap.split(',').collect();
    let cfg = json!({"ship": {
        "inputs": inputs,
        "output": {"kafka": {"brokers": brokers, "topic": spec.topic.name, "acks": "all"}},
        "registry": registry,
    }});
    format!("# strom-pipeline ship config, rendered by {by}\n{}", serde_yaml::to_string(&cfg).expect("a JSON value serializes"))
}

/// The filters of a processor's `parse` setting: `nginx` parses access lines (tag `access`) and
/// error lines (tag `error`) as the seed's two inputs are tagged; `nginx-combined` and
/// `nginx-error` parse every event one way; `none` parses nothing (events keep Filebeat's fields).
pub fn parse_filters(parse: &str) -> serde_json::Value {
    let access = json!([{"nginx_combined": {}}, {"date": {"field": "timestamp", "formats": ["dd/MMM/yyyy:HH:mm:ss Z"]}}]);
    let error = json!([{"nginx_error": {}}, {"date": {"field": "timestamp", "formats": ["yyyy/MM/dd HH:mm:ss"]}}]);
    match parse {
        "nginx" => json!([{"branches": [{"when": "\"access\" in [tags]", "filters": access}, {"when": "\"error\" in [tags]", "filters": error}]}]),
        "nginx-combined" => access,
        "nginx-error" => error,
        _ => json!([]),
    }
}

/// The processor's config (strom-pipeline's `process` section): the Kafka input (consumer group,
/// codec, offset reset), the parsing, one Elasticsearch output per sink (routed by tag; the
/// credentials and the CA certificate read from the mounted Secrets, never written here), and a
/// dead-letter topic.
pub fn processor_config(spec: &LogPipelineSpec, bootstrap: &str) -> String {
    processor_config_with(spec, bootstrap, true, "strom-operator")
}

/// The processor's config; without `secrets` the sinks' Secrets are left out (`stromctl up`
/// has no Kubernetes Secrets to mount: it goes without credentials, and refuses a `tlsSecret`
/// rather than talk HTTPS without the CA it names).
pub fn processor_config_with(spec: &LogPipelineSpec, bootstrap: &str, secrets: bool, by: &str) -> String {
    let p = &spec.processor;
    let brokers: Vec<&str> = bootstrap.split(',').collect();
    let outputs: Vec<_> = spec
        .sinks
        .iter()
        .map(|s| {
            let mut es = json!({"hosts": s.hosts, "index": s.index});
            if let Some(secret) = s.credentials_secret.as_ref().filter(|_| secrets) {
                es["user_file"] = json!(format!("{}/username", secret_dir(secret)));
                es["password_file"] = json!(format!("{}/password", secret_dir(secret)));
            }
            if let Some(secret) = s.tls_secret.as_ref().filter(|_| secrets) {
                es["tls"] = json!({"ca": format!("{}/{TLS_CA_FILE}", secret_dir(secret))});
            }
            let mut o = json!({"elasticsearch": es});
            if let Some(tag) = &s.when_tag {
                o["when"] = json!(format!("{:?} in [tags]", tag));
            }
            o
        })
        .collect();
    let cfg = json!({"process": {
        "input": {"kafka": {"brokers": brokers, "topics": [spec.topic.name], "group_id": p.consumer_group, "auto_offset_reset": p.auto_offset_reset, "codec": p.codec}},
        "filters": parse_filters(&p.parse),
        "outputs": outputs,
        "dead_letter": {"topic": format!("{}-dead-letter", spec.topic.name)},
    }});
    format!("# strom-pipeline process config, rendered by {by}\n{}", serde_yaml::to_string(&cfg).expect("a JSON value serializes"))
}

/// Host directories the DaemonSet mounts: the directory of every path (a glob's fixed prefix).
pub fn host_dirs(spec: &LogPipelineSpec) -> BTreeSet<String> {
    spec.sources
        .iter()
        .filter(|s| s.mode == "DaemonSet")
        .flat_map(|s| s.paths.iter())
        .map(|p| fixed_dir(p))
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
    let dead_letter_topic = Topic {
        metadata: owner.meta(format!("{name}-{}-dead-letter", spec.topic.name), &labels("pipeline", name)),
        spec: TopicSpec { cluster: spec.cluster.clone(), topic_name: Some(format!("{}-dead-letter", spec.topic.name)), partitions: 1, replication_factor: spec.topic.replication_factor, config: BTreeMap::new() },
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
        mounts.push(VolumeMount { name: "state".into(), mount_path: SHIPPER_STATE.into(), ..Default::default() });
        let c = Container {
            name: "shipper".into(),
            image: Some(image.clone()),
            command: Some(vec!["strom-pipeline".into(), "ship".into(), "--config".into(), format!("{CONFIG_DIR}/{SHIPPER_FILE}")]),
            volume_mounts: Some(mounts),
            // Events carry the node's name as host.name, as Filebeat's on a node does.
            env: Some(vec![EnvVar { name: "NODE_NAME".into(), value_from: Some(EnvVarSource { field_ref: Some(ObjectFieldSelector { field_path: "spec.nodeName".into(), ..Default::default() }), ..Default::default() }), ..Default::default() }]),
            // The registry on the node belongs to root-owned hostPath directories.
            security_context: Some(SecurityContext { run_as_user: Some(0), read_only_root_filesystem: Some(true), ..Default::default() }),
            ..Default::default()
        };
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
    // Each sink's credentials and TLS Secret, mounted read-only; the config names the files. A
    // Secret serving as both is mounted once.
    let credentials: BTreeSet<String> = spec.sinks.iter().filter_map(|s| s.credentials_secret.clone()).collect();
    let tls: BTreeSet<String> = spec.sinks.iter().filter_map(|s| s.tls_secret.clone()).filter(|s| !credentials.contains(s)).collect();
    let mut volumes = vec![config_volume(&format!("{name}-processor"))];
    let mut mounts = vec![config_mount()];
    let named = credentials.iter().enumerate().map(|(i, s)| (format!("es-credentials-{i}"), s)).chain(tls.iter().enumerate().map(|(i, s)| (format!("es-tls-{i}"), s)));
    for (volume, secret) in named {
        volumes.push(Volume { name: volume.clone(), secret: Some(SecretVolumeSource { secret_name: Some(secret.clone()), ..Default::default() }), ..Default::default() });
        mounts.push(VolumeMount { name: volume, mount_path: secret_dir(secret), read_only: Some(true), ..Default::default() });
    }
    let c = Container {
        name: "processor".into(),
        image: Some(image),
        command: Some(vec!["strom-pipeline".into(), "process".into(), "--config".into(), format!("{CONFIG_DIR}/{PROCESSOR_FILE}"), "--metrics-addr".into(), format!("0.0.0.0:{METRICS_PORT}")]),
        ports: Some(vec![ContainerPort { name: Some("metrics".into()), container_port: METRICS_PORT, ..Default::default() }]),
        resources: spec.processor.pod.resources.clone(),
        volume_mounts: Some(mounts),
        ..Default::default()
    };
    let processor = Deployment {
        metadata: owner.meta(format!("{name}-processor"), &pl),
        spec: Some(DeploymentSpec {
            replicas: Some(spec.processor.replicas),
            selector: LabelSelector { match_labels: Some(pl.clone()), ..Default::default() },
            template: template(&pl, &phash, c, volumes),
            ..Default::default()
        }),
        ..Default::default()
    };
    RenderedPipeline { topic, dead_letter_topic, shipper_config, shipper, processor_config, processor }
}

/// For sources in `Sidecar` mode: the container to add to the application's pods (next to the
/// application, sharing the volume its logs are written to, `logs_volume` mounted at each
/// source's directory), and the volumes it needs besides that one: the pipeline's shipper
/// ConfigMap and an emptyDir for its registry (read positions survive container restarts).
pub fn sidecar(owner: &Owner, spec: &LogPipelineSpec, logs_volume: &str) -> (Container, Vec<Volume>) {
    let dirs: BTreeSet<String> = spec.sources.iter().filter(|s| s.mode == "Sidecar").flat_map(|s| s.paths.iter()).map(|p| fixed_dir(p)).collect();
    let mut mounts = vec![config_mount(), VolumeMount { name: "shipper-state".into(), mount_path: SHIPPER_STATE.into(), ..Default::default() }];
    for d in &dirs {
        mounts.push(VolumeMount { name: logs_volume.into(), mount_path: d.clone(), read_only: Some(true), ..Default::default() });
    }
    let c = Container {
        name: "shipper".into(),
        image: Some(spec.processor.pod.image.clone().unwrap_or_else(|| DEFAULT_IMAGE.into())),
        command: Some(vec!["strom-pipeline".into(), "ship".into(), "--config".into(), format!("{CONFIG_DIR}/{SHIPPER_FILE}")]),
        volume_mounts: Some(mounts),
        ..Default::default()
    };
    let volumes = vec![config_volume(&format!("{}-shipper", owner.name)), Volume { name: "shipper-state".into(), empty_dir: Some(Default::default()), ..Default::default() }];
    (c, volumes)
}

/// The directory of a path, or a glob's fixed prefix.
fn fixed_dir(p: &str) -> String {
    let fixed: String = p.split('/').take_while(|c| !c.contains(['*', '?', '['])).collect::<Vec<_>>().join("/");
    let dir = if fixed == *p { p.rsplit_once('/').map_or("/", |(d, _)| d).to_string() } else { fixed };
    if dir.is_empty() { "/".to_string() } else { dir }
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
        // strom-pipeline reads what is rendered for it, and validates it
        let ship = strom_pipeline::config::PipelineConfig::from_yaml(&r.shipper_config.data.as_ref().unwrap()[SHIPPER_FILE], "shipper.yml").expect("strom-pipeline reads the shipper config");
        ship.validate().expect("valid");
        let ship = ship.ship.unwrap();
        assert_eq!(ship.inputs[0].tags, ["access"]);
        assert_eq!(ship.output.kafka.topic, "nginx");
        assert_eq!(ship.output.kafka.brokers, ["kafka-bootstrap.logs.svc.cluster.local:9092"]);
        let process = strom_pipeline::config::PipelineConfig::from_yaml(&r.processor_config.data.as_ref().unwrap()[PROCESSOR_FILE], "processor.yml").expect("strom-pipeline reads the processor config");
        process.validate().expect("valid");
        let process = process.process.unwrap();
        assert_eq!(process.input.kafka.group_id, "logstash");
        assert_eq!(process.filters.len(), 2, "nginx-combined: the parser and the date");
        let es = |i: usize| match &process.outputs[i].output {
            strom_pipeline::config::Output::Elasticsearch(es) => es.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(es(0).index, "nginx_access-%{+YYYY.MM.dd}");
        assert_eq!(es(0).password_file.as_deref(), Some(std::path::Path::new("/etc/strom/secrets/es-creds/password")));
        assert_eq!(es(1).user_file, None);
        // routed by tag as the seed's `if "error" in [tags]`
        let mut ev = strom_pipeline::event::Event::new();
        ev.add_tag("error");
        let routed = strom_pipeline::route::outputs(&process.outputs, &ev);
        assert_eq!(routed.len(), 1);
        assert!(matches!(&routed[0].output, strom_pipeline::config::Output::Elasticsearch(e) if e.index.starts_with("nginx_error")));
        // the nodes' log directories, read-only; a glob is mounted from its fixed prefix
        let ds = r.shipper.unwrap();
        let pod = ds.spec.unwrap().template.spec.unwrap();
        let mounts: Vec<(String, Option<bool>)> = pod.containers[0].volume_mounts.clone().unwrap().into_iter().map(|m| (m.mount_path, m.read_only)).collect();
        assert!(mounts.contains(&("/var/log/nginx".into(), Some(true))), "{mounts:?}");
        assert!(mounts.contains(&("/srv/apps".into(), Some(true))), "{mounts:?}");
        // credentials from the Secret (mounted), never in the ConfigMap
        let dep = r.processor.spec.unwrap();
        let pod = dep.template.spec.unwrap();
        assert!(pod.volumes.as_ref().unwrap().iter().any(|v| v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) == Some("es-creds")));
        assert!(pod.containers[0].volume_mounts.as_ref().unwrap().iter().any(|m| m.mount_path == "/etc/strom/secrets/es-creds" && m.read_only == Some(true)));
        assert_eq!(dep.replicas, Some(1));
    }

    #[test]
    fn a_tls_secret_is_mounted_and_named_as_the_sinks_ca() {
        let mut s = seed();
        s.sinks[0].hosts = vec!["https://es-http.logs.svc:9200".into()];
        s.sinks[0].tls_secret = Some("es-http-certs-public".into());
        // one Secret with username, password and ca.crt serves the second sink both ways
        s.sinks[1].credentials_secret = Some("es-all".into());
        s.sinks[1].tls_secret = Some("es-all".into());
        let r = render(&Owner { name: "nginx".into(), namespace: "logs".into(), reference: None }, &s, "b:9092");
        let process = strom_pipeline::config::PipelineConfig::from_yaml(&r.processor_config.data.as_ref().unwrap()[PROCESSOR_FILE], "processor.yml").expect("strom-pipeline reads the processor config");
        process.validate().expect("valid");
        let process = process.process.unwrap();
        let ca = |i: usize| match &process.outputs[i].output {
            strom_pipeline::config::Output::Elasticsearch(es) => es.tls.as_ref().map(|t| t.ca.display().to_string()),
            other => panic!("{other:?}"),
        };
        assert_eq!(ca(0).as_deref(), Some("/etc/strom/secrets/es-http-certs-public/ca.crt"));
        assert_eq!(ca(1).as_deref(), Some("/etc/strom/secrets/es-all/ca.crt"));
        let pod = r.processor.spec.unwrap().template.spec.unwrap();
        let volumes: Vec<(String, String)> = pod.volumes.unwrap().into_iter().filter_map(|v| Some((v.name, v.secret?.secret_name?))).collect();
        assert_eq!(volumes, [("es-credentials-0".to_string(), "es-all".to_string()), ("es-credentials-1".into(), "es-creds".into()), ("es-tls-0".into(), "es-http-certs-public".into())]);
        let mounts: Vec<(String, String, Option<bool>)> = pod.containers[0].volume_mounts.clone().unwrap().into_iter().map(|m| (m.name, m.mount_path, m.read_only)).collect();
        assert!(mounts.contains(&("es-tls-0".into(), "/etc/strom/secrets/es-http-certs-public".into(), Some(true))), "{mounts:?}");
        assert_eq!(mounts.iter().filter(|m| m.1 == "/etc/strom/secrets/es-all").count(), 1, "{mounts:?}");
        // without Kubernetes Secrets (stromctl up) no CA is named
        assert!(!processor_config_with(&s, "b:9092", false, "test").contains("ca.crt"));
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

#[cfg(test)]
mod sidecar_tests {
    use super::*;

    /// The README's sidecar example is what `sidecar` renders for its pipeline.
    #[test]
    fn the_readme_sidecar_example_is_the_rendered_one() {
        let readme = include_str!("../../../README.md");
        let block = |tag: &str| -> String {
            let start = readme.find(&format!("<!-- {tag} -->")).unwrap_or_else(|| panic!("README has no {tag} block"));
            let body = &readme[start..];
            let code = body.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
            let end = body[code..].find("```").expect("closed") + code;
            body[code..end].to_string()
        };
        let spec: LogPipelineSpec = serde_yaml::from_str::<serde_yaml::Value>(&block("sidecar-pipeline")).map(|v| serde_yaml::from_value(v["spec"].clone()).unwrap()).unwrap();
        let owner = Owner { name: "app".into(), namespace: "default".into(), reference: None };
        let (c, volumes) = sidecar(&owner, &spec, "app-logs");
        let shown: serde_yaml::Value = serde_yaml::from_str(&block("sidecar-pod")).unwrap();
        let pod = &shown["spec"];
        let rendered_c: serde_yaml::Value = serde_yaml::to_value(&c).unwrap();
        let shown_c = pod["containers"].as_sequence().unwrap().iter().find(|x| x["name"] == "shipper").expect("a shipper container").clone();
        assert_eq!(shown_c, rendered_c, "README's shipper container");
        for v in volumes {
            let v = serde_yaml::to_value(&v).unwrap();
            assert!(pod["volumes"].as_sequence().unwrap().contains(&v), "README lacks volume {v:?}");
        }
    }
}
