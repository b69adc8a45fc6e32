//! `cams-operator`: wires the command line to the subcommands.

use clap::Parser;

use cams_operator::cli::{Cli, Command};
use cams_operator::commands;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => commands::run(*args).await,
        Command::Crd => {
            print!("{}", commands::crd_yaml()?);
            Ok(())
        }
        Command::Call(args) => commands::call(*args).await,
    }
}
