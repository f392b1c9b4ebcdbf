//! The experiment file: TOML as written (`raw`), validated in one step (`validate`) into an
//! [`Experiment`], the only form the rest of the program sees.
//!
//! Every mistake is reported before any training starts, as an [`ExperimentError`] that names the
//! file, the line and column, the key, what was given and what is allowed.

use std::path::{Path, PathBuf};

pub mod error;
mod raw;
mod validate;
mod values;

pub use error::ExperimentError;

use anyhow::Context as _;

use crate::data::locate::{self, Located, NotFound, Request, Source as DataSource};
use crate::data::{Dataset, DatasetKind};
use crate::grid::{Grid, RunSettings};
use crate::metrics::Monitor;
use crate::search::Search;
use values::Source;

/// The `[data]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSettings {
    /// Which data set (and so which checksums): `mnist` (default), `fashion-mnist` or `idx`.
    pub dataset: DatasetKind,
    /// The folder as written in the file (default: the data set's, `data/mnist` for MNIST).
    pub dir: PathBuf,
    /// Where `dir` is written (line, column), for the error when it does not exist.
    pub dir_location: Option<(usize, usize)>,
    /// Number of training examples: the first `train_size` of the training split.
    pub train_size: usize,
    /// Validation examples: the last `validation_size` images of the training file.
    pub validation_size: usize,
    pub monitor: Monitor,
}

/// A training-set size the experiment asks for, and where it is written (`file:line:col:
/// `key``), so that a data set smaller than the file expects is reported at the right line.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSizeSource {
    pub value: usize,
    pub place: String,
}

/// A validated experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// The file it was read from.
    path: PathBuf,
    /// The file's text, saved next to the results.
    text: String,
    /// Name of the results folder (default: the file stem).
    name: String,
    description: String,
    data: DataSettings,
    grid: Grid,
    /// Every training-set size written in the file (`[data]`, zips, variants).
    train_sizes: Vec<TrainSizeSource>,
    /// How the runs are chosen: the whole grid, or a search that decides as it trains.
    search: Search,
}

/// The largest experiment file read (64 MB; a million values in a list take about 8 MB).
const MAX_FILE_BYTES: u64 = 64 << 20;

/// The commented starter experiment `runner new` writes.
pub const STARTER: &str = include_str!("starter.toml");

/// Writes `NAME.toml` in `dir` with the starter experiment; refuses an unsafe name or an
/// existing file. Returns the file's path.
pub fn write_starter(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let name = name.strip_suffix(".toml").unwrap_or(name);
    let safe = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !safe {
        return Err(format!(
            "\"{name}\" is not allowed: the name becomes the file NAME.toml and the folder \
             results/NAME, so use letters, digits, '-', '_' and '.' only"
        ));
    }
    let path = dir.join(format!("{name}.toml"));
    if path.exists() {
        return Err(format!(
            "'{}' already exists: choose another name",
            path.display()
        ));
    }
    std::fs::write(&path, STARTER).map_err(|e| format!("writing '{}': {e}", path.display()))?;
    Ok(path)
}

impl Experiment {
    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's text, saved next to the results.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Name of the results folder (default: the file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// `[data]`: the data set, its split and the metrics monitored.
    pub fn data(&self) -> &DataSettings {
        &self.data
    }

    /// The grid of runs.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Every training-set size written in the file (`[data]`, zips, variants).
    pub fn train_sizes(&self) -> &[TrainSizeSource] {
        &self.train_sizes
    }

    /// How the runs are chosen: the whole grid, or a search that decides as it trains.
    pub fn search(&self) -> &Search {
        &self.search
    }
}

impl Experiment {
    /// Reads and validates an experiment file.
    pub fn from_file(path: &Path) -> Result<Experiment, ExperimentError> {
        let error = |location: Option<(usize, usize)>, message: String| ExperimentError {
            path: path.to_path_buf(),
            location,
            key: String::new(),
            message,
        };
        // bounded: `runner /dev/zero` must not read without end
        let mut bytes = Vec::new();
        let read = std::fs::File::open(path).and_then(|f| {
            use std::io::Read;
            f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)
        });
        if let Err(e) = read {
            return Err(error(None, format!("cannot read the experiment file: {e}")));
        }
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(error(
                None,
                format!(
                    "not an experiment file: it is larger than {} MB (an experiment file is a few \
                     lines of TOML)",
                    MAX_FILE_BYTES >> 20
                ),
            ));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = e.utf8_error().valid_up_to();
            let before = String::from_utf8_lossy(&e.as_bytes()[..valid]);
            let byte = e.as_bytes()[valid];
            error(
                Some(values::line_col(&before, valid)),
                format!(
                    "the byte 0x{byte:02x} is not UTF-8 text: an experiment file is TOML, which \
                     is UTF-8 (save it as UTF-8)"
                ),
            )
        })?;
        Self::from_str(&text, path)
    }

    /// Validates the text of an experiment file; `path` names it in errors and gives the default
    /// name.
    pub fn from_str(text: &str, path: &Path) -> Result<Experiment, ExperimentError> {
        let source = Source { path, text };
        let file = raw::parse(text).map_err(|e| {
            source.error(
                "",
                e.span(),
                format!("invalid TOML: {}", e.message().trim_end()),
            )
        })?;
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        validate::experiment(file, source, stem)
    }

    /// Where the experiment's data set comes from, and why ([`locate`]'s rules: `data.dir` when
    /// the file names it, else `$RUNNER_DATA_DIR`, the data set's default folder, the platform's
    /// data folder, the copy built into the binary).
    pub fn locate_data(&self) -> Located {
        let named = self.data.dir_location.map(|_| self.data.dir.clone());
        locate::locate(&Request::new(self.data.dataset, named, &self.path))
    }

    /// Loads the experiment's data set from where [`Self::locate_data`] says; checks every
    /// training-set size the file asks for against it.
    pub fn load_data(&self) -> anyhow::Result<Dataset> {
        let exp = self;
        let located = exp.locate_data();
        let mut data = match located.source {
            Ok(DataSource::Folder(dir)) => {
                Dataset::load(&dir, exp.data.dataset, exp.data.validation_size).with_context(
                    || {
                        format!(
                            "loading the {} data set from '{}'",
                            exp.data.dataset.name(),
                            dir.display()
                        )
                    },
                )?
            }
            Ok(DataSource::BuiltIn) => Dataset::load_built_in_mnist(exp.data.validation_size)?,
            Err(NotFound {
                setting: Some("data.dir"),
                message,
            }) => {
                return Err(ExperimentError {
                    path: exp.path.clone(),
                    location: exp.data.dir_location,
                    key: "data.dir".to_string(),
                    message,
                }
                .into())
            }
            Err(e) => anyhow::bail!("{}", e.message),
        };
        let dir = data.dir.clone();
        // every training-set size the file asks for, wherever it is written, against the data set
        if let Some(t) = exp.train_sizes.iter().find(|t| t.value > data.train.len()) {
            anyhow::bail!(
                "{}: {} is not allowed: train_size must be from 1 to {} ('{}' holds only {} \
             training images after the {} for validation)",
                t.place,
                t.value,
                data.train.len(),
                dir.display(),
                data.train.len(),
                data.validation.len()
            );
        }
        if let Some(n) = exp.grid.expanded_train_size() {
            data.expand_training(n);
        }
        Ok(data)
    }

    /// The seeds of the grid, in order.
    pub fn seeds(&self) -> Vec<u64> {
        self.grid
            .values_of("seed")
            .iter()
            .map(|v| v.as_f64().unwrap_or(1.0) as u64)
            .collect()
    }

    /// Number of distinct runs.
    pub fn run_count(&self) -> u128 {
        self.grid.len()
    }

    /// Every distinct run, in grid order, with the experiment's data settings.
    pub fn runs(&self) -> Vec<RunSettings> {
        self.iter_runs().collect()
    }

    /// The run at `index` of the grid order, with the experiment's data set.
    pub fn run(&self, index: u128) -> RunSettings {
        let mut r = self.grid.get(index);
        r.dataset = self.data.dataset;
        r
    }

    /// The runs one at a time, without building the grid in memory.
    pub fn iter_runs(&self) -> impl Iterator<Item = RunSettings> + '_ {
        (0..self.grid.len()).map(|i| self.run(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::schedule::Schedule;
    use crate::grid::Value;
    use crate::metrics::Metric;
    use crate::nn::maths::{Activation, Cost};
    use crate::nn::params::Init;

    /// A grid's lists, typed, for the assertions.
    trait Lists {
        fn f(&self, name: &str) -> Vec<f64>;
        fn n(&self, name: &str) -> Vec<u64>;
        fn sizes(&self) -> Vec<Vec<usize>>;
    }

    impl Lists for Grid {
        fn f(&self, name: &str) -> Vec<f64> {
            self.values_of(name)
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        }
        fn n(&self, name: &str) -> Vec<u64> {
            self.f(name).into_iter().map(|x| x as u64).collect()
        }
        fn sizes(&self) -> Vec<Vec<usize>> {
            self.values_of("sizes")
                .iter()
                .map(|v| match v {
                    Value::Sizes(s) => s.clone(),
                    other => panic!("{other:?}"),
                })
                .collect()
        }
    }

    fn parse(text: &str) -> Result<Experiment, ExperimentError> {
        Experiment::from_str(text, Path::new("experiments/test.toml"))
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    /// The audit's "weak" inputs: each gets the place, what was given and what is allowed.
    #[test]
    fn the_audits_weak_inputs_get_a_message_that_says_what_is_allowed() {
        let e = err("[grid]\neta = 1e39");
        assert!(
            e.contains("2:7: `grid.eta`: 1e39 is not allowed") && e.contains("3.4e38"),
            "{e}"
        );
        let e = err("[grid]\nlambda = 1e300");
        assert!(
            e.contains("`grid.lambda`: 1e300 is not allowed") && e.contains("3.4e38"),
            "{e}"
        );
        let e = err("[grid]\nsizes = [784, 30.5, 10]");
        assert!(e.contains("30.5 is not a layer size"), "{e}");
        let e = err("[grid]\nbatch_size = { pow2 = [3, 100] }");
        assert!(
            e.contains("`grid.batch_size.pow2`: 3 is not a power of two") && e.contains("2 and 4"),
            "{e}"
        );
        let e = err("[grid]\nbatch_size = { pow2 = [4, 100] }");
        assert!(
            e.contains("100 is not a power of two") && e.contains("64 and 128"),
            "{e}"
        );
        let e = err(&format!("name = \"{}\"", "n".repeat(300)));
        assert!(
            e.contains("1:8: `name`: a string of 300 characters")
                && e.contains("at most 100 characters"),
            "{e}"
        );
        let e = err("name = \".hidden\"");
        assert!(e.contains("not starting with '.'"), "{e}");
        let e = err(
            "[search]\nmode = \"halving\"\nmin_epochs = 5\n[grid]\nepochs = 2\neta = [1.0, 3.0]",
        );
        assert!(
            e.contains("3:14: `search.min_epochs`: 5 is not allowed with epochs = 2"),
            "{e}"
        );
        let e = err("[search]\nmode = \"halving\"\n[grid]\nepochs = 1\neta = [1.0, 3.0]");
        assert!(
            e.contains("`search.min_epochs`: 1 is not allowed with epochs = 1"),
            "{e}"
        );
        // a file named `.toml` would train into the hidden results/.toml
        let e = Experiment::from_str("", Path::new(".toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("taken from its file name, \".toml\""), "{e}");
    }

    #[test]
    fn a_file_that_is_not_text_or_is_endless_is_refused_with_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.toml");
        std::fs::write(&path, b"[grid]\neta = \"\xff\xfe\"\n").unwrap();
        let e = Experiment::from_file(&path).unwrap_err().to_string();
        assert!(
            e.contains("u.toml:2:8: the byte 0xff is not UTF-8 text"),
            "{e}"
        );
        if Path::new("/dev/zero").exists() {
            let e = Experiment::from_file(Path::new("/dev/zero"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("larger than 64 MB"), "{e}");
        }
    }

    #[test]
    fn empty_file_is_the_books_chapter_1_run() {
        let e = parse("").unwrap();
        assert_eq!(e.name, "test");
        assert_eq!(e.grid, Grid::default());
        assert_eq!(e.data.train_size, 50_000);
        assert_eq!(e.data.monitor, Monitor::all());
        assert_eq!(e.data.dir, PathBuf::from("data/mnist"));
        assert_eq!(e.run_count(), 1);
    }

    #[test]
    fn the_issue_example_parses() {
        let e = parse(
            r#"
name = "eta_sweep"
description = "How big should eta be?"
[data]
dir = "data/mnist"
train_size = 50000
monitor = ["train_cost", "train_accuracy", "validation_cost", "validation_accuracy",
           "test_cost", "test_accuracy"]
[grid]
sizes = [[784, 30, 10]]
eta = [0.01, 0.1, 0.5, 1.0, 3.0, 10.0, 100.0]
batch_size = 10
epochs = 30
seed = [1, 2, 3]
cost = "quadratic"
init = "large"
lambda = 0.0
"#,
        )
        .unwrap();
        assert_eq!(e.name, "eta_sweep");
        assert_eq!(e.grid.f("eta").len(), 7);
        assert_eq!(e.grid.n("seed"), vec![1, 2, 3]);
        assert_eq!(e.run_count(), 21);
    }

    #[test]
    fn lists_and_single_values() {
        let e = parse(
            "[grid]\nsizes = [784, 100, 10]\neta = 1\nlambda = [0, 5.0]\ncost = [\"quadratic\", \"cross-entropy\"]\ninit = \"scaled\"\n[data]\nmonitor = [\"test_accuracy\"]\ntrain_size = 1000",
        )
        .unwrap();
        assert_eq!(e.grid.sizes(), vec![vec![784, 100, 10]]);
        assert_eq!(e.grid.f("eta"), vec![1.0]);
        assert_eq!(e.grid.f("lambda"), vec![0.0, 5.0]);
        assert_eq!(
            e.grid.values_of("cost"),
            [
                Value::Cost(Cost::Quadratic),
                Value::Cost(Cost::CrossEntropy)
            ]
        );
        assert_eq!(e.grid.values_of("init"), [Value::Init(Init::Scaled)]);
        assert_eq!(e.data.monitor.metrics(), vec![Metric::TestAccuracy]);
        assert_eq!(e.run_count(), 4);
    }

    #[test]
    fn errors_name_file_line_key_and_what_is_allowed() {
        assert_eq!(
            err("[grid]\neta = [1.0, -0.5]"),
            "experiments/test.toml:2:7: `grid.eta`: -0.5 is not allowed: the learning rate eta must be a finite number > 0, e.g. 3.0 (and from 1.2e-38 to 3.4e38, the smallest normal and the largest f32: training computes in f32)"
        );
        assert_eq!(
            err("[grid]\neta = []"),
            "experiments/test.toml:2:7: `grid.eta`: an empty list is not allowed: give one value or a list of numbers"
        );
        assert!(err("[grid]\neta = nan").contains("nan is not allowed"));
        assert!(err("[grid]\neta = inf").contains("inf is not allowed"));
        let e = err("[grid]\neta = 1e-50");
        assert!(e.contains("is not allowed") && e.contains("1.2e-38"), "{e}");
        assert!(parse("[grid]\neta = 1e-30").is_ok());
        assert!(err("[grid]\neta = \"fast\"").contains(
            "`grid.eta`: expected a number or a list of numbers, found a string \"fast\""
        ));
        assert!(err("[grid]\nlambda = -1").contains("`grid.lambda`: -1 is not allowed"));
        assert!(err("[grid]\nepochs = 0")
            .contains("`grid.epochs`: 0 is not allowed: epochs must be from 1"));
        assert!(err("[grid]\nbatch_size = 0").contains("`grid.batch_size`: 0 is not allowed"));
        assert!(err("[data]\ntrain_size = 100\n[grid]\nbatch_size = 101")
            .contains("the mini-batch size must be from 1 to train_size (100)"));
        assert!(err("[grid]\nseed = -3").contains("a seed is a whole number >= 0"));
        assert!(err("[grid]\nseed = 1.5")
            .contains("expected whole numbers >= 0 (one or a list), found 1.5"));
        assert!(err("[data]\ntrain_size = 60000").contains("train_size must be from 1 to 50000"));
    }

    #[test]
    fn layer_sizes_are_checked_against_mnist() {
        assert!(err("[grid]\nsizes = [785, 30, 10]")
            .contains("[785, 30, 10] is not allowed: for MNIST the first layer must have 784"));
        assert!(err("[grid]\nsizes = [[784, 30, 10], [784, 30, 9]]").contains("[784, 30, 9]"));
        assert!(err("[grid]\nsizes = [784]").contains("at least an input and an output layer"));
        assert!(err("[grid]\nsizes = [784, 0, 10]").contains("a layer of 0 neurons"));
        assert!(err("[grid]\nsizes = 784").contains("expected layer sizes like [784, 30, 10]"));
        assert!(err("[grid]\nsizes = []").contains("an empty list is not allowed"));
    }

    #[test]
    fn unknown_keys_get_a_suggestion() {
        assert_eq!(
            err("[grid]\netaa = 3.0"),
            "experiments/test.toml:2:1: `grid.etaa`: unknown key (did you mean `eta`?); the keys allowed in [grid] are: sizes, hidden, eta, batch_size, epochs, seed, cost, output, init, lambda, activation, momentum, eta_schedule, early_stopping, expand, dropout, seeds, zip"
        );
        assert!(err("[grid]\nlearning_rate = 3.0").contains("did you mean `eta`?"));
        assert!(err("[grid]\nmini_batch_size = 3").contains("did you mean `batch_size`?"));
        assert!(err("[data]\ntrain_sise = 3").contains("did you mean `train_size`?"));
        assert!(err("gird = 1").contains(
            "`gird`: unknown key (did you mean `grid`?); the keys allowed at the top level"
        ));
        assert!(!err("[grid]\nzzzzzz = 1").contains("did you mean"));
    }

    #[test]
    fn choices_and_metrics_are_checked() {
        assert!(err("[grid]\ncost = \"crossentropy\"")
            .contains("\"crossentropy\" is not allowed (did you mean \"cross-entropy\"?): use \"quadratic\" or \"cross-entropy\""));
        assert!(err("[grid]\ninit = \"small\"").contains("use \"large\" or \"scaled\""));
        assert!(err("[data]\nmonitor = [\"test_acc\"]").contains("unknown metric \"test_acc\""));
        let e = err("[data]\nmonitor = []");
        assert!(
            e.contains(
                "`data.monitor`: an empty list is not allowed: list the metrics to compute \
                        after each epoch, from train_cost, train_accuracy"
            ),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_are_located() {
        let e = parse("[grid]\neta = [1.0,\n").unwrap_err();
        assert!(e.message.starts_with("invalid TOML"), "{e}");
        assert!(e.location.is_some(), "{e}");
        assert!(err("grid = 3").contains("expected a table [grid], found 3"));
    }

    #[test]
    fn names_must_be_safe_folder_names() {
        assert!(err("name = \"../etc\"").contains("`name`"));
        assert_eq!(parse("name = \"my-run_2\"").unwrap().name, "my-run_2");
    }

    #[test]
    fn data_sets_and_the_validation_split() {
        let e = parse("[data]\ndataset = \"fashion-mnist\"").unwrap();
        assert_eq!(e.data.dataset, DatasetKind::FashionMnist);
        assert_eq!(
            e.data.dir,
            PathBuf::from("/usr/share/datasets/fashion-mnist")
        );
        assert_eq!(
            (e.data.train_size, e.data.validation_size),
            (50_000, 10_000)
        );
        assert!(e.runs()[0].canonical().ends_with(";dataset=fashion-mnist"));
        let e = parse("[data]\nvalidation_size = 5000").unwrap();
        assert_eq!((e.data.train_size, e.data.validation_size), (55_000, 5_000));
        let e = parse("[data]\nvalidation_size = 0\nmonitor = [\"test_accuracy\"]").unwrap();
        assert_eq!(e.data.train_size, 60_000);
        assert!(err("[data]\nvalidation_size = 0").contains("0 leaves no validation set"));
        assert!(err("[data]\nvalidation_size = 20000\ntrain_size = 50000")
            .contains("train_size must be from 1 to 40000"));
        assert!(err("[data]\ndataset = \"cifar\"")
            .contains("use \"mnist\" or \"fashion-mnist\" or \"idx\""));
        assert!(err("[data]\ndataset = \"idx\"").contains("dataset = \"idx\" needs `dir`"));
        assert!(err("[data]\ndataset = \"idx\"\ndir = \"x\"").contains("needs `train_size`"));
        assert!(err("[data]\nvalidation_size = 60000").contains("from 0 to 59999"));
    }

    #[test]
    fn zipped_settings() {
        let e = parse("[grid]\nseed = [1, 2]\n[[grid.zip]]\ntrain_size = [100, 1000, 10000]\nlambda = [0.01, 0.1, 1.0]\n").unwrap();
        assert_eq!(e.grid.len(), 6);
        let runs = e.runs();
        assert_eq!((runs[0].train_size, runs[0].lambda), (100, 0.01));
        assert_eq!(
            (runs[5].train_size, runs[5].lambda, runs[5].seed),
            (10_000, 1.0, 2)
        );
        assert!(
            err("[grid]\n[[grid.zip]]\ntrain_size = [100, 1000]\nlambda = [0.01]\n")
                .contains("need the same length: `train_size` has 2 values, `lambda` has 1")
        );
        assert!(
            err("[grid]\nlambda = 1.0\n[[grid.zip]]\ntrain_size = [100]\nlambda = [0.01]\n")
                .contains("`grid.zip.0.lambda`: `lambda` is set in more than one place")
        );
        assert!(err("[grid]\n[[grid.zip]]\nlamda = [0.1]\n").contains("did you mean `lambda`?"));
        assert!(err("[grid]\n[[grid.zip]]\ntrain_size = [5]\n")
            .contains("a mini-batch of 10 does not fit a training set of 5"));
        assert!(err("[grid]\nzip = 3\n").contains("[[grid.zip]] tables"));
        assert!(err("[grid]\n[[grid.zip]]\neta = [0.5, -1.0]\n")
            .contains("`grid.zip.0.eta`: -1.0 is not allowed"));
    }

    #[test]
    fn random_search_is_reproducible_and_stays_in_range() {
        let text = "[search]\nmode = \"random\"\ntrials = 50\nseed = 7\n[grid]\neta = { log = [0.001, 100.0] }\nlambda = { lin = [0.0, 5.0], num = 3 }\nbatch_size = [10, 20]\nseeds = 2\n";
        let a = parse(text).unwrap();
        let b = parse(text).unwrap();
        assert_eq!(a.grid, b.grid, "the same search seed draws the same points");
        assert_eq!(a.grid.len(), 100, "50 trials x 2 seeds");
        let runs = a.runs();
        assert!(runs
            .iter()
            .all(|r| (0.001..=100.0).contains(&r.eta) && (0.0..=5.0).contains(&r.lambda)));
        assert!(runs
            .iter()
            .all(|r| r.batch_size == 10 || r.batch_size == 20));
        // log-uniform: about half the draws below 0.316 (the geometric middle)
        let low = runs.iter().filter(|r| r.eta < 0.316).count();
        assert!(
            (30..=70).contains(&low),
            "{low} of 100 below the geometric middle"
        );
        let other = parse(&text.replace("seed = 7", "seed = 8")).unwrap();
        assert_ne!(a.grid, other.grid);
        // the chapter-3 settings are drawn too
        let e = parse("[search]\nmode = \"random\"\ntrials = 40\n[grid]\nmomentum = { lin = [0.0, 0.9] }\nactivation = [\"tanh\", \"relu\"]\n").unwrap();
        let runs = e.runs();
        assert_eq!(runs.len(), 40);
        assert!(runs.iter().all(|r| (0.0..=0.9).contains(&r.momentum)));
        assert!(runs.iter().any(|r| r.activation == Activation::Tanh));
        assert!(runs.iter().any(|r| r.activation == Activation::Relu));
        assert_eq!(e.grid.extra_columns(), vec!["activation", "momentum"]);
        assert!(err("[search]\nmode = \"random\"\n").contains("`trials` is missing"));
        assert!(err("[search]\nmode = \"bayes\"\ntrials = 3\n")
            .contains("use \"grid\", \"random\", \"threshold\", \"halving\""));
        assert!(err(
            "[search]\nmode = \"random\"\ntrials = 3\n[grid]\n[[grid.zip]]\neta = [1.0]\n"
        )
        .contains("cannot be combined"));
    }

    #[test]
    fn ranges_expand_with_their_ends() {
        let e = parse("[grid]\neta = { log = [0.001, 100.0], num = 11 }\nlambda = { lin = [0.5, 5.0], num = 10 }\nbatch_size = { pow2 = [1, 1024] }\nepochs = { range = [10, 100], step = 10 }\nseeds = 5").unwrap();
        let g = &e.grid;
        assert_eq!(g.f("eta").len(), 11);
        assert_eq!((g.f("eta")[0], g.f("eta")[10]), (0.001, 100.0));
        assert_eq!(g.f("eta")[2], 0.01, "log-spaced values print as written");
        assert_eq!(g.f("eta")[6], 1.0);
        assert!(g
            .f("eta")
            .windows(2)
            .all(|w| (w[1] / w[0] - 10f64.sqrt()).abs() < 1e-9));
        assert_eq!(
            g.f("lambda"),
            vec![0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
        );
        assert_eq!(
            g.n("batch_size"),
            vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
        );
        assert_eq!(g.n("epochs"), vec![10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
        assert_eq!(g.n("seed"), vec![1, 2, 3, 4, 5]);
        assert_eq!(g.len(), 11 * 10 * 11 * 10 * 5);
        let e = parse(
            "[grid]\nepochs = { range = [1, 10], step = 4 }\nbatch_size = { pow2 = [4, 16] }",
        )
        .unwrap();
        assert_eq!(e.grid.n("epochs"), vec![1, 5, 9]);
        assert_eq!(e.grid.n("batch_size"), vec![4, 8, 16]);
    }

    #[test]
    fn range_mistakes_are_explained() {
        assert!(err("[grid]\neta = { log = [0.0, 1.0], num = 3 }")
            .contains("a log-spaced range needs ends > 0"));
        assert!(err("[grid]\neta = { log = [0.1, 1.0] }").contains("`num` is missing"));
        assert!(err("[grid]\neta = { log = [0.1, 1.0], num = 1 }")
            .contains("`grid.eta.num`: 1 is not allowed"));
        assert!(err("[grid]\neta = { lin = [-1.0, 1.0], num = 3 }")
            .contains("the range gives -1, which is not allowed"));
        assert!(err("[grid]\neta = { logg = [0.1, 1.0], num = 3 }")
            .contains("`grid.eta.logg`: unknown key (did you mean `log`?)"));
        assert!(err("[grid]\neta = { log = [1.0], num = 3 }")
            .contains("expected two ends like [0.01, 100.0]"));
        assert!(err("[grid]\nbatch_size = { range = [0, 10] }")
            .contains("`grid.batch_size`: 0 is not allowed"));
        assert!(err("[grid]\nepochs = { range = [5, 1] }").contains("the first not larger"));
        assert!(err("[grid]\nepochs = { range = [1, 5], step = 0 }")
            .contains("`grid.epochs.step`: 0 is not allowed"));
        assert!(err("[grid]\nbatch_size = { pow2 = [5, 7] }").contains("5 is not a power of two"));
        assert!(err("[grid]\nseed = 1\nseeds = 3").contains("either `seed`"));
        assert!(err("[grid]\nseeds = 0").contains("`grid.seeds`: 0 is not allowed"));
    }

    #[test]
    fn chapter_3_model_settings() {
        let e = parse(
            "[grid]\nactivation = [\"sigmoid\", \"tanh\", \"relu\"]\nmomentum = [0.0, 0.9]\n\
             eta_schedule = [\"constant\", \"halve:10\"]\nearly_stopping = 10\n",
        )
        .unwrap();
        let g = &e.grid;
        assert_eq!(
            g.values_of("activation"),
            [
                Value::Activation(Activation::Sigmoid),
                Value::Activation(Activation::Tanh),
                Value::Activation(Activation::Relu)
            ]
        );
        assert_eq!(g.f("momentum"), vec![0.0, 0.9]);
        assert_eq!(
            g.values_of("eta_schedule"),
            [
                Value::Schedule(Schedule::Constant),
                Value::Schedule(Schedule::Halve { patience: 10 })
            ]
        );
        assert_eq!(g.n("early_stopping"), vec![10]);
        assert_eq!(g.len(), 12);
        assert_eq!(
            g.extra_columns(),
            vec!["activation", "momentum", "eta_schedule", "early_stopping"]
        );
        let runs = e.runs();
        assert!(runs[11]
            .canonical()
            .ends_with(";activation=relu;momentum=0.9;eta_schedule=halve:10;early_stopping=10"));
        // output = "softmax" is the log-likelihood cost
        let e = parse("[grid]\noutput = \"softmax\"\n").unwrap();
        assert_eq!(e.grid.values_of("cost"), [Value::Cost(Cost::LogLikelihood)]);
        let e = parse("[grid]\noutput = [\"sigmoid\", \"softmax\"]\ncost = \"cross-entropy\"\n")
            .unwrap();
        assert_eq!(
            e.grid.values_of("cost"),
            [
                Value::Cost(Cost::CrossEntropy),
                Value::Cost(Cost::LogLikelihood)
            ]
        );
        let e = parse("[grid]\ncost = \"log-likelihood\"\n").unwrap();
        assert_eq!(e.grid.values_of("cost"), [Value::Cost(Cost::LogLikelihood)]);
        // an experiment without the new settings writes exactly the standard columns
        assert!(parse("[grid]\neta = [1.0, 3.0]\n")
            .unwrap()
            .grid
            .extra_columns()
            .is_empty());
    }

    #[test]
    fn chapter_3_setting_mistakes_are_explained() {
        assert!(err("[grid]\nactivation = \"tahn\"").contains("did you mean \"tanh\""));
        assert!(err("[grid]\nmomentum = 1.0").contains("up to, not including, 1"));
        assert!(err("[grid]\nmomentum = -0.1").contains("momentum coefficient"));
        let e = err("[grid]\neta_schedule = \"halve\"");
        assert!(
            e.contains("test.toml:2:16: `grid.eta_schedule`") && e.contains("\"halve:N\""),
            "{e}"
        );
        assert!(err("[grid]\neta_schedule = \"halve:0\"").contains("is not allowed"));
        assert!(err("[grid]\nearly_stopping = -1").contains("from 0 (never stop early)"));
        assert!(
            err("[grid]\noutput = \"softmax\"\ncost = \"quadratic\"").contains("cannot go with it")
        );
        assert!(
            err("[grid]\noutput = \"sigmoid\"\ncost = \"log-likelihood\"")
                .contains("needs the cost")
        );
        assert!(err("[grid]\noutput = \"linear\"").contains("use \"sigmoid\" or \"softmax\""));
        let e = err("[data]\nvalidation_size = 0\nmonitor = [\"test_accuracy\"]\n[grid]\nearly_stopping = 5");
        assert!(
            e.contains("`data.validation_size`") && e.contains("`early_stopping`"),
            "{e}"
        );
        assert!(err("[grid]\nmu = 0.9").contains("did you mean `momentum`"));
        assert!(
            err("[grid]\n[[grid.zip]]\noutput = [\"softmax\"]\ncost = [\"quadratic\"]")
                .contains("not both")
        );
        assert!(err("[grid]\ncost = \"quadratic\"\n[[grid.zip]]\noutput = [\"softmax\", \"sigmoid\"]\neta = [0.1, 1.0]")
            .contains("more than one place"));
    }

    #[test]
    fn hidden_layer_widths() {
        let sizes = |text: &str| parse(text).unwrap().grid.sizes();
        assert_eq!(sizes("[grid]\nhidden = 30"), vec![vec![784, 30, 10]]);
        assert_eq!(
            sizes("[grid]\nhidden = [10, 100]"),
            vec![vec![784, 10, 10], vec![784, 100, 10]]
        );
        let range = sizes("[grid]\nhidden = { range = [10, 100], step = 10 }");
        assert_eq!(range.len(), 10);
        assert_eq!((range[0][1], range[9][1]), (10, 100));
        assert_eq!(
            sizes("[grid]\nhidden = [[100, 30], [30], []]"),
            vec![vec![784, 100, 30, 10], vec![784, 30, 10], vec![784, 10]]
        );
        // in zips and variants too
        let e = parse("[grid]\n[[grid.zip]]\nhidden = [30, 100]\neta = [0.5, 0.1]\n").unwrap();
        let runs = e.runs();
        assert_eq!(
            (runs[1].sizes.clone(), runs[1].eta),
            (vec![784, 100, 10], 0.1)
        );
        let e = parse("[[variant]]\nname = \"wide\"\nhidden = 100\n").unwrap();
        assert_eq!(e.runs()[0].sizes, vec![784, 100, 10]);
        // mistakes
        assert!(err("[grid]\nhidden = 0").contains("a hidden layer of 0 neurons"));
        assert!(err("[grid]\nsizes = [784, 30, 10]\nhidden = 30").contains("not both"));
        assert!(err("[grid]\nhidden = [[30], 10]").contains("beside lists of layers"));
        assert!(err("[grid]\nhidden = \"30\"").contains("hidden layer widths"));
        assert!(err(
            "[grid]\nsizes = [784, 30, 10]\n[[grid.zip]]\nhidden = [30, 100]\neta = [0.5, 0.1]"
        )
        .contains("more than one place"));
        let e = err("[grid]\nhidden = [10, 30]\n[[variant]]\nname = \"a\"\nhidden = 100");
        assert!(e.contains("varies in [grid]"), "{e}");
    }

    #[test]
    fn zips_hold_the_new_settings() {
        let e = parse("[grid]\n[[grid.zip]]\nactivation = [\"tanh\", \"relu\"]\neta = [0.1, 0.05]\noutput = [\"softmax\", \"softmax\"]\n").unwrap();
        let runs = e.runs();
        assert_eq!(runs.len(), 2);
        assert_eq!(
            (runs[0].activation, runs[0].eta, runs[0].cost),
            (Activation::Tanh, 0.1, Cost::LogLikelihood)
        );
        assert_eq!((runs[1].activation, runs[1].eta), (Activation::Relu, 0.05));
        assert_eq!(e.grid.extra_columns(), vec!["activation"]);
    }

    #[test]
    fn variants_are_named_partial_settings() {
        let text = "[grid]\neta = [0.1, 1.0]\nseeds = 2\nlambda = 5.0\n\
                    [[variant]]\nname = \"large init\"\ninit = \"large\"\n\
                    [[variant]]\nname = \"scaled init\"\ninit = \"scaled\"\n\
                    [[variant]]\nname = \"scaled, momentum\"\ninit = \"scaled\"\nmomentum = 0.9\nlambda = 1.0\n";
        assert!(err(text).contains("is not allowed: a variant's name"));
        let e = parse(&text.replace("scaled, momentum", "scaled + momentum")).unwrap();
        let g = &e.grid;
        assert_eq!(g.variants.len(), 3);
        assert_eq!(g.len(), 12, "3 variants x 2 eta x 2 seeds");
        let runs = e.runs();
        // the variant is the slowest axis and overrides single grid values
        let names: Vec<&str> = runs.iter().map(|r| r.variant.as_deref().unwrap()).collect();
        assert_eq!(names[..4], ["large init"; 4]);
        assert_eq!(names[8..], ["scaled + momentum"; 4]);
        assert_eq!((runs[0].init, runs[0].lambda), (Init::Large, 5.0));
        assert_eq!((runs[4].init, runs[4].momentum), (Init::Scaled, 0.0));
        assert_eq!((runs[8].momentum, runs[8].lambda), (0.9, 1.0));
        assert_eq!((runs[9].eta, runs[9].seed), (0.1, 2));
        // every run is distinct, and the variant's name is part of its identity
        let mut ids: Vec<String> = runs.iter().map(|r| r.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 12);
        assert!(runs[0].canonical().ends_with(";variant=large init"));
        assert_eq!(g.extra_columns(), vec!["momentum", "variant"]);
        assert!(g.swept_keys().contains(&"variant"));
        // mistakes
        assert!(err("[[variant]]\ninit = \"large\"").contains("`name` is missing"));
        assert!(err("[[variant]]\nname = \"a\"\n[[variant]]\nname = \"a\"")
            .contains("names two variants"));
        let e = err("[grid]\neta = [0.1, 1.0]\n[[variant]]\nname = \"a\"\neta = 3.0");
        assert!(
            e.contains("`variant.0.eta`") && e.contains("varies in [grid]"),
            "{e}"
        );
        assert!(err("[[variant]]\nname = \"a\"\neta = [1.0, 3.0]").contains("one value per key"));
        assert!(err("[[variant]]\nname = \"a\"\netta = 3.0").contains("did you mean `eta`"));
        assert!(
            err("[[variant]]\nname = \"a\"\ntrain_size = 5\nbatch_size = 10")
                .contains("does not fit")
        );
        assert!(err("variant = 3").contains("[[variant]] tables"));
    }

    #[test]
    fn the_starter_experiment_parses_and_is_refused_twice() {
        let e = Experiment::from_str(STARTER, Path::new("my.toml")).unwrap();
        assert_eq!(e.name, "my");
        assert_eq!(e.run_count(), 8);
        assert!(!e.description.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let path = write_starter(dir.path(), "my").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), STARTER);
        assert!(write_starter(dir.path(), "my.toml")
            .unwrap_err()
            .contains("already exists"));
        assert!(write_starter(dir.path(), "../x")
            .unwrap_err()
            .contains("not allowed"));
    }

    #[test]
    fn shipped_experiments_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
        let mut n = 0;
        let files = std::fs::read_dir(&dir)
            .unwrap()
            .chain(std::fs::read_dir(dir.join("book")).unwrap());
        for entry in files {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let e = Experiment::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    !e.description.is_empty(),
                    "{} has no description",
                    path.display()
                );
                n += 1;
            }
        }
        assert!(n >= 9, "expected at least 9 shipped experiments, found {n}");
    }

    #[test]
    fn errors_inside_arrays_of_tables_point_at_their_own_line() {
        let zip = "[grid]\n[[grid.zip]]\neta = [0.5]\n[[grid.zip]]\nlambda = [1.0, -2.0]\n";
        assert_eq!(
            err(zip),
            "experiments/test.toml:5:10: `grid.zip.1.lambda`: -2.0 is not allowed: the L2 \
             regularisation lambda must be a finite number >= 0, e.g. 5.0 (0 turns it off), and at most 3.4e38, the largest f32: training computes in f32"
        );
        let variant = "[[variant]]\nname = \"a\"\n[[variant]]\nname = \"b\"\nmomentum = 1.5\n";
        assert!(
            err(variant).starts_with("experiments/test.toml:5:12: `variant.1.momentum`: 1.5"),
            "{}",
            err(variant)
        );
        let unknown = "[[variant]]\nname = \"a\"\n[[variant]]\nname = \"b\"\netta = 1.0\n";
        assert!(err(unknown).starts_with(
            "experiments/test.toml:5:1: `variant.1.etta`: unknown key (did you mean `eta`?)"
        ));
        let missing = "[[variant]]\nname = \"a\"\n\n[[variant]]\neta = 1.0\n";
        assert!(
            err(missing).starts_with("experiments/test.toml:4:1: `variant.1`: `name` is missing")
        );
    }

    #[test]
    fn train_size_has_one_rule_wherever_it_is_written() {
        let rule = "60000 is not allowed: train_size must be from 1 to 50000";
        let data = err("[data]\ntrain_size = 60000\n");
        let zip = err("[grid]\n[[grid.zip]]\ntrain_size = [100, 60000]\nlambda = [0.1, 1.0]\n");
        let variant = err("[[variant]]\nname = \"a\"\ntrain_size = 60000\n");
        assert!(
            data.ends_with(&format!("`data.train_size`: {rule}")),
            "{data}"
        );
        assert!(
            zip.ends_with(&format!("`grid.zip.0.train_size`: {rule}")),
            "{zip}"
        );
        assert!(
            variant.ends_with(&format!("`variant.0.train_size`: {rule}")),
            "{variant}"
        );
        // and every mini-batch against every training set it meets, wherever each is written
        let e = err("[data]\ntrain_size = 100\n[grid]\nbatch_size = [10, 101]\n");
        assert!(
            e.contains("`grid.batch_size`: a mini-batch of 101 does not fit a training set of 100"),
            "{e}"
        );
        let e = err(
            "[grid]\nbatch_size = 50\n[[grid.zip]]\ntrain_size = [1000, 40]\neta = [1.0, 2.0]\n",
        );
        assert!(
            e.contains("`grid.batch_size`: a mini-batch of 50 does not fit a training set of 40"),
            "{e}"
        );
        // from one zip they meet point by point
        assert!(
            parse("[grid]\n[[grid.zip]]\ntrain_size = [40, 1000]\nbatch_size = [10, 100]\n")
                .is_ok()
        );
        let e = err("[grid]\n[[grid.zip]]\ntrain_size = [40, 1000]\nbatch_size = [100, 10]\n");
        assert!(
            e.contains(
                "`grid.zip.0.batch_size`: a mini-batch of 100 does not fit a training set of 40"
            ),
            "{e}"
        );
        // each variant with its own values
        assert!(parse("[[variant]]\nname = \"a\"\nbatch_size = 200\n[[variant]]\nname = \"b\"\ntrain_size = 100\n").is_ok());
        let e = err("[grid]\nbatch_size = 200\n[[variant]]\nname = \"b\"\ntrain_size = 100\n");
        assert!(
            e.contains("`grid.batch_size`: a mini-batch of 200 does not fit a training set of 100"),
            "{e}"
        );
    }

    #[test]
    fn a_name_taken_from_the_file_name_obeys_the_rules_for_name() {
        let e = Experiment::from_str("", Path::new("dir/...toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("taken from its file name, \"..\", which is not allowed"),
            "{e}"
        );
        assert_eq!(
            Experiment::from_str("name = \"x\"", Path::new("...toml"))
                .unwrap()
                .name,
            "x"
        );
    }
}
