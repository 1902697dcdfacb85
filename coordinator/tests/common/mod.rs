//! Shared harness for the coordinator's integration tests: a server in-process (for client
//! tests) or as the real binary (for crash tests), on loopback with a fresh data directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("strom-it-{name}-{}-{}", std::process::id(), rand_suffix()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 % 1_000_000_007
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn zoo_cfg(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let cfg = dir.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=500\ndataDir={d}/data\ndataLogDir={d}/log\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             admin.enableServer=false\n4lw.commands.whitelist=*\nmaxClientCnxns=0\n{extra}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    cfg
}

/// A server running in this process on its own runtime thread.
pub struct InProcess {
    pub addr: std::net::SocketAddr,
    pub dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InProcess {
    pub fn start(name: &str, extra: &str) -> InProcess {
        let dir = temp_dir(name);
        let cfg = strom_coordinator::config::Config::load(&zoo_cfg(&dir, 0, extra)).unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let (btx, brx) = tokio::sync::oneshot::channel();
                let server = tokio::spawn(strom_coordinator::server::run(
                    cfg,
                    async move {
                        let _ = stop_rx.await;
                    },
                    Some(btx),
                ));
                let b = brx.await.unwrap();
                bound_tx.send(b.client).unwrap();
                server.await.unwrap().unwrap();
            });
        });
        let addr = bound_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        InProcess { addr, dir, stop: Some(stop_tx), thread: Some(thread) }
    }

    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The real binary as a child process.
pub struct Process {
    pub child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    pub cfg: PathBuf,
}

impl Process {
    pub fn start(name: &str, extra: &str) -> Process {
        let dir = temp_dir(name);
        let port = free_port();
        let cfg = zoo_cfg(&dir, port, extra);
        let mut p = Process { child: None, port, dir, cfg };
        p.spawn();
        p
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("server.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_strom-coordinator"))
            .arg(&self.cfg)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        if !wait_ruok(self.port) {
            panic!("server on port {} did not come up; its log:\n{}", self.port, self.log());
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn four_letter(port: u16, word: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return String::new() };
    let _ = s.write_all(word.as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

pub fn wait_ruok(port: u16) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        // Any answer means the server is up (ruok may be off the whitelist).
        if !four_letter(port, "ruok").is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
