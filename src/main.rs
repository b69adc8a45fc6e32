//! `cams-operator`: wires the command line to the subcommands.

use std::process::ExitCode;

use cams_operator::cli::{refused_value_line, Cli, Command};
use cams_operator::commands;

// jemalloc instead of glibc's malloc: the watch cache and the inventories are hundreds of
// thousands of small strings, which jemalloc's size classes hold without glibc's per-chunk
// header and 32-byte minimum (`make bench`: peak RSS at 10,000 objects).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// One thread: the operator waits on I/O almost all the time, and a multi-threaded runtime
// spent a quarter of its CPU waking parked workers (futex, eventfd) at 10,000 objects
// (`make bench`, unthrottled converge). Nothing in it blocks a thread.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(error) => {
            match refused_value_line(&error) {
                Some(line) => eprintln!("{line}"),
                None => {
                    let _ = error.print();
                }
            }
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    let result = match cli.command {
        Command::Run(args) => commands::run(*args).await,
        Command::Crd => commands::crd_yaml().map(|yaml| print!("{yaml}")),
        Command::Call(args) => commands::call(*args).await,
        Command::Export(args) => commands::export(*args).await,
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
