//! The generated CRDs in `crds/` are current, and the examples are valid resources of them.

use kube::CustomResourceExt;
use serde::Deserialize;
use strom_operator::crd::{broker::BrokerCluster, ensemble::CoordinatorEnsemble, pipeline::LogPipeline, topic::Topic};

fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[test]
fn crds_are_current_in_crds_and_the_chart() {
    for dir in ["crds", "charts/strom/crds"] {
        for crd in strom_operator::crd::all() {
            let name = crd.metadata.name.clone().unwrap();
            let path = repo().join(dir).join(format!("{name}.yaml"));
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(on_disk == strom_operator::crd_yaml(&crd), "{} is stale or missing: run `cargo run -p strom-operator --bin crdgen`", path.display());
        }
        let files = std::fs::read_dir(repo().join(dir)).unwrap().count();
        assert_eq!(files, strom_operator::crd::all().len(), "{dir}/ holds a file no kind generates");
    }
}

#[test]
fn every_kind_has_status_printer_columns_and_a_short_name() {
    for crd in strom_operator::crd::all() {
        let v = &crd.spec.versions[0];
        assert!(v.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some(), "{:?} has no status subresource", crd.metadata.name);
        assert!(v.additional_printer_columns.as_ref().is_some_and(|c| c.len() >= 3));
        assert!(crd.spec.names.short_names.as_ref().is_some_and(|s| !s.is_empty()));
    }
    // the rules users meet first
    let text = serde_json::to_string(&CoordinatorEnsemble::crd()).unwrap();
    assert!(text.contains("self >= 1 && self <= 7 && self % 2 == 1"));
    let text = serde_json::to_string(&Topic::crd()).unwrap();
    assert!(text.contains("self >= oldSelf"));
}

#[test]
fn the_seed_example_is_valid_and_renders() {
    let text = std::fs::read_to_string(repo().join("examples/k8s/seed.yaml")).unwrap();
    let mut kinds = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v = serde_yaml::Value::deserialize(doc).unwrap();
        let kind = v["kind"].as_str().unwrap().to_string();
        match kind.as_str() {
            "CoordinatorEnsemble" => {
                let mut e: CoordinatorEnsemble = serde_yaml::from_value(v).unwrap();
                e.metadata.namespace = Some("logs".into());
                let r = strom_operator::render::ensemble::render(&strom_operator::render::Owner::from(&e), &e.spec);
                assert_eq!(r.stateful_set.spec.unwrap().replicas, Some(3));
            }
            "BrokerCluster" => {
                let b: BrokerCluster = serde_yaml::from_value(v).unwrap();
                assert_eq!(b.spec.coordinator.ensemble.as_deref(), Some("zk"));
            }
            "Topic" => {
                let t: Topic = serde_yaml::from_value(v).unwrap();
                assert!(t.spec.partitions >= 1);
            }
            "LogPipeline" => {
                let p: LogPipeline = serde_yaml::from_value(v).unwrap();
                assert_eq!(p.spec.sinks.len(), 2);
            }
            other => panic!("unexpected kind {other}"),
        }
        kinds.push(kind);
    }
    assert_eq!(kinds, ["CoordinatorEnsemble", "BrokerCluster", "Topic", "Topic", "LogPipeline"]);
}

/// The API server estimates each CEL rule's cost from the largest input the schema allows and
/// refuses a CRD whose rules could cost too much (kube-apiserver 1.34 refused LogPipeline's
/// `paths` rule on unbounded lists: "estimated rule cost exceeds budget by factor of more than
/// 100x"). So every list a rule looks into has maxItems and every string it reads maxLength.
#[test]
fn lists_and_strings_under_cel_rules_are_bounded() {
    fn walk(path: &str, v: &serde_json::Value, problems: &mut Vec<String>) {
        let Some(o) = v.as_object() else { return };
        let ruled = o.get("x-kubernetes-validations").and_then(|r| r.as_array()).is_some_and(|r| !r.is_empty());
        let ty = o.get("type").and_then(|t| t.as_str()).unwrap_or_default();
        if ruled && ty == "array" {
            if !o.contains_key("maxItems") {
                problems.push(format!("{path}: a ruled list without maxItems"));
            }
            if o.get("items").and_then(|i| i.get("type")).and_then(|t| t.as_str()) == Some("string") && o["items"].get("maxLength").is_none() {
                problems.push(format!("{path}: a ruled list of strings without maxLength"));
            }
        }
        if ruled && ty == "string" && !o.contains_key("maxLength") && !o.contains_key("enum") {
            problems.push(format!("{path}: a ruled string without maxLength"));
        }
        for (k, child) in o {
            match k.as_str() {
                "properties" => {
                    for (name, p) in child.as_object().into_iter().flatten() {
                        walk(&format!("{path}.{name}"), p, problems);
                    }
                }
                "items" | "additionalProperties" => walk(&format!("{path}[]"), child, problems),
                _ => {}
            }
        }
    }
    let mut problems = Vec::new();
    for crd in strom_operator::crd::all() {
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
        walk(crd.metadata.name.as_deref().unwrap_or("?"), &schema["openAPIV3Schema"], &mut problems);
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
