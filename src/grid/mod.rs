//! The grid of an experiment: every combination of the listed values is one run.
//!
//! The grid holds one list of values per setting of [`settings::SETTINGS`] (its axes), the
//! `[[grid.zip]]` axes whose points set several settings together, and the `[[variant]]`s. It
//! is enumerated by index (mixed radix over the axes, in the settings' `axis` order, then the
//! zips, then the variants, slowest), so its size can be known and any run produced without
//! building the whole product in memory.

use sha2::{Digest, Sha256};

use crate::data::DatasetKind;
use crate::grid::schedule::Schedule;
use crate::nn::maths::{Activation, Cost};
use crate::nn::params::Init;

pub mod schedule;
pub mod settings;

pub use settings::{float_label, sizes_label, Value};
use settings::{Column, Fusion, Label, Setting, SETTINGS, VARIANT};

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
    /// Probability of dropping each hidden neuron during training (0: no dropout).
    pub dropout: f64,
    /// The name of the `[[variant]]` this run belongs to, if the experiment has variants.
    pub variant: Option<String>,
}

impl Default for RunSettings {
    /// The book's chapter 1 run: every setting at its default.
    fn default() -> Self {
        let mut run = RunSettings {
            sizes: Vec::new(),
            eta: 0.0,
            batch_size: 0,
            epochs: 0,
            seed: 0,
            cost: Cost::Quadratic,
            init: Init::Large,
            lambda: 0.0,
            train_size: 0,
            dataset: DatasetKind::Mnist,
            activation: Activation::Sigmoid,
            momentum: 0.0,
            eta_schedule: Schedule::Constant,
            early_stopping: 0,
            expand: false,
            dropout: 0.0,
            variant: None,
        };
        for s in &SETTINGS {
            (s.set)(&mut run, (s.default)());
        }
        run
    }
}

impl RunSettings {
    /// The value of setting `s`.
    pub fn value(&self, s: &Setting) -> Value {
        (s.get)(self)
    }

    /// The canonical text of the settings: every standard setting in table order, floats written
    /// so that they read back exactly, then the data set when it is not MNIST, then the extra
    /// settings that are not at their default and the variant. Two runs are the same run exactly
    /// when this text is the same. (Settings added after the first results were written appear
    /// only when not at their default, so that the ids of runs that do not use them never
    /// change.)
    pub fn canonical(&self) -> String {
        let mut text = SETTINGS
            .iter()
            .filter(|s| s.column == Column::Standard)
            .map(|s| format!("{}={}", s.name, self.value(s)))
            .collect::<Vec<_>>()
            .join(";");
        if self.dataset != DatasetKind::Mnist {
            text.push_str(&format!(";dataset={}", self.dataset.name()));
        }
        for (key, value) in self.extra_values() {
            text.push_str(&format!(";{key}={value}"));
        }
        text
    }

    /// The extra settings (and the variant) that are not at their default, in column order, as
    /// text.
    pub fn extra_values(&self) -> Vec<(&'static str, String)> {
        SETTINGS
            .iter()
            .filter(|s| s.column == Column::Extra)
            .filter_map(|s| {
                let v = self.value(s);
                s.is_set(&v).then(|| (s.name, v.label()))
            })
            .chain(self.variant.clone().map(|v| (VARIANT, v)))
            .collect()
    }

    /// The number of training examples per epoch: `train_size`, or five times it when the data
    /// is expanded.
    pub fn examples(&self) -> usize {
        if self.expand {
            5 * self.train_size
        } else {
            self.train_size
        }
    }

    /// True when a rule decided by the validation accuracy after each epoch applies.
    pub fn watches_validation(&self) -> bool {
        self.early_stopping > 0 || self.eta_schedule != Schedule::Constant
    }

    /// Short stable identifier: the first 12 hex digits of the SHA-256 of [`Self::canonical`].
    pub fn id(&self) -> String {
        let digest = Sha256::digest(self.canonical().as_bytes());
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A short human label, e.g. `784-30-10 eta=3.0 batch=10 seed=1 quadratic large lambda=0.0`.
    pub fn label(&self) -> String {
        self.label_but(None)
    }

    /// The label of the run's configuration: every setting but the seed.
    pub fn configuration_label(&self) -> String {
        self.label_but(Some("seed"))
    }

    /// The key of the run's configuration: the canonical text of every setting but the seed.
    pub fn configuration_key(&self) -> String {
        RunSettings {
            seed: 0,
            ..self.clone()
        }
        .canonical()
    }

    fn label_but(&self, left_out: Option<&str>) -> String {
        let mut parts: Vec<String> = SETTINGS
            .iter()
            .filter(|s| s.column == Column::Standard && Some(s.name) != left_out)
            .filter_map(|s| match s.label {
                Label::Bare => Some(self.value(s).label()),
                Label::Named(name) => Some(format!("{name}={}", self.value(s))),
                Label::Hidden => None,
            })
            .collect();
        parts.extend(self.extra_values().iter().map(|(k, v)| format!("{k}={v}")));
        parts.join(" ")
    }

    /// The settings that runs trained together in one lockstep group must share: they start
    /// from the same weights and see the same mini-batches, and settings that need state of
    /// their own (momentum, dropout) are either used by every run of the group or by none.
    pub fn fusion_key(&self) -> String {
        let mut key: Vec<String> = SETTINGS
            .iter()
            .filter_map(|s| {
                let v = self.value(s);
                match s.fusion {
                    Fusion::Shared => Some(v.label()),
                    Fusion::LaneIfUsed => Some(s.is_set(&v).to_string()),
                    Fusion::Lane => None,
                }
            })
            .collect();
        key.push(self.dataset.name().to_string());
        key.join(";")
    }
}

/// Single values of some settings: a point of a `[[grid.zip]]` table or a variant's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Partial(Vec<Option<Value>>);

impl Default for Partial {
    fn default() -> Self {
        Partial(vec![None; SETTINGS.len()])
    }
}

impl Partial {
    /// The value of setting `i` ([`SETTINGS`] index), if this point sets it.
    pub fn get(&self, i: usize) -> Option<&Value> {
        self.0[i].as_ref()
    }

    /// The value of the setting `name`, if set.
    pub fn value(&self, name: &str) -> Option<&Value> {
        settings::index(name).and_then(|i| self.get(i))
    }

    pub fn set(&mut self, i: usize, v: Value) {
        self.0[i] = Some(v);
    }

    /// `self` with the setting `name` set to `v` (for building points by hand).
    pub fn with(mut self, name: &str, v: Value) -> Partial {
        let i = settings::index(name).unwrap_or_else(|| panic!("no setting `{name}`"));
        self.0[i] = Some(v);
        self
    }

    /// The settings this point sets, with their values.
    pub fn values(&self) -> impl Iterator<Item = (&'static Setting, &Value)> {
        SETTINGS
            .iter()
            .zip(&self.0)
            .filter_map(|(s, v)| v.as_ref().map(|v| (s, v)))
    }

    fn apply(&self, r: &mut RunSettings) {
        for (s, v) in self.values() {
            (s.set)(r, v.clone());
        }
    }
}

/// A `[[variant]]` table: a name and single values of some settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub name: String,
    pub settings: Partial,
}

/// The values of every setting: the runs are their Cartesian product, times the points of each
/// zip, times the variants.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// One list per setting, in [`SETTINGS`] order.
    axes: Vec<Vec<Value>>,
    /// Each `[[grid.zip]]` table: its points, one axis of the grid.
    pub zips: Vec<Vec<Partial>>,
    /// The slowest axis, when the experiment has variants.
    pub variants: Vec<Variant>,
}

impl Default for Grid {
    /// The book's chapter 1 run: every setting at its default.
    fn default() -> Self {
        Grid {
            axes: SETTINGS.iter().map(|s| vec![(s.default)()]).collect(),
            zips: Vec::new(),
            variants: Vec::new(),
        }
    }
}

impl Grid {
    /// The values of setting `i` ([`SETTINGS`] index).
    pub fn axis(&self, i: usize) -> &[Value] {
        &self.axes[i]
    }

    /// The values of the setting `name`.
    pub fn values_of(&self, name: &str) -> &[Value] {
        &self.axes[settings::index(name).unwrap_or_else(|| panic!("no setting `{name}`"))]
    }

    /// Sets the values of setting `i` (at least one).
    pub fn set_axis(&mut self, i: usize, values: Vec<Value>) {
        debug_assert!(!values.is_empty());
        self.axes[i] = values;
    }

    /// `self` with the setting `name` taking `values` (for building grids by hand).
    pub fn with(mut self, name: &str, values: Vec<Value>) -> Grid {
        let i = settings::index(name).unwrap_or_else(|| panic!("no setting `{name}`"));
        self.set_axis(i, values);
        self
    }

    /// Number of runs (saturating at `u128::MAX`).
    pub fn len(&self) -> u128 {
        self.axes
            .iter()
            .map(|a| a.len())
            .chain(self.zips.iter().map(|z| z.len()))
            .chain((!self.variants.is_empty()).then_some(self.variants.len()))
            .fold(1u128, |acc, r| acc.saturating_mul(r as u128))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The run at `index` of the grid order: the settings' axes in their `axis` order with the
    /// last (the seed) varying fastest, then the zips (the first slowest), then the variants
    /// (slowest of all). Zip points and variants override the axes' values.
    pub fn get(&self, index: u128) -> RunSettings {
        assert!(index < self.len(), "grid index {index} out of range");
        let plain: u128 = self
            .axes
            .iter()
            .fold(1u128, |a, v| a.saturating_mul(v.len() as u128));
        let mut zipped = index / plain;
        let mut rest = index % plain;
        let mut run = RunSettings::default();
        for &i in settings::axis_order().iter().rev() {
            let values = &self.axes[i];
            let digit = (rest % values.len() as u128) as usize;
            rest /= values.len() as u128;
            (SETTINGS[i].set)(&mut run, values[digit].clone());
        }
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

    /// Every run in grid order.
    pub fn runs(&self) -> Vec<RunSettings> {
        self.iter().collect()
    }

    /// The runs one at a time, in grid order.
    pub fn iter(&self) -> impl Iterator<Item = RunSettings> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// The values of the setting `name` as text, in grid order (for comparing grids).
    pub fn labels(&self, name: &str) -> Vec<String> {
        self.values_of(name).iter().map(Value::label).collect()
    }

    /// Keeps only the first value of setting `i`.
    pub fn keep_first(&mut self, i: usize) {
        self.axes[i].truncate(1);
    }

    /// Removes repeated values from every list (keeping the first of each), so a value listed
    /// twice is trained once. Linear in the length of the lists (a hash of each value's text).
    pub fn dedup(&mut self) {
        fn key(v: &Value) -> String {
            match v {
                // 0.0 and -0.0 are the same value
                Value::Float(x) => float_label(x + 0.0),
                other => other.label(),
            }
        }
        for axis in &mut self.axes {
            let mut seen = std::collections::HashSet::with_capacity(axis.len());
            axis.retain(|v| seen.insert(key(v)));
        }
        for zip in &mut self.zips {
            let mut seen = std::collections::HashSet::with_capacity(zip.len());
            zip.retain(|p| seen.insert(p.values().map(|(_, v)| key(v)).collect::<Vec<_>>()));
        }
    }

    /// The values setting `i` takes anywhere: its axis, the zips and the variants.
    fn every_value(&self, i: usize) -> impl Iterator<Item = &Value> {
        self.axes[i]
            .iter()
            .chain(self.partials().filter_map(move |p| p.get(i)))
    }

    /// The zip points and the variants' settings.
    fn partials(&self) -> impl Iterator<Item = &Partial> {
        self.zips
            .iter()
            .flatten()
            .chain(self.variants.iter().map(|v| &v.settings))
    }

    /// The settings that take more than one value, in table order: listed in `[grid]` first,
    /// then those varied by a zip; `variant` last when there are several variants.
    pub fn swept_keys(&self) -> Vec<&'static str> {
        let mut keys: Vec<&'static str> = SETTINGS
            .iter()
            .zip(&self.axes)
            .filter(|(_, values)| values.iter().any(|v| *v != values[0]))
            .map(|(s, _)| s.name)
            .collect();
        for (i, s) in SETTINGS.iter().enumerate() {
            let zipped = self.zips.iter().any(|z| {
                let values: Vec<Option<&Value>> = z.iter().map(|p| p.get(i)).collect();
                values.iter().any(|v| v.is_some() && *v != values[0])
            });
            if zipped && !keys.contains(&s.name) {
                keys.push(s.name);
            }
        }
        if self.variants.len() > 1 {
            keys.push(VARIANT);
        }
        keys
    }

    /// The largest training set any run uses (so that the data set can be checked and, with
    /// `expand`, expanded once for all runs).
    pub fn max_train_size(&self) -> usize {
        let i = settings::index("train_size").expect("train_size is a setting");
        self.every_value(i)
            .filter_map(|v| v.as_f64())
            .fold(0.0, f64::max) as usize
    }

    /// The largest training set an `expand = true` run uses, if any run expands its data.
    pub fn expanded_train_size(&self) -> Option<usize> {
        self.extra_columns()
            .contains(&"expand")
            .then(|| self.max_train_size())
    }

    /// The extra CSV columns this grid needs, in column order: each extra setting that some run
    /// sets to a value other than its default, then `variant` when there are variants.
    pub fn extra_columns(&self) -> Vec<&'static str> {
        SETTINGS
            .iter()
            .enumerate()
            .filter(|(i, s)| s.column == Column::Extra && self.every_value(*i).any(|v| s.is_set(v)))
            .map(|(_, s)| s.name)
            .chain((!self.variants.is_empty()).then_some(VARIANT))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(xs: &[f64]) -> Vec<Value> {
        xs.iter().map(|&x| Value::Float(x)).collect()
    }

    fn ints(ns: impl IntoIterator<Item = u64>) -> Vec<Value> {
        ns.into_iter().map(Value::Int).collect()
    }

    fn grid() -> Grid {
        Grid::default()
            .with("eta", floats(&[0.1, 1.0, 10.0]))
            .with("seed", ints([1, 2]))
            .with(
                "cost",
                vec![
                    Value::Cost(Cost::Quadratic),
                    Value::Cost(Cost::CrossEntropy),
                ],
            )
            .with("train_size", ints([1000]))
    }

    #[test]
    fn cartesian_product_size_and_order() {
        let g = grid();
        assert_eq!(g.len(), 12);
        let runs = g.runs();
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
        let mut g = Grid::default().with("eta", floats(&[3.0, 3.0, 1.0]));
        assert_eq!(g.len(), 3);
        g.dedup();
        assert_eq!(g.len(), 2);
        let runs = g.runs();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].eta, 3.0);
        assert_eq!(runs[1].eta, 1.0);
        // 0.0 and -0.0 are one value; zip points repeated whole are one point
        let mut g = Grid::default().with("lambda", floats(&[0.0, -0.0, 1.0]));
        g.zips = vec![vec![
            Partial::default().with("eta", Value::Float(1.0)),
            Partial::default().with("eta", Value::Float(1.0)),
            Partial::default().with("eta", Value::Float(2.0)),
        ]];
        g.dedup();
        assert_eq!(g.values_of("lambda"), floats(&[0.0, 1.0]).as_slice());
        assert_eq!(g.zips[0].len(), 2);
    }

    #[test]
    fn run_id_is_stable_and_depends_on_every_setting() {
        let base = Grid::default().get(0);
        assert_eq!(
            base.canonical(),
            "sizes=784-30-10;eta=3.0;batch_size=10;epochs=30;seed=1;cost=quadratic;init=large;lambda=0.0;train_size=50000"
        );
        let id = base.id();
        // the id itself is pinned: results folders written by earlier versions keep their runs
        assert_eq!(id, "2e5c3b6f6106");
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
            RunSettings {
                dropout: 0.5,
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.id(), id, "{}", v.canonical());
        }
        // every setting of the table changes the id when it leaves its default
        for s in &SETTINGS {
            let mut run = base.clone();
            let other = match (s.default)() {
                Value::Float(x) => Value::Float(x + 0.5),
                Value::Int(n) => Value::Int(n + 1),
                Value::Bool(b) => Value::Bool(!b),
                Value::Sizes(_) => Value::Sizes(vec![784, 10]),
                Value::Cost(_) => Value::Cost(Cost::CrossEntropy),
                Value::Init(_) => Value::Init(Init::Scaled),
                Value::Activation(_) => Value::Activation(Activation::Relu),
                Value::Schedule(_) => Value::Schedule(Schedule::Halve { patience: 3 }),
            };
            (s.set)(&mut run, other);
            assert_ne!(run.id(), id, "{}", s.name);
        }
    }

    #[test]
    fn get_matches_runs_for_every_index() {
        let g = grid();
        let runs = g.runs();
        for (i, r) in runs.iter().enumerate() {
            assert_eq!(&g.get(i as u128), r);
        }
    }

    #[test]
    fn huge_grid_is_indexed_without_building_it() {
        let g = Grid::default()
            .with(
                "eta",
                (0..1000)
                    .map(|i| Value::Float(0.001 * (i + 1) as f64))
                    .collect(),
            )
            .with("seed", ints(0..1000))
            .with("lambda", (0..100).map(|i| Value::Float(i as f64)).collect());
        assert_eq!(g.len(), 100_000_000);
        let last = g.get(g.len() - 1);
        assert_eq!((last.lambda, last.seed), (99.0, 999));
        assert_eq!(last.eta, 1.0);
        // with variants on top: the slowest axis
        let g = Grid {
            variants: (0..10)
                .map(|i| Variant {
                    name: format!("v{i}"),
                    settings: Partial::default().with("momentum", Value::Float(i as f64 / 10.0)),
                })
                .collect(),
            ..g
        };
        assert_eq!(g.len(), 1_000_000_000);
        let last = g.get(g.len() - 1);
        assert_eq!((last.variant.as_deref(), last.momentum), (Some("v9"), 0.9));
        assert_eq!((last.lambda, last.seed), (99.0, 999));
        let first_of_v3 = g.get(300_000_000);
        assert_eq!(
            (first_of_v3.variant.as_deref(), first_of_v3.seed),
            (Some("v3"), 0)
        );
    }

    #[test]
    fn zipped_settings_vary_together() {
        let point = |t: u64, l: f64| {
            Partial::default()
                .with("train_size", Value::Int(t))
                .with("lambda", Value::Float(l))
        };
        let g = Grid {
            zips: vec![vec![point(100, 0.01), point(1000, 0.1), point(10_000, 1.0)]],
            ..Grid::default().with("seed", ints([1, 2]))
        };
        assert_eq!(g.len(), 6);
        let runs = g.runs();
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
        assert_eq!(g.max_train_size(), 50_000);
    }

    #[test]
    fn swept_keys_lists_only_keys_with_several_values() {
        assert_eq!(grid().swept_keys(), vec!["eta", "seed", "cost"]);
        assert!(Grid::default().swept_keys().is_empty());
    }

    #[test]
    fn runs_that_may_share_a_lockstep_group() {
        let base = RunSettings::default();
        let same = |f: fn(&mut RunSettings)| {
            let mut r = base.clone();
            f(&mut r);
            r.fusion_key() == base.fusion_key()
        };
        assert!(same(|r| r.eta = 0.5));
        assert!(same(|r| r.cost = Cost::CrossEntropy));
        assert!(same(|r| r.activation = Activation::Tanh));
        assert!(!same(|r| r.seed = 2));
        assert!(!same(|r| r.batch_size = 20));
        assert!(!same(|r| r.momentum = 0.5));
        assert!(!same(|r| r.dropout = 0.5));
        let mut a = base.clone();
        a.momentum = 0.5;
        let mut b = base.clone();
        b.momentum = 0.9;
        assert_eq!(
            a.fusion_key(),
            b.fusion_key(),
            "momentum runs fuse together"
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use std::collections::HashSet;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// A grid holds every combination of its axes exactly once: as many runs as the
        /// product of the axes' lengths, each (eta, batch size, seed) once, each id once.
        #[test]
        fn a_grid_is_the_product_of_its_axes(etas in 1usize..6, batches in 1usize..4, seeds in 1usize..4) {
            let eta: Vec<String> = (0..etas).map(|i| format!("{}.5", i)).collect();
            let batch: Vec<String> = (0..batches).map(|i| (10 + i).to_string()).collect();
            let exp = crate::tests_support::grid_experiment(&format!(
                "eta = [{}]\nbatch_size = [{}]\nseeds = {seeds}\n",
                eta.join(", "),
                batch.join(", ")
            ));
            let runs = exp.grid().runs();
            prop_assert_eq!(exp.grid().len(), (etas * batches * seeds) as u128);
            prop_assert_eq!(runs.len(), etas * batches * seeds);
            let combos: HashSet<(u64, usize, u64)> =
                runs.iter().map(|r| (r.eta.to_bits(), r.batch_size, r.seed)).collect();
            prop_assert_eq!(combos.len(), runs.len());
            let ids: HashSet<String> = runs.iter().map(|r| r.id()).collect();
            prop_assert_eq!(ids.len(), runs.len());
        }
    }
}
