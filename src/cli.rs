//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Train a grid of neural networks on MNIST, in parallel and reproducibly, and write per-epoch
/// metrics to CSV.
///
/// The experiment file (TOML) declares the grid: layer sizes, learning rate eta, mini-batch size,
/// epochs, seeds, cost, initialisation and L2 lambda; every combination is one run. Running the
/// same experiment again resumes it: finished runs are kept, unfinished ones trained again.
/// See docs/experiment-file.md for the format, or start with `runner new NAME`.
#[derive(Debug, Parser)]
#[command(
    name = "runner",
    version,
    about,
    long_about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,
}

/// Training an experiment (the default command).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The experiment file, e.g. experiments/eta_sweep.toml.
    #[arg(value_name = "EXPERIMENT.toml", required = true)]
    pub experiment: Option<PathBuf>,

    /// Results folder [default: results/<name of the experiment>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Number of worker threads [default: one per core]. Results do not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,

    /// No progress bar and no log lines: only the final table and errors.
    #[arg(long, short)]
    pub quiet: bool,

    /// Delete the results already in the results folder and start afresh.
    #[arg(long)]
    pub fresh: bool,

    /// Train only share I of N of the grid (e.g. 2/4), or `auto` to read a Slurm job array's
    /// SLURM_ARRAY_TASK_ID with RUNNER_SHARD_COUNT (else SLURM_ARRAY_TASK_COUNT, which a rerun
    /// of one index does not carry) or a Kubernetes Indexed Job's JOB_COMPLETION_INDEX (with
    /// RUNNER_SHARD_COUNT). Merge the shards with `runner merge`.
    #[arg(long, value_name = "I/N|auto")]
    pub shard: Option<String>,

    /// Start even a grid of more than 10,000 runs.
    #[arg(long)]
    pub yes: bool,

    /// Train every run alone instead of fusing runs that differ only in eta, lambda or cost
    /// into one lockstep group (the results are bit-for-bit the same; fusing is faster).
    #[arg(long)]
    pub no_fuse: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate an experiment file and print the grid size, the runs already finished in its
    /// results folder and an estimate of the time the rest will take.
    Check {
        /// The experiment file.
        #[arg(value_name = "EXPERIMENT.toml")]
        experiment: PathBuf,
        /// Results folder [default: results/<name of the experiment>].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Check only share I of N of the grid.
        #[arg(long, value_name = "I/N|auto")]
        shard: Option<String>,
        /// Number of worker threads the estimate assumes [default: one per core].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: Option<u16>,
    },
    /// Print the summary of a results folder: runs grouped by every setting but the seed, mean and
    /// spread over seeds, best first, and the answer for each swept setting. Also writes
    /// summary.md, the plots and report.html there.
    Summary {
        /// The results folder (holding metrics.csv).
        #[arg(value_name = "RESULTS_DIR")]
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Markdown)]
        format: Format,
    },
    /// Draw the plots of a results folder into RESULTS_DIR/plots/ (SVG) and write report.html.
    Plot {
        /// The results folder (holding metrics.csv).
        #[arg(value_name = "RESULTS_DIR")]
        dir: PathBuf,
    },
    /// Write NAME.toml, a commented starter experiment (the chapter 1 network over four learning
    /// rates, every other key explained), to edit and run with `runner NAME.toml`.
    New {
        /// The experiment's name: letters, digits, '-', '_' and '.'.
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Merge the results folders of shards (or of any runs of the same experiment) into OUT,
    /// checking that they come from the same experiment and reporting missing or duplicated runs.
    Merge {
        /// The merged results folder (its own results, if any, are kept).
        #[arg(value_name = "OUT")]
        out: PathBuf,
        /// The results folders to merge.
        #[arg(value_name = "DIR", required = true)]
        dirs: Vec<PathBuf>,
    },
    /// Say which data set an experiment would train on, and why: every place looked at, in order
    /// (data.dir, $RUNNER_DATA_DIR/mnist, data/mnist here or above the experiment file, the
    /// platform's data folder, the copy built into runner). `runner data fetch` downloads MNIST.
    Data(DataArgs),
    /// Print the completion script for SHELL (bash, zsh, fish, elvish, powershell), e.g.
    /// `runner completions bash > ~/.local/share/bash-completion/completions/runner`.
    Completions {
        /// The shell.
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print runner's man page (roff), e.g. `runner man > ~/.local/share/man/man1/runner.1`.
    Man,
}

/// `runner data`: where the data set comes from, or `runner data fetch`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DataArgs {
    #[command(subcommand)]
    pub action: Option<DataAction>,
    /// The experiment file whose data set to look for [default: MNIST, for an experiment in the
    /// current folder].
    #[arg(value_name = "EXPERIMENT.toml")]
    pub experiment: Option<PathBuf>,
}

/// What `runner data` can do besides reporting.
#[derive(Debug, Subcommand)]
pub enum DataAction {
    /// Download MNIST's four files from the public mirrors (tried in order), check each one's
    /// sha256 and write it whole. Files already there and right are kept.
    Fetch {
        /// The folder to write them to [default: $RUNNER_DATA_DIR/mnist when the variable is set,
        /// else runner/mnist in the platform's data folder, ~/.local/share on Linux].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// A mirror to try instead of the usual ones: a URL the file names are appended to.
        /// Repeat it for several, tried in order.
        #[arg(long = "mirror", value_name = "URL")]
        mirrors: Vec<String>,
    },
}

/// Formats of `runner summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Markdown,
    Csv,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_the_documented_flags() {
        let cli =
            Cli::try_parse_from(["runner", "x.toml", "--out", "o", "--threads", "2"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.run.experiment, Some(PathBuf::from("x.toml")));
        assert_eq!(cli.run.out, Some(PathBuf::from("o")));
        assert_eq!(cli.run.threads, Some(2));
        assert!(Cli::try_parse_from(["runner", "x.toml", "--threads", "0"]).is_err());
        assert!(Cli::try_parse_from(["runner"]).is_err());
    }

    #[test]
    fn parses_subcommands() {
        let cli = Cli::try_parse_from(["runner", "merge", "out", "a", "b"]).unwrap();
        match cli.command {
            Some(Command::Merge { out, dirs }) => {
                assert_eq!(out, PathBuf::from("out"));
                assert_eq!(dirs.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["runner", "check", "x.toml"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Check { .. })));
        let cli = Cli::try_parse_from(["runner", "data", "x.toml"]).unwrap();
        match cli.command {
            Some(Command::Data(DataArgs {
                action: None,
                experiment: Some(e),
            })) => assert_eq!(e, PathBuf::from("x.toml")),
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from([
            "runner", "data", "fetch", "--dir", "d", "--mirror", "a", "--mirror", "b",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Data(DataArgs {
                action: Some(DataAction::Fetch { dir, mirrors }),
                experiment: None,
            })) => {
                assert_eq!(dir, Some(PathBuf::from("d")));
                assert_eq!(mirrors, ["a", "b"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["runner", "completions", "tcsh"]).is_err());
        assert!(Cli::try_parse_from(["runner", "completions", "zsh"]).is_ok());
    }
}
