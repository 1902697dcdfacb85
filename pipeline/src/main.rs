//! `strom-pipeline`: for now it reads and checks configurations; shipping and processing come next.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use strom_pipeline::config::PipelineConfig;
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
        Command::Ship { config } => (config, "ship"),
        Command::Process { config, from, metrics_addr } => {
            let process = match load(config, *from).map(|c| c.process) {
                Ok(Some(p)) => p,
                Ok(None) => {
                    eprintln!("{}: no `process` section", config.display());
                    return ExitCode::FAILURE;
                }
                Err(message) => {
                    eprintln!("{message}");
                    return ExitCode::FAILURE;
                }
            };
            return run_process(process, metrics_addr.clone());
        }
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
    use strom_pipeline::process::metrics::{serve, ProcessMetrics};
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
