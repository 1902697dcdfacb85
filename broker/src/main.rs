use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Strom's Kafka-compatible broker. Reads a Kafka server.properties unchanged.
#[derive(Parser)]
#[command(name = "strom-broker", version = strom_broker::VERSION)]
struct Args {
    /// Kafka-style server.properties.
    config: PathBuf,
    /// Overrides a setting, as kafka-server-start.sh --override key=value.
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Log as JSON lines.
    #[arg(long)]
    json_logs: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if args.json_logs {
        tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let mut config = match strom_broker::config::BrokerConfig::load(&args.config, &args.overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strom-broker: {e}");
            return ExitCode::from(2);
        }
    };
    if let (None, Some(file)) = (&config.broker_rack, &config.rack_annotations_file) {
        match strom_broker::rack::wait_for(file, std::time::Duration::from_secs(120)) {
            Ok(rack) => {
                tracing::info!(rack = %rack, "broker.rack from the pod's strom.io/rack annotation");
                config.broker_rack = Some(rack);
            }
            Err(e) => {
                eprintln!("strom-broker: {e}");
                return ExitCode::from(1);
            }
        }
    }
    tune_allocator();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(async {
        let running = match strom_broker::server::start(config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("strom-broker: {e}");
                return ExitCode::from(1);
            }
        };
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        running.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Fetch responses are megabytes each: by default glibc serves those with a fresh mmap and unmaps
/// them on free, so every fetch paid page faults and page clearing for its buffers (most of the
/// broker's CPU under a consumer, by perf). Keeping such blocks in the heap lets them be reused.
fn tune_allocator() {
    // SAFETY: mallopt only adjusts glibc's allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
    }
}
