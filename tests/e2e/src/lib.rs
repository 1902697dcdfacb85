//! Harness of the end-to-end suite: the cluster KUBECONFIG names, the Helm chart installed into
//! it once, strom-operator processes run on this host under the chart's ServiceAccount (a token
//! from the TokenRequest API, so the chart's RBAC is what the operator gets), kubectl as a user
//! types it, and waiting for the cluster to reach a state.
//!
//! With fake nodes (kwok) pods become Running and Ready but no process runs in them: the suite
//! checks what the operator writes and how it reacts to what Kubernetes reports.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{DeleteParams, PostParams};
use kube::config::Kubeconfig;
use kube::{Api, Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The release and namespace the suite installs the chart as.
pub const RELEASE: &str = "strom";
pub const OPERATOR_NAMESPACE: &str = "strom-system";
/// The chart's ServiceAccount (`<release>-strom-operator`).
pub const SERVICE_ACCOUNT: &str = "strom-strom-operator";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

fn cache() -> PathBuf {
    std::env::var_os("STROM_CACHE").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/strom"))
}

/// kubectl: `STROM_KUBECTL`, else the one tests/lib/install.sh unpacks, else the PATH's.
pub fn kubectl_path() -> PathBuf {
    if let Some(p) = std::env::var_os("STROM_KUBECTL") {
        return p.into();
    }
    let p = cache().join("helm-npm/kubectl/kubectl");
    if p.exists() { p } else { "kubectl".into() }
}

pub fn helm_path() -> PathBuf {
    if let Some(p) = std::env::var_os("STROM_HELM") {
        return p.into();
    }
    let p = cache().join("helm-npm/helm/helm");
    if p.exists() { p } else { "helm".into() }
}

/// A binary built from this workspace (`STROM_BIN_DIR`, default target/debug).
pub fn bin(name: &str) -> PathBuf {
    std::env::var_os("STROM_BIN_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join("target/debug")).join(name)
}

/// A scratch directory of this test process, removed by nobody (the run's temp dir is).
pub fn scratch(what: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("strom-e2e-{}", std::process::id())).join(what);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

pub fn kubeconfig() -> PathBuf {
    match std::env::var_os("KUBECONFIG") {
        Some(p) if !p.is_empty() => p.into(),
        _ => panic!("KUBECONFIG must name the cluster to test (tests/e2e/run.sh brings up the component cluster and sets it)"),
    }
}

/// A client as the cluster's administrator (the KUBECONFIG's user).
pub async fn admin() -> Client {
    kubeconfig();
    Client::try_default().await.expect("a client for KUBECONFIG")
}

/// Output of a kubectl command, as a user types it (`Err` carries stderr).
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    run(&kubectl_path(), args, stdin)
}

fn run(program: &Path, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    if let Some(s) = stdin {
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(s.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{} {}: {}{}", program.display(), args.join(" "), String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout)))
    }
}

static CHART: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// Installs (or upgrades) the chart once per test process, as a user would:
/// `helm upgrade --install strom charts/strom -n strom-system --create-namespace --wait`, plus
/// the words of `STROM_E2E_HELM_ARGS` (tests/kind/run.sh: `--set replicas=0`, as the suite runs
/// its own operators).
pub async fn install_chart() {
    CHART
        .get_or_init(|| async {
            kubeconfig();
            let chart = repo().join("charts/strom");
            let extra = std::env::var("STROM_E2E_HELM_ARGS").unwrap_or_default();
            let out = tokio::task::spawn_blocking(move || {
                let mut args = vec!["upgrade", "--install", RELEASE, chart.to_str().expect("path"), "-n", OPERATOR_NAMESPACE, "--create-namespace", "--wait", "--timeout", "180s"];
                args.extend(extra.split_whitespace());
                run(&helm_path(), &args, None)
            })
            .await
            .expect("helm");
            if let Err(e) = out {
                panic!("installing the chart failed: {e}");
            }
        })
        .await;
}

/// A namespace of the test's own, deleted by `Drop`-less `delete_namespace` at the test's end
/// (a failing test leaves it for inspection; the cluster is thrown away after the run).
pub async fn namespace(client: &Client, name: &str) -> String {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).expect("namespace");
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("creating namespace {name}: {e}"),
    }
    name.to_string()
}

pub async fn delete_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::background()).await;
}

/// Waits until `check` returns `Ok`, trying every 200 ms; panics after `secs` with `what` and the
/// last answer.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => panic!("{what}: not so after {secs} s; last: {last}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// A kubeconfig for the chart's ServiceAccount: the cluster of KUBECONFIG, a bound token from
/// the TokenRequest API.
pub async fn service_account_kubeconfig(admin: &Client) -> PathBuf {
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), OPERATOR_NAMESPACE);
    let req = TokenRequest { spec: TokenRequestSpec { audiences: vec![], expiration_seconds: Some(7200), ..Default::default() }, ..Default::default() };
    let token = sas
        .create_token_request(SERVICE_ACCOUNT, &PostParams::default(), &req)
        .await
        .unwrap_or_else(|e| panic!("TokenRequest for {OPERATOR_NAMESPACE}/{SERVICE_ACCOUNT}: {e}"))
        .status
        .expect("token status")
        .token;
    let cfg = Kubeconfig::read_from(kubeconfig()).expect("KUBECONFIG readable");
    let cluster = cfg.clusters.first().and_then(|c| c.cluster.clone()).expect("a cluster in KUBECONFIG");
    let out = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": cluster.server, "certificate-authority-data": cluster.certificate_authority_data, "certificate-authority": cluster.certificate_authority}}],
        "users": [{"name": SERVICE_ACCOUNT, "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": SERVICE_ACCOUNT}}],
        "current-context": "c",
    });
    let path = scratch("sa").join("kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&out).expect("yaml")).expect("write kubeconfig");
    path
}

/// A strom-operator process on this host, acting as the chart's ServiceAccount.
pub struct Operator {
    child: Child,
    pub metrics: SocketAddr,
    pub log: PathBuf,
}

impl Operator {
    /// Starts an operator electing on the Lease `lease` in the operator namespace (a name of the
    /// test's own, so that one test's operator never waits out another's lease).
    pub async fn start(admin: &Client, lease: &str) -> Operator {
        install_chart().await;
        let kubeconfig = service_account_kubeconfig(admin).await;
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        let metrics: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let log = scratch("operators").join(format!("{lease}-{port}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(bin("strom-operator"))
            .args(["--text-logs", "--metrics-addr", &metrics.to_string(), "--lease-namespace", OPERATOR_NAMESPACE, "--lease-name", lease])
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "info,kube=warn")
            .env("POD_NAME", format!("e2e-{port}"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin("strom-operator").display()));
        let op = Operator { child, metrics, log };
        let m = op.metrics;
        eventually("operator serving /healthz", 30, || async move { http_get(m, "/healthz").await }).await;
        op
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits until this replica holds the lease and runs its controllers.
    pub async fn wait_leading(&self) {
        let m = self.metrics;
        let log = self.log.clone();
        eventually("operator leading", 60, || {
            let log = log.clone();
            async move {
                let body = http_get(m, "/metrics").await?;
                if body.lines().any(|l| l == "strom_operator_leader 1") { Ok(()) } else { Err(std::fs::read_to_string(&log).unwrap_or_default()) }
            }
        })
        .await;
    }

    /// The sum of a counter's samples whose line starts with `prefix` (0 when none).
    pub async fn counter(&self, prefix: &str) -> f64 {
        let body = http_get(self.metrics, "/metrics").await.unwrap_or_default();
        body.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
    }

    /// Reconciliations finished so far, of every kind and outcome.
    pub async fn reconciliations(&self) -> f64 {
        self.counter("strom_operator_reconciliations_total").await
    }

    /// Resident memory of the process (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
    }

    /// CPU time used (user + system), in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let s = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let after = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0) + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
    }

    /// SIGKILL, as a crash or an evicted pod.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait, as a rolling update of the operator's Deployment.
    pub fn stop(&mut self) {
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.kill();
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A plain HTTP/1.0 GET of the operator's metrics server.
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await.map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header")?;
        if head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200") { Ok(body.to_string()) } else { Err(head.lines().next().unwrap_or("").to_string()) }
    };
    tokio::time::timeout(Duration::from_secs(5), fetch).await.map_err(|_| "timed out".to_string())?
}
