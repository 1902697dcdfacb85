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
