//! `stromctl`: what the seed does with kafka-topics.sh, kafka-console-producer.sh,
//! kafka-console-consumer.sh and kafka-consumer-groups.sh. Errors are one line and exit 1.

mod client;
mod consume;
mod groups;
mod partitions;
mod produce;
mod topics;
mod up;
mod zk;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "stromctl", version, about = "Daily tools for Strom clusters")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the cluster is: any broker's address.
#[derive(Args, Clone)]
pub struct Bootstrap {
    /// host:port of one or more brokers (comma separated).
    #[arg(long = "bootstrap-server", alias = "broker-list", default_value = "127.0.0.1:9092", global = true)]
    pub bootstrap_server: String,
    /// Seconds to wait for the cluster before giving up.
    #[arg(long, default_value_t = 30, global = true)]
    pub timeout: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Create, list, describe and delete topics.
    Topics {
        #[command(subcommand)]
        action: topics::Action,
        #[command(flatten)]
        bootstrap: Bootstrap,
    },
    /// Send lines from stdin as records.
    Produce(produce::Opts),
    /// Print records of a topic.
    Consume(consume::Opts),
    /// List and describe consumer groups (members, assignments, lag).
    Groups {
        #[command(subcommand)]
        action: groups::Action,
        #[command(flatten)]
        bootstrap: Bootstrap,
    },
    /// Reassign partitions (kafka-reassign-partitions.sh).
    Partitions {
        #[command(subcommand)]
        action: partitions::Action,
        #[command(flatten)]
        bootstrap: Bootstrap,
    },
    /// Broker operations: drain a broker of its replicas.
    Brokers {
        #[command(subcommand)]
        action: partitions::BrokerAction,
        #[command(flatten)]
        bootstrap: Bootstrap,
    },
    /// Run CoordinatorEnsemble, BrokerCluster and Topic resources as local processes (no
    /// Kubernetes): `stromctl up examples/k8s`.
    Up(up::Opts),
    /// Stop the `stromctl up` running on a state directory (`--purge`: and delete its data).
    Down(up::DownOpts),
    /// The replicas of a state directory and whether they run.
    Status(up::StateOpts),
    /// A replica's log (`kafka-0`, `zk-2`), `-f` to follow it.
    Logs(up::LogsOpts),
    /// The coordinator ensemble at a glance (like `zkServer.sh status` on every server).
    Zk {
        #[command(subcommand)]
        action: zk::Action,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Topics { action, bootstrap } => topics::run(action, &bootstrap),
        Command::Produce(o) => produce::run(o),
        Command::Consume(o) => consume::run(o),
        Command::Groups { action, bootstrap } => groups::run(action, &bootstrap),
        Command::Partitions { action, bootstrap } => partitions::run(action, &bootstrap),
        Command::Brokers { action, bootstrap } => partitions::run_brokers(action, &bootstrap),
        Command::Up(o) => up::run(o),
        Command::Down(o) => up::down(o),
        Command::Status(o) => up::status(o),
        Command::Logs(o) => up::logs(o),
        Command::Zk { action } => zk::run(action).map_err(client::CtlError::Usage),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stromctl: {e}");
            ExitCode::FAILURE
        }
    }
}
