//! `strom-zkbench`: a load generator speaking ZooKeeper's client protocol, used by
//! `tests/bench.sh` to load this server and Apache ZooKeeper the same way in one run.
//! Each client is one session with one request in flight (closed loop), so latency is the
//! round trip of one request. Prints one line of figures per run; asserts nothing.

use std::time::{Duration, Instant};

use clap::Parser;
use strom_coordinator::proto::codes::op;
use strom_coordinator::proto::jute::{Reader, Writer};
use strom_coordinator::proto::records::{write_acls, Acl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser, Clone)]
#[command(name = "strom-zkbench", version, about = "ZooKeeper protocol load generator")]
struct Args {
    /// host:port of the server, or of several (comma separated): clients take them in turn.
    #[arg(long)]
    server: String,
    /// Instead of a load: try one write through the servers in turn until one succeeds, and
    /// print how long that took (the failover time after a leader is killed).
    #[arg(long)]
    probe_write: bool,
    /// Concurrent clients (sessions).
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Percentage of reads (getData); the rest are setData of --size bytes.
    #[arg(long, default_value_t = 100)]
    read_pct: u32,
    /// Value size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Label printed in front of the figures.
    #[arg(long, default_value = "")]
    label: String,
}

async fn frame(sock: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let len = sock.read_i32().await? as usize;
    let mut b = vec![0u8; len];
    sock.read_exact(&mut b).await?;
    Ok(b)
}

async fn connect(server: &str) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(server).await?;
    s.set_nodelay(true)?;
    let mut w = Writer::framed();
    w.int(0).long(0).int(30_000).long(0).buffer(&[0; 16]).boolean(false);
    s.write_all(&w.finish_frame()).await?;
    frame(&mut s).await?;
    Ok(s)
}

async fn call(s: &mut TcpStream, req: Vec<u8>) -> std::io::Result<i32> {
    s.write_all(&req).await?;
    loop {
        let f = frame(s).await?;
        let mut r = Reader::new(&f);
        let xid = r.int().unwrap_or(0);
        let _zxid = r.long().unwrap_or(0);
        let err = r.int().unwrap_or(-1);
        if xid != -1 {
            return Ok(err);
        }
    }
}

fn servers(a: &Args) -> Vec<String> {
    a.server.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

async fn client(a: Args, id: usize, until: Instant) -> std::io::Result<(Vec<u32>, u64)> {
    let list = servers(&a);
    let mut s = connect(&list[id % list.len()]).await?;
    let path = format!("/strom-bench/c{id}");
    let value = vec![b'x'; a.size];
    let mut w = Writer::framed();
    w.int(1).int(op::CREATE).ustring(&path).buffer(&value);
    write_acls(&mut w, &Acl::world_all());
    w.int(0);
    call(&mut s, w.finish_frame()).await?;
    let mut lat = Vec::with_capacity(100_000);
    let mut errors = 0;
    let mut xid = 2;
    let mut n: u64 = id as u64;
    while Instant::now() < until {
        xid += 1;
        n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let read = ((n >> 33) % 100) < a.read_pct as u64;
        let mut w = Writer::framed();
        if read {
            w.int(xid).int(op::GET_DATA).ustring(&path).boolean(false);
        } else {
            w.int(xid).int(op::SET_DATA).ustring(&path).buffer(&value).int(-1);
        }
        let t = Instant::now();
        if call(&mut s, w.finish_frame()).await? != 0 {
            errors += 1;
        }
        lat.push(t.elapsed().as_micros() as u32);
    }
    Ok((lat, errors))
}

/// One create through `server`, within a second: true when it succeeded.
async fn try_write(server: &str, n: u64) -> bool {
    let attempt = async {
        let mut s = connect(server).await?;
        let mut w = Writer::framed();
        w.int(1).int(op::CREATE).ustring(&format!("/strom-bench-probe-{}-{n}", std::process::id())).buffer(b"");
        write_acls(&mut w, &Acl::world_all());
        w.int(1); // ephemeral
        call(&mut s, w.finish_frame()).await
    };
    matches!(tokio::time::timeout(Duration::from_secs(1), attempt).await, Ok(Ok(0)))
}

#[tokio::main]
async fn main() {
    let a = Args::parse();
    if a.probe_write {
        let started = Instant::now();
        let list = servers(&a);
        for n in 0u64.. {
            if try_write(&list[n as usize % list.len()], n).await {
                println!("{:<28} first write after {:.0} ms (through {})", a.label, started.elapsed().as_secs_f64() * 1000.0, list[n as usize % list.len()]);
                return;
            }
            if started.elapsed() > Duration::from_secs(120) {
                println!("{:<28} no write succeeded within 120 s", a.label);
                std::process::exit(1);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Parent node for the clients' znodes (NODEEXISTS is fine).
    if let Ok(mut s) = connect(&servers(&a)[0]).await {
        let mut w = Writer::framed();
        w.int(1).int(op::CREATE).ustring("/strom-bench").buffer(b"");
        write_acls(&mut w, &Acl::world_all());
        w.int(0);
        let _ = call(&mut s, w.finish_frame()).await;
    }
    let until = Instant::now() + Duration::from_secs_f64(a.seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..a.clients).map(|i| tokio::spawn(client(a.clone(), i + 1000 * std::process::id() as usize % 100_000, until))).collect();
    let mut all = Vec::new();
    let mut errors = 0;
    let mut failed = 0;
    for t in tasks {
        match t.await {
            Ok(Ok((l, e))) => {
                all.extend(l);
                errors += e;
            }
            _ => failed += 1,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| if all.is_empty() { 0.0 } else { all[((all.len() - 1) as f64 * p) as usize] as f64 / 1000.0 };
    println!(
        "{:<28} {:>10.0} ops/s  p50 {:>7.3} ms  p99 {:>7.3} ms  ({} ops, {} errors, {} failed clients)",
        a.label,
        all.len() as f64 / secs,
        pct(0.50),
        pct(0.99),
        all.len(),
        errors,
        failed
    );
}
