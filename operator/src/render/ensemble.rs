//! CoordinatorEnsemble → zoo.cfg, headless and client Services, StatefulSet, PodDisruptionBudget.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec, StatefulSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, HTTPGetAction, PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSpec, PodTemplateSpec, Probe, Service, ServicePort, ServiceSpec, Volume,
    VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{config_hash, labels, pod_dns, properties, Owner, Rendered, CONFIG_HASH, DEFAULT_IMAGE};
use crate::crd::common::PodSettings;
use crate::crd::ensemble::CoordinatorEnsembleSpec;

pub const CONFIG_FILE: &str = "zoo.cfg";
pub use super::headless_name;
use super::{CONFIG_DIR, DATA};

pub fn client_service_name(name: &str) -> String {
    format!("{name}-client")
}

/// The connect string clients (and broker clusters) use: the client Service.
pub fn connect_string(name: &str, namespace: &str, spec: &CoordinatorEnsembleSpec) -> String {
    format!("{}.{namespace}.svc.cluster.local:{}", client_service_name(name), spec.ports.client)
}

/// zoo.cfg: the typed settings, the pass-through keys, and one `server.N` line per pod (N is
/// the ordinal + 1, which strom-coordinator takes as its myid from the pod's hostname).
pub fn zoo_cfg(name: &str, namespace: &str, spec: &CoordinatorEnsembleSpec) -> String {
    zoo_cfg_for(name, namespace, spec, spec.replicas, None)
}

/// zoo.cfg listing `servers` pods (while the ensemble is scaled one server at a time, the pods
/// that exist), with the super user's digest when the operator administers the ensemble.
pub fn zoo_cfg_for(name: &str, namespace: &str, spec: &CoordinatorEnsembleSpec, servers: i32, super_digest: Option<&str>) -> String {
    let headless = headless_name(name);
    let hosts: Vec<String> = (0..servers).map(|i| pod_dns(name, i, &headless, namespace)).collect();
    let local: Vec<(&str, String)> = super_digest.map(|d| ("DigestAuthenticationProvider.superDigest", d.to_string())).into_iter().collect();
    zoo_cfg_with(&format!("zoo.cfg of CoordinatorEnsemble {namespace}/{name}, rendered by strom-operator"), spec, &hosts, DATA, &local)
}

/// The `server.N=` spec of pod `ordinal` (N = ordinal + 1), as zoo.cfg and reconfig write it.
pub fn server_line(spec: &CoordinatorEnsembleSpec, id: i64, host: &str) -> String {
    format!("server.{id}={host}:{}:{}:participant;{}", spec.ports.quorum, spec.ports.election, spec.ports.client)
}

/// The `server.N=` spec of pod `ordinal` of the ensemble on Kubernetes.
pub fn pod_server_line(name: &str, namespace: &str, spec: &CoordinatorEnsembleSpec, ordinal: i32) -> String {
    server_line(spec, ordinal as i64 + 1, &pod_dns(name, ordinal, &headless_name(name), namespace))
}

/// Hash of a zoo.cfg without its `server.N` lines: membership changes by reconfig, so a
/// scaled ensemble is not restarted; every other setting change rolls the pods.
pub fn settings_hash(zoo_cfg: &str) -> String {
    let settings: String = zoo_cfg.lines().filter(|l| !l.trim_start().starts_with("server.") && !l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    config_hash(&[(CONFIG_FILE.to_string(), settings)].into())
}

/// zoo.cfg for members at `hosts` (one per ordinal) with data in `data_dir`, plus `local`
/// keys (a member's own addresses when several run on one machine: `stromctl up`).
pub fn zoo_cfg_with(header: &str, spec: &CoordinatorEnsembleSpec, hosts: &[String], data_dir: &str, local: &[(&str, String)]) -> String {
    let c = &spec.config;
    let mut e: BTreeMap<String, String> = [
        ("tickTime", c.tick_time.to_string()),
        ("initLimit", c.init_limit.to_string()),
        ("syncLimit", c.sync_limit.to_string()),
        ("dataDir", data_dir.to_string()),
        ("clientPort", spec.ports.client.to_string()),
        ("maxClientCnxns", c.max_client_cnxns.to_string()),
        ("snapCount", c.snap_count.to_string()),
        ("autopurge.snapRetainCount", c.autopurge_snap_retain_count.to_string()),
        ("autopurge.purgeInterval", c.autopurge_purge_interval.to_string()),
        ("4lw.commands.whitelist", "srvr,stat,mntr,ruok,conf,isro".to_string()),
        ("admin.enableServer", "true".to_string()),
        ("admin.serverPort", spec.ports.admin.to_string()),
        // The operator scales the ensemble with reconfig, without restarting it.
        ("reconfigEnabled", "true".to_string()),
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
    let mut text = properties(header, &e);
    for (i, host) in hosts.iter().enumerate() {
        text.push_str(&server_line(spec, i as i64 + 1, host));
        text.push('\n');
    }
    text
}

pub fn render(owner: &Owner, spec: &CoordinatorEnsembleSpec) -> Rendered {
    render_for(owner, spec, spec.replicas, None)
}

/// The objects with `pods` pods (the ensemble's size while it is scaled one server at a time)
/// and the super user's digest in zoo.cfg when the operator administers the ensemble.
pub fn render_for(owner: &Owner, spec: &CoordinatorEnsembleSpec, pods: i32, super_digest: Option<&str>) -> Rendered {
    let name = &owner.name;
    let lbl = labels("coordinator", name);
    let cfg = zoo_cfg_for(name, &owner.namespace, spec, pods, super_digest);
    let hash = settings_hash(&cfg);
    let files: BTreeMap<String, String> = [(CONFIG_FILE.to_string(), cfg)].into();
    let config_map = ConfigMap { metadata: owner.meta(name.clone(), &lbl), data: Some(files), ..Default::default() };
    let port = |n: &str, p: i32| ServicePort { name: Some(n.into()), port: p, target_port: Some(IntOrString::Int(p)), ..Default::default() };
    let headless = Service {
        metadata: owner.meta(headless_name(name), &lbl),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            // Peers must resolve each other before they are ready (they become ready by
            // forming the ensemble).
            publish_not_ready_addresses: Some(true),
            selector: Some(lbl.clone()),
            ports: Some(vec![port("client", spec.ports.client), port("quorum", spec.ports.quorum), port("election", spec.ports.election)]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let client = Service {
        metadata: owner.meta(client_service_name(name), &lbl),
        spec: Some(ServiceSpec { selector: Some(lbl.clone()), ports: Some(vec![port("client", spec.ports.client)]), ..Default::default() }),
        ..Default::default()
    };
    let probe = |path: &str, delay: i32| Probe {
        http_get: Some(HTTPGetAction { path: Some(path.into()), port: IntOrString::Int(spec.ports.admin), ..Default::default() }),
        initial_delay_seconds: Some(delay),
        period_seconds: Some(5),
        timeout_seconds: Some(3),
        failure_threshold: Some(6),
        ..Default::default()
    };
    let container = Container {
        name: "coordinator".into(),
        image: Some(spec.pod.image.clone().unwrap_or_else(|| DEFAULT_IMAGE.into())),
        command: Some(vec!["strom-coordinator".into()]),
        args: Some(vec![format!("{CONFIG_DIR}/{CONFIG_FILE}")]),
        ports: Some(vec![
            ContainerPort { name: Some("client".into()), container_port: spec.ports.client, ..Default::default() },
            ContainerPort { name: Some("quorum".into()), container_port: spec.ports.quorum, ..Default::default() },
            ContainerPort { name: Some("election".into()), container_port: spec.ports.election, ..Default::default() },
            ContainerPort { name: Some("admin".into()), container_port: spec.ports.admin, ..Default::default() },
        ]),
        // Ready once it serves clients (a member of a working ensemble); alive while the
        // process answers at all.
        readiness_probe: Some(probe("/commands/ruok", 5)),
        liveness_probe: Some(probe("/commands/ruok", 30)),
        resources: spec.pod.resources.clone(),
        volume_mounts: Some(vec![
            VolumeMount { name: "data".into(), mount_path: DATA.into(), ..Default::default() },
            VolumeMount { name: "config".into(), mount_path: CONFIG_DIR.into(), read_only: Some(true), ..Default::default() },
        ]),
        ..Default::default()
    };
    // Parallel: a server is ready only once a majority runs, so pods cannot wait for each other.
    let mut stateful_set = stateful_set(owner, &lbl, pods, &spec.pod, &hash, container, &spec.storage, &headless_name(name), "Parallel");
    // A server removed by reconfig loses its volume: should it come back later, it joins from
    // an empty directory, never from a log of an old membership.
    if let Some(s) = stateful_set.spec.as_mut() {
        s.persistent_volume_claim_retention_policy = Some(StatefulSetPersistentVolumeClaimRetentionPolicy { when_scaled: Some("Delete".into()), when_deleted: Some("Retain".into()) });
    }
    let pdb = pdb(owner, &lbl);
    Rendered { config_map, services: vec![headless, client], stateful_set, pdb }
}

/// A StatefulSet of `replicas` pods running `container`, with a config volume from the
/// resource's ConfigMap and a data volume per pod.
#[allow(clippy::too_many_arguments)]
pub(super) fn stateful_set(owner: &Owner, lbl: &BTreeMap<String, String>, replicas: i32, pod: &PodSettings, hash: &str, container: Container, storage: &crate::crd::common::Storage, headless: &str, policy: &str) -> StatefulSet {
    let mut pod_labels = lbl.clone();
    pod_labels.extend(pod.pod_labels.clone());
    let mut annotations = pod.pod_annotations.clone();
    annotations.insert(CONFIG_HASH.into(), hash.into());
    let p = &pod.placement;
    StatefulSet {
        metadata: owner.meta(owner.name.clone(), lbl),
        spec: Some(StatefulSetSpec {
            replicas: Some(replicas),
            service_name: Some(headless.into()),
            pod_management_policy: Some(policy.into()),
            // The operator deletes pods one at a time in its own order (crate::rolling).
            update_strategy: Some(StatefulSetUpdateStrategy { type_: Some("OnDelete".into()), ..Default::default() }),
            selector: LabelSelector { match_labels: Some(lbl.clone()), ..Default::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(pod_labels), annotations: Some(annotations), ..Default::default() }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    volumes: Some(vec![Volume { name: "config".into(), config_map: Some(ConfigMapVolumeSource { name: owner.name.clone(), ..Default::default() }), ..Default::default() }]),
                    affinity: p.affinity.clone(),
                    tolerations: (!p.tolerations.is_empty()).then(|| p.tolerations.clone()),
                    node_selector: (!p.node_selector.is_empty()).then(|| p.node_selector.clone()),
                    topology_spread_constraints: (!p.topology_spread_constraints.is_empty()).then(|| p.topology_spread_constraints.clone()),
                    security_context: Some(k8s_openapi::api::core::v1::PodSecurityContext { run_as_non_root: Some(true), run_as_user: Some(10001), fs_group: Some(10001), ..Default::default() }),
                    ..Default::default()
                }),
            },
            volume_claim_templates: Some(vec![PersistentVolumeClaim {
                metadata: ObjectMeta { name: Some("data".into()), labels: Some(lbl.clone()), ..Default::default() },
                spec: Some(PersistentVolumeClaimSpec {
                    access_modes: Some(vec!["ReadWriteOnce".into()]),
                    storage_class_name: storage.class.clone(),
                    resources: Some(VolumeResourceRequirements { requests: Some([("storage".to_string(), Quantity(storage.size.clone()))].into()), ..Default::default() }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// At most one pod of the resource down at a time by voluntary disruption.
pub(super) fn pdb(owner: &Owner, lbl: &BTreeMap<String, String>) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: owner.meta(owner.name.clone(), lbl),
        spec: Some(PodDisruptionBudgetSpec { max_unavailable: Some(IntOrString::Int(1)), selector: Some(LabelSelector { match_labels: Some(lbl.clone()), ..Default::default() }), ..Default::default() }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn spec(replicas: i32) -> CoordinatorEnsembleSpec {
        serde_json::from_value(serde_json::json!({"replicas": replicas, "storage": {"size": "1Gi"}})).unwrap()
    }

    fn owner() -> Owner {
        Owner { name: "zk".into(), namespace: "logs".into(), reference: None }
    }

    #[test]
    fn zoo_cfg_lists_every_pod_with_its_myid() {
        let cfg = zoo_cfg("zk", "logs", &spec(3));
        for (n, pod) in [(1, "zk-0"), (2, "zk-1"), (3, "zk-2")] {
            assert!(cfg.contains(&format!("server.{n}={pod}.zk-headless.logs.svc.cluster.local:2888:3888:participant;2181\n")), "{cfg}");
        }
        assert!(!cfg.contains("server.4"));
        for line in ["tickTime=2000", "initLimit=10", "syncLimit=5", "dataDir=/data", "clientPort=2181", "reconfigEnabled=true"] {
            assert!(cfg.lines().any(|l| l == line), "{line} missing in\n{cfg}");
        }
        let mut s = spec(1);
        s.extra_config.insert("jute.maxbuffer".into(), "4194304".into());
        s.extra_config.insert("tickTime".into(), "1000".into());
        let cfg = zoo_cfg("zk", "logs", &s);
        assert!(cfg.lines().any(|l| l == "jute.maxbuffer=4194304") && cfg.lines().any(|l| l == "tickTime=1000"), "pass-through keys win: {cfg}");
    }

    #[test]
    fn objects_fit_together() {
        let r = render(&owner(), &spec(3));
        let ss = r.stateful_set.spec.as_ref().unwrap();
        assert_eq!(ss.replicas, Some(3));
        assert_eq!(ss.service_name.as_deref(), Some("zk-headless"));
        let headless = &r.services[0];
        assert_eq!(headless.metadata.name.as_deref(), Some("zk-headless"));
        let hs = headless.spec.as_ref().unwrap();
        assert_eq!((hs.cluster_ip.as_deref(), hs.publish_not_ready_addresses), (Some("None"), Some(true)));
        // selectors match the pod labels
        let pod_labels = ss.template.metadata.as_ref().unwrap().labels.clone().unwrap();
        for sel in [hs.selector.clone().unwrap(), r.services[1].spec.as_ref().unwrap().selector.clone().unwrap(), ss.selector.match_labels.clone().unwrap(), r.pdb.spec.as_ref().unwrap().selector.as_ref().unwrap().match_labels.clone().unwrap()] {
            assert!(sel.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));
        }
        assert_eq!(r.pdb.spec.as_ref().unwrap().max_unavailable, Some(IntOrString::Int(1)));
        let c = &ss.template.spec.as_ref().unwrap().containers[0];
        assert_eq!(c.args.as_deref(), Some(&["/etc/strom/zoo.cfg".to_string()][..]));
        assert_eq!(r.config_map.data.as_ref().unwrap().keys().collect::<Vec<_>>(), vec!["zoo.cfg"]);
        let claim = &ss.volume_claim_templates.as_ref().unwrap()[0];
        assert_eq!(claim.spec.as_ref().unwrap().resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"], Quantity("1Gi".into()));
    }

    #[test]
    fn a_config_change_changes_the_pod_template_hash() {
        let hash = |s: &CoordinatorEnsembleSpec| render(&owner(), s).stateful_set.spec.unwrap().template.metadata.unwrap().annotations.unwrap()[CONFIG_HASH].clone();
        let a = spec(3);
        let mut b = spec(3);
        assert_eq!(hash(&a), hash(&b), "same config, same hash");
        b.config.tick_time = 3000;
        assert_ne!(hash(&a), hash(&b));
        // a resources-only change leaves the config hash alone (the template changes anyway)
        let mut c = spec(3);
        c.pod.image = Some("other".into());
        assert_eq!(hash(&a), hash(&c));
        // scaling changes only the server lines: no restart (membership changes by reconfig)
        assert_eq!(hash(&a), hash(&spec(5)));
        let with_pods = |n: i32| render_for(&owner(), &spec(5), n, Some("super:x")).stateful_set.spec.unwrap();
        assert_eq!(with_pods(4).replicas, Some(4));
        assert_eq!(with_pods(4).template, with_pods(5).template);
    }
}
