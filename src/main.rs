use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use runner::cli::Cli;
use runner::experiment::Experiment;
use runner::sweep::{final_table, run_sweep, SweepOptions};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let exp = Experiment::from_file(&cli.experiment)?;
    let opts = SweepOptions {
        out: cli.out,
        threads: cli.threads.map(usize::from),
        progress_bar: true,
        quiet: cli.quiet,
    };
    let stop = AtomicBool::new(false);
    let report = run_sweep(&exp, &opts, &stop)?;
    println!("{}", final_table(&exp, &report.rows));
    println!(
        "{} runs finished in {:.1} s; results in {}",
        report.rows.len(),
        report.seconds,
        report.dir.display()
    );
    if !report.failures.is_empty() {
        eprintln!("{} runs failed:", report.failures.len());
        for f in &report.failures {
            eprintln!(
                "  {} {}: {:#}",
                f.settings.id(),
                f.settings.label(),
                f.error
            );
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
