//! `strom-pipeline`: for now it reads and checks configurations; shipping and processing come next.

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
    /// Read Kafka, filter, write outputs (the `process` section).
    Process {
        #[arg(long)]
        config: PathBuf,
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
    let (config, role) = match &cli.command {
        Command::Check { config, from } => match load(config, *from) {
            Ok(loaded) => {
                println!("{}: ok; {}", config.display(), loaded.summary());
                return ExitCode::SUCCESS;
            }
            Err(message) => {
                eprintln!("{message}");
                return ExitCode::FAILURE;
            }
        },
        Command::Ship { config, metrics_addr } => return ship(config, *metrics_addr),
        Command::Process { config } => (config, "process"),
    };
    let loaded = match PipelineConfig::load(config) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let has_section = if role == "ship" { loaded.ship.is_some() } else { loaded.process.is_some() };
    if !has_section {
        eprintln!("{}: no `{role}` section", config.display());
        return ExitCode::FAILURE;
    }
    eprintln!("strom-pipeline {role}: the config is valid, but running is not implemented in this build yet");
    ExitCode::from(2)
}
