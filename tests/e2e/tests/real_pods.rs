//! With real pods: our images running as pods on a real node (tests/e2e/real-node.sh: the
//! component cluster with one real node; tests/kind/run.sh: kind), the chart's operator running
//! in the cluster, and clients running as a user's pods would: by Service and pod DNS names.
//! One test at a time (`--test-threads=1`); each has its namespace.
//!
//! Needs, besides KUBECONFIG: the image `strom/strom:<version>` on the nodes (`STROM_E2E_IMAGE`
//! to name another), and for the pipeline test either `STROM_E2E_HOST_IP`, an address of this host
//! that pods reach (an Elasticsearch stand-in listens there), or an Elasticsearch named by
//! `STROM_E2E_ES_URL` (from this host) and `STROM_E2E_ES_POD_URL` (from the pods).

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use strom_e2e::*;

fn image() -> String {
    std::env::var("STROM_E2E_IMAGE").unwrap_or_else(|_| format!("strom/strom:{}", env!("CARGO_PKG_VERSION")))
}

/// kubectl in namespace `ns`.
fn k(ns: &str, args: &[&str]) -> Result<String, String> {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    kubectl(&all, None)
}

fn apply(ns: &str, yaml: &str) {
    kubectl(&["apply", "-n", ns, "-f", "-"], Some(yaml)).unwrap_or_else(|e| panic!("kubectl apply: {e}"));
}

/// The pods, their phases and the last lines of their logs: what a failure message needs.
fn pods_report(ns: &str) -> String {
    let mut out = k(ns, &["get", "pods", "-o", "wide"]).unwrap_or_else(|e| e);
    for p in k(ns, &["get", "pods", "-o", "name"]).unwrap_or_default().lines() {
        out.push_str(&format!("\n-- {p} (last 15 log lines)\n{}", k(ns, &["logs", p, "--all-containers", "--tail", "15"]).unwrap_or_else(|e| e)));
    }
    out
}

/// Tries `check` every second until it answers `Ok`; panics after `secs` with the last answer
/// and the namespace's pods.
fn poll<T>(ns: &str, what: &str, secs: u64, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match check() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => panic!("{what}: not so after {secs} s; last: {last}\n{}", pods_report(ns)),
            Err(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}

fn jsonpath(ns: &str, what: &str, path: &str) -> String {
    k(ns, &["get", what, "-o", &format!("jsonpath={path}")]).unwrap_or_default()
}

/// Waits for `condition=<c>` on `what` (kubectl wait).
fn wait_for(ns: &str, what: &str, condition: &str, secs: u64) {
    let timeout = format!("--timeout={secs}s");
    let cond = format!("--for=condition={condition}");
    if let Err(e) = k(ns, &["wait", &cond, what, &timeout]) {
        panic!("{what} not {condition} after {secs} s: {e}\nstatus: {}\n{}", jsonpath(ns, what, "{.status}"), pods_report(ns));
    }
}

fn headless_dns(ns: &str, name: &str, i: usize, port: u16) -> String {
    format!("{name}-{i}.{name}-headless.{ns}.svc.cluster.local:{port}")
}

/// `stromctl zk status --wait` run in pod zk-0 against the first `n` servers of ensemble `zk` by
/// their pod DNS names: its report once every one of them serves and the leader has `n - 1`
/// followers in sync.
fn ensemble_of(ns: &str, n: usize) -> Result<String, String> {
    let servers: Vec<String> = (0..n).map(|i| headless_dns(ns, "zk", i, 2181)).collect();
    let r = k(ns, &["exec", "zk-0", "--", "stromctl", "zk", "status", "--servers", &servers.join(","), "--wait", "5"])?;
    let whole = format!("{n} servers, {n} serving");
    let synced = format!("{} of {} followers in sync", n - 1, n - 1);
    if r.contains(&whole) && r.contains(&synced) { Ok(r) } else { Err(r) }
}

/// Runs `command` in a new pod of our image that ends by itself (restartPolicy Never).
fn run_pod(ns: &str, name: &str, command: &str) {
    let img = image();
    k(ns, &["run", name, "--image", &img, "--image-pull-policy", "Never", "--restart", "Never", "--command", "--", "bash", "-c", command]).unwrap_or_else(|e| panic!("kubectl run {name}: {e}"));
}

/// The pod's phase once it ended (Succeeded or Failed); panics if it has not after `secs`.
fn pod_end(ns: &str, pod: &str, secs: u64) -> String {
    let what = format!("pod/{pod}");
    poll(ns, &format!("{pod} ended"), secs, || {
        let p = jsonpath(ns, &what, "{.status.phase}");
        if p == "Succeeded" || p == "Failed" { Ok(p) } else { Err(p) }
    })
}

/// (uid, restart count) of each pod named.
fn identities(ns: &str, pods: &[String]) -> BTreeMap<String, String> {
    pods.iter().map(|p| (p.clone(), jsonpath(ns, &format!("pod/{p}"), "{.metadata.uid} {.status.containerStatuses[0].restartCount}"))).collect()
}

const ENSEMBLE3: &str = "apiVersion: strom.io/v1alpha1
kind: CoordinatorEnsemble
metadata: {name: zk}
spec:
  replicas: 3
  storage: {size: 1Gi}
";

/// A three-server ensemble, three brokers and a topic with replication 3; a producer pod sends
/// 3,000 numbered records with acks=all while the ensemble leader's pod and a broker pod are
/// deleted; every record is acknowledged, and a consumer pod reads every one back.
#[tokio::test]
async fn clients_carry_on_while_the_ensemble_leader_and_a_broker_pod_are_deleted() {
    install_chart().await;
    let client = admin().await;
    let ns = namespace(&client, "e2e-real-traffic").await;
    let t0 = Instant::now();
    apply(&ns, ENSEMBLE3);
    poll(&ns, "three coordinator pods", 60, || k(&ns, &["get", "pod", "zk-0", "zk-1", "zk-2"]));
    wait_for(&ns, "pod/zk-0", "Ready", 120);
    let report = poll(&ns, "a quorum asked by pod DNS names", 120, || ensemble_of(&ns, 3));
    println!("real pods: ensemble of 3 with a quorum after {:.1} s:\n{report}", t0.elapsed().as_secs_f64());
    let leader = poll(&ns, "the operator reporting the leader", 90, || match jsonpath(&ns, "coordinatorensemble/zk", "{.status.leader}") {
        l if l.starts_with("zk-") => Ok(l),
        l => Err(l),
    });
    apply(
        &ns,
        "apiVersion: strom.io/v1alpha1
kind: BrokerCluster
metadata: {name: kafka}
spec:
  replicas: 3
  coordinator: {ensemble: zk}
  storage: {size: 1Gi}
  config: {numPartitions: 3, defaultReplicationFactor: 3, minInsyncReplicas: 2}
---
apiVersion: strom.io/v1alpha1
kind: Topic
metadata: {name: t1}
spec: {cluster: kafka, partitions: 3, replicationFactor: 3}
",
    );
    wait_for(&ns, "brokercluster/kafka", "Available", 180);
    wait_for(&ns, "topic/t1", "Available", 120);
    println!("real pods: 3 brokers and topic t1 (3 partitions, replication 3) Available after {:.1} s", t0.elapsed().as_secs_f64());

    let boot = format!("kafka-bootstrap.{ns}.svc.cluster.local:9092");
    let n = 3000;
    run_pod(&ns, "producer", &format!("for i in $(seq 1 {n}); do echo $i; sleep 0.01; done | stromctl produce --topic t1 --bootstrap-server {boot} --acks all --timeout 120"));
    wait_for(&ns, "pod/producer", "Ready", 60);
    std::thread::sleep(Duration::from_secs(4));
    // the leader now (it may have changed since)
    let leader = Some(jsonpath(&ns, "coordinatorensemble/zk", "{.status.leader}")).filter(|l| l.starts_with("zk-")).unwrap_or(leader);
    k(&ns, &["delete", "pod", &leader, "--wait=false"]).expect("delete the leader's pod");
    println!("real pods: deleted the ensemble leader's pod {leader} under load after {:.1} s", t0.elapsed().as_secs_f64());
    std::thread::sleep(Duration::from_secs(4));
    k(&ns, &["delete", "pod", "kafka-1", "--wait=false"]).expect("delete kafka-1");
    println!("real pods: deleted broker pod kafka-1 under load after {:.1} s", t0.elapsed().as_secs_f64());
    let phase = pod_end(&ns, "producer", 240);
    let log = k(&ns, &["logs", "producer"]).unwrap_or_else(|e| e);
    assert_eq!(phase, "Succeeded", "the producer failed: {log}");
    println!("real pods: all {n} records acknowledged (producer exit 0) after {:.1} s; the producer's stderr had {} line(s)", t0.elapsed().as_secs_f64(), log.lines().count());
    run_pod(&ns, "consumer", &format!("stromctl consume --topic t1 --from-beginning --max-messages {n} --timeout-ms 60000 --bootstrap-server {boot}"));
    let phase = pod_end(&ns, "consumer", 120);
    let out = k(&ns, &["logs", "consumer"]).unwrap_or_else(|e| e);
    let mut got: Vec<u32> = out.lines().filter_map(|l| l.trim().parse().ok()).collect();
    got.sort_unstable();
    got.dedup();
    assert_eq!(phase, "Succeeded", "the consumer failed: {}", out.lines().rev().take(5).collect::<Vec<_>>().join("\n"));
    assert_eq!(got, (1..=n).collect::<Vec<u32>>(), "the consumer did not read back every record once");
    println!("real pods: a consumer pod read all {n} records back after {:.1} s", t0.elapsed().as_secs_f64());
    wait_for(&ns, "coordinatorensemble/zk", "Available", 180);
    wait_for(&ns, "brokercluster/kafka", "Available", 180);
    println!("real pods: ensemble and brokers Available again (pods {leader} and kafka-1 recreated) after {:.1} s", t0.elapsed().as_secs_f64());
    delete_namespace(&client, &ns).await;
}

/// Scaling the ensemble 3 → 5 → 3 by editing `replicas`: the operator adds and removes servers by
/// reconfig, one at a time, and never restarts the servers that stay.
#[tokio::test]
async fn the_ensemble_scales_3_5_3_by_reconfig_without_restarting_its_servers() {
    install_chart().await;
    let client = admin().await;
    let ns = namespace(&client, "e2e-real-scale").await;
    let t0 = Instant::now();
    apply(&ns, ENSEMBLE3);
    poll(&ns, "three coordinator pods", 60, || k(&ns, &["get", "pod", "zk-0", "zk-1", "zk-2"]));
    wait_for(&ns, "coordinatorensemble/zk", "Available", 180);
    poll(&ns, "a quorum of 3", 120, || ensemble_of(&ns, 3));
    let stay: Vec<String> = (0..3).map(|i| format!("zk-{i}")).collect();
    let before = identities(&ns, &stay);

    k(&ns, &["patch", "coordinatorensemble", "zk", "--type", "merge", "-p", r#"{"spec":{"replicas":5}}"#]).expect("patch to 5");
    // every server answers by its DNS name (a new pod's name resolves once the cluster DNS's
    // cached negative answer from before it existed runs out)
    let report = poll(&ns, "five servers serving, four followers in sync with the leader", 300, || {
        ensemble_of(&ns, 5)
    });
    println!("real pods: scaled 3 → 5 after {:.1} s:\n{report}", t0.elapsed().as_secs_f64());
    poll(&ns, "status: 5 ready, Available, 5 members", 120, || {
        let s = jsonpath(&ns, "coordinatorensemble/zk", "{.status.readyReplicas} {.status.conditions[?(@.type==\"Available\")].status} {.status.members[*].mode}");
        let modes: Vec<&str> = s.split_whitespace().skip(2).collect();
        if s.starts_with("5 True") && modes.len() == 5 && modes.iter().filter(|m| **m == "leader").count() == 1 && modes.iter().all(|m| *m == "leader" || *m == "follower") { Ok(()) } else { Err(s) }
    });

    k(&ns, &["patch", "coordinatorensemble", "zk", "--type", "merge", "-p", r#"{"spec":{"replicas":3}}"#]).expect("patch to 3");
    poll(&ns, "pods zk-3 and zk-4 gone", 300, || match k(&ns, &["get", "pods", "-o", "name"]) {
        Ok(p) if !p.contains("pod/zk-3") && !p.contains("pod/zk-4") => Ok(()),
        other => Err(format!("{other:?}")),
    });
    let report = poll(&ns, "three servers, two followers in sync", 120, || ensemble_of(&ns, 3));
    println!("real pods: scaled 5 → 3 after {:.1} s:\n{report}", t0.elapsed().as_secs_f64());
    wait_for(&ns, "coordinatorensemble/zk", "Available", 120);
    assert_eq!(identities(&ns, &stay), before, "a server that stays was restarted or replaced while scaling (uid, restarts)");
    assert_eq!(jsonpath(&ns, "statefulset/zk", "{.spec.replicas}"), "3");
    delete_namespace(&client, &ns).await;
}

/// The Elasticsearch the pipeline writes to. `STROM_E2E_ES_URL` (as this host reaches it) with
/// `STROM_E2E_ES_POD_URL` (as pods reach it) name one, such as Elasticsearch's official image
/// running in the cluster (tests/kind/run.sh); otherwise the stand-in
/// (tests/pipeline/es_standin.py) runs on this host, reached by pods at `STROM_E2E_HOST_IP`, and
/// is stopped on drop. The test reads through Elasticsearch's own API only (`_refresh`,
/// `_cat/indices`, `_search`), so it asks the same of both.
struct Elasticsearch {
    standin: Option<Child>,
    /// from this host
    url: String,
    /// from the pods
    pod_url: String,
}

impl Elasticsearch {
    fn start() -> Elasticsearch {
        if let (Ok(url), Ok(pod_url)) = (std::env::var("STROM_E2E_ES_URL"), std::env::var("STROM_E2E_ES_POD_URL")) {
            return Elasticsearch { standin: None, url, pod_url };
        }
        let host_ip = std::env::var("STROM_E2E_HOST_IP").expect("STROM_E2E_HOST_IP: an address of this host that pods reach (for the Elasticsearch stand-in), or STROM_E2E_ES_URL and STROM_E2E_ES_POD_URL");
        let port_file = scratch("es").join("port");
        let _ = std::fs::remove_file(&port_file);
        let child = Command::new("python3")
            .arg(repo().join("tests/pipeline/es_standin.py"))
            .args(["--host", "0.0.0.0", "--port", "0", "--port-file"])
            .arg(&port_file)
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 es_standin.py");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port: u16 = loop {
            if let Some(p) = std::fs::read_to_string(&port_file).ok().and_then(|s| s.trim().parse().ok()) {
                break p;
            }
            assert!(Instant::now() < deadline, "the Elasticsearch stand-in did not start");
            std::thread::sleep(Duration::from_millis(100));
        };
        Elasticsearch { standin: Some(child), url: format!("http://127.0.0.1:{port}"), pod_url: format!("http://{host_ip}:{port}") }
    }

    /// `method path` of Elasticsearch's API, its JSON answer.
    fn call(&self, method: &str, path: &str) -> serde_json::Value {
        let out = Command::new("curl").args(["-sS", "-m", "10", "-X", method]).arg(format!("{}{path}", self.url)).output().expect("curl");
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{method} {path}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body}"))
    }

    /// Document counts of the indices (hidden ones left out) after a refresh, by name.
    fn indices(&self) -> BTreeMap<String, u64> {
        self.call("POST", "/_refresh");
        let v = self.call("GET", "/_cat/indices?format=json");
        let rows = v.as_array().unwrap_or_else(|| panic!("_cat/indices: {v}"));
        rows.iter()
            .filter_map(|r| Some((r["index"].as_str()?.to_string(), r["docs.count"].as_str().and_then(|c| c.parse().ok()).unwrap_or(0))))
            .filter(|(n, _)| !n.starts_with('.'))
            .collect()
    }
}

impl Drop for Elasticsearch {
    fn drop(&mut self) {
        if let Some(c) = self.standin.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The seed's EFLFK path on real pods: nginx access and error logs written into a node
/// directory, the LogPipeline's shipper DaemonSet tailing them into a topic and its processor
/// parsing them into the daily access and error indices of an Elasticsearch.
#[tokio::test]
async fn a_log_pipeline_ships_node_log_files_into_elasticsearch() {
    let es = Elasticsearch::start();
    install_chart().await;
    let client = admin().await;
    let ns = namespace(&client, "e2e-real-pipeline").await;
    let t0 = Instant::now();
    let dir = format!("/tmp/strom-e2e-logs-{}", std::process::id());
    let (access, errors) = (200, 50);
    // The application's pod writes the log files into a node directory, as nginx on a node does.
    let img = image();
    apply(
        &ns,
        &format!(
            "apiVersion: v1
kind: Pod
metadata: {{name: nginx}}
spec:
  restartPolicy: Never
  securityContext: {{runAsUser: 0}}
  containers:
  - name: nginx
    image: {img}
    imagePullPolicy: Never
    command: [bash, -c]
    args:
    - |
      for i in $(seq 1 {access}); do
        echo \"10.1.2.$((i % 250)) - - [27/Nov/2026:10:00:00 +0100] \\\"GET /page/$i HTTP/1.1\\\" 200 $((100 + i)) \\\"-\\\" \\\"curl/8.5\\\"\" >> /logs/access.log
      done
      for i in $(seq 1 {errors}); do
        echo \"2026/11/27 10:00:01 [error] 7#7: *$i open() \\\"/srv/missing-$i\\\" failed (2: No such file or directory)\" >> /logs/error.log
      done
      sleep 3600
    volumeMounts: [{{name: logs, mountPath: /logs}}]
  volumes: [{{name: logs, hostPath: {{path: {dir}, type: DirectoryOrCreate}}}}]
"
        ),
    );
    wait_for(&ns, "pod/nginx", "Ready", 60);
    apply(
        &ns,
        &format!(
            "apiVersion: strom.io/v1alpha1
kind: CoordinatorEnsemble
metadata: {{name: zk}}
spec: {{replicas: 1, storage: {{size: 1Gi}}}}
---
apiVersion: strom.io/v1alpha1
kind: BrokerCluster
metadata: {{name: kafka}}
spec:
  replicas: 1
  coordinator: {{ensemble: zk}}
  storage: {{size: 1Gi}}
  config: {{defaultReplicationFactor: 1, minInsyncReplicas: 1}}
---
apiVersion: strom.io/v1alpha1
kind: LogPipeline
metadata: {{name: nginx}}
spec:
  cluster: kafka
  topic: {{name: nginx, partitions: 3, replicationFactor: 1}}
  sources:
  - {{name: access, paths: [{dir}/access.log], tags: [access]}}
  - {{name: error, paths: [{dir}/error.log], tags: [error]}}
  processor: {{consumerGroup: logstash, autoOffsetReset: earliest, parse: nginx}}
  sinks:
  - {{hosts: ['{es}'], index: 'nginx_access-%{{+YYYY.MM.dd}}', whenTag: access}}
  - {{hosts: ['{es}'], index: 'nginx_error-%{{+YYYY.MM.dd}}', whenTag: error}}
",
            es = es.pod_url
        ),
    );
    wait_for(&ns, "brokercluster/kafka", "Available", 180);
    println!("real pods: ensemble of 1 and broker of 1 Available after {:.1} s", t0.elapsed().as_secs_f64());
    let deadline = Instant::now() + Duration::from_secs(240);
    let indices = loop {
        let v = es.indices();
        let count = |prefix: &str| v.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, n)| n).sum::<u64>();
        if count("nginx_access-") >= access && count("nginx_error-") >= errors {
            break v;
        }
        assert!(Instant::now() < deadline, "Elasticsearch has {v:?} after 240 s\n{}", pods_report(&ns));
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    println!("real pods: every line in Elasticsearch after {:.1} s: {indices:?}", t0.elapsed().as_secs_f64());
    // Exactly once per line here (no failure happened), in the day's index of its own time.
    assert!(indices.keys().all(|n| n.starts_with("nginx_access-") || n.starts_with("nginx_error-")), "{indices:?}");
    let found = es.call("GET", "/nginx_access-*,nginx_error-*/_search?size=1000");
    let docs: Vec<&serde_json::Value> = found["hits"]["hits"].as_array().unwrap_or_else(|| panic!("_search: {found}")).iter().map(|h| &h["_source"]).collect();
    assert_eq!(found["hits"]["total"]["value"], access + errors, "each line once");
    assert_eq!(docs.len() as u64, access + errors, "each line once");
    let hit = docs.iter().find(|d| d["url"]["original"] == "/page/7").unwrap_or_else(|| panic!("no access event for /page/7 in {:?}", docs.first()));
    assert_eq!(hit["http"]["response"]["status_code"], 200, "{hit}");
    assert_eq!(hit["http"]["response"]["body"]["bytes"], 107, "{hit}");
    assert_eq!(hit["log"]["file"]["path"], format!("{dir}/access.log"), "{hit}");
    let node = jsonpath(&ns, "pod/nginx", "{.spec.nodeName}");
    assert_eq!(hit["host"]["name"], node, "host.name is the node's name: {hit}");
    assert!(hit["tags"].as_array().is_some_and(|t| t.iter().any(|x| x == "access")), "{hit}");
    // the status: a shipper on every node, the processor ready, nothing left to consume
    poll(&ns, "LogPipeline status: shippers and processor ready, lag 0", 120, || {
        let s = jsonpath(&ns, "logpipeline/nginx", "{.status.readyShippers} {.status.desiredShippers} {.status.readyProcessors} {.status.consumerLag} {.status.conditions[?(@.type==\"Available\")].status}");
        match s.split_whitespace().collect::<Vec<_>>().as_slice() {
            [ready, wanted, "1", "0", "True"] if ready == wanted && *ready != "0" => Ok(()),
            _ => Err(s),
        }
    });
    delete_namespace(&client, &ns).await;
}
