//! The CRDs' CEL validation rules, evaluated with a CEL interpreter on the seed's example
//! resources (every rule holds) and on broken variants of them (the rule meant to catch each
//! mistake fails, with its message). Transition rules (`oldSelf`) are evaluated on updates only,
//! as the API server does. The API server itself runs them for real in the Kubernetes suite.

use cel_interpreter::{Context, Program};
use kube::CustomResourceExt;
use serde_json::{json, Value};
use strom_operator::crd::{broker::BrokerCluster, ensemble::CoordinatorEnsemble, pipeline::LogPipeline, topic::Topic};

/// The messages of the rules that fail on `value` (with `old` for an update).
fn failures(schema: &Value, value: &Value, old: Option<&Value>, path: &str, out: &mut Vec<String>) {
    for rule in schema.get("x-kubernetes-validations").and_then(Value::as_array).into_iter().flatten() {
        let text = rule["rule"].as_str().unwrap();
        let transition = text.contains("oldSelf");
        if transition && old.is_none() {
            continue;
        }
        let program = Program::compile(text).unwrap_or_else(|e| panic!("{path}: rule {text:?} does not compile: {e}"));
        let mut c = Context::default();
        c.add_variable_from_value("self", to_cel(value));
        if let Some(o) = old {
            c.add_variable_from_value("oldSelf", to_cel(o));
        }
        match program.execute(&c) {
            Ok(cel_interpreter::Value::Bool(true)) => {}
            Ok(cel_interpreter::Value::Bool(false)) => out.push(format!("{path}: {}", rule["message"].as_str().unwrap_or(text))),
            other => panic!("{path}: rule {text:?} on {value} gave {other:?}"),
        }
    }
    if let (Some(props), Some(obj)) = (schema.get("properties").and_then(Value::as_object), value.as_object()) {
        for (k, s) in props {
            if let Some(v) = obj.get(k) {
                failures(s, v, old.and_then(|o| o.get(k)), &format!("{path}.{k}"), out);
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            failures(items, v, old.and_then(|o| o.get(i)), &format!("{path}[{i}]"), out);
        }
    }
}

/// A JSON value as the API server hands it to CEL (integers are `int`).
fn to_cel(v: &Value) -> cel_interpreter::Value {
    use cel_interpreter::Value as C;
    match v {
        Value::Null => C::Null,
        Value::Bool(b) => C::Bool(*b),
        Value::Number(n) => n.as_i64().map(C::Int).unwrap_or_else(|| C::Float(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => C::String(s.clone().into()),
        Value::Array(a) => C::List(a.iter().map(to_cel).collect::<Vec<_>>().into()),
        Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect::<std::collections::HashMap<String, C>>().into(),
    }
}

fn schema_of(kind: &str) -> Value {
    let crd = match kind {
        "CoordinatorEnsemble" => CoordinatorEnsemble::crd(),
        "BrokerCluster" => BrokerCluster::crd(),
        "Topic" => Topic::crd(),
        "LogPipeline" => LogPipeline::crd(),
        other => panic!("{other}"),
    };
    serde_json::to_value(&crd.spec.versions[0].schema.as_ref().unwrap().open_api_v3_schema).unwrap()
}

fn seed() -> Vec<Value> {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/k8s/seed.yaml")).unwrap();
    serde_yaml::Deserializer::from_str(&text).map(|d| serde::Deserialize::deserialize(d).unwrap()).filter(|v: &Value| !v.is_null()).collect()
}

fn check(obj: &Value, old: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    let kind = obj["kind"].as_str().unwrap();
    failures(&schema_of(kind), obj, old, kind, &mut out);
    out
}

fn of_kind(kind: &str) -> Value {
    seed().into_iter().find(|v| v["kind"] == kind).unwrap()
}

/// Sets a field (a JSON pointer; the last key is added when missing) and returns the object.
fn with(mut v: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let p = v.pointer_mut(parent).unwrap_or_else(|| panic!("no {parent}"));
    match p {
        Value::Object(m) => {
            m.insert(key.to_string(), value);
        }
        Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
        _ => panic!("{parent} is not a container"),
    }
    v
}

#[test]
fn the_seed_example_passes_every_rule() {
    for obj in seed() {
        assert_eq!(check(&obj, None), Vec::<String>::new(), "{}", obj["metadata"]["name"]);
        // and as an unchanged update (transition rules too)
        assert_eq!(check(&obj, Some(&obj)), Vec::<String>::new(), "{}", obj["metadata"]["name"]);
    }
}

#[test]
fn each_mistake_is_caught_by_its_rule_with_a_message_a_user_understands() {
    let e = of_kind("CoordinatorEnsemble");
    let b = of_kind("BrokerCluster");
    let t = of_kind("Topic");
    let p = of_kind("LogPipeline");
    let cases: Vec<(Value, Option<Value>, &str)> = vec![
        (with(e.clone(), "/spec/replicas", json!(4)), None, "replicas must be 1, 3, 5 or 7"),
        (with(e.clone(), "/spec/replicas", json!(9)), None, "replicas must be 1, 3, 5 or 7"),
        (with(e.clone(), "/spec/replicas", json!(1)), Some(e.clone()), "cannot be scaled to or from 1 server"),
        (with(e.clone(), "/spec/storage/size", json!("10GB")), None, "storage size must be a quantity"),
        (with(b.clone(), "/spec/coordinator/chroot", json!("logs/")), None, "chroot must start with / and not end with /"),
        (with(t.clone(), "/spec/partitions", json!(0)), None, "partitions must be at least 1"),
        (with(t.clone(), "/spec/partitions", json!(2)), Some(t.clone()), "partitions cannot be reduced"),
        (with(p.clone(), "/spec/sources/0/paths", json!(["var/log/nginx/access.log"])), None, "paths must be absolute"),
        (with(p.clone(), "/spec/sources/0/mode", json!("Host")), None, "mode must be DaemonSet or Sidecar"),
        (with(p.clone(), "/spec/processor/parse", json!("grok")), None, "parse must be none, nginx"),
        (with(p.clone(), "/spec/processor/autoOffsetReset", json!("newest")), None, "autoOffsetReset must be earliest or latest"),
        (with(p.clone(), "/spec/sinks", json!([])), None, "a pipeline needs at least one sink"),
    ];
    for (obj, old, want) in cases {
        let got = check(&obj, old.as_ref());
        assert!(got.len() == 1 && got[0].contains(want), "expected one failure with {want:?}, got {got:?}");
    }
}
