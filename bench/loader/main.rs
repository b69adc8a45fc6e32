//! `make bench`'s load generator and measuring harness (built as the cargo example
//! `bench-loader`; `bench/run.sh` drives it). Subcommands:
//!
//! - `load`: creates N ChatGroups (and their credentials Secret) concurrently through the API,
//!   with the operator stopped, as `kubectl apply` would (with its last-applied annotation).
//! - `seed`: adds the groups to the CAMS simulator and sets the tenant's latency and bucket.
//! - `measure`: watches the namespace, starts the operator binary (the clock starts at
//!   spawn), follows it until the scenario is done (for `drift`, editing groups out of band
//!   on the way) and appends one JSON record of figures.
//! - `report`: turns the records and the criterion figures into one Markdown table.
//!
//! Every step prints progress to stderr at least every two seconds.

mod drift;
mod endpoints;
mod load;
mod measure;
mod procfs;
mod record;
mod report;
mod scans;
mod seed;
mod table;
mod watch;

use clap::{Parser, Subcommand};

/// The credentials Secret every bench ChatGroup references.
const SECRET_NAME: &str = "cams-credentials";

#[derive(Parser)]
#[command(
    name = "bench-loader",
    about = "make bench: load generator and harness"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create N ChatGroups concurrently (operator stopped).
    Load(load::LoadArgs),
    /// Add the groups to the simulator and set the tenant's faults.
    Seed(seed::SeedArgs),
    /// Run the operator and measure one scenario.
    Measure(measure::MeasureArgs),
    /// Print the table (and write the results file and the README section).
    Report(report::ReportArgs),
}

/// A progress line on stderr.
fn say(msg: impl AsRef<str>) {
    eprintln!("    {}", msg.as_ref());
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Load(a) => load::load(a).await,
        Command::Seed(a) => seed::seed(a).await,
        Command::Measure(a) => measure::measure(a).await,
        Command::Report(a) => report::report(a),
    }
}
