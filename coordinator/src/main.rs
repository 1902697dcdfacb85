//! `strom-coordinator <zoo.cfg>`: the counterpart of `zkServer.sh start-foreground zoo.cfg`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "strom-coordinator", version, about = "A ZooKeeper-compatible coordination server")]
struct Args {
    /// Path to zoo.cfg (the same file ZooKeeper reads).
    config: PathBuf,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if args.log_json {
        tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let cfg = match strom_coordinator::config::Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strom-coordinator: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strom-coordinator: failed to start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = async {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        }
    };
    match rt.block_on(strom_coordinator::server::run(cfg, shutdown, None)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strom-coordinator: {e}");
            ExitCode::FAILURE
        }
    }
}
