//! `cams-operator`: wires the command line to the subcommands.

use std::process::ExitCode;

use clap::Parser;

use cams_operator::cli::{Cli, Command};
use cams_operator::commands;

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Run(args) => commands::run(*args).await,
        Command::Crd => commands::crd_yaml().map(|yaml| print!("{yaml}")),
        Command::Call(args) => commands::call(*args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line on stderr, so a refused setting reads well in `kubectl logs`.
            eprintln!("{}", commands::error_line(&error));
            ExitCode::FAILURE
        }
    }
}
