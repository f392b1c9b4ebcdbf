use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{anyhow, Result};
use clap::Parser;
use runner::cli::{Cli, Command, DataAction, DataArgs, Format, RunArgs};
use runner::config::Experiment;
use runner::report::export::{Csv, Exporter, Json, Markdown};
use runner::report::{summary_of, write_report};
use runner::store::merge::merge;
use runner::store::shard::Shard;
use runner::sweep::{check, final_table, run_sweep, SweepOptions, SweepReport};

/// Writes to standard output. A closed pipe (`runner summary DIR | head -1`) ends the program
/// quietly with success, as `ls | head` does, instead of a panic.
fn write_out(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|_| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        runner::say!("error: writing to standard output: {e}");
        std::process::exit(2);
    }
}

macro_rules! out {
    ($($arg:tt)*) => { write_out(format_args!($($arg)*)) };
}

macro_rules! outln {
    ($($arg:tt)*) => { write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Set by the first Ctrl-C or SIGTERM: the sweep stops cleanly.
static STOP: AtomicBool = AtomicBool::new(false);

/// Exit code of a sweep stopped by Ctrl-C or SIGTERM (128 + SIGINT).
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            runner::say!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if let Some(text) = unknown_command(std::env::args_os().nth(1)) {
                runner::say!("error: {text}");
                return Ok(ExitCode::from(2));
            }
            e.exit()
        }
    };
    match cli.command {
        None => train(cli.run),
        Some(Command::Check {
            experiment,
            out,
            shard,
            threads,
        }) => check_command(&experiment, out, shard.as_deref(), threads.map(usize::from)),
        Some(Command::Summary { dir, format }) => summary_command(&dir, format),
        Some(Command::Plot { dir }) => {
            let (_, written) = write_report(&dir)?;
            for p in written {
                outln!("{}", p.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::New { name }) => {
            let path =
                runner::config::write_starter(Path::new("."), &name).map_err(|e| anyhow!(e))?;
            outln!(
                "wrote {}: edit it, then `runner check {0}` and `runner {0}`",
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Merge { out, dirs }) => merge_command(&out, &dirs),
        Some(Command::Data(args)) => data_command(args),
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "runner", &mut out);
            out!("{}", String::from_utf8_lossy(&out));
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Man) => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut out)?;
            out!("{}", String::from_utf8_lossy(&out));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `runner data`: where the data set comes from and why (exit 1 when there is none), or
/// `runner data fetch`.
fn data_command(args: DataArgs) -> Result<ExitCode> {
    use runner::data::{fetch, locate, DatasetKind};
    match args.action {
        None => {
            let located = match &args.experiment {
                Some(path) => Experiment::from_file(path)?.locate_data(),
                None => locate::locate(&locate::Request::new(
                    DatasetKind::Mnist,
                    None,
                    Path::new("experiment.toml"),
                )),
            };
            out!("{}", located.describe());
            Ok(if located.source.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Some(DataAction::Fetch { dir, mirrors }) => {
            let dir = dir
                .or_else(|| locate::fetch_dir(DatasetKind::Mnist))
                .ok_or_else(|| {
                    anyhow!(
                        "this platform has no data folder: give one with --dir, or set {}",
                        locate::DATA_DIR_VARIABLE
                    )
                })?;
            let mirrors: Vec<String> = if mirrors.is_empty() {
                fetch::MIRRORS.iter().map(|m| m.to_string()).collect()
            } else {
                mirrors
            };
            let fetched = fetch::fetch(&dir, &mirrors, |line| runner::say!("{line}"))?;
            let downloaded = fetched
                .iter()
                .filter(|f| matches!(f, fetch::Fetched::Downloaded { .. }))
                .count();
            outln!(
                "MNIST is in {} ({downloaded} of 4 files downloaded, every file checked)",
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `runner check`: the file is valid, then the grid, what is done and the time the rest takes.
fn check_command(
    experiment: &Path,
    out: Option<std::path::PathBuf>,
    shard: Option<&str>,
    threads: Option<usize>,
) -> Result<ExitCode> {
    let exp = Experiment::from_file(experiment)?;
    let opts = SweepOptions {
        out,
        shard: parse_shard(shard)?,
        shard_inferred: shard == Some("auto"),
        threads,
        ..SweepOptions::default()
    };
    outln!("{}: valid", experiment.display());
    outln!("{}", check(&exp, &opts)?);
    Ok(ExitCode::SUCCESS)
}

/// `runner summary`: printed even where the folder cannot be written (an archive).
fn summary_command(dir: &Path, format: Format) -> Result<ExitCode> {
    let summary = summary_of(dir)?;
    if let Err(e) = write_report(dir) {
        runner::say!("warning: printing only; could not write the report files: {e:#}");
    }
    for id in &summary.mismatched_runs {
        runner::say!(
            "warning: run {id}: its rows in {} are not the ones its state file records \
             (edited or damaged): left out of the summary; run the experiment again to train it \
             afresh",
            dir.join("metrics.csv").display()
        );
    }
    if let Some(n) = summary.missing_runs.filter(|&n| n > 0) {
        runner::say!(
            "warning: {n} runs of the experiment's grid are not in {} yet (never started, or in \
             a shard not merged)",
            dir.display()
        );
    }
    if summary.unfinished_runs > 0 {
        runner::say!(
            "warning: {} runs of {} had not finished and are left out",
            summary.unfinished_runs,
            dir.join("metrics.csv").display()
        );
    }
    match format {
        Format::Markdown => out!("{}", Markdown.export(&summary)?),
        Format::Csv => out!("{}", Csv.export(&summary)?),
        Format::Json => outln!("{}", Json.export(&summary)?),
    }
    Ok(ExitCode::SUCCESS)
}

/// `runner merge`: exit 1 when runs of the grid are in none of the folders.
fn merge_command(out: &Path, dirs: &[std::path::PathBuf]) -> Result<ExitCode> {
    let report = merge(out, dirs)?;
    outln!("merged {} runs into {}", report.runs, out.display());
    for (id, dir) in &report.refused {
        runner::say!(
            "refused: run {id} in '{}': its rows in metrics.csv are not the ones its state \
             file records (missing or edited)",
            dir.display()
        );
    }
    // one line per pair of folders, not per run: re-merging over a merge meets every run twice
    let mut pairs: Vec<(&Path, &Path, Vec<&str>)> = Vec::new();
    for (id, kept, skipped) in &report.duplicated {
        match pairs
            .iter_mut()
            .find(|(k, s, _)| *k == kept.as_path() && *s == skipped.as_path())
        {
            Some((_, _, ids)) => ids.push(id),
            None => pairs.push((kept, skipped, vec![id])),
        }
    }
    for (kept, skipped, ids) in &pairs {
        outln!(
            "duplicated: {} in both '{}' and '{}' (kept from the first){}",
            if ids.len() == 1 {
                format!("run {}", ids[0])
            } else {
                format!("{} runs", ids.len())
            },
            kept.display(),
            skipped.display(),
            if ids.len() > 1 && ids.len() <= 3 {
                format!(": {}", ids.join(", "))
            } else {
                String::new()
            }
        );
    }
    match write_report(out) {
        Ok(_) => outln!("{}", written_where(out)),
        Err(e) => runner::say!(
            "warning: could not write the summary and plots: {e:#} (runner summary {} tries again)",
            out.display()
        ),
    }
    if report.missing.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    runner::say!(
        "{} runs of the grid are in none of the folders:",
        report.missing.len()
    );
    for r in &report.missing {
        runner::say!("  {} {}", r.id(), r.label());
    }
    Ok(ExitCode::from(1))
}

/// A first word that is neither a command nor a file (`runner report DIR`): clap would say "the
/// subcommand 'DIR' cannot be used with '<EXPERIMENT.toml>'"; this says what there is instead.
fn unknown_command(first: Option<std::ffi::OsString>) -> Option<String> {
    use clap::CommandFactory;
    let first = first?.into_string().ok()?;
    let commands: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|n| n != "help")
        .collect();
    if first.starts_with('-') || commands.contains(&first) || Path::new(&first).exists() {
        return None;
    }
    Some(format!(
        "'{first}' is neither a command nor an experiment file: the commands are {} (runner \
         --help), and an experiment is run as `runner FILE.toml`{}",
        commands.join(", "),
        if ["report", "show", "summarize", "summarise"].contains(&first.as_str()) {
            "; a results folder is summarised with `runner summary DIR`"
        } else {
            ""
        }
    ))
}

/// Where a results folder's summary, plots and report are, as the commands print it.
fn written_where(dir: &Path) -> String {
    format!(
        "summary, plots and report: {}, {}, {}",
        dir.join("summary.md").display(),
        dir.join("plots").display(),
        dir.join("report.html").display()
    )
}

fn parse_shard(text: Option<&str>) -> Result<Option<Shard>> {
    text.map(|t| Shard::parse(t, |k| std::env::var(k).ok()).map_err(|e| anyhow!("--shard: {e}")))
        .transpose()
}

fn train(args: RunArgs) -> Result<ExitCode> {
    // what runs outside the sweep's own pool (loading the data set) uses as many threads too
    if let Some(n) = args.threads {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(usize::from(n))
            .build_global();
    }
    let path = args.experiment.expect("clap requires the experiment");
    let exp = Experiment::from_file(&path)?;
    let opts = SweepOptions {
        out: args.out,
        threads: args.threads.map(usize::from),
        progress_bar: true,
        quiet: args.quiet,
        fresh: args.fresh,
        shard: parse_shard(args.shard.as_deref())?,
        shard_inferred: args.shard.as_deref() == Some("auto"),
        yes: args.yes,
        no_fuse: args.no_fuse,
    };
    ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            runner::say!("\ninterrupted again: exiting at once; finished epochs are on disk");
            std::process::exit(EXIT_INTERRUPTED.into());
        }
        runner::say!(
            "\nstopping: the epochs in flight are abandoned, everything finished is saved \
             (press Ctrl-C again to exit at once)"
        );
    })?;
    let report = run_sweep(&exp, &opts, &STOP)?;
    if !report.rows.is_empty() {
        outln!("{}", final_table(&exp, &report.rows));
    }
    print_answers(&exp, &report);
    let mut code = ExitCode::SUCCESS;
    if report.interrupted {
        outln!(
            "interrupted: {} of {} runs finished and saved in {}; run the same command again to resume",
            report.rows.len(),
            report.planned,
            report.dir.display()
        );
        code = ExitCode::from(EXIT_INTERRUPTED);
    } else {
        outln!(
            "{} runs finished ({} of them earlier) in {:.1} s; results in {}",
            report.rows.len(),
            report.resumed,
            report.seconds,
            report.dir.display()
        );
    }
    if !report.failures.is_empty() {
        runner::say!("{} runs failed:", report.failures.len());
        for f in &report.failures {
            runner::say!(
                "  {} {}: {:#}",
                f.settings.id(),
                f.settings.label(),
                f.error
            );
        }
        code = ExitCode::from(1);
    }
    Ok(code)
}

/// The summary's answers after a sweep, where the report went, and the sweep's warnings.
fn print_answers(exp: &Experiment, report: &SweepReport) {
    // a search that computed something before it trained has an answer without runs
    let computed =
        runner::store::search_file(exp.search()).is_some_and(|f| report.dir.join(f).is_file());
    if !report.rows.is_empty() || computed {
        match write_report(&report.dir) {
            Ok((summary, _)) => {
                if !summary.answers.is_empty() {
                    outln!("");
                    for a in &summary.answers {
                        outln!("{}\n", a.replace("**", ""));
                    }
                }
                outln!("{}", written_where(&report.dir));
            }
            Err(e) => runner::say!("warning: could not write the summary and plots: {e:#}"),
        }
    }
    for w in &report.warnings {
        runner::say!("warning: {w}");
    }
}
