//! From the file as written ([`raw::File`]) to a validated [`Experiment`], in one step.
//!
//! Every setting is read through its declaration in [`SETTINGS`] wherever it appears (`[grid]`,
//! `[data]`, a `[[grid.zip]]` table, a `[[variant]]`), so it gets the same forms, the same limits
//! and the same messages everywhere. The checks between settings (a mini-batch against the
//! training set it meets, a validation set for the rules that need one) run once, after every
//! source of values has been read, over all of them.

use std::path::PathBuf;

use toml::Value as Toml;

use super::error::ExperimentError;
use super::raw::{self, TableOr, TablesOr, TOP_KEYS};
use super::values::{self, show, unknown_key, At, Source, MAX_RANGE_VALUES};
use super::{DataSettings, Experiment, TrainSizeSource};
use crate::data::{DatasetKind, DEFAULT_VALIDATION, MNIST_TRAIN, TRAINING_FILE_IMAGES};
use crate::grid::settings::{self, Kind, Max, Setting, SETTINGS};
use crate::grid::{Grid, Partial, RunSettings, Value, Variant};
use crate::metrics::{Metric, Monitor};
use crate::nn::maths::Cost;
use crate::search::halving::Pruning;
use crate::search::random::random_search;
use crate::search::range_test::Suggestion;
use crate::search::{CurvatureSearch, Halving, RangeTest, Search, ThresholdSearch};

const DATA_KEYS: &[&str] = &["dataset", "dir", "train_size", "validation_size", "monitor"];
/// `[search]`'s modes and the keys each takes beside `mode`.
const SEARCH_MODES: [(&str, &[&str]); 6] = [
    ("grid", &[]),
    ("random", &["trials", "seed"]),
    (
        "threshold",
        &[
            "start",
            "factor",
            "watch",
            "precision",
            "probes",
            "then_train",
            "refine",
        ],
    ),
    ("halving", &["reduction", "min_epochs", "metric", "prune"]),
    ("curvature", &["sample", "iterations", "tolerance"]),
    (
        "range_test",
        &["min", "max", "steps", "suggestion", "then_train"],
    ),
];

/// What `[search]` asks for.
enum SearchSpec {
    Grid,
    Random(usize, u64),
    Threshold(ThresholdSearch),
    Halving(Halving),
    Curvature(CurvatureSearch),
    RangeTest(RangeTest),
}
/// `[grid]`'s own keys beside the settings: `seeds = N` for seeds 1 to N, and the zips.
const GRID_EXTRA_KEYS: [&str; 2] = ["seeds", "zip"];
/// The output layers `output` may name: sigmoid (with the `cost`) or softmax (log-likelihood).
const OUTPUTS: [&str; 2] = ["sigmoid", "softmax"];

/// Where a setting's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Grid,
    Zip(usize),
    Variant(usize),
}

/// The keys a table may hold: for each setting allowed there, its name and its other form.
fn setting_keys(allowed: impl Fn(&Setting) -> bool) -> Vec<&'static str> {
    SETTINGS
        .iter()
        .filter(|s| allowed(s))
        .flat_map(|s| std::iter::once(s.name).chain(s.form))
        .collect()
}

/// (alias, key) pairs of every setting, for "did you mean".
fn aliases() -> Vec<(&'static str, &'static str)> {
    SETTINGS
        .iter()
        .flat_map(|s| s.aliases.iter().map(move |a| (*a, s.name)))
        .collect()
}

/// The validation step and what it has read so far.
struct Validator<'a> {
    source: Source<'a>,
    /// Training images available after the validation split.
    available: usize,
    /// `[data] train_size`.
    train_size: usize,
    /// Where each setting was written, by origin: for locating the errors between settings.
    written: Vec<(Origin, usize, At<'a>)>,
}

impl<'a> Validator<'a> {
    fn check_keys(
        &self,
        table: &raw::Table,
        section: &str,
        allowed: &[&str],
    ) -> Result<(), ExperimentError> {
        match table
            .entries
            .iter()
            .find(|(k, _)| !allowed.contains(&k.get_ref().as_str()))
        {
            None => Ok(()),
            Some((k, _)) => Err(unknown_key(
                &self.source,
                k.get_ref(),
                &format!("{section}.{}", k.get_ref()),
                k.span(),
                section,
                allowed,
                &aliases(),
            )),
        }
    }

    /// The place of `key` in `table` (whose dotted name is `prefix`).
    fn at(&self, prefix: &str, key: &str, item: &raw::Item) -> At<'a> {
        self.source.at(format!("{prefix}.{key}"), item.span())
    }

    /// Reads the values of setting `s`, written under `key` (its name or its other form).
    fn values(
        &self,
        at: &At,
        s: &Setting,
        key: &str,
        v: &Toml,
    ) -> Result<Vec<Value>, ExperimentError> {
        Ok(match s.kind {
            Kind::Sizes if Some(key) == s.form => values::hidden(at, v)?
                .into_iter()
                .map(Value::Sizes)
                .collect(),
            Kind::Sizes => values::sizes(at, v)?
                .into_iter()
                .map(Value::Sizes)
                .collect(),
            Kind::Float { allowed, rule } => values::floats(at, v, allowed, rule)?
                .into_iter()
                .map(Value::Float)
                .collect(),
            Kind::Int { what, .. } => {
                let what = what.replace("{max}", &self.bound(s).to_string());
                values::integers(at, v, &what)?
                    .into_iter()
                    .map(|n| self.int(at, s, n))
                    .collect::<Result<_, _>>()?
            }
            Kind::Choice { names, value } => values::choices(at, v, names)?
                .into_iter()
                .map(value)
                .collect(),
            Kind::Bool { rule } => values::booleans(at, v, rule)?
                .into_iter()
                .map(Value::Bool)
                .collect(),
            Kind::Text { parse, rule } => values::texts(at, v, parse, rule)?,
        })
    }

    /// The upper bound of a whole-number setting, as far as it is known while reading it.
    fn bound(&self, s: &Setting) -> u64 {
        match s.kind {
            Kind::Int {
                max: Max::Fixed(n), ..
            } => n,
            Kind::Int {
                max: Max::Available,
                ..
            } => self.available as u64,
            Kind::Int {
                max: Max::TrainSize,
                ..
            } => self.train_size as u64,
            _ => u64::MAX,
        }
    }

    /// A whole number of setting `s`, checked against its limits (a mini-batch against the
    /// training set is checked later, where both are known).
    fn int(&self, at: &At, s: &Setting, n: i64) -> Result<Value, ExperimentError> {
        let Kind::Int { min, max, rule, .. } = s.kind else {
            unreachable!("{} is not a whole number", s.name)
        };
        let limit = match max {
            Max::TrainSize => u64::MAX,
            _ => self.bound(s),
        };
        if n < 0 || (n as u64) < min || n as u64 > limit {
            let rule = rule.replace("{max}", &self.bound(s).to_string());
            return Err(at.err(format!("{n} is not allowed: {rule}")));
        }
        Ok(Value::Int(n as u64))
    }

    /// The costs `output = "sigmoid" | "softmax"` (or a list) stands for: the log-likelihood for
    /// a softmax layer; for a sigmoid layer the sigmoid costs of `costs` (given in the same
    /// table), or the quadratic cost.
    fn output(
        &self,
        at: &At,
        v: &Toml,
        costs: Option<&[Value]>,
    ) -> Result<Vec<Value>, ExperimentError> {
        let outputs = values::choices(at, v, &OUTPUTS)?;
        let cost_of = |c: Cost| Value::Cost(c);
        let Some(costs) = costs else {
            return Ok(outputs
                .iter()
                .map(|&o| {
                    cost_of(if o == 0 {
                        Cost::Quadratic
                    } else {
                        Cost::LogLikelihood
                    })
                })
                .collect());
        };
        let sigmoid_costs: Vec<Value> = costs
            .iter()
            .filter(|c| !matches!(c, Value::Cost(c) if c.softmax()))
            .cloned()
            .collect();
        let mut out = Vec::new();
        if outputs.contains(&0) {
            if sigmoid_costs.is_empty() {
                return Err(at.err(
                    "a sigmoid output layer needs the cost \"quadratic\" or \"cross-entropy\"; \
                     `cost` lists only \"log-likelihood\", which is the softmax's",
                ));
            }
            out.extend(sigmoid_costs);
        } else if let Some(c) = sigmoid_costs.first() {
            return Err(at.err(format!(
                "output = \"softmax\" is trained with the log-likelihood cost, so cost = \"{c}\" \
                 cannot go with it: leave `cost` out (or list \"sigmoid\" in `output` too)"
            )));
        }
        if outputs.contains(&1) {
            out.push(cost_of(Cost::LogLikelihood));
        }
        Ok(out)
    }

    /// Reads the settings of one table (`[grid]`, a zip, a variant), each with its values, in
    /// table order. A setting may be written in one of its two forms, not both, except that
    /// `[grid]` may give `output` with the `cost`s of its sigmoid layer.
    fn settings_of(
        &mut self,
        table: &raw::Table,
        prefix: &str,
        origin: Origin,
        allowed: impl Fn(&Setting) -> bool,
    ) -> Result<Vec<(usize, Vec<Value>)>, ExperimentError> {
        let mut out = Vec::new();
        for (i, s) in SETTINGS.iter().enumerate().filter(|(_, s)| allowed(s)) {
            let named = table.get(s.name).map(|v| (s.name, v));
            let formed = s.form.and_then(|f| table.get(f).map(|v| (f, v)));
            let both_allowed = origin == Origin::Grid && s.name == "cost";
            if let (Some(_), Some((form, _))) = (named, formed) {
                if !both_allowed {
                    let table_name = match origin {
                        Origin::Grid => "[grid]",
                        Origin::Zip(_) => "a [[grid.zip]] table",
                        Origin::Variant(_) => "a [[variant]]",
                    };
                    let why = if form == "output" {
                        " (`output = \"softmax\"` is the log-likelihood cost)"
                    } else {
                        ""
                    };
                    let item = table.get(form).expect("present");
                    return Err(self.at(prefix, form, item).err(format!(
                        "give `{}` or `{form}` in {table_name}, not both{why}",
                        s.name
                    )));
                }
            }
            let mut values = None;
            if let Some((key, item)) = named {
                let at = self.at(prefix, key, item);
                values = Some(self.values(&at, s, key, item.get_ref())?);
                self.written.push((origin, i, at));
            }
            if let Some((key, item)) = formed {
                let at = self.at(prefix, key, item);
                values = Some(if key == "output" {
                    self.output(&at, item.get_ref(), values.as_deref())?
                } else {
                    self.values(&at, s, key, item.get_ref())?
                });
                self.written.push((origin, i, at));
            }
            if let Some(v) = values {
                out.push((i, v));
            }
        }
        Ok(out)
    }

    fn data(
        &mut self,
        entry: Option<&(raw::Key, toml::Spanned<TableOr<raw::Table>>)>,
    ) -> Result<(DataSettings, Option<At<'a>>), ExperimentError> {
        let mut data = DataSettings {
            dataset: DatasetKind::Mnist,
            dir: PathBuf::from("data/mnist"),
            dir_location: None,
            train_size: MNIST_TRAIN,
            validation_size: DEFAULT_VALIDATION,
            monitor: Monitor::all(),
        };
        let Some((_, t)) = entry else {
            return Ok((data, None));
        };
        let t = match t.get_ref() {
            TableOr::Table(t) => t,
            TableOr::Other(v) => {
                return Err(self
                    .source
                    .at("data", t.span())
                    .err(format!("expected a table [data], found {}", show(v))))
            }
        };
        self.check_keys(t, "data", DATA_KEYS)?;
        let source = self.source;
        let at = |key: &str| source.at(format!("data.{key}"), t.get(key).expect("present").span());
        self.dataset_and_dir(t, &mut data)?;
        if let Some(v) = t.get("validation_size") {
            let at = at("validation_size");
            let n = values::integer(&at, v.get_ref(), "a whole number from 0 to 59999")?;
            if !(0..TRAINING_FILE_IMAGES as i64).contains(&n) {
                return Err(at.err(format!("{n} is not allowed: validation_size is taken from the end of the 60000 training images, from 0 to 59999")));
            }
            data.validation_size = n as usize;
        }
        // By default the training set is the rest of the training file (the book's 50,000).
        self.available = TRAINING_FILE_IMAGES - data.validation_size;
        data.train_size = self.available;
        let mut train_at = None;
        if let Some(v) = t.get("train_size") {
            let at = at("train_size");
            let s = settings::setting("train_size").expect("a setting");
            let what = format!("a whole number from 1 to {}", self.available);
            let n = values::integer(&at, v.get_ref(), &what)?;
            data.train_size = self.int(&at, s, n)?.as_f64().expect("a number") as usize;
            train_at = Some(at);
        } else if data.dataset == DatasetKind::Idx {
            return Err(at("dataset").err(
                "dataset = \"idx\" needs `train_size`: how many of the folder's training images to \
                 train on (the rest of the file after validation_size, at most)",
            ));
        }
        if let Some(v) = t.get("monitor") {
            data.monitor = monitor(&at("monitor"), v.get_ref())?;
        }
        self.train_size = data.train_size;
        if data.validation_size == 0
            && (data.monitor.has(Metric::ValidationCost)
                || data.monitor.has(Metric::ValidationAccuracy))
        {
            return Err(at("validation_size").err(
                "0 leaves no validation set, so `data.monitor` must not list validation_cost or \
                 validation_accuracy (and it lists every metric when it is left out)",
            ));
        }
        Ok((data, train_at))
    }

    /// `[data] dataset` and `dir` (a built-in data set's folder by default).
    fn dataset_and_dir(
        &self,
        t: &raw::Table,
        data: &mut DataSettings,
    ) -> Result<(), ExperimentError> {
        let source = self.source;
        let at = |key: &str| source.at(format!("data.{key}"), t.get(key).expect("present").span());
        if let Some(v) = t.get("dataset") {
            let names: Vec<&str> = DatasetKind::ALL.iter().map(|d| d.name()).collect();
            if v.get_ref().is_array() {
                return Err(at("dataset").err("give one data set, not a list"));
            }
            data.dataset =
                DatasetKind::ALL[values::choices(&at("dataset"), v.get_ref(), &names)?[0]];
        }
        match (t.get("dir"), data.dataset.default_dir()) {
            (Some(v), _) => {
                let s = values::string(&at("dir"), v.get_ref())?;
                if s.is_empty() {
                    return Err(at("dir").err("must not be empty"));
                }
                data.dir = PathBuf::from(s);
                data.dir_location = Some(values::line_col(self.source.text, v.span().start));
            }
            (None, Some(default)) => data.dir = PathBuf::from(default),
            (None, None) => {
                return Err(at("dataset")
                    .err("dataset = \"idx\" needs `dir`: the folder holding the four IDX files"))
            }
        }
        Ok(())
    }

    /// `[search]`: the plain grid (`mode = "grid"`, the default), a random search (`trials`,
    /// `seed`), the book's threshold procedure for eta, or successive halving.
    fn search(
        &self,
        entry: Option<&(raw::Key, toml::Spanned<TableOr<raw::Table>>)>,
        monitor: Monitor,
    ) -> Result<SearchSpec, ExperimentError> {
        let Some((_, t)) = entry else {
            return Ok(SearchSpec::Grid);
        };
        let whole = self.source.at("search", t.span());
        let t = match t.get_ref() {
            TableOr::Table(t) => t,
            TableOr::Other(v) => {
                return Err(whole.err(format!("expected a table [search], found {}", show(v))))
            }
        };
        let all: Vec<&str> = SEARCH_MODES
            .iter()
            .flat_map(|(_, keys)| keys.iter().copied())
            .chain(["mode"])
            .collect();
        self.check_keys(t, "search", &all)?;
        let s = SearchTable { v: self, t, whole };
        let mode = s.mode()?;
        s.own_keys_only(mode)?;
        match mode {
            "grid" => Ok(SearchSpec::Grid),
            "random" => s.random(),
            "threshold" => s.threshold(),
            "halving" => s.halving(monitor),
            "curvature" => s.curvature(),
            "range_test" => s.range_test(),
            _ => unreachable!("modes are checked above"),
        }
    }

    /// `[grid]`: each setting's list; `seeds = N`; the zips are read by [`Self::zips`].
    fn grid(
        &mut self,
        t: &raw::Table,
        searched: bool,
    ) -> Result<(Grid, Vec<(usize, Toml)>), ExperimentError> {
        let mut allowed = setting_keys(|s| s.in_grid);
        allowed.extend(GRID_EXTRA_KEYS);
        self.check_keys(t, "grid", &allowed)?;
        // A random search may leave `num` out of a log or lin range: only the ends matter.
        let mut t_owned;
        let mut t = t;
        if searched {
            t_owned = raw::Table::default();
            for (k, v) in &t.entries {
                let mut v = v.clone();
                if let Toml::Table(r) = v.get_mut() {
                    if !r.contains_key("num") && (r.contains_key("log") || r.contains_key("lin")) {
                        r.insert("num".to_string(), Toml::Integer(2));
                    }
                }
                t_owned.entries.push((k.clone(), v));
            }
            t = &t_owned;
        }
        let mut grid = Grid::default();
        for (i, values) in self.settings_of(t, "grid", Origin::Grid, |s| s.in_grid)? {
            grid.set_axis(i, values);
        }
        let seed = settings::index("seed").expect("a setting");
        if let Some(v) = t.get("seeds") {
            let at = self.at("grid", "seeds", v);
            if t.contains("seed") {
                return Err(at.err("give either `seed` (a list of seeds) or `seeds` (how many: seeds = 5 means seed = [1, 2, 3, 4, 5]), not both"));
            }
            let n = values::integer(&at, v.get_ref(), "a whole number of seeds from 1 to 100000")?;
            if !(1..=MAX_RANGE_VALUES as i64).contains(&n) {
                return Err(at.err(format!("{n} is not allowed: `seeds = N` trains seeds 1 to N; N must be from 1 to 100000")));
            }
            grid.set_axis(seed, (1..=n as u64).map(Value::Int).collect());
            self.written.push((Origin::Grid, seed, at));
        }
        let train_size = settings::index("train_size").expect("a setting");
        grid.set_axis(train_size, vec![Value::Int(self.train_size as u64)]);
        // what a random search draws from: each setting's range as written, or its list
        let raw_values = SETTINGS
            .iter()
            .enumerate()
            .filter_map(|(i, s)| t.get(s.name).map(|v| (i, v.get_ref().clone())))
            .collect();
        Ok((grid, raw_values))
    }

    /// `[[grid.zip]]` tables: in each, every key's list has the same length and the lists vary
    /// together (point i takes the i-th value of every key).
    fn zips(
        &mut self,
        zips: &toml::Spanned<TablesOr>,
    ) -> Result<Vec<Vec<Partial>>, ExperimentError> {
        let tables = match zips.get_ref() {
            TablesOr::Tables(t) => t,
            TablesOr::Other(v) => {
                return Err(self.source.at("grid.zip", zips.span()).err(format!(
                    "write zipped settings as [[grid.zip]] tables, each holding lists of equal \
                     length (found {})",
                    show(v)
                )))
            }
        };
        let mut out = Vec::new();
        for (z, table) in tables.iter().enumerate() {
            let prefix = format!("grid.zip.{z}");
            let whole = self.source.at(prefix.clone(), table.span());
            let TableOr::Table(t) = table.get_ref() else {
                return Err(whole.err("expected a table of lists"));
            };
            self.check_keys(t, &prefix, &setting_keys(|s| s.zip))?;
            if t.is_empty() {
                return Err(whole.err("an empty [[grid.zip]] table zips nothing"));
            }
            let before = self.written.len();
            let columns = self.settings_of(t, &prefix, Origin::Zip(z), |s| s.zip)?;
            // a key is either in [grid] or in one zip
            for (_, i, at) in &self.written[before..] {
                let elsewhere = self.written[..before]
                    .iter()
                    .any(|(o, j, _)| j == i && *o != Origin::Zip(z));
                if elsewhere {
                    return Err(at.err(format!(
                        "`{}` is set in more than one place: a key is either in [grid] or in one [[grid.zip]] table",
                        SETTINGS[*i].name
                    )));
                }
            }
            // the lengths, named by the keys as written, in file order
            let mut lengths: Vec<(&str, usize, usize)> = self.written[before..]
                .iter()
                .map(|(_, i, at)| {
                    let key = at.key.rsplit('.').next().unwrap_or("");
                    let n = columns
                        .iter()
                        .find(|(j, _)| j == i)
                        .map_or(0, |c| c.1.len());
                    (key, n, at.span.start)
                })
                .collect();
            lengths.sort_by_key(|l| l.2);
            let (first, n, _) = lengths[0];
            if let Some((key, len, _)) = lengths.iter().find(|l| l.1 != n) {
                return Err(whole.err(format!(
                    "the lists of a [[grid.zip]] table vary together, so they need the same length: `{first}` has {n} values, `{key}` has {len}"
                )));
            }
            let points = (0..n)
                .map(|j| {
                    let mut p = Partial::default();
                    for (i, values) in &columns {
                        p.set(*i, values[j].clone());
                    }
                    p
                })
                .collect();
            out.push(points);
        }
        Ok(out)
    }

    /// `[[variant]]` tables: a `name` and single values of settings, each variant combined with
    /// the rest of the grid.
    fn variants(
        &mut self,
        entry: &(raw::Key, toml::Spanned<TablesOr>),
        grid: &Grid,
    ) -> Result<Vec<Variant>, ExperimentError> {
        let tables = match entry.1.get_ref() {
            TablesOr::Tables(t) => t,
            TablesOr::Other(v) => {
                return Err(self.source.at("variant", entry.1.span()).err(format!(
                    "write variants as [[variant]] tables, each with a `name` and the settings it \
                     changes (found {})",
                    show(v)
                )))
            }
        };
        let mut allowed = vec!["name"];
        allowed.extend(setting_keys(|s| s.variant));
        let mut variants: Vec<Variant> = Vec::new();
        for (n, table) in tables.iter().enumerate() {
            let prefix = format!("variant.{n}");
            let whole = self.source.at(prefix.clone(), table.span());
            let TableOr::Table(t) = table.get_ref() else {
                return Err(whole.err("expected a table"));
            };
            self.check_keys(t, &prefix, &allowed)?;
            let Some(v) = t.get("name") else {
                return Err(whole.err(
                    "`name` is missing: each variant is shown by its name in the CSV files and plots",
                ));
            };
            let name_at = self.at(&prefix, "name", v);
            let name = values::string(&name_at, v.get_ref())?;
            let ok = !name.trim().is_empty()
                && name.len() <= 60
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || " -_.+=()/:".contains(c));
            if !ok {
                return Err(name_at.err(format!(
                    "\"{name}\" is not allowed: a variant's name is 1 to 60 letters, digits, \
                     spaces and -_.+=()/: (it goes into CSV cells and plot legends)"
                )));
            }
            if variants.iter().any(|v| v.name == name) {
                return Err(name_at.err(format!(
                    "\"{name}\" names two variants: give each its own name"
                )));
            }
            let before = self.written.len();
            let columns = self.settings_of(t, &prefix, Origin::Variant(n), |s| s.variant)?;
            let mut settings = Partial::default();
            for ((i, values), (_, _, at)) in columns.iter().zip(&self.written[before..]) {
                let key = at.key.rsplit('.').next().unwrap_or("");
                if values.len() != 1 {
                    return Err(at.err(format!(
                        "a variant sets one value per key; to try several values of `{key}`, \
                         list them in [grid] (every variant is combined with the whole grid)"
                    )));
                }
                let swept = grid.axis(*i).len() > 1
                    || grid.zips.iter().flatten().any(|p| p.get(*i).is_some());
                if swept {
                    return Err(at.err(format!(
                        "`{key}` varies in [grid] and is also set by variant \"{name}\": a \
                         variant can only override a key that has one value in the grid"
                    )));
                }
                settings.set(*i, values[0].clone());
            }
            variants.push(Variant { name, settings });
        }
        Ok(variants)
    }

    /// Where setting `i` was written for `origin`, if it was.
    /// A threshold or curvature search (`search`) trains one network (every seed): no `eta`, no
    /// zips or variants, one value of every other setting.
    fn one_configuration(&self, grid: &Grid, search: &str) -> Result<(), ExperimentError> {
        let why = format!("a {search} search finds eta for one network");
        let eta = settings::index("eta").expect("a setting");
        let seed = settings::index("seed").expect("a setting");
        if let Some((_, _, at)) = self.written.iter().find(|(_, i, _)| *i == eta) {
            let first = if search == "threshold" {
                " (the first value tried is `search.start`, default 0.01)"
            } else {
                ""
            };
            return Err(at.err(format!(
                "eta must not be given in a {search} search: the search chooses it{first}"
            )));
        }
        if let Some((o, _, at)) = self.written.iter().find(|(o, _, _)| *o != Origin::Grid) {
            let what = match o {
                Origin::Zip(_) => "[[grid.zip]] tables",
                _ => "[[variant]] tables",
            };
            return Err(at.err(format!(
                "{why}: {what} are not allowed (run one search per network, or use a grid)"
            )));
        }
        for (i, s) in SETTINGS.iter().enumerate() {
            if i != seed && grid.axis(i).len() > 1 {
                let at = self.written_at(Origin::Grid, i).expect("a list is written");
                return Err(at.err(format!(
                    "{why}: `{}` has {} values; give one (run one search per network)",
                    s.name,
                    grid.axis(i).len()
                )));
            }
        }
        Ok(())
    }

    fn written_at(&self, origin: Origin, i: usize) -> Option<&At<'a>> {
        self.written
            .iter()
            .rev()
            .find(|(o, j, _)| *o == origin && *j == i)
            .map(|(_, _, at)| at)
    }

    /// Every mini-batch fits every training set it meets: in each variant (or the grid alone),
    /// the batch sizes and the training-set sizes come from the variant, a zip or the grid; from
    /// one zip they meet point by point, from two places every value meets every value.
    fn batches_fit(
        &self,
        grid: &Grid,
        data_train_at: Option<&At<'a>>,
    ) -> Result<(), ExperimentError> {
        let batch = settings::index("batch_size").expect("a setting");
        let train = settings::index("train_size").expect("a setting");
        // (origin, values, one per zip point or all of the list)
        let source = |v: Option<usize>, i: usize| -> (Origin, Vec<Value>) {
            if let Some(v) = v {
                if let Some(x) = grid.variants[v].settings.get(i) {
                    return (Origin::Variant(v), vec![x.clone()]);
                }
            }
            for (z, zip) in grid.zips.iter().enumerate() {
                if zip.iter().any(|p| p.get(i).is_some()) {
                    return (
                        Origin::Zip(z),
                        zip.iter().filter_map(|p| p.get(i).cloned()).collect(),
                    );
                }
            }
            (Origin::Grid, grid.axis(i).to_vec())
        };
        let contexts: Vec<Option<usize>> = if grid.variants.is_empty() {
            vec![None]
        } else {
            (0..grid.variants.len()).map(Some).collect()
        };
        let number = |v: &Value| v.as_f64().unwrap_or(0.0) as u64;
        for v in contexts {
            let (bo, bs) = source(v, batch);
            let (to, ts) = source(v, train);
            let pairs: Vec<(u64, u64)> = if bo == to && matches!(bo, Origin::Zip(_)) {
                bs.iter()
                    .zip(&ts)
                    .map(|(b, t)| (number(b), number(t)))
                    .collect()
            } else {
                let b = bs.iter().map(number).max().unwrap_or(0);
                let t = ts.iter().map(number).min().unwrap_or(u64::MAX);
                vec![(b, t)]
            };
            if let Some((b, t)) = pairs.into_iter().find(|(b, t)| b > t) {
                let at = self
                    .written_at(bo, batch)
                    .or_else(|| self.written_at(to, train))
                    .or(if to == Origin::Grid {
                        data_train_at
                    } else {
                        None
                    });
                let message = format!(
                    "a mini-batch of {b} does not fit a training set of {t} examples: the \
                     mini-batch size must be from 1 to train_size ({t})"
                );
                return Err(match at {
                    Some(at) => at.err(message),
                    None => self.source.error("", None, message),
                });
            }
        }
        Ok(())
    }

    /// `[grid]` with its zips and `[[variant]]`s; with no `[grid]`, the one configuration of the
    /// defaults. Also what a random search draws from (see [`Self::grid`]).
    fn whole_grid(
        &mut self,
        file: &raw::File,
        data: &DataSettings,
        random: bool,
    ) -> Result<(Grid, Vec<(usize, Toml)>), ExperimentError> {
        let source = self.source;
        let (mut grid, raw_values, zip_entry) = match &file.grid {
            None => {
                let mut grid = Grid::default();
                let ts = settings::index("train_size").expect("a setting");
                grid.set_axis(ts, vec![Value::Int(data.train_size as u64)]);
                (grid, Vec::new(), None)
            }
            Some((_, g)) => match g.get_ref() {
                TableOr::Other(x) => {
                    return Err(source
                        .at("grid", g.span())
                        .err(format!("expected a table [grid], found {}", show(x))))
                }
                TableOr::Table(g) => {
                    let (grid, raw) = self.grid(&g.settings, random)?;
                    (grid, raw, g.zip.as_ref())
                }
            },
        };
        if let Some(zips) = zip_entry {
            if random {
                return Err(source.error(
                    "search",
                    file.search.as_ref().map(|s| s.0.span()),
                    "a random search samples the grid's lists and ranges; it cannot be combined with [[grid.zip]]".to_string(),
                ));
            }
            grid.zips = self.zips(zips)?;
        }
        if let Some(entry) = &file.variant {
            grid.variants = self.variants(entry, &grid)?;
        }
        Ok((grid, raw_values))
    }

    /// The rules decided by the validation accuracy need a validation set.
    fn validation_needed(&self, grid: &Grid, data: &DataSettings) -> Result<(), ExperimentError> {
        if data.validation_size != 0 {
            return Ok(());
        }
        for (i, s) in SETTINGS.iter().enumerate() {
            let watches = grid
                .axis(i)
                .iter()
                .chain(grid.zips.iter().flatten().filter_map(|p| p.get(i)))
                .chain(grid.variants.iter().filter_map(|x| x.settings.get(i)))
                .any(|value| {
                    let mut run = RunSettings::default();
                    (s.set)(&mut run, value.clone());
                    run.watches_validation()
                });
            if watches {
                let key = s.name;
                return Err(self.source.error(
                    "data.validation_size",
                    self.written_at(Origin::Grid, i).map(|at| at.span.clone()),
                    format!(
                        "0 leaves no validation set, but `{key}` is decided by the validation \
                         accuracy after each epoch: keep a validation set (the default is 10000)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Successive halving stops configurations at the same epochs: one value of `epochs`.
    fn one_epochs(
        &self,
        grid: &Grid,
        search_at: Option<std::ops::Range<usize>>,
    ) -> Result<(), ExperimentError> {
        let epochs = settings::index("epochs").expect("a setting");
        if grid.zips.iter().flatten().any(|p| p.get(epochs).is_some())
            || grid
                .variants
                .iter()
                .any(|x| x.settings.get(epochs).is_some())
            || grid.axis(epochs).len() > 1
        {
            return Err(self.source.error(
                "grid.epochs",
                self.written_at(Origin::Grid, epochs)
                    .map(|at| at.span.clone())
                    .or(search_at),
                "successive halving stops configurations at the same epochs: give one value of \
                 `epochs` (the last rung)"
                    .to_string(),
            ));
        }
        Ok(())
    }

    /// Successive halving needs a rung before the last epoch: `min_epochs` < `epochs`.
    fn some_rung(
        &self,
        h: &Halving,
        grid: &Grid,
        entry: Option<&(raw::Key, toml::Spanned<TableOr<raw::Table>>)>,
        search_at: Option<std::ops::Range<usize>>,
    ) -> Result<(), ExperimentError> {
        let epochs = grid
            .values_of("epochs")
            .first()
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0) as usize;
        if h.min_epochs < epochs {
            return Ok(());
        }
        let written = entry.and_then(|(_, t)| match t.get_ref() {
            TableOr::Table(t) => t.get("min_epochs").map(|item| item.span()),
            TableOr::Other(_) => None,
        });
        Err(self.source.error(
            "search.min_epochs",
            written.or(search_at),
            format!(
                "{} is not allowed with epochs = {epochs}: the first rung prunes after \
                 `min_epochs` epochs, so it must be fewer than `epochs` (the last rung), e.g. \
                 min_epochs = 1 with epochs = {}",
                h.min_epochs,
                epochs.max(2)
            ),
        ))
    }

    /// Where each training-set size was set, for the check against the data set when it loads.
    fn train_sizes(
        &self,
        grid: &Grid,
        data: &DataSettings,
        data_train_at: Option<&At>,
    ) -> Vec<TrainSizeSource> {
        let ts = settings::index("train_size").expect("a setting");
        let mut train_sizes = vec![TrainSizeSource {
            value: data.train_size,
            place: data_train_at.map_or("data.train_size".to_string(), located),
        }];
        for (o, i, at) in &self.written {
            if *i == ts && *o != Origin::Grid {
                for value in grid
                    .zips
                    .iter()
                    .enumerate()
                    .filter(|(z, _)| Origin::Zip(*z) == *o)
                    .flat_map(|(_, zip)| zip.iter().filter_map(|p| p.get(ts)))
                    .chain(
                        grid.variants
                            .iter()
                            .enumerate()
                            .filter(|(n, _)| Origin::Variant(*n) == *o)
                            .filter_map(|(_, x)| x.settings.get(ts)),
                    )
                {
                    train_sizes.push(TrainSizeSource {
                        value: value.as_f64().unwrap_or(0.0) as usize,
                        place: located(at),
                    });
                }
            }
        }
        train_sizes
    }
}

/// The `[search]` table being validated: its keys read with their places.
struct SearchTable<'v, 'a> {
    v: &'v Validator<'a>,
    t: &'v raw::Table,
    /// The whole table, the place of a key left out.
    whole: At<'a>,
}

impl<'a> SearchTable<'_, 'a> {
    /// A key's own place, or the table's where it is left out.
    fn at(&self, key: &str) -> At<'a> {
        match self.t.get(key) {
            Some(item) => self.v.at("search", key, item),
            None => self
                .v
                .source
                .at(format!("search.{key}"), self.whole.span.clone()),
        }
    }

    fn mode(&self) -> Result<&'static str, ExperimentError> {
        let modes: Vec<String> = SEARCH_MODES
            .iter()
            .map(|(m, _)| format!("\"{m}\""))
            .collect();
        let written = self.t.get("mode").map(|v| v.get_ref());
        let known = match written {
            Some(Toml::String(m)) => SEARCH_MODES.iter().find(|(n, _)| n == m),
            _ => None,
        };
        match (written, known) {
            (None, _) => Err(self
                .whole
                .err(format!("`mode` is missing: {}", modes.join(", ")))),
            (_, Some((mode, _))) => Ok(mode),
            (Some(other), None) => Err(self.at("mode").err(format!(
                "{} is not allowed: use {}",
                show(other),
                modes.join(", ")
            ))),
        }
    }

    /// Refuses a key of another mode, naming the mode it belongs to.
    fn own_keys_only(&self, mode: &str) -> Result<(), ExperimentError> {
        let own = SEARCH_MODES
            .iter()
            .find(|(m, _)| *m == mode)
            .expect("a mode")
            .1;
        let Some((key, _)) = self
            .t
            .entries
            .iter()
            .find(|(k, _)| k.get_ref() != "mode" && !own.contains(&k.get_ref().as_str()))
        else {
            return Ok(());
        };
        let owner = SEARCH_MODES
            .iter()
            .find(|(_, keys)| keys.contains(&key.get_ref().as_str()))
            .map_or("", |(m, _)| m);
        Err(self
            .v
            .source
            .at(format!("search.{}", key.get_ref()), key.span())
            .err(format!(
                "`{}` belongs to mode = \"{owner}\", not to mode = \"{mode}\" (which takes {})",
                key.get_ref(),
                if own.is_empty() {
                    "no other key".to_string()
                } else {
                    own.iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )))
    }

    fn int(
        &self,
        key: &str,
        default: i64,
        min: i64,
        max: i64,
        what: &str,
    ) -> Result<i64, ExperimentError> {
        match self.t.get(key).map(|v| v.get_ref()) {
            None => Ok(default),
            Some(Toml::Integer(n)) if (min..=max).contains(n) => Ok(*n),
            Some(other) => Err(self
                .at(key)
                .err(format!("{} is not allowed: {what}", show(other)))),
        }
    }

    fn float(
        &self,
        key: &str,
        default: f64,
        ok: fn(f64) -> bool,
        what: &str,
    ) -> Result<f64, ExperimentError> {
        match self.t.get(key).map(|v| v.get_ref()) {
            None => Ok(default),
            Some(Toml::Float(x)) if ok(*x) => Ok(*x),
            Some(Toml::Integer(n)) if ok(*n as f64) => Ok(*n as f64),
            Some(other) => Err(self
                .at(key)
                .err(format!("{} is not allowed: {what}", show(other)))),
        }
    }

    fn random(&self) -> Result<SearchSpec, ExperimentError> {
        if self.t.get("trials").is_none() {
            return Err(self
                .whole
                .err("`trials` is missing: how many points to draw"));
        }
        let trials = self.int(
            "trials",
            0,
            1,
            MAX_RANGE_VALUES as i64,
            "the number of trials is from 1 to 100000",
        )? as usize;
        let seed = self.int(
            "seed",
            1,
            0,
            i64::MAX,
            "the search's seed is a whole number >= 0",
        )? as u64;
        Ok(SearchSpec::Random(trials, seed))
    }

    fn threshold(&self) -> Result<SearchSpec, ExperimentError> {
        let d = ThresholdSearch::default();
        let then_train = self.then_train()?;
        Ok(SearchSpec::Threshold(ThresholdSearch {
            start: self.float("start", d.start, |x| (1e-6..=1e6).contains(&x), "the first eta tried is from 1e-6 to 1e6")?,
            factor: self.float("factor", d.factor, |x| (1.5..=1000.0).contains(&x), "the coarse scan's step is a factor from 1.5 to 1000")?,
            watch: self.int("watch", d.watch as i64, 2, 100, "the epochs watched per probe are from 2 to 100 (the verdict compares epochs)")? as usize,
            precision: self.float("precision", d.precision, |x| x > 1.0 && x <= 100.0, "the precision is a ratio above 1 (e.g. 1.5: refine until the smallest unstable eta is at most 1.5 times the largest stable one)")?,
            probes: self.int("probes", d.probes as i64, 1, 64, "the etas probed per round are from 1 to 64")? as usize,
            then_train,
            refine: self.boolean("refine", d.refine)?,
        }))
    }

    /// `then_train`: false unless written.
    fn then_train(&self) -> Result<bool, ExperimentError> {
        self.boolean("then_train", false)
    }

    /// A true-or-false key, `default` unless written.
    fn boolean(&self, key: &str, default: bool) -> Result<bool, ExperimentError> {
        match self.t.get(key).map(|v| v.get_ref()) {
            None => Ok(default),
            Some(Toml::Boolean(b)) => Ok(*b),
            Some(other) => Err(self
                .at(key)
                .err(format!("{} is not allowed: true or false", show(other)))),
        }
    }

    fn range_test(&self) -> Result<SearchSpec, ExperimentError> {
        let d = RangeTest::default();
        let eta = |x: f64| (1e-8..=1e6).contains(&x);
        let min = self.float("min", d.min, eta, "the first eta is from 1e-8 to 1e6")?;
        let max = self.float("max", d.max, eta, "the last eta is from 1e-8 to 1e6")?;
        if max <= min {
            let key = if self.t.get("max").is_some() {
                "max"
            } else {
                "min"
            };
            return Err(self.at(key).err(format!(
                "the range is empty: `max` ({max}) must be above `min` ({min})"
            )));
        }
        let steps = match self.t.get("steps") {
            None => None,
            Some(_) => Some(self.int(
                "steps",
                0,
                10,
                10_000_000,
                "the mini-batches of the test are a whole number from 10 (leave it out for one \
                 epoch's)",
            )? as usize),
        };
        let suggestion = match self.t.get("suggestion").map(|v| v.get_ref()) {
            None => d.suggestion,
            Some(Toml::String(name)) if Suggestion::parse(name).is_some() => {
                Suggestion::parse(name).expect("parsed")
            }
            Some(other) => {
                return Err(self.at("suggestion").err(format!(
                    "{} is not allowed: use \"valley\", \"steepest\" or \"minimum\"",
                    show(other)
                )))
            }
        };
        Ok(SearchSpec::RangeTest(RangeTest {
            min,
            max,
            steps,
            suggestion,
            then_train: self.then_train()?,
        }))
    }

    fn curvature(&self) -> Result<SearchSpec, ExperimentError> {
        let d = CurvatureSearch::default();
        Ok(SearchSpec::Curvature(CurvatureSearch {
            sample: self.int(
                "sample",
                d.sample as i64,
                1,
                MNIST_TRAIN as i64 + 10_000,
                "the training examples the Hessian is taken over are a whole number from 1 (at \
                 most train_size are used)",
            )? as usize,
            iterations: self.int(
                "iterations",
                d.iterations as i64,
                1,
                100_000,
                "the power iterations are a whole number from 1 to 100000",
            )? as usize,
            tolerance: self.float(
                "tolerance",
                d.tolerance,
                |x| x > 0.0 && x < 1.0,
                "the tolerance is a relative change above 0 and below 1, e.g. 1e-4",
            )?,
        }))
    }

    fn halving(&self, monitor: Monitor) -> Result<SearchSpec, ExperimentError> {
        let d = Halving::default();
        let metric = match self.t.get("metric").map(|v| v.get_ref()) {
            None => d.metric,
            Some(Toml::String(s)) if Metric::ALL.iter().any(|m| m.name() == s) => Metric::ALL
                .into_iter()
                .find(|m| m.name() == s)
                .expect("found"),
            Some(other) => {
                let names: Vec<String> = Metric::ALL
                    .iter()
                    .map(|m| format!("\"{}\"", m.name()))
                    .collect();
                return Err(self.at("metric").err(format!(
                    "{} is not allowed: use one of {}",
                    show(other),
                    names.join(", ")
                )));
            }
        };
        if !monitor.has(metric) {
            return Err(self.at("metric").err(format!(
                "\"{}\" is not monitored: add it to `data.monitor`, or rank by a monitored metric",
                metric.name()
            )));
        }
        let prune = match self.t.get("prune").map(|v| v.get_ref()) {
            None => d.prune,
            Some(Toml::String(name)) if name == "confident" => Pruning::Confident,
            Some(Toml::String(name)) if name == "mean" => Pruning::Mean,
            Some(other) => {
                return Err(self.at("prune").err(format!(
                    "{} is not allowed: use \"confident\" (stop a configuration only when its \
                     seeds leave it clearly below the cut) or \"mean\" (stop every one below \
                     it)",
                    show(other)
                )))
            }
        };
        Ok(SearchSpec::Halving(Halving {
            prune,
            reduction: self.int(
                "reduction",
                d.reduction as i64,
                2,
                1000,
                "the reduction is a whole number from 2 to 1000 (keep the best 1/reduction)",
            )? as usize,
            min_epochs: self.int(
                "min_epochs",
                d.min_epochs as i64,
                1,
                100_000,
                "the first rung's epochs are a whole number from 1",
            )? as usize,
            metric,
        }))
    }
}

/// Validates the file as written into an [`Experiment`].
pub(super) fn experiment(
    file: raw::File,
    source: Source,
    stem: Option<String>,
) -> Result<Experiment, ExperimentError> {
    let mut v = Validator {
        source,
        available: MNIST_TRAIN,
        train_size: MNIST_TRAIN,
        written: Vec::new(),
    };
    if let Some(k) = file.unknown.first() {
        return Err(unknown_key(
            &source,
            k.get_ref(),
            k.get_ref(),
            k.span(),
            "",
            TOP_KEYS,
            &[],
        ));
    }
    let name = name(&source, file.name.as_ref(), stem)?;
    let description = match &file.description {
        None => String::new(),
        Some((_, item)) => values::string(&source.at("description", item.span()), item.get_ref())?,
    };
    let (mut data, data_train_at) = v.data(file.data.as_ref())?;
    let spec = v.search(file.search.as_ref(), data.monitor)?;
    let random = matches!(spec, SearchSpec::Random(..));
    let (mut grid, raw_values) = v.whole_grid(&file, &data, random)?;
    v.batches_fit(&grid, data_train_at.as_ref())?;
    v.validation_needed(&grid, &data)?;
    grid.dedup();
    let search_at = file.search.as_ref().map(|s| s.0.span());
    let search = match spec {
        SearchSpec::Grid => Search::Grid,
        SearchSpec::Random(trials, seed) => {
            let ranges: Vec<(usize, (bool, f64, f64))> = raw_values
                .iter()
                .filter_map(|(i, v)| Some((*i, super::values::continuous_range(v)?)))
                .collect();
            grid = random_search(grid, &ranges, trials, seed);
            Search::Grid
        }
        SearchSpec::Threshold(t) => {
            v.one_configuration(&grid, "threshold")?;
            if t.refine && data.validation_size == 0 {
                return Err(source.error(
                    "data.validation_size",
                    None,
                    "0 leaves no validation set, but the threshold search's refinement ranks \
                     etas by validation accuracy: keep a validation set (the default is 10000), \
                     or set `search.refine = false` for the book's rule alone"
                        .to_string(),
                ));
            }
            data.monitor = with_training_metrics(data.monitor, t.refine);
            Search::Threshold(t)
        }
        SearchSpec::Curvature(c) => {
            v.one_configuration(&grid, "curvature")?;
            Search::Curvature(c)
        }
        SearchSpec::RangeTest(r) => {
            v.one_configuration(&grid, "range test")?;
            Search::RangeTest(r)
        }
        SearchSpec::Halving(h) => {
            v.one_epochs(&grid, search_at.clone())?;
            v.some_rung(&h, &grid, file.search.as_ref(), search_at)?;
            Search::Halving(h)
        }
    };
    let train_sizes = v.train_sizes(&grid, &data, data_train_at.as_ref());
    Ok(Experiment {
        path: source.path.to_path_buf(),
        text: source.text.to_string(),
        name,
        description,
        data,
        grid,
        train_sizes,
        search,
    })
}

/// `monitor` with the training cost and accuracy, which a threshold search's verdicts read (and,
/// with `validation`, the validation accuracy its refinement ranks by).
fn with_training_metrics(monitor: Monitor, validation: bool) -> Monitor {
    let mut metrics = monitor.metrics();
    let validation = validation.then_some(Metric::ValidationAccuracy);
    for m in [Metric::TrainCost, Metric::TrainAccuracy]
        .into_iter()
        .chain(validation)
    {
        if !metrics.contains(&m) {
            metrics.push(m);
        }
    }
    Monitor::only(&metrics)
}

/// The experiment's name: `name` if set, else the file's stem, either way a safe folder name.
fn name(
    source: &Source,
    written: Option<&(raw::Key, raw::Item)>,
    stem: Option<String>,
) -> Result<String, ExperimentError> {
    const NAME_RULE: &str = "the name becomes a folder under results/, so use letters, digits, \
                             '-', '_' and '.' only, not starting with '.' (a hidden folder), at \
                             most 100 characters";
    let safe = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.len() <= 100
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    match written {
        None => {
            let s = stem.unwrap_or_else(|| "experiment".to_string());
            if !safe(&s) {
                return Err(source.error(
                    "name",
                    None,
                    format!(
                        "the experiment's name is taken from its file name, \"{s}\", which is not \
                         allowed: {NAME_RULE}; rename the file or set `name`"
                    ),
                ));
            }
            Ok(s)
        }
        Some((_, item)) => {
            let at = source.at("name", item.span());
            let s = values::string(&at, item.get_ref())?;
            if !safe(&s) {
                return Err(at.err(format!(
                    "{} is not allowed: {NAME_RULE}",
                    show(item.get_ref())
                )));
            }
            Ok(s)
        }
    }
}

/// `[data] monitor`: one metric name or a list of them.
fn monitor(at: &At, v: &Toml) -> Result<Monitor, ExperimentError> {
    let allowed: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
    let names = match v {
        Toml::Array(items) if items.is_empty() => {
            return Err(at.err(format!(
            "an empty list is not allowed: list the metrics to compute after each epoch, from {}",
            allowed.join(", ")
        )))
        }
        Toml::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut metrics = Vec::new();
    for item in names {
        let Toml::String(s) = item else {
            return Err(at.err(format!(
                "expected metric names (strings), found {}",
                show(item)
            )));
        };
        let Some(m) = Metric::ALL.into_iter().find(|m| m.name() == s) else {
            let hint = values::suggest(s, &allowed, &[])
                .map(|x| format!(" (did you mean \"{x}\"?)"))
                .unwrap_or_default();
            return Err(at.err(format!(
                "unknown metric \"{s}\"{hint}; allowed: {}",
                allowed.join(", ")
            )));
        };
        metrics.push(m);
    }
    Ok(Monitor::only(&metrics))
}

/// `file:line:col: `key`` for messages about a place in the file found after validation.
fn located(at: &At) -> String {
    let (line, col) = values::line_col(at.source.text, at.span.start);
    format!("{}:{line}:{col}: `{}`", at.source.path.display(), at.key)
}
