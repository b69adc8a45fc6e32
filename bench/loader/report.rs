//! `report`: prints the table of a run's records, writes it to the results file and, when
//! asked, into the README's Performance section; fails (leaving the README alone) when a
//! record broke an invariant.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::procfs::machine;
use crate::record::read_all;
use crate::table::table;

#[derive(Args)]
pub struct ReportArgs {
    /// The JSON records of this run.
    #[arg(long)]
    results: PathBuf,
    /// Criterion's output folder.
    #[arg(long)]
    criterion: PathBuf,
    /// Write the Markdown results file here.
    #[arg(long)]
    markdown: PathBuf,
    /// Replace the table between the bench markers in this README.
    #[arg(long)]
    readme: Option<PathBuf>,
    /// Seconds `make bench` took so far.
    #[arg(long)]
    wall_secs: Option<u64>,
    /// The command that reproduces it.
    #[arg(long, default_value = "make bench")]
    command: String,
}

/// Prints the table and writes the results file (and the README section).
pub fn report(a: ReportArgs) -> anyhow::Result<()> {
    let records = read_all(&a.results)?;
    let (table, all_met) = table(&records, &a.criterion);
    let date = chrono::Local::now().format("%Y-%m-%d %H:%M %Z");
    let facts = format!(
        "Measured {date} on {}; revision {}{}.",
        machine(),
        revision(),
        a.wall_secs
            .map(|s| format!("; `make bench` took {}m{:02}s", s / 60, s % 60))
            .unwrap_or_default()
    );
    println!("\n{table}\n{facts}\n");
    println!(
        "{}",
        if all_met {
            "Every target met."
        } else {
            "Some targets missed (see the Target column)."
        }
    );
    let markdown = format!(
        "# make bench — {date}\n\n{facts}\n\nReproduce: `{}`\n\n{table}\n",
        a.command
    );
    std::fs::write(&a.markdown, markdown)?;
    eprintln!("    wrote {}", a.markdown.display());
    let broken: Vec<String> = records
        .iter()
        .flat_map(|r| {
            r.violations
                .iter()
                .map(move |v| format!("{}: {v}", r.label))
        })
        .collect();
    if !broken.is_empty() {
        for v in &broken {
            eprintln!("    !!!!!! INVARIANT BROKEN: {v}");
        }
        if a.readme.is_some() {
            eprintln!("    README not updated");
        }
        anyhow::bail!("{} invariant(s) broken", broken.len());
    }
    if let Some(readme) = &a.readme {
        update_readme(readme, &facts, &table)?;
    }
    Ok(())
}

/// `git describe --always --dirty` (empty if git cannot tell).
fn revision() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Replaces what stands between the README's bench markers with `facts` and `table`.
fn update_readme(readme: &Path, facts: &str, table: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(readme)?;
    let (begin, end) = ("<!-- bench:begin -->", "<!-- bench:end -->");
    match (text.find(begin), text.find(end)) {
        (Some(b), Some(e)) if b < e => {
            let updated = format!("{}{begin}\n{facts}\n\n{table}{}", &text[..b], &text[e..]);
            std::fs::write(readme, updated)?;
            eprintln!(
                "    updated the Performance section of {}",
                readme.display()
            );
        }
        _ => eprintln!(
            "    {} has no {begin} … {end} markers; not updated",
            readme.display()
        ),
    }
    Ok(())
}
