//! The experiment file: TOML as written, checked key by key into a validated [`Experiment`].
//!
//! Every mistake is reported before any training starts, as an [`ExperimentError`] that names the
//! file, the line and column, the key, what was given and what is allowed.

use std::path::{Path, PathBuf};

pub mod error;

use toml::de::{DeTable, DeValue};
use toml::{Table, Value};

use crate::data::{
    DatasetKind, CLASSES, DEFAULT_VALIDATION, IMAGE_PIXELS, MNIST_TRAIN, TRAINING_FILE_IMAGES,
};
use crate::grid::{Grid, Partial, RunSettings, Variant, SETTING_KEYS};
use crate::nn::maths::{Activation, Cost};
use crate::nn::params::Init;
use crate::train::metrics::{Metric, Monitor};
use crate::train::stopping::Schedule;
pub use error::ExperimentError;

/// The `[data]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSettings {
    /// Which data set (and so which checksums): `mnist` (default), `fashion-mnist` or `idx`.
    pub dataset: DatasetKind,
    /// The folder as written in the file (default: the data set's, `data/mnist` for MNIST).
    pub dir: PathBuf,
    /// Number of training examples: the first `train_size` of the training split.
    pub train_size: usize,
    /// Validation examples: the last `validation_size` images of the training file.
    pub validation_size: usize,
    pub monitor: Monitor,
}

/// A validated experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// The file it was read from.
    pub path: PathBuf,
    /// The file's text, saved next to the results.
    pub text: String,
    /// Name of the results folder (default: the file stem).
    pub name: String,
    pub description: String,
    pub data: DataSettings,
    pub grid: Grid,
}

const TOP_KEYS: &[&str] = &["name", "description", "data", "grid", "search", "variant"];
const SEARCH_KEYS: &[&str] = &["mode", "trials", "seed"];
/// Keys a random search samples, in the order they are drawn: every setting but the seed (which
/// stays an axis of its own) and `train_size`.
fn searched_keys() -> impl Iterator<Item = &'static str> {
    SETTING_KEYS
        .iter()
        .copied()
        .filter(|k| !matches!(*k, "seed" | "train_size"))
}
const DATA_KEYS: &[&str] = &["dataset", "dir", "train_size", "validation_size", "monitor"];
const GRID_KEYS: &[&str] = &[
    "sizes",
    "hidden",
    "eta",
    "batch_size",
    "epochs",
    "seed",
    "cost",
    "init",
    "lambda",
    "activation",
    "output",
    "momentum",
    "eta_schedule",
    "early_stopping",
    "expand",
    "seeds",
    "zip",
];
/// The other ways a table may write a run setting: `hidden` for `sizes`, `output` for `cost`.
const SETTING_FORMS: [&str; 2] = ["hidden", "output"];

/// Keys a `[[grid.zip]]` table may hold: every setting of a run, in either form.
fn zip_keys() -> Vec<&'static str> {
    SETTING_KEYS.iter().chain(&SETTING_FORMS).copied().collect()
}

/// Keys a `[[variant]]` table may hold: its name and single values of the settings.
fn variant_keys() -> Vec<&'static str> {
    std::iter::once("name").chain(zip_keys()).collect()
}

/// The run setting a key of a table sets: `output` sets the cost, `hidden` the layer sizes.
fn setting_of(key: &str) -> &str {
    match key {
        "output" => "cost",
        "hidden" => "sizes",
        other => other,
    }
}

/// The output layers `output` may name: sigmoid (with the `cost`) or softmax (log-likelihood).
const OUTPUTS: [&str; 2] = ["sigmoid", "softmax"];
/// Largest number of values a range may generate.
const MAX_RANGE_VALUES: usize = 100_000;
/// Names people use for the grid keys in other tools and in the book's code.
const ALIASES: &[(&str, &str)] = &[
    ("learning_rate", "eta"),
    ("lr", "eta"),
    ("mini_batch_size", "batch_size"),
    ("batch", "batch_size"),
    ("lmbda", "lambda"),
    ("l2", "lambda"),
    ("layers", "sizes"),
    ("epoch", "epochs"),
    ("mu", "momentum"),
    ("schedule", "eta_schedule"),
    ("patience", "early_stopping"),
    ("variants", "variant"),
];

impl Experiment {
    /// Reads and validates an experiment file.
    pub fn from_file(path: &Path) -> Result<Experiment, ExperimentError> {
        let text = std::fs::read_to_string(path).map_err(|e| ExperimentError {
            path: path.to_path_buf(),
            location: None,
            key: String::new(),
            message: format!("cannot read the experiment file: {e}"),
        })?;
        Self::from_str(&text, path)
    }

    /// Validates the text of an experiment file; `path` names it in errors and gives the default
    /// name.
    pub fn from_str(text: &str, path: &Path) -> Result<Experiment, ExperimentError> {
        let doc = Doc::parse(text, path)?;
        doc.experiment()
    }

    /// The data folder: `data.dir` as written if it is absolute or exists relative to the current
    /// folder, otherwise relative to the experiment file's folder or one of its parents.
    pub fn resolve_data_dir(&self) -> Result<PathBuf, ExperimentError> {
        let dir = &self.data.dir;
        if dir.is_absolute() || dir.is_dir() {
            if dir.is_dir() {
                return Ok(dir.clone());
            }
        } else {
            let base = self.path.parent().unwrap_or(Path::new("."));
            let base = std::fs::canonicalize(if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base
            })
            .unwrap_or_else(|_| base.to_path_buf());
            for ancestor in base.ancestors() {
                let candidate = ancestor.join(dir);
                if candidate.is_dir() {
                    return Ok(candidate);
                }
            }
        }
        let doc = Doc::parse(&self.text, &self.path)?;
        Err(doc.error(
            &["data", "dir"],
            format!(
                "the data folder '{}' does not exist (looked in the current folder and beside the \
                 experiment file); it must hold the four IDX files, as data/mnist in the repository \
                 does{}",
                dir.display(),
                if self.data.dataset == DatasetKind::FashionMnist {
                    " (Fashion-MNIST: apt-get install dataset-fashion-mnist, or set data.dir)"
                } else {
                    ""
                }
            ),
        ))
    }

    /// Number of distinct runs.
    pub fn run_count(&self) -> u128 {
        self.grid.len()
    }

    /// Every distinct run, in grid order, with the experiment's data settings.
    pub fn runs(&self) -> Vec<RunSettings> {
        self.iter_runs().collect()
    }

    /// The runs one at a time, without building the grid in memory.
    pub fn iter_runs(&self) -> impl Iterator<Item = RunSettings> + '_ {
        self.grid.iter(self.data.train_size).map(|mut r| {
            r.dataset = self.data.dataset;
            r
        })
    }
}

/// The parsed file: values for reading, spans for locating errors.
struct Doc<'a> {
    path: &'a Path,
    text: &'a str,
    table: Table,
    spans: toml::Spanned<DeTable<'a>>,
}

impl<'a> Doc<'a> {
    fn parse(text: &'a str, path: &'a Path) -> Result<Doc<'a>, ExperimentError> {
        let syntax = |e: toml::de::Error| ExperimentError {
            path: path.to_path_buf(),
            location: e.span().map(|s| line_col(text, s.start)),
            key: String::new(),
            message: format!("invalid TOML: {}", e.message().trim_end()),
        };
        let table: Table = toml::from_str(text).map_err(syntax)?;
        let spans = DeTable::parse(text).map_err(syntax)?;
        Ok(Doc {
            path,
            text,
            table,
            spans,
        })
    }

    /// The byte span of the value at `key_path` (or of its key, or of the nearest parent).
    fn span_of(&self, key_path: &[&str], key_itself: bool) -> Option<std::ops::Range<usize>> {
        let mut table: &DeTable = self.spans.get_ref();
        let mut best = None;
        for (depth, part) in key_path.iter().enumerate() {
            let (k, v) = table.iter().find(|(k, _)| k.get_ref().as_ref() == *part)?;
            let last = depth + 1 == key_path.len();
            best = Some(if last && key_itself {
                k.span()
            } else {
                v.span()
            });
            match v.get_ref() {
                DeValue::Table(t) if !last => table = t,
                _ => break,
            }
        }
        best
    }

    fn error_at(&self, key_path: &[&str], key_itself: bool, message: String) -> ExperimentError {
        ExperimentError {
            path: self.path.to_path_buf(),
            location: self
                .span_of(key_path, key_itself)
                .map(|s| line_col(self.text, s.start)),
            key: key_path.join("."),
            message,
        }
    }

    fn error(&self, key_path: &[&str], message: String) -> ExperimentError {
        self.error_at(key_path, false, message)
    }

    fn check_keys(
        &self,
        table: &Table,
        prefix: &[&str],
        allowed: &[&str],
    ) -> Result<(), ExperimentError> {
        for key in table.keys() {
            if allowed.contains(&key.as_str()) {
                continue;
            }
            let mut path = prefix.to_vec();
            path.push(key);
            let section = if prefix.is_empty() {
                "at the top level".to_string()
            } else {
                format!("in [{}]", prefix.join("."))
            };
            let mut message = format!(
                "unknown key; the keys allowed {section} are: {}",
                allowed.join(", ")
            );
            if let Some(s) = suggest(key, allowed) {
                message = format!("unknown key (did you mean `{s}`?); {}", &message[13..]);
            }
            return Err(self.error_at(&path, true, message));
        }
        Ok(())
    }

    fn experiment(&self) -> Result<Experiment, ExperimentError> {
        self.check_keys(&self.table, &[], TOP_KEYS)?;
        let name = match self.table.get("name") {
            None => self
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "experiment".to_string()),
            Some(v) => {
                let s = self.string(&["name"], v)?;
                let ok = !s.is_empty()
                    && s != "."
                    && s != ".."
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                if !ok {
                    return Err(self.error(
                        &["name"],
                        format!(
                            "{} is not allowed: the name becomes a folder under results/, so use \
                             letters, digits, '-', '_' and '.' only",
                            show(v)
                        ),
                    ));
                }
                s
            }
        };
        let description = match self.table.get("description") {
            None => String::new(),
            Some(v) => self.string(&["description"], v)?,
        };
        let data = self.data()?;
        let mut grid = self.grid(&data)?;
        grid.variants = self.variants(&grid, &data)?;
        let columns = grid.extra_columns();
        if data.validation_size == 0 {
            for key in ["eta_schedule", "early_stopping"] {
                if columns.contains(&key) {
                    return Err(self.error(
                        &["data", "validation_size"],
                        format!(
                            "0 leaves no validation set, but `{key}` is decided by the validation                              accuracy after each epoch: keep a validation set (the default is 10000)"
                        ),
                    ));
                }
            }
        }
        Ok(Experiment {
            path: self.path.to_path_buf(),
            text: self.text.to_string(),
            name,
            description,
            data,
            grid,
        })
    }

    fn sub_table(&self, key: &str) -> Result<Option<&Table>, ExperimentError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Table(t)) => Ok(Some(t)),
            Some(v) => Err(self.error(
                &[key],
                format!("expected a table [{key}], found {}", show(v)),
            )),
        }
    }

    fn data(&self) -> Result<DataSettings, ExperimentError> {
        let mut data = DataSettings {
            dataset: DatasetKind::Mnist,
            dir: PathBuf::from("data/mnist"),
            train_size: MNIST_TRAIN,
            validation_size: DEFAULT_VALIDATION,
            monitor: Monitor::all(),
        };
        let Some(t) = self.sub_table("data")? else {
            return Ok(data);
        };
        self.check_keys(t, &["data"], DATA_KEYS)?;
        if let Some(v) = t.get("dataset") {
            let names: Vec<&str> = DatasetKind::ALL.iter().map(|d| d.name()).collect();
            data.dataset = DatasetKind::ALL[self
                .choices(&["data", "dataset"], v, &names)?
                .first()
                .copied()
                .filter(|_| !v.is_array())
                .ok_or_else(|| {
                    self.error(
                        &["data", "dataset"],
                        "give one data set, not a list".to_string(),
                    )
                })?];
        }
        match (t.get("dir"), data.dataset.default_dir()) {
            (Some(v), _) => {
                let s = self.string(&["data", "dir"], v)?;
                if s.is_empty() {
                    return Err(self.error(&["data", "dir"], "must not be empty".to_string()));
                }
                data.dir = PathBuf::from(s);
            }
            (None, Some(default)) => data.dir = PathBuf::from(default),
            (None, None) => {
                return Err(self.error(
                    &["data", "dataset"],
                    "dataset = \"idx\" needs `dir`: the folder holding the four IDX files"
                        .to_string(),
                ))
            }
        }
        if let Some(v) = t.get("validation_size") {
            let path = ["data", "validation_size"];
            let n = self.integer(&path, v, "a whole number from 0 to 59999")?;
            if !(0..TRAINING_FILE_IMAGES as i64).contains(&n) {
                return Err(self.error(
                    &path,
                    format!("{n} is not allowed: validation_size is taken from the end of the 60000 training images, from 0 to 59999"),
                ));
            }
            data.validation_size = n as usize;
        }
        // By default the training set is the rest of the training file (the book's 50,000).
        let available = TRAINING_FILE_IMAGES - data.validation_size;
        data.train_size = available;
        if let Some(v) = t.get("train_size") {
            let path = ["data", "train_size"];
            let n = self.integer(&path, v, &format!("a whole number from 1 to {available}"))?;
            if !(1..=available as i64).contains(&n) {
                return Err(self.error(
                    &path,
                    format!(
                        "{n} is not allowed: train_size must be from 1 to {available} (the training \
                         file's 60000 images less validation_size {})",
                        data.validation_size
                    ),
                ));
            }
            data.train_size = n as usize;
        } else if data.dataset == DatasetKind::Idx {
            return Err(self.error(
                &["data", "dataset"],
                "dataset = \"idx\" needs `train_size`: how many of the folder's training images to \
                 train on (the rest of the file after validation_size, at most)"
                    .to_string(),
            ));
        }
        if let Some(v) = t.get("monitor") {
            let path = ["data", "monitor"];
            let allowed: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
            let names = self.list(&path, v, "a list of metric names")?;
            let mut metrics = Vec::new();
            for item in names {
                let Value::String(s) = item else {
                    return Err(self.error(
                        &path,
                        format!("expected metric names (strings), found {}", show(item)),
                    ));
                };
                let Some(m) = Metric::ALL.into_iter().find(|m| m.name() == s) else {
                    let hint = suggest(s, &allowed)
                        .map(|x| format!(" (did you mean \"{x}\"?)"))
                        .unwrap_or_default();
                    return Err(self.error(
                        &path,
                        format!(
                            "unknown metric \"{s}\"{hint}; allowed: {}",
                            allowed.join(", ")
                        ),
                    ));
                };
                metrics.push(m);
            }
            data.monitor = Monitor::only(&metrics);
        }
        if data.validation_size == 0
            && (data.monitor.has(Metric::ValidationCost)
                || data.monitor.has(Metric::ValidationAccuracy))
        {
            return Err(self.error(
                &["data", "validation_size"],
                "0 leaves no validation set, so `data.monitor` must not list validation_cost or \
                 validation_accuracy (and it lists every metric when it is left out)"
                    .to_string(),
            ));
        }
        Ok(data)
    }

    fn grid(&self, data: &DataSettings) -> Result<Grid, ExperimentError> {
        let train_size = data.train_size;
        let available = TRAINING_FILE_IMAGES - data.validation_size;
        let mut grid = Grid::default();
        let search = self.search()?;
        let Some(t) = self.sub_table("grid")? else {
            return Ok(grid);
        };
        self.check_keys(t, &["grid"], GRID_KEYS)?;
        let plain: Table = t
            .iter()
            .filter(|(k, _)| k.as_str() != "zip")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // A random search may leave `num` out of a log or lin range: only the ends matter.
        let mut plain = plain;
        if search.is_some() {
            for key in ["eta", "lambda", "momentum"] {
                if let Some(Value::Table(r)) = plain.get_mut(key) {
                    if !r.contains_key("num") && (r.contains_key("log") || r.contains_key("lin")) {
                        r.insert("num".to_string(), Value::Integer(2));
                    }
                }
            }
        }
        self.apply_keys(&plain, &["grid"], &mut grid, train_size)?;
        if let Some(v) = t.get("zip") {
            if search.is_some() {
                return Err(self.error(
                    &["search"],
                    "a random search samples the grid's lists and ranges; it cannot be combined with [[grid.zip]]".to_string(),
                ));
            }
            grid.zips = self.zips(v, t, &grid, train_size, available)?;
        }
        grid.dedup();
        if let Some((trials, seed)) = search {
            grid = random_search(grid, &plain, trials, seed);
        }
        Ok(grid)
    }

    /// `[search] mode = "random", trials = N, seed = S`: returns (trials, seed), or None for the
    /// plain grid (`mode = "grid"`, the default).
    fn search(&self) -> Result<Option<(usize, u64)>, ExperimentError> {
        let Some(t) = self.sub_table("search")? else {
            return Ok(None);
        };
        self.check_keys(t, &["search"], SEARCH_KEYS)?;
        match t.get("mode") {
            None => {
                return Err(self.error(
                    &["search"],
                    "`mode` is missing: \"random\" or \"grid\"".to_string(),
                ))
            }
            Some(Value::String(m)) if m == "grid" => return Ok(None),
            Some(Value::String(m)) if m == "random" => {}
            Some(other) => {
                return Err(self.error(
                    &["search", "mode"],
                    format!("{} is not allowed: use \"random\" or \"grid\"", show(other)),
                ))
            }
        }
        let trials = match t.get("trials") {
            Some(Value::Integer(n)) if (1..=MAX_RANGE_VALUES as i64).contains(n) => *n as usize,
            Some(other) => {
                return Err(self.error(
                    &["search", "trials"],
                    format!(
                        "{} is not allowed: the number of trials is from 1 to 100000",
                        show(other)
                    ),
                ))
            }
            None => {
                return Err(self.error(
                    &["search"],
                    "`trials` is missing: how many points to draw".to_string(),
                ))
            }
        };
        let seed = match t.get("seed") {
            None => 1,
            Some(Value::Integer(n)) if *n >= 0 => *n as u64,
            Some(other) => {
                return Err(self.error(
                    &["search", "seed"],
                    format!(
                        "{} is not allowed: the search's seed is a whole number >= 0",
                        show(other)
                    ),
                ))
            }
        };
        Ok(Some((trials, seed)))
    }

    /// `[[grid.zip]]` tables: in each, every key's list has the same length and the lists vary
    /// together (point i takes the i-th value of every key).
    fn zips(
        &self,
        v: &Value,
        plain: &Table,
        grid: &Grid,
        train_size: usize,
        available: usize,
    ) -> Result<Vec<Vec<Partial>>, ExperimentError> {
        let Value::Array(tables) = v else {
            return Err(self.error(
                &["grid", "zip"],
                "write zipped settings as [[grid.zip]] tables, each holding lists of equal length"
                    .to_string(),
            ));
        };
        let mut seen: Vec<String> = Vec::new();
        let mut zips = Vec::new();
        for (i, table) in tables.iter().enumerate() {
            let index = i.to_string();
            let prefix = ["grid", "zip", index.as_str()];
            let Value::Table(t) = table else {
                return Err(self.error(&prefix, "expected a table of lists".to_string()));
            };
            let zip_keys = zip_keys();
            self.check_keys(t, &prefix, &zip_keys)?;
            if t.is_empty() {
                return Err(self.error(
                    &prefix,
                    "an empty [[grid.zip]] table zips nothing".to_string(),
                ));
            }
            let mut z = Grid::default();
            let keys: Vec<&str> = zip_keys
                .iter()
                .copied()
                .filter(|k| t.contains_key(*k))
                .collect();
            if t.contains_key("cost") && t.contains_key("output") {
                return Err(self.error(
                    &prefix,
                    "give `cost` or `output` in a [[grid.zip]] table, not both (`output = \"softmax\"` is the log-likelihood cost)".to_string(),
                ));
            }
            if t.contains_key("sizes") && t.contains_key("hidden") {
                return Err(self.error(
                    &prefix,
                    "give `sizes` or `hidden` in a [[grid.zip]] table, not both".to_string(),
                ));
            }
            for key in &keys {
                let path = [prefix[0], prefix[1], prefix[2], key];
                // `output` sets the cost and `hidden` the sizes: they count as the same key
                let key = &setting_of(key);
                let same: &[&str] = match *key {
                    "cost" => &["cost", "output"],
                    "sizes" => &["sizes", "hidden"],
                    _ => std::slice::from_ref(key),
                };
                if same.iter().any(|k| plain.contains_key(*k)) || seen.iter().any(|s| s == key) {
                    return Err(self.error(
                        &path,
                        format!("`{key}` is set in more than one place: a key is either in [grid] or in one [[grid.zip]] table"),
                    ));
                }
                seen.push(key.to_string());
            }
            let grid_keys: Table = t
                .iter()
                .filter(|(k, _)| k.as_str() != "train_size")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            self.apply_keys(&grid_keys, &prefix, &mut z, available)?;
            let mut columns: Vec<(&str, usize)> = Vec::new();
            let mut train_sizes = Vec::new();
            if let Some(v) = t.get("train_size") {
                let path = [prefix[0], prefix[1], prefix[2], "train_size"];
                for n in self.integers(&path, v, &format!("whole numbers from 1 to {available}"))? {
                    if !(1..=available as i64).contains(&n) {
                        return Err(self.error(
                            &path,
                            format!("{n} is not allowed: train_size must be from 1 to {available}"),
                        ));
                    }
                    train_sizes.push(n as usize);
                }
                columns.push(("train_size", train_sizes.len()));
            }
            for key in keys.iter().filter(|k| **k != "train_size") {
                let counted = setting_of(key);
                columns.push((key, z.count(counted)));
            }
            let n = columns[0].1;
            if let Some((key, len)) = columns.iter().find(|(_, len)| *len != n) {
                return Err(self.error(
                    &prefix,
                    format!(
                        "the lists of a [[grid.zip]] table vary together, so they need the same length: `{}` has {n} values, `{key}` has {len}",
                        columns[0].0
                    ),
                ));
            }
            let points: Vec<Partial> = (0..n)
                .map(|j| {
                    let has = |key: &str| keys.iter().any(|k| setting_of(k) == key);
                    Partial {
                        train_size: has("train_size").then(|| train_sizes[j]),
                        ..z.point(j, has)
                    }
                })
                .collect();
            // every mini-batch size must fit every training-set size it meets
            for p in &points {
                let ts = p.train_size.unwrap_or(train_size);
                let batches = p.batch_size.map_or(grid.batch_size.clone(), |b| vec![b]);
                if let Some(b) = batches.iter().find(|&&b| b > ts) {
                    return Err(self.error(
                        &prefix,
                        format!("a mini-batch of {b} does not fit a training set of {ts} examples"),
                    ));
                }
            }
            zips.push(points);
        }
        Ok(zips)
    }

    /// Reads the grid keys of `t` (the `[grid]` table or one `[[grid.zip]]` table, named by
    /// `prefix`) into `grid`.
    fn apply_keys(
        &self,
        t: &Table,
        prefix: &[&str],
        grid: &mut Grid,
        train_size: usize,
    ) -> Result<(), ExperimentError> {
        let at = |key: &'static str| -> Vec<&str> {
            let mut p = prefix.to_vec();
            p.push(key);
            p
        };
        if let Some(v) = t.get("sizes") {
            grid.sizes = self.sizes(v)?;
        }
        if let Some(v) = t.get("hidden") {
            if t.contains_key("sizes") {
                return Err(self.error(
                    &at("hidden"),
                    "give `sizes` (whole networks) or `hidden` (the hidden layers' widths), not both"
                        .to_string(),
                ));
            }
            grid.sizes = self.hidden(&at("hidden"), v)?;
        }
        if let Some(v) = t.get("eta") {
            grid.eta = self.floats(&at("eta"), v, |x| {
                (x.is_finite() && x > 0.0)
                    .then_some(())
                    .ok_or("the learning rate eta must be a finite number > 0, e.g. 3.0")
            })?;
        }
        if let Some(v) = t.get("lambda") {
            grid.lambda = self.floats(&at("lambda"), v, |x| {
                (x.is_finite() && x >= 0.0)
                    .then_some(())
                    .ok_or("the L2 regularisation lambda must be a finite number >= 0, e.g. 5.0 (0 turns it off)")
            })?;
        }
        if let Some(v) = t.get("batch_size") {
            let path = at("batch_size");
            let what = format!("whole numbers from 1 to train_size ({train_size})");
            grid.batch_size = self
                .integers(&path, v, &what)?
                .into_iter()
                .map(|n| {
                    if n >= 1 && n as usize <= train_size {
                        Ok(n as usize)
                    } else {
                        Err(self.error(
                            &path,
                            format!("{n} is not allowed: the mini-batch size must be from 1 to train_size ({train_size})"),
                        ))
                    }
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = t.get("epochs") {
            let path = at("epochs");
            grid.epochs = self
                .integers(&path, v, "whole numbers from 1 to 100000")?
                .into_iter()
                .map(|n| {
                    if (1..=100_000).contains(&n) {
                        Ok(n as usize)
                    } else {
                        Err(self.error(
                            &path,
                            format!("{n} is not allowed: epochs must be from 1 to 100000"),
                        ))
                    }
                })
                .collect::<Result<_, _>>()?;
        }
        if let (Some(_), Some(_)) = (t.get("seed"), t.get("seeds")) {
            return Err(self.error(
                &at("seeds"),
                "give either `seed` (a list of seeds) or `seeds` (how many: seeds = 5 means seed = [1, 2, 3, 4, 5]), not both".to_string(),
            ));
        }
        if let Some(v) = t.get("seeds") {
            let path = at("seeds");
            let n = self.integer(&path, v, "a whole number of seeds from 1 to 100000")?;
            if !(1..=MAX_RANGE_VALUES as i64).contains(&n) {
                return Err(self.error(
                    &path,
                    format!("{n} is not allowed: `seeds = N` trains seeds 1 to N; N must be from 1 to 100000"),
                ));
            }
            grid.seed = (1..=n as u64).collect();
        }
        if let Some(v) = t.get("seed") {
            let path = at("seed");
            grid.seed = self
                .integers(&path, v, "whole numbers >= 0")?
                .into_iter()
                .map(|n| {
                    u64::try_from(n).map_err(|_| {
                        self.error(
                            &path,
                            format!("{n} is not allowed: a seed is a whole number >= 0"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = t.get("cost") {
            let names: Vec<&str> = Cost::ALL.iter().map(|c| c.name()).collect();
            grid.cost = self
                .choices(&at("cost"), v, &names)?
                .into_iter()
                .map(|i| Cost::ALL[i])
                .collect();
        }
        if let Some(v) = t.get("init") {
            let names: Vec<&str> = Init::ALL.iter().map(|c| c.name()).collect();
            grid.init = self
                .choices(&at("init"), v, &names)?
                .into_iter()
                .map(|i| Init::ALL[i])
                .collect();
        }
        if let Some(v) = t.get("output") {
            grid.cost = self.output(
                &at("output"),
                v,
                t.contains_key("cost").then_some(&grid.cost),
            )?;
        }
        if let Some(v) = t.get("activation") {
            let names: Vec<&str> = Activation::ALL.iter().map(|c| c.name()).collect();
            grid.activation = self
                .choices(&at("activation"), v, &names)?
                .into_iter()
                .map(|i| Activation::ALL[i])
                .collect();
        }
        if let Some(v) = t.get("momentum") {
            grid.momentum = self.floats(&at("momentum"), v, |x| {
                (x.is_finite() && (0.0..1.0).contains(&x))
                    .then_some(())
                    .ok_or("the momentum coefficient mu must be from 0 (plain SGD) up to, not including, 1, e.g. 0.9")
            })?;
        }
        if let Some(v) = t.get("early_stopping") {
            let path = at("early_stopping");
            let what = "a whole number of epochs from 0 (never stop early) to 100000";
            grid.early_stopping = self
                .integers(&path, v, what)?
                .into_iter()
                .map(|n| {
                    if (0..=100_000).contains(&n) {
                        Ok(n as usize)
                    } else {
                        Err(self.error(
                            &path,
                            format!("{n} is not allowed: early_stopping is {what}"),
                        ))
                    }
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = t.get("expand") {
            let path = at("expand");
            grid.expand = self
                .list(&path, v, "true or false")?
                .into_iter()
                .map(|item| match item {
                    Value::Boolean(b) => Ok(*b),
                    other => Err(self.error(
                        &path,
                        format!(
                            "expected true or false (one or a list), found {}: `expand = true` \
                             trains on each image and its four one-pixel shifts",
                            show(other)
                        ),
                    )),
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = t.get("eta_schedule") {
            let path = at("eta_schedule");
            const ALLOWED: &str = "use \"constant\" or \"halve:N\" (halve eta each time the validation \
                                   accuracy has not improved for N epochs, and stop once eta is 1/128 of \
                                   its start)";
            grid.eta_schedule = self
                .list(&path, v, "schedules")?
                .into_iter()
                .map(|item| {
                    let Value::String(text) = item else {
                        return Err(self.error(
                            &path,
                            format!("expected a string, found {}: {ALLOWED}", show(item)),
                        ));
                    };
                    Schedule::parse(text).ok_or_else(|| {
                        self.error(&path, format!("\"{text}\" is not allowed: {ALLOWED}"))
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(())
    }

    /// `output = "sigmoid"` or `"softmax"` (or a list): the output layer, which goes with the
    /// cost: a softmax layer is trained with the log-likelihood. Returns the cost list: the
    /// sigmoid costs of `costs` (given in the same table; quadratic when not) for "sigmoid", the
    /// log-likelihood for "softmax".
    fn output(
        &self,
        path: &[&str],
        v: &Value,
        costs: Option<&Vec<Cost>>,
    ) -> Result<Vec<Cost>, ExperimentError> {
        let outputs = self.choices(path, v, &OUTPUTS)?;
        let (sigmoid, softmax) = (outputs.contains(&0), outputs.contains(&1));
        let Some(costs) = costs else {
            return Ok(outputs
                .iter()
                .map(|&o| {
                    if o == 0 {
                        Cost::Quadratic
                    } else {
                        Cost::LogLikelihood
                    }
                })
                .collect());
        };
        let sigmoid_costs: Vec<Cost> = costs.iter().copied().filter(|c| !c.softmax()).collect();
        let mut out = Vec::new();
        if sigmoid {
            if sigmoid_costs.is_empty() {
                return Err(self.error(
                    path,
                    "a sigmoid output layer needs the cost \"quadratic\" or \"cross-entropy\"; \
                     `cost` lists only \"log-likelihood\", which is the softmax's"
                        .to_string(),
                ));
            }
            out.extend(sigmoid_costs);
        } else if let Some(c) = sigmoid_costs.first() {
            return Err(self.error(
                path,
                format!(
                    "output = \"softmax\" is trained with the log-likelihood cost, so cost = \"{c}\" \
                     cannot go with it: leave `cost` out (or list \"sigmoid\" in `output` too)"
                ),
            ));
        }
        if softmax {
            out.push(Cost::LogLikelihood);
        }
        Ok(out)
    }

    /// `[[variant]]` tables: a `name` and single values of settings, each variant combined with
    /// the rest of the grid.
    fn variants(&self, grid: &Grid, data: &DataSettings) -> Result<Vec<Variant>, ExperimentError> {
        let Some(v) = self.table.get("variant") else {
            return Ok(Vec::new());
        };
        let Value::Array(tables) = v else {
            return Err(self.error(
                &["variant"],
                "write variants as [[variant]] tables, each with a `name` and the settings it changes"
                    .to_string(),
            ));
        };
        let available = TRAINING_FILE_IMAGES - data.validation_size;
        let mut variants: Vec<Variant> = Vec::new();
        for (i, table) in tables.iter().enumerate() {
            let index = i.to_string();
            let prefix = ["variant", index.as_str()];
            let Value::Table(t) = table else {
                return Err(self.error(&prefix, "expected a table".to_string()));
            };
            let variant_keys = variant_keys();
            self.check_keys(t, &prefix, &variant_keys)?;
            let name = match t.get("name") {
                None => {
                    return Err(self.error(
                        &prefix,
                        "`name` is missing: each variant is shown by its name in the CSV files and plots"
                            .to_string(),
                    ))
                }
                Some(v) => self.string(&["variant", index.as_str(), "name"], v)?,
            };
            let name_path = ["variant", index.as_str(), "name"];
            let ok = !name.trim().is_empty()
                && name.len() <= 60
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || " -_.+=()/:".contains(c));
            if !ok {
                return Err(self.error(
                    &name_path,
                    format!(
                        "\"{name}\" is not allowed: a variant's name is 1 to 60 letters, digits, \
                         spaces and -_.+=()/: (it goes into CSV cells and plot legends)"
                    ),
                ));
            }
            if variants.iter().any(|v| v.name == name) {
                return Err(self.error(
                    &name_path,
                    format!("\"{name}\" names two variants: give each its own name"),
                ));
            }
            let settings: Table = t
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "name" | "train_size"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut z = Grid::default();
            self.apply_keys(&settings, &prefix, &mut z, available)?;
            let has = |key: &str| t.contains_key(key);
            for key in variant_keys.iter().filter(|k| has(k) && **k != "name") {
                let path = ["variant", index.as_str(), key];
                let counted = setting_of(key);
                let single = match *key {
                    "train_size" => !matches!(t.get("train_size"), Some(Value::Array(_))),
                    _ => z.count(counted) == 1,
                };
                if !single {
                    return Err(self.error(
                        &path,
                        format!(
                            "a variant sets one value per key; to try several values of `{key}`, \
                             list them in [grid] (every variant is combined with the whole grid)"
                        ),
                    ));
                }
                let swept_in_grid = grid.count(counted) > 1
                    || grid
                        .zips
                        .iter()
                        .flatten()
                        .any(|zp| zp.value(counted).is_some());
                if swept_in_grid {
                    return Err(self.error(
                        &path,
                        format!(
                            "`{key}` varies in [grid] and is also set by variant \"{name}\": a \
                             variant can only override a key that has one value in the grid"
                        ),
                    ));
                }
            }
            let mut p = z.point(0, |key| t.keys().any(|k| setting_of(k) == key));
            if let Some(v) = t.get("train_size") {
                let path = ["variant", index.as_str(), "train_size"];
                let n = self.integer(&path, v, &format!("a whole number from 1 to {available}"))?;
                if !(1..=available as i64).contains(&n) {
                    return Err(self.error(
                        &path,
                        format!("{n} is not allowed: train_size must be from 1 to {available}"),
                    ));
                }
                p.train_size = Some(n as usize);
            }
            let ts = p.train_size.unwrap_or(data.train_size);
            let batches = p.batch_size.map_or(grid.batch_size.clone(), |b| vec![b]);
            if let Some(b) = batches.iter().find(|&&b| b > ts) {
                return Err(self.error(
                    &prefix,
                    format!("a mini-batch of {b} does not fit a training set of {ts} examples"),
                ));
            }
            variants.push(Variant { name, settings: p });
        }
        Ok(variants)
    }

    fn string(&self, path: &[&str], v: &Value) -> Result<String, ExperimentError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(self.error(path, format!("expected a string, found {}", show(other)))),
        }
    }

    fn integer(&self, path: &[&str], v: &Value, what: &str) -> Result<i64, ExperimentError> {
        match v {
            Value::Integer(n) => Ok(*n),
            other => Err(self.error(path, format!("expected {what}, found {}", show(other)))),
        }
    }

    /// One value or a non-empty list of values.
    fn list<'v>(
        &self,
        path: &[&str],
        v: &'v Value,
        what: &str,
    ) -> Result<Vec<&'v Value>, ExperimentError> {
        match v {
            Value::Array(items) if items.is_empty() => Err(self.error(
                path,
                format!("an empty list is not allowed: give one value or a list of {what}"),
            )),
            Value::Array(items) => Ok(items.iter().collect()),
            other => Ok(vec![other]),
        }
    }

    fn integers(&self, path: &[&str], v: &Value, what: &str) -> Result<Vec<i64>, ExperimentError> {
        if let Value::Table(t) = v {
            return self.int_range(path, t);
        }
        self.list(path, v, what)?
            .into_iter()
            .map(|item| match item {
                Value::Integer(n) => Ok(*n),
                other => Err(self.error(
                    path,
                    format!("expected {what} (one or a list), found {}", show(other)),
                )),
            })
            .collect()
    }

    fn floats(
        &self,
        path: &[&str],
        v: &Value,
        check: impl Fn(f64) -> Result<(), &'static str>,
    ) -> Result<Vec<f64>, ExperimentError> {
        if let Value::Table(t) = v {
            let values = self.float_range(path, t)?;
            for &x in &values {
                check(x).map_err(|allowed| {
                    self.error(
                        path,
                        format!("the range gives {x}, which is not allowed: {allowed}"),
                    )
                })?;
            }
            return Ok(values);
        }
        self.list(path, v, "numbers")?
            .into_iter()
            .map(|item| {
                let x = match item {
                    Value::Float(x) => *x,
                    Value::Integer(n) => *n as f64,
                    other => {
                        return Err(self.error(
                            path,
                            format!(
                                "expected a number or a list of numbers, found {}",
                                show(other)
                            ),
                        ))
                    }
                };
                check(x).map_err(|allowed| {
                    self.error(path, format!("{} is not allowed: {allowed}", show(item)))
                })?;
                Ok(x)
            })
            .collect()
    }

    /// `{ log = [from, to], num = N }` (log-spaced) or `{ lin = [from, to], num = N }`, ends
    /// included, values rounded to 12 significant digits so that they print as written.
    fn float_range(&self, path: &[&str], t: &Table) -> Result<Vec<f64>, ExperimentError> {
        const FORM: &str = "a range is { log = [from, to], num = N } (log-spaced) or \
                            { lin = [from, to], num = N } (evenly spaced), ends included";
        self.check_keys(t, path, &["log", "lin", "num"])?;
        let (kind, ends) = match (t.get("log"), t.get("lin")) {
            (Some(e), None) => ("log", e),
            (None, Some(e)) => ("lin", e),
            _ => {
                return Err(self.error(path, format!("give exactly one of `log` and `lin`: {FORM}")))
            }
        };
        let num_path: Vec<&str> = path.iter().copied().chain(["num"]).collect();
        let num = match t.get("num") {
            Some(Value::Integer(n)) if (2..=MAX_RANGE_VALUES as i64).contains(n) => *n as usize,
            Some(other) => {
                return Err(self.error(
                    &num_path,
                    format!(
                        "{} is not allowed: `num` is how many values, from 2 to 100000",
                        show(other)
                    ),
                ))
            }
            None => return Err(self.error(path, format!("`num` is missing: {FORM}"))),
        };
        let number = |v: &Value| match v {
            Value::Float(x) => Some(*x),
            Value::Integer(n) => Some(*n as f64),
            _ => None,
        };
        let (from, to) = match ends {
            Value::Array(a) if a.len() == 2 => match (number(&a[0]), number(&a[1])) {
                (Some(x), Some(y)) if x.is_finite() && y.is_finite() => (x, y),
                _ => {
                    return Err(
                        self.error(path, format!("the ends must be two finite numbers: {FORM}"))
                    )
                }
            },
            other => {
                return Err(self.error(
                    path,
                    format!(
                        "expected two ends like [0.01, 100.0], found {}: {FORM}",
                        show(other)
                    ),
                ))
            }
        };
        if kind == "log" && (from <= 0.0 || to <= 0.0) {
            return Err(self.error(
                path,
                format!("a log-spaced range needs ends > 0, found [{from}, {to}]"),
            ));
        }
        let round = |x: f64| format!("{x:.11e}").parse::<f64>().unwrap_or(x);
        let step = |i: usize| i as f64 / (num - 1) as f64;
        let mut values: Vec<f64> = (0..num)
            .map(|i| match kind {
                "log" => round((from.ln() + step(i) * (to.ln() - from.ln())).exp()),
                _ => round(from + step(i) * (to - from)),
            })
            .collect();
        values[0] = from;
        values[num - 1] = to;
        Ok(values)
    }

    /// `{ range = [from, to], step = S }` (from, from + S, ... up to to) or
    /// `{ pow2 = [from, to] }` (the powers of two from..=to).
    fn int_range(&self, path: &[&str], t: &Table) -> Result<Vec<i64>, ExperimentError> {
        const FORM: &str = "a range of whole numbers is { range = [from, to], step = S } \
                            (step 1 if left out) or { pow2 = [from, to] } (the powers of two in between)";
        self.check_keys(t, path, &["range", "step", "pow2"])?;
        let ends = |v: &Value| -> Result<(i64, i64), ExperimentError> {
            match v {
                Value::Array(a) if a.len() == 2 => match (&a[0], &a[1]) {
                    (Value::Integer(x), Value::Integer(y)) if x <= y => Ok((*x, *y)),
                    _ => Err(self.error(
                        path,
                        format!("the ends must be two whole numbers, the first not larger: {FORM}"),
                    )),
                },
                other => Err(self.error(
                    path,
                    format!(
                        "expected two ends like [10, 100], found {}: {FORM}",
                        show(other)
                    ),
                )),
            }
        };
        let values: Vec<i64> = match (t.get("range"), t.get("pow2")) {
            (Some(r), None) => {
                let (from, to) = ends(r)?;
                let step = match t.get("step") {
                    None => 1,
                    Some(Value::Integer(s)) if *s >= 1 => *s,
                    Some(other) => {
                        let step_path: Vec<&str> = path.iter().copied().chain(["step"]).collect();
                        return Err(self.error(
                            &step_path,
                            format!(
                                "{} is not allowed: the step is a whole number >= 1",
                                show(other)
                            ),
                        ));
                    }
                };
                if (to - from) / step >= MAX_RANGE_VALUES as i64 {
                    return Err(
                        self.error(path, "the range gives more than 100000 values".to_string())
                    );
                }
                (from..=to).step_by(step as usize).collect()
            }
            (None, Some(r)) => {
                if t.contains_key("step") {
                    return Err(self.error(
                        path,
                        format!("`step` goes with `range`, not `pow2`: {FORM}"),
                    ));
                }
                let (from, to) = ends(r)?;
                let powers: Vec<i64> = (0..63)
                    .map(|k| 1i64 << k)
                    .filter(|p| (from..=to).contains(p))
                    .collect();
                if powers.is_empty() {
                    return Err(self.error(
                        path,
                        format!("there is no power of two from {from} to {to}"),
                    ));
                }
                powers
            }
            _ => {
                return Err(self.error(
                    path,
                    format!("give exactly one of `range` and `pow2`: {FORM}"),
                ))
            }
        };
        Ok(values)
    }

    fn choices(
        &self,
        path: &[&str],
        v: &Value,
        names: &[&str],
    ) -> Result<Vec<usize>, ExperimentError> {
        let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        let allowed = quoted.join(" or ");
        self.list(path, v, &allowed)?
            .into_iter()
            .map(|item| {
                let Value::String(s) = item else {
                    return Err(
                        self.error(path, format!("expected {allowed}, found {}", show(item)))
                    );
                };
                names.iter().position(|n| n == s).ok_or_else(|| {
                    let hint = suggest(s, names)
                        .map(|x| format!(" (did you mean \"{x}\"?)"))
                        .unwrap_or_default();
                    self.error(path, format!("\"{s}\" is not allowed{hint}: use {allowed}"))
                })
            })
            .collect()
    }

    /// `hidden = 30` (one hidden layer of 30), `[10, 30, 100]` (three networks),
    /// `{ range = [10, 100], step = 10 }`, or `[[100, 30], [30]]` (the hidden layers of each
    /// network); the input and output layers are the data set's (784 and 10).
    fn hidden(&self, path: &[&str], v: &Value) -> Result<Vec<Vec<usize>>, ExperimentError> {
        const FORM: &str =
            "`hidden` gives the hidden layers' widths: 30, a list like [10, 30, 100] \
                            (one network each), a range like { range = [10, 100], step = 10 }, or \
                            lists of layers like [[100, 30], [30]]";
        let width = |n: i64| -> Result<usize, ExperimentError> {
            if (1..=100_000).contains(&n) {
                Ok(n as usize)
            } else {
                Err(self.error(
                    path,
                    format!("a hidden layer of {n} neurons is not allowed: each layer has 1 to 100000 neurons"),
                ))
            }
        };
        let network = |hidden: Vec<usize>| -> Vec<usize> {
            std::iter::once(IMAGE_PIXELS)
                .chain(hidden)
                .chain([CLASSES])
                .collect()
        };
        let nested = matches!(v, Value::Array(items) if items.iter().any(|i| i.is_array()));
        if !nested {
            return self
                .integers(path, v, "hidden layer widths")?
                .into_iter()
                .map(|n| Ok(network(vec![width(n)?])))
                .collect();
        }
        let Value::Array(items) = v else {
            unreachable!("nested is an array")
        };
        items
            .iter()
            .map(|item| match item {
                Value::Array(layers) => layers
                    .iter()
                    .map(|l| match l {
                        Value::Integer(n) => width(*n),
                        other => Err(self.error(path, format!("found {}: {FORM}", show(other)))),
                    })
                    .collect::<Result<Vec<usize>, _>>()
                    .map(network),
                other => Err(self.error(
                    path,
                    format!("found {} beside lists of layers: {FORM}", show(other)),
                )),
            })
            .collect()
    }

    /// `[784, 30, 10]` (one network) or `[[784, 30, 10], [784, 100, 10]]` (several).
    fn sizes(&self, v: &Value) -> Result<Vec<Vec<usize>>, ExperimentError> {
        let path = ["grid", "sizes"];
        let shape_error = |found: &Value| {
            self.error(
                &path,
                format!(
                    "expected layer sizes like [784, 30, 10] or a list of them like \
                     [[784, 30, 10], [784, 100, 10]], found {}",
                    show(found)
                ),
            )
        };
        let Value::Array(items) = v else {
            return Err(shape_error(v));
        };
        if items.is_empty() {
            return Err(self.error(
                &path,
                "an empty list is not allowed: give layer sizes like [784, 30, 10]".to_string(),
            ));
        }
        let networks: Vec<&Vec<Value>> = if items.iter().all(|i| i.is_integer()) {
            vec![items]
        } else {
            items
                .iter()
                .map(|i| match i {
                    Value::Array(a) => Ok(a),
                    other => Err(shape_error(other)),
                })
                .collect::<Result<_, _>>()?
        };
        let mut out = Vec::new();
        for net in networks {
            let mut sizes = Vec::new();
            for s in net {
                match s {
                    Value::Integer(n) if *n >= 1 && *n <= 100_000 => sizes.push(*n as usize),
                    Value::Integer(n) => {
                        return Err(self.error(
                            &path,
                            format!("a layer of {n} neurons is not allowed: each layer has 1 to 100000 neurons"),
                        ))
                    }
                    other => return Err(shape_error(other)),
                }
            }
            if sizes.len() < 2 {
                return Err(self.error(
                    &path,
                    format!(
                        "{:?} is not allowed: a network has at least an input and an output layer, like [784, 10]",
                        sizes
                    ),
                ));
            }
            if sizes[0] != IMAGE_PIXELS || *sizes.last().unwrap() != CLASSES {
                return Err(self.error(
                    &path,
                    format!(
                        "{sizes:?} is not allowed: for MNIST the first layer must have {IMAGE_PIXELS} neurons \
                         (28x28 pixels) and the last {CLASSES} (digits 0-9), like [784, 30, 10]"
                    ),
                ));
            }
            out.push(sizes);
        }
        Ok(out)
    }
}

/// Replaces every searched key with more than one value by `trials` random draws (one zip axis):
/// log ranges log-uniformly, lin ranges uniformly between their ends, other lists by picking a
/// value. The seeds stay an axis of their own, so every trial is trained with every seed. The
/// draws depend on the search's seed alone.
fn random_search(mut grid: Grid, raw: &Table, trials: usize, seed: u64) -> Grid {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let continuous = |key: &str| -> Option<(bool, f64, f64)> {
        let Some(Value::Table(t)) = raw.get(key) else {
            return None;
        };
        let (log, ends) = match (t.get("log"), t.get("lin")) {
            (Some(e), _) => (true, e),
            (_, Some(e)) => (false, e),
            _ => return None,
        };
        let Value::Array(a) = ends else { return None };
        let num = |v: &Value| v.as_float().or_else(|| v.as_integer().map(|n| n as f64));
        Some((log, num(&a[0])?, num(&a[1])?))
    };
    let round = |x: f64| format!("{x:.5e}").parse::<f64>().unwrap_or(x);
    let draw =
        |key: &str, n: usize, rng: &mut rand_chacha::ChaCha8Rng| -> Option<Result<f64, usize>> {
            if let Some((log, a, b)) = continuous(key) {
                let u: f64 = rng.random();
                return Some(Ok(round(if log {
                    (a.ln() + u * (b.ln() - a.ln())).exp()
                } else {
                    a + u * (b - a)
                })));
            }
            (n > 1).then(|| Err(rng.random_range(0..n)))
        };
    let mut points = Vec::with_capacity(trials);
    for _ in 0..trials {
        let mut p = Partial::default();
        for key in searched_keys() {
            let n = grid.count(key);
            let Some(d) = draw(key, n, &mut rng) else {
                continue;
            };
            match (key, d) {
                ("eta", Ok(x)) => p.eta = Some(x),
                ("lambda", Ok(x)) => p.lambda = Some(x),
                ("sizes", Err(i)) => p.sizes = Some(grid.sizes[i].clone()),
                ("eta", Err(i)) => p.eta = Some(grid.eta[i]),
                ("batch_size", Err(i)) => p.batch_size = Some(grid.batch_size[i]),
                ("epochs", Err(i)) => p.epochs = Some(grid.epochs[i]),
                ("cost", Err(i)) => p.cost = Some(grid.cost[i]),
                ("init", Err(i)) => p.init = Some(grid.init[i]),
                ("lambda", Err(i)) => p.lambda = Some(grid.lambda[i]),
                ("momentum", Ok(x)) => p.momentum = Some(x.min(0.999)),
                ("momentum", Err(i)) => p.momentum = Some(grid.momentum[i]),
                ("activation", Err(i)) => p.activation = Some(grid.activation[i]),
                ("eta_schedule", Err(i)) => p.eta_schedule = Some(grid.eta_schedule[i]),
                ("early_stopping", Err(i)) => p.early_stopping = Some(grid.early_stopping[i]),
                ("expand", Err(i)) => p.expand = Some(grid.expand[i]),
                _ => {}
            }
        }
        points.push(p);
    }
    // the drawn keys vary only through the trials
    for key in searched_keys() {
        if points.iter().any(|p| p.value(key).is_some()) {
            grid.keep_first(key);
        }
    }
    grid.zips = vec![points];
    grid.dedup();
    grid
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The allowed key closest to `given`, if it is close enough to be a likely misspelling, or the
/// key that a known alias stands for.
fn suggest<'k>(given: &str, allowed: &[&'k str]) -> Option<&'k str> {
    let lower = given.to_ascii_lowercase();
    if let Some((_, target)) = ALIASES.iter().find(|(alias, _)| *alias == lower) {
        if let Some(t) = allowed.iter().find(|a| *a == target) {
            return Some(t);
        }
    }
    allowed
        .iter()
        .map(|a| (strsim::damerau_levenshtein(&lower, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4) && *d < a.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// A value as the user wrote it, with its TOML type for context.
fn show(v: &Value) -> String {
    let kind = match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "a list",
        Value::Table(_) => "a table",
    };
    match v {
        Value::Table(_) => kind.to_string(),
        Value::Float(_) | Value::Integer(_) => v.to_string(),
        _ => format!("{kind} {v}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Experiment, ExperimentError> {
        Experiment::from_str(text, Path::new("experiments/test.toml"))
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
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
        assert_eq!(e.grid.eta.len(), 7);
        assert_eq!(e.grid.seed, vec![1, 2, 3]);
        assert_eq!(e.run_count(), 21);
    }

    #[test]
    fn lists_and_single_values() {
        let e = parse(
            "[grid]\nsizes = [784, 100, 10]\neta = 1\nlambda = [0, 5.0]\ncost = [\"quadratic\", \"cross-entropy\"]\ninit = \"scaled\"\n[data]\nmonitor = [\"test_accuracy\"]\ntrain_size = 1000",
        )
        .unwrap();
        assert_eq!(e.grid.sizes, vec![vec![784, 100, 10]]);
        assert_eq!(e.grid.eta, vec![1.0]);
        assert_eq!(e.grid.lambda, vec![0.0, 5.0]);
        assert_eq!(e.grid.cost, vec![Cost::Quadratic, Cost::CrossEntropy]);
        assert_eq!(e.grid.init, vec![Init::Scaled]);
        assert_eq!(e.data.monitor.metrics(), vec![Metric::TestAccuracy]);
        assert_eq!(e.run_count(), 4);
    }

    #[test]
    fn errors_name_file_line_key_and_what_is_allowed() {
        assert_eq!(
            err("[grid]\neta = [1.0, -0.5]"),
            "experiments/test.toml:2:7: `grid.eta`: -0.5 is not allowed: the learning rate eta must be a finite number > 0, e.g. 3.0"
        );
        assert_eq!(
            err("[grid]\neta = []"),
            "experiments/test.toml:2:7: `grid.eta`: an empty list is not allowed: give one value or a list of numbers"
        );
        assert!(err("[grid]\neta = nan").contains("nan is not allowed"));
        assert!(err("[grid]\neta = inf").contains("inf is not allowed"));
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
            "experiments/test.toml:2:1: `grid.etaa`: unknown key (did you mean `eta`?); the keys allowed in [grid] are: sizes, hidden, eta, batch_size, epochs, seed, cost, init, lambda, activation, output, momentum, eta_schedule, early_stopping, expand, seeds, zip"
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
        assert!(
            err("[search]\nmode = \"bayes\"\ntrials = 3\n").contains("use \"random\" or \"grid\"")
        );
        assert!(err(
            "[search]\nmode = \"random\"\ntrials = 3\n[grid]\n[[grid.zip]]\neta = [1.0]\n"
        )
        .contains("cannot be combined"));
    }

    #[test]
    fn ranges_expand_with_their_ends() {
        let e = parse("[grid]\neta = { log = [0.001, 100.0], num = 11 }\nlambda = { lin = [0.5, 5.0], num = 10 }\nbatch_size = { pow2 = [1, 1024] }\nepochs = { range = [10, 100], step = 10 }\nseeds = 5").unwrap();
        let g = &e.grid;
        assert_eq!(g.eta.len(), 11);
        assert_eq!((g.eta[0], g.eta[10]), (0.001, 100.0));
        assert_eq!(g.eta[2], 0.01, "log-spaced values print as written");
        assert_eq!(g.eta[6], 1.0);
        assert!(g
            .eta
            .windows(2)
            .all(|w| (w[1] / w[0] - 10f64.sqrt()).abs() < 1e-9));
        assert_eq!(
            g.lambda,
            vec![0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
        );
        assert_eq!(
            g.batch_size,
            vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
        );
        assert_eq!(g.epochs, vec![10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
        assert_eq!(g.seed, vec![1, 2, 3, 4, 5]);
        assert_eq!(g.len(), 11 * 10 * 11 * 10 * 5);
        let e = parse(
            "[grid]\nepochs = { range = [1, 10], step = 4 }\nbatch_size = { pow2 = [3, 20] }",
        )
        .unwrap();
        assert_eq!(e.grid.epochs, vec![1, 5, 9]);
        assert_eq!(e.grid.batch_size, vec![4, 8, 16]);
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
        assert!(
            err("[grid]\nbatch_size = { pow2 = [5, 7] }").contains("no power of two from 5 to 7")
        );
        assert!(err("[grid]\nseed = 1\nseeds = 3").contains("either `seed`"));
        assert!(err("[grid]\nseeds = 0").contains("`grid.seeds`: 0 is not allowed"));
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
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
            g.activation,
            vec![Activation::Sigmoid, Activation::Tanh, Activation::Relu]
        );
        assert_eq!(g.momentum, vec![0.0, 0.9]);
        assert_eq!(
            g.eta_schedule,
            vec![Schedule::Constant, Schedule::Halve { patience: 10 }]
        );
        assert_eq!(g.early_stopping, vec![10]);
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
        assert_eq!(e.grid.cost, vec![Cost::LogLikelihood]);
        let e = parse("[grid]\noutput = [\"sigmoid\", \"softmax\"]\ncost = \"cross-entropy\"\n")
            .unwrap();
        assert_eq!(e.grid.cost, vec![Cost::CrossEntropy, Cost::LogLikelihood]);
        let e = parse("[grid]\ncost = \"log-likelihood\"\n").unwrap();
        assert_eq!(e.grid.cost, vec![Cost::LogLikelihood]);
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
        let sizes = |text: &str| parse(text).unwrap().grid.sizes;
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
}
