//! `strom-pipeline`: `ship` tails files into Kafka (Filebeat's role), `process` reads Kafka into Elasticsearch and other outputs (Logstash's role), `check` validates a config.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use strom_pipeline::config::PipelineConfig;
use strom_pipeline::ship::metrics::ShipMetrics;
use strom_pipeline::ship::Tuning;
use strom_pipeline::{filebeat, logstash};

#[derive(Parser)]
#[command(name = "strom-pipeline", version, about = "Strom's log pipeline: ship files to Kafka, process Kafka into Elasticsearch")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tail files into Kafka (the `ship` section).
    Ship {
        #[arg(long)]
        config: PathBuf,
        /// Serve Prometheus metrics at `http://HOST:PORT/metrics`.
        #[arg(long, value_name = "HOST:PORT")]
        metrics_addr: Option<std::net::SocketAddr>,
    },
    /// Read Kafka, filter, write outputs (the `process` section, or a Logstash pipeline file).
    Process {
        #[arg(long)]
        config: PathBuf,
        /// The file's dialect: our YAML, or a Logstash pipeline file as the seed has it.
        #[arg(long, value_enum, default_value_t = Dialect::Strom)]
        from: Dialect,
        /// Serve Prometheus metrics at http://ADDR/metrics.
        #[arg(long)]
        metrics_addr: Option<String>,
    },
    /// Load and validate a config; print a one-line summary or the error.
    Check {
        #[arg(long)]
        config: PathBuf,
        /// The file's dialect: our YAML, a Logstash pipeline file, or a filebeat.yml.
        #[arg(long, value_enum, default_value_t = Dialect::Strom)]
        from: Dialect,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Dialect {
    Strom,
    Logstash,
    Filebeat,
}

fn load(path: &std::path::Path, from: Dialect) -> Result<PipelineConfig, String> {
    match from {
        Dialect::Strom => PipelineConfig::load(path).map_err(|e| e.to_string()),
        Dialect::Logstash => logstash::load(path)
            .map(|process| PipelineConfig { ship: None, process: Some(process) })
            .map_err(|e| e.to_string()),
        Dialect::Filebeat => filebeat::load(path)
            .map(|ship| PipelineConfig { ship: Some(ship), process: None })
            .map_err(|e| e.to_string()),
    }
}

/// `ship`: tail files into Kafka until SIGTERM or SIGINT; exit 0 after a clean stop.
fn ship(path: &std::path::Path, metrics_addr: Option<std::net::SocketAddr>) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let config = match PipelineConfig::load(path) {
        Ok(PipelineConfig { ship: Some(ship), .. }) => ship,
        Ok(_) => {
            eprintln!("{}: no `ship` section", path.display());
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let metrics = std::sync::Arc::new(ShipMetrics::default());
        if let Some(addr) = metrics_addr {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(listener) => {
                    tokio::spawn(strom_pipeline::ship::metrics::serve(listener, metrics.clone()));
                }
                Err(e) => {
                    eprintln!("failed to listen for metrics on {addr}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        match strom_pipeline::ship::run(config, Tuning::default(), metrics, stop_signal()).await {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("strom-pipeline ship: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Completes at the first SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Check { config, from } => match load(config, *from) {
            Ok(loaded) => {
                println!("{}: ok; {}", config.display(), loaded.summary());
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("{message}");
                ExitCode::FAILURE
            }
        },
        Command::Ship { config, metrics_addr } => ship(config, *metrics_addr),
        Command::Process { config, from, metrics_addr } => match load(config, *from).map(|c| c.process) {
            Ok(Some(p)) => run_process(p, metrics_addr.clone()),
            Ok(None) => {
                eprintln!("{}: no `process` section", config.display());
                ExitCode::FAILURE
            }
            Err(message) => {
                eprintln!("{message}");
                ExitCode::FAILURE
            }
        },
    }
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// A watch that turns true on SIGTERM or SIGINT.
fn stop_on_signals() -> std::io::Result<tokio::sync::watch::Receiver<bool>> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("stopping: finishing the batch in hand");
        let _ = tx.send(true);
    });
    Ok(rx)
}

fn run_process(process: strom_pipeline::config::ProcessConfig, metrics_addr: Option<String>) -> ExitCode {
    use std::sync::Arc;
    use strom_pipeline::metrics_http::serve;
    use strom_pipeline::process::metrics::ProcessMetrics;
    init_logs();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strom-pipeline process: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let metrics = Arc::new(ProcessMetrics::default());
        if let Some(addr) = metrics_addr {
            match tokio::net::TcpListener::bind(&addr).await {
                Ok(l) => {
                    let m = metrics.clone();
                    tokio::spawn(serve(l, Arc::new(move || m.render())));
                }
                Err(e) => {
                    eprintln!("strom-pipeline process: cannot listen on {addr} for metrics: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        let stop = match stop_on_signals() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("strom-pipeline process: cannot handle signals: {e}");
                return ExitCode::FAILURE;
            }
        };
        match strom_pipeline::process::run::run(process, metrics, stop).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("strom-pipeline process: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
