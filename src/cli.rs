//! The command line.

use std::path::PathBuf;

use clap::Parser;

/// Train a grid of neural networks on MNIST, in parallel and reproducibly, and write per-epoch
/// metrics to CSV.
///
/// The experiment file (TOML) declares the grid: layer sizes, learning rate eta, mini-batch size,
/// epochs, seeds, cost, initialisation and L2 lambda; every combination is one run. See
/// README.md for the format, or start from experiments/eta_sweep.toml.
#[derive(Debug, Parser)]
#[command(name = "runner", version, about, long_about)]
pub struct Cli {
    /// The experiment file, e.g. experiments/eta_sweep.toml.
    #[arg(value_name = "EXPERIMENT.toml")]
    pub experiment: PathBuf,

    /// Results folder [default: results/<name of the experiment>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Number of worker threads [default: one per core]. Results do not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,

    /// No progress bar, no log lines: only the final table and errors.
    #[arg(long, short)]
    pub quiet: bool,
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
        assert_eq!(cli.experiment, PathBuf::from("x.toml"));
        assert_eq!(cli.out, Some(PathBuf::from("o")));
        assert_eq!(cli.threads, Some(2));
        assert!(Cli::try_parse_from(["runner", "x.toml", "--threads", "0"]).is_err());
    }
}
