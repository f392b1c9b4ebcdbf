//! The grid of an experiment: every combination of the listed values is one run.
//!
//! The grid is enumerated by index (mixed radix over the value lists), so its size can be known
//! and any run produced without building the whole product in memory.

use sha2::{Digest, Sha256};

use crate::data::DatasetKind;
use crate::nn::maths::{Activation, Cost};
use crate::nn::params::Init;
use crate::train::stopping::Schedule;

/// Everything that determines one training run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    pub sizes: Vec<usize>,
    pub eta: f64,
    pub batch_size: usize,
    pub epochs: usize,
    pub seed: u64,
    pub cost: Cost,
    pub init: Init,
    pub lambda: f64,
    /// Number of training examples used (the first `train_size` of the training split).
    pub train_size: usize,
    /// The data set trained on.
    pub dataset: DatasetKind,
    /// Activation of the hidden layers.
    pub activation: Activation,
    /// Momentum coefficient mu of momentum-based SGD (0: plain SGD).
    pub momentum: f64,
    /// How eta changes during the run.
    pub eta_schedule: Schedule,
    /// Stop when the validation accuracy has not improved for this many epochs (0: never).
    pub early_stopping: usize,
    /// Train on the expanded training set: each image and its four one-pixel shifts.
    pub expand: bool,
    /// The name of the `[[variant]]` this run belongs to, if the experiment has variants.
    pub variant: Option<String>,
}

/// Writes layer sizes like `784-30-10`.
pub fn sizes_label(sizes: &[usize]) -> String {
    sizes
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("-")
}

/// Writes a float so that it reads back to the same value (`3.0`, `0.1`, `1e-5`).
pub fn float_label(x: f64) -> String {
    format!("{x:?}")
}

impl RunSettings {
    /// The canonical text of the settings: every key in a fixed order, floats written so that
    /// they read back exactly. Two runs are the same run exactly when this text is the same.
    pub fn canonical(&self) -> String {
        // (MNIST, the default, is left out so that ids stay those of earlier results)
        let dataset = match self.dataset {
            DatasetKind::Mnist => String::new(),
            other => format!(";dataset={}", other.name()),
        };
        // Settings added after the first results were written appear only when not at their
        // default, so that the ids of runs that do not use them never change.
        let mut extra = String::new();
        for key in EXTRA_KEYS {
            if let Some(v) = self.extra_value(key) {
                extra.push_str(&format!(";{key}={v}"));
            }
        }
        format!(
            "sizes={};eta={};batch_size={};epochs={};seed={};cost={};init={};lambda={};train_size={}{}{}",
            sizes_label(&self.sizes),
            float_label(self.eta),
            self.batch_size,
            self.epochs,
            self.seed,
            self.cost,
            self.init,
            float_label(self.lambda),
            self.train_size,
            dataset,
            extra
        )
    }

    /// The value of one of [`EXTRA_KEYS`] as written in the CSV, or None when it is at its
    /// default (sigmoid, momentum 0, constant eta, no early stopping, no variant).
    pub fn extra_value(&self, key: &str) -> Option<String> {
        match key {
            "activation" => {
                (self.activation != Activation::Sigmoid).then(|| self.activation.to_string())
            }
            "momentum" => (self.momentum != 0.0).then(|| float_label(self.momentum)),
            "eta_schedule" => {
                (self.eta_schedule != Schedule::Constant).then(|| self.eta_schedule.label())
            }
            "early_stopping" => (self.early_stopping != 0).then(|| self.early_stopping.to_string()),
            "expand" => self.expand.then(|| "true".to_string()),
            "variant" => self.variant.clone(),
            _ => None,
        }
    }

    /// Training examples per epoch: `train_size`, five times that with `expand`.
    pub fn examples(&self) -> usize {
        if self.expand {
            5 * self.train_size
        } else {
            self.train_size
        }
    }

    /// True when the run needs the validation accuracy after every epoch to decide what to do.
    pub fn watches_validation(&self) -> bool {
        self.early_stopping > 0 || self.eta_schedule != Schedule::Constant
    }

    /// A stable id of the run: the first 12 hex digits of the sha256 of [`Self::canonical`].
    pub fn id(&self) -> String {
        let digest = Sha256::digest(self.canonical().as_bytes());
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A short human label, e.g. `784-30-10 eta=3.0 seed=1`.
    pub fn label(&self) -> String {
        let mut label = format!(
            "{} eta={} batch={} {} {} lambda={} seed={}",
            sizes_label(&self.sizes),
            float_label(self.eta),
            self.batch_size,
            self.cost,
            self.init,
            float_label(self.lambda),
            self.seed
        );
        for key in EXTRA_KEYS {
            if let Some(v) = self.extra_value(key) {
                label.push_str(&format!(" {key}={v}"));
            }
        }
        label
    }
}

/// Run settings beyond the first ten columns of the CSV files. Each gets a column of its own,
/// after the standard ones, in the experiments that set it (see [`Grid::extra_columns`]).
pub const EXTRA_KEYS: [&str; 6] = [
    "activation",
    "momentum",
    "eta_schedule",
    "early_stopping",
    "expand",
    "variant",
];

/// The CSV text of an extra setting at its default.
pub fn extra_default(key: &str) -> &'static str {
    match key {
        "activation" => "sigmoid",
        "momentum" => "0.0",
        "eta_schedule" => "constant",
        "early_stopping" => "0",
        "expand" => "false",
        _ => "",
    }
}

/// The settings of a run that an experiment can vary (the data set and the variant aside), in
/// file order.
pub const SETTING_KEYS: [&str; 14] = [
    "sizes",
    "eta",
    "batch_size",
    "epochs",
    "seed",
    "cost",
    "init",
    "lambda",
    "train_size",
    "activation",
    "momentum",
    "eta_schedule",
    "early_stopping",
    "expand",
];

/// Settings that vary together: one point of a `[[grid.zip]]` table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Partial {
    pub sizes: Option<Vec<usize>>,
    pub eta: Option<f64>,
    pub batch_size: Option<usize>,
    pub epochs: Option<usize>,
    pub seed: Option<u64>,
    pub cost: Option<Cost>,
    pub init: Option<Init>,
    pub lambda: Option<f64>,
    pub train_size: Option<usize>,
    pub activation: Option<Activation>,
    pub momentum: Option<f64>,
    pub eta_schedule: Option<Schedule>,
    pub early_stopping: Option<usize>,
    pub expand: Option<bool>,
}

/// A named partial setting (`[[variant]]`): every run of the rest of the grid is trained once
/// per variant, with the variant's settings on top.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub name: String,
    pub settings: Partial,
}

impl Partial {
    fn apply(&self, r: &mut RunSettings) {
        if let Some(v) = &self.sizes {
            r.sizes = v.clone();
        }
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { r.$f = v; } )* };
        }
        set!(
            eta,
            batch_size,
            epochs,
            seed,
            cost,
            init,
            lambda,
            train_size,
            activation,
            momentum,
            eta_schedule,
            early_stopping,
            expand
        );
    }

    /// The value of `key` as text, when this point sets it.
    pub fn value(&self, key: &str) -> Option<String> {
        match key {
            "sizes" => self.sizes.as_ref().map(|s| sizes_label(s)),
            "eta" => self.eta.map(float_label),
            "batch_size" => self.batch_size.map(|v| v.to_string()),
            "epochs" => self.epochs.map(|v| v.to_string()),
            "seed" => self.seed.map(|v| v.to_string()),
            "cost" => self.cost.map(|v| v.to_string()),
            "init" => self.init.map(|v| v.to_string()),
            "lambda" => self.lambda.map(float_label),
            "train_size" => self.train_size.map(|v| v.to_string()),
            "activation" => self.activation.map(|v| v.to_string()),
            "momentum" => self.momentum.map(float_label),
            "eta_schedule" => self.eta_schedule.map(|v| v.label()),
            "early_stopping" => self.early_stopping.map(|v| v.to_string()),
            "expand" => self.expand.map(|v| v.to_string()),
            _ => None,
        }
    }
}

/// The values of each grid key; every list is non-empty and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub sizes: Vec<Vec<usize>>,
    pub eta: Vec<f64>,
    pub batch_size: Vec<usize>,
    pub epochs: Vec<usize>,
    pub seed: Vec<u64>,
    pub cost: Vec<Cost>,
    pub init: Vec<Init>,
    pub lambda: Vec<f64>,
    pub activation: Vec<Activation>,
    pub momentum: Vec<f64>,
    pub eta_schedule: Vec<Schedule>,
    pub early_stopping: Vec<usize>,
    pub expand: Vec<bool>,
    /// Zipped settings: each zip is one axis of the grid whose points set several keys together.
    pub zips: Vec<Vec<Partial>>,
    /// Named variants: the slowest axis; a variant's settings override the rest of the grid.
    pub variants: Vec<Variant>,
}

impl Default for Grid {
    /// The book's chapter-1 run.
    fn default() -> Self {
        Grid {
            sizes: vec![vec![784, 30, 10]],
            eta: vec![3.0],
            batch_size: vec![10],
            epochs: vec![30],
            seed: vec![1],
            cost: vec![Cost::Quadratic],
            init: vec![Init::Large],
            lambda: vec![0.0],
            activation: vec![Activation::Sigmoid],
            momentum: vec![0.0],
            eta_schedule: vec![Schedule::Constant],
            early_stopping: vec![0],
            expand: vec![false],
            zips: Vec::new(),
            variants: Vec::new(),
        }
    }
}

impl Grid {
    /// The list lengths in enumeration order, slowest-varying first.
    fn radices(&self) -> [usize; 13] {
        [
            self.expand.len(),
            self.sizes.len(),
            self.activation.len(),
            self.cost.len(),
            self.init.len(),
            self.lambda.len(),
            self.momentum.len(),
            self.batch_size.len(),
            self.epochs.len(),
            self.eta_schedule.len(),
            self.early_stopping.len(),
            self.eta.len(),
            self.seed.len(),
        ]
    }

    /// Number of grid points (the product of the list lengths), saturating at `u128::MAX`.
    pub fn len(&self) -> u128 {
        self.radices()
            .iter()
            .copied()
            .chain(self.zips.iter().map(|z| z.len()))
            .chain((!self.variants.is_empty()).then_some(self.variants.len()))
            .fold(1u128, |acc, r| acc.saturating_mul(r as u128))
    }

    /// True when the grid has no point (never, for a validated grid).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The grid point at `index` (`0..len()`); the seed varies fastest, then eta, ..., sizes,
    /// then the zips (the first zip slowest), then the variants (slowest of all).
    pub fn get(&self, index: u128, train_size: usize) -> RunSettings {
        assert!(index < self.len(), "grid index {index} out of range");
        let radices = self.radices();
        let mut digits = [0usize; 13];
        let plain: u128 = radices
            .iter()
            .fold(1u128, |a, &r| a.saturating_mul(r as u128));
        let mut zipped = index / plain;
        let mut rest = index % plain;
        for k in (0..13).rev() {
            digits[k] = (rest % radices[k] as u128) as usize;
            rest /= radices[k] as u128;
        }
        let mut run = RunSettings {
            expand: self.expand[digits[0]],
            sizes: self.sizes[digits[1]].clone(),
            activation: self.activation[digits[2]],
            cost: self.cost[digits[3]],
            init: self.init[digits[4]],
            lambda: self.lambda[digits[5]],
            momentum: self.momentum[digits[6]],
            batch_size: self.batch_size[digits[7]],
            epochs: self.epochs[digits[8]],
            eta_schedule: self.eta_schedule[digits[9]],
            early_stopping: self.early_stopping[digits[10]],
            eta: self.eta[digits[11]],
            seed: self.seed[digits[12]],
            train_size,
            dataset: DatasetKind::Mnist,
            variant: None,
        };
        let mut picks = Vec::with_capacity(self.zips.len());
        for zip in self.zips.iter().rev() {
            picks.push(&zip[(zipped % zip.len() as u128) as usize]);
            zipped /= zip.len() as u128;
        }
        for partial in picks.iter().rev() {
            partial.apply(&mut run);
        }
        if !self.variants.is_empty() {
            let v = &self.variants[(zipped % self.variants.len() as u128) as usize];
            v.settings.apply(&mut run);
            run.variant = Some(v.name.clone());
        }
        run
    }

    /// Every run of the grid in enumeration order. Each list holds distinct values (see
    /// [`Grid::dedup`]), so every grid point is a distinct run.
    pub fn runs(&self, train_size: usize) -> Vec<RunSettings> {
        self.iter(train_size).collect()
    }

    /// The runs one at a time, by index: nothing is built in memory, whatever the grid's size.
    pub fn iter(&self, train_size: usize) -> impl Iterator<Item = RunSettings> + '_ {
        (0..self.len()).map(move |i| self.get(i, train_size))
    }

    /// The `j`-th value of every key for which `sets(key)` holds, as a partial setting (a
    /// `[[grid.zip]]` point or a variant read into a grid of its own; `train_size` is not a list
    /// here and is left out).
    pub fn point(&self, j: usize, sets: impl Fn(&str) -> bool) -> Partial {
        Partial {
            sizes: sets("sizes").then(|| self.sizes[j].clone()),
            eta: sets("eta").then(|| self.eta[j]),
            batch_size: sets("batch_size").then(|| self.batch_size[j]),
            epochs: sets("epochs").then(|| self.epochs[j]),
            seed: sets("seed").then(|| self.seed[j]),
            cost: sets("cost").then(|| self.cost[j]),
            init: sets("init").then(|| self.init[j]),
            lambda: sets("lambda").then(|| self.lambda[j]),
            train_size: None,
            activation: sets("activation").then(|| self.activation[j]),
            momentum: sets("momentum").then(|| self.momentum[j]),
            eta_schedule: sets("eta_schedule").then(|| self.eta_schedule[j]),
            early_stopping: sets("early_stopping").then(|| self.early_stopping[j]),
            expand: sets("expand").then(|| self.expand[j]),
        }
    }

    /// The values of the plain list of `key` as text (as in the CSV files); empty for a key that
    /// is not a list here (`train_size`).
    pub fn values(&self, key: &str) -> Vec<String> {
        (0..self.count(key))
            .filter_map(|j| self.point(j, |k| k == key).value(key))
            .collect()
    }

    /// How many values the plain list of `key` holds (0 for a key that is not a list here).
    pub fn count(&self, key: &str) -> usize {
        match key {
            "sizes" => self.sizes.len(),
            "eta" => self.eta.len(),
            "batch_size" => self.batch_size.len(),
            "epochs" => self.epochs.len(),
            "seed" => self.seed.len(),
            "cost" => self.cost.len(),
            "init" => self.init.len(),
            "lambda" => self.lambda.len(),
            "activation" => self.activation.len(),
            "momentum" => self.momentum.len(),
            "eta_schedule" => self.eta_schedule.len(),
            "early_stopping" => self.early_stopping.len(),
            "expand" => self.expand.len(),
            _ => 0,
        }
    }

    /// Keeps only the first value of the plain list of `key` (when a zip sets that key).
    pub fn keep_first(&mut self, key: &str) {
        match key {
            "sizes" => self.sizes.truncate(1),
            "eta" => self.eta.truncate(1),
            "batch_size" => self.batch_size.truncate(1),
            "epochs" => self.epochs.truncate(1),
            "seed" => self.seed.truncate(1),
            "cost" => self.cost.truncate(1),
            "init" => self.init.truncate(1),
            "lambda" => self.lambda.truncate(1),
            "activation" => self.activation.truncate(1),
            "momentum" => self.momentum.truncate(1),
            "eta_schedule" => self.eta_schedule.truncate(1),
            "early_stopping" => self.early_stopping.truncate(1),
            "expand" => self.expand.truncate(1),
            _ => {}
        }
    }

    /// Removes repeated values from every list, keeping the first of each: a value listed twice
    /// is one run, trained once.
    pub fn dedup(&mut self) {
        fn dedup<T: PartialEq + Clone>(v: &mut Vec<T>) {
            let mut out: Vec<T> = Vec::with_capacity(v.len());
            for x in v.drain(..) {
                if !out.contains(&x) {
                    out.push(x);
                }
            }
            *v = out;
        }
        dedup(&mut self.sizes);
        dedup(&mut self.eta);
        dedup(&mut self.batch_size);
        dedup(&mut self.epochs);
        dedup(&mut self.seed);
        dedup(&mut self.cost);
        dedup(&mut self.init);
        dedup(&mut self.lambda);
        dedup(&mut self.activation);
        dedup(&mut self.momentum);
        dedup(&mut self.eta_schedule);
        dedup(&mut self.early_stopping);
        dedup(&mut self.expand);
        for zip in &mut self.zips {
            dedup(zip);
        }
    }

    /// The keys with more than one distinct value, in file order.
    pub fn swept_keys(&self) -> Vec<&'static str> {
        let mut keys: Vec<&'static str> = SETTING_KEYS
            .iter()
            .copied()
            .filter(|key| {
                let values = self.values(key);
                values.iter().any(|v| v != &values[0])
            })
            .collect();
        for key in SETTING_KEYS {
            let zipped = self.zips.iter().any(|z| {
                let values: Vec<Option<String>> = z.iter().map(|p| p.value(key)).collect();
                values.iter().any(|v| v.is_some() && v != &values[0])
            });
            if zipped && !keys.contains(&key) {
                keys.push(key);
            }
        }
        if self.variants.len() > 1 {
            keys.push("variant");
        }
        keys
    }

    /// The largest training-set size of a run with `expand = true`, if there is one (the
    /// experiment's `train_size` is `train_size`).
    pub fn expanded_train_size(&self, train_size: usize) -> Option<usize> {
        let partials = || {
            self.zips
                .iter()
                .flatten()
                .chain(self.variants.iter().map(|v| &v.settings))
        };
        if !self.extra_columns().contains(&"expand") {
            return None;
        }
        partials()
            .filter_map(|p| p.train_size)
            .chain([train_size])
            .max()
    }

    /// The [`EXTRA_KEYS`] that get a column in this grid's CSV files: those some run sets to a
    /// value other than its default, and `variant` when there are variants. An experiment that
    /// uses none of them writes exactly the standard columns.
    pub fn extra_columns(&self) -> Vec<&'static str> {
        let partials = || {
            self.zips
                .iter()
                .flatten()
                .chain(self.variants.iter().map(|v| &v.settings))
        };
        EXTRA_KEYS
            .iter()
            .copied()
            .filter(|&key| {
                let in_lists = match key {
                    "activation" => self.activation.iter().any(|a| *a != Activation::Sigmoid),
                    "momentum" => self.momentum.iter().any(|m| *m != 0.0),
                    "eta_schedule" => self.eta_schedule.iter().any(|s| *s != Schedule::Constant),
                    "early_stopping" => self.early_stopping.iter().any(|n| *n != 0),
                    "expand" => self.expand.contains(&true),
                    _ => !self.variants.is_empty(),
                };
                in_lists
                    || partials().any(|p| p.value(key).is_some_and(|v| v != extra_default(key)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        Grid {
            eta: vec![0.1, 1.0, 10.0],
            seed: vec![1, 2],
            cost: vec![Cost::Quadratic, Cost::CrossEntropy],
            ..Grid::default()
        }
    }

    #[test]
    fn cartesian_product_size_and_order() {
        let g = grid();
        assert_eq!(g.len(), 12);
        let runs = g.runs(1000);
        assert_eq!(runs.len(), 12);
        // seed fastest, then eta, then cost
        assert_eq!(
            (runs[0].eta, runs[0].seed, runs[0].cost),
            (0.1, 1, Cost::Quadratic)
        );
        assert_eq!((runs[1].eta, runs[1].seed), (0.1, 2));
        assert_eq!((runs[2].eta, runs[2].seed), (1.0, 1));
        assert_eq!(runs[6].cost, Cost::CrossEntropy);
        assert!(runs.iter().all(|r| r.train_size == 1000 && r.epochs == 30));
        // every combination appears once
        let mut canon: Vec<_> = runs.iter().map(|r| r.canonical()).collect();
        canon.sort();
        canon.dedup();
        assert_eq!(canon.len(), 12);
    }

    #[test]
    fn repeated_values_are_trained_once() {
        let mut g = Grid {
            eta: vec![3.0, 3.0, 1.0],
            ..Grid::default()
        };
        assert_eq!(g.len(), 3);
        g.dedup();
        assert_eq!(g.len(), 2);
        let runs = g.runs(50_000);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].eta, 3.0);
        assert_eq!(runs[1].eta, 1.0);
    }

    #[test]
    fn run_id_is_stable_and_depends_on_every_setting() {
        let base = Grid::default().get(0, 50_000);
        assert_eq!(
            base.canonical(),
            "sizes=784-30-10;eta=3.0;batch_size=10;epochs=30;seed=1;cost=quadratic;init=large;lambda=0.0;train_size=50000"
        );
        let id = base.id();
        assert_eq!(id.len(), 12);
        assert_eq!(id, base.clone().id());
        let variants = [
            RunSettings {
                eta: 3.0000001,
                ..base.clone()
            },
            RunSettings {
                seed: 2,
                ..base.clone()
            },
            RunSettings {
                sizes: vec![784, 31, 10],
                ..base.clone()
            },
            RunSettings {
                batch_size: 11,
                ..base.clone()
            },
            RunSettings {
                epochs: 29,
                ..base.clone()
            },
            RunSettings {
                cost: Cost::CrossEntropy,
                ..base.clone()
            },
            RunSettings {
                init: Init::Scaled,
                ..base.clone()
            },
            RunSettings {
                lambda: 0.1,
                ..base.clone()
            },
            RunSettings {
                train_size: 1000,
                ..base.clone()
            },
            RunSettings {
                activation: Activation::Tanh,
                ..base.clone()
            },
            RunSettings {
                momentum: 0.5,
                ..base.clone()
            },
            RunSettings {
                eta_schedule: Schedule::Halve { patience: 10 },
                ..base.clone()
            },
            RunSettings {
                early_stopping: 5,
                ..base.clone()
            },
            RunSettings {
                variant: Some("a".to_string()),
                ..base.clone()
            },
            RunSettings {
                expand: true,
                ..base.clone()
            },
            RunSettings {
                cost: Cost::LogLikelihood,
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.id(), id, "{}", v.canonical());
        }
    }

    #[test]
    fn get_matches_runs_for_every_index() {
        let g = grid();
        let runs = g.runs(500);
        for (i, r) in runs.iter().enumerate() {
            assert_eq!(&g.get(i as u128, 500), r);
        }
    }

    #[test]
    fn huge_grid_is_indexed_without_building_it() {
        let g = Grid {
            eta: (0..1000).map(|i| 0.001 * (i + 1) as f64).collect(),
            seed: (0..1000).collect(),
            lambda: (0..100).map(|i| i as f64).collect(),
            ..Grid::default()
        };
        assert_eq!(g.len(), 100_000_000);
        let last = g.get(g.len() - 1, 10);
        assert_eq!((last.lambda, last.seed), (99.0, 999));
        assert_eq!(last.eta, 1.0);
        // with variants on top: the slowest axis
        let g = Grid {
            variants: (0..10)
                .map(|i| Variant {
                    name: format!("v{i}"),
                    settings: Partial {
                        momentum: Some(i as f64 / 10.0),
                        ..Partial::default()
                    },
                })
                .collect(),
            ..g
        };
        assert_eq!(g.len(), 1_000_000_000);
        let last = g.get(g.len() - 1, 10);
        assert_eq!((last.variant.as_deref(), last.momentum), (Some("v9"), 0.9));
        assert_eq!((last.lambda, last.seed), (99.0, 999));
        let first_of_v3 = g.get(300_000_000, 10);
        assert_eq!(
            (first_of_v3.variant.as_deref(), first_of_v3.seed),
            (Some("v3"), 0)
        );
    }

    #[test]
    fn zipped_settings_vary_together() {
        let point = |t: usize, l: f64| Partial {
            train_size: Some(t),
            lambda: Some(l),
            ..Partial::default()
        };
        let g = Grid {
            seed: vec![1, 2],
            zips: vec![vec![point(100, 0.01), point(1000, 0.1), point(10_000, 1.0)]],
            ..Grid::default()
        };
        assert_eq!(g.len(), 6);
        let runs = g.runs(50_000);
        let got: Vec<(usize, f64, u64)> = runs
            .iter()
            .map(|r| (r.train_size, r.lambda, r.seed))
            .collect();
        assert_eq!(
            got,
            vec![
                (100, 0.01, 1),
                (100, 0.01, 2),
                (1000, 0.1, 1),
                (1000, 0.1, 2),
                (10_000, 1.0, 1),
                (10_000, 1.0, 2)
            ]
        );
        assert_eq!(g.swept_keys(), vec!["seed", "lambda", "train_size"]);
    }

    #[test]
    fn swept_keys_lists_only_keys_with_several_values() {
        assert_eq!(grid().swept_keys(), vec!["eta", "seed", "cost"]);
        assert!(Grid::default().swept_keys().is_empty());
    }
}
