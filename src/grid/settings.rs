//! The run settings, each declared once.
//!
//! A run is determined by the values of the settings in [`SETTINGS`]. Each [`Setting`] says, in
//! one place, everything the rest of the program needs to know about it: its key in experiment
//! files and its CSV column, how its values are written and which are allowed (with the message
//! when they are not), its default, where it may be written (`[grid]`, `[[grid.zip]]`,
//! `[[variant]]`, random search), whether it is a standard column or an extra one written only
//! when used, its place in the grid's enumeration and in the summary, and whether runs that
//! differ in it can be trained in one lockstep group. Parsing and validation (`config`), the
//! grid, run ids, the CSV columns, resume compatibility, grouping by setting and the summary all
//! read this table; none of them names a setting by hand.

use std::fmt;

use crate::grid::schedule::Schedule;
use crate::nn::maths::{Activation, Cost};
use crate::nn::params::Init;

use super::RunSettings;

/// The value of one setting for one run.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Sizes(Vec<usize>),
    Float(f64),
    Int(u64),
    Bool(bool),
    Cost(Cost),
    Init(Init),
    Activation(Activation),
    Schedule(Schedule),
}

impl Value {
    /// The value as text: in run ids, CSV cells of the extra columns, labels and the summary
    /// (`784-30-10`, `3.0`, `10`, `true`, `cross-entropy`, `halve:10`). Floats are written so
    /// that they read back to the same number.
    pub fn label(&self) -> String {
        match self {
            Value::Sizes(s) => sizes_label(s),
            Value::Float(x) => float_label(*x),
            Value::Int(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Cost(c) => c.name().to_string(),
            Value::Init(i) => i.name().to_string(),
            Value::Activation(a) => a.name().to_string(),
            Value::Schedule(s) => s.label(),
        }
    }

    /// The value as a CSV cell of a standard column: numbers stay numbers.
    pub fn cell(&self) -> Cell {
        match self {
            Value::Float(x) => Cell::Float(*x),
            Value::Int(n) => Cell::Int(*n),
            other => Cell::Text(other.label()),
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(x) => Some(*x),
            Value::Int(n) => Some(*n as f64),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// A cell of a standard settings column, written by serde as its type (so `eta` is a number in
/// the CSV files and the state files).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Cell {
    Int(u64),
    Float(f64),
    Text(String),
}

impl Cell {
    /// The cell's text as a [`Value::label`] would write it, given the setting it belongs to.
    pub fn label(&self) -> String {
        match self {
            Cell::Int(n) => n.to_string(),
            Cell::Float(x) => float_label(*x),
            Cell::Text(s) => s.clone(),
        }
    }
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

/// The largest value a whole-number setting may take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Max {
    Fixed(u64),
    /// The training images the data set has after the validation split (train_size).
    Available,
    /// The training-set size of the run (batch_size); checked where both are known.
    TrainSize,
}

/// How a setting's values are written in an experiment file, and which are allowed.
#[derive(Clone, Copy)]
pub enum Kind {
    /// Layer sizes, `[784, 30, 10]`, or hidden widths through `hidden`.
    Sizes,
    /// A number, a list of numbers, or a range (`{ log = [a, b], num = N }`,
    /// `{ lin = [a, b], num = N }`). `allowed` tells a value that is not; `rule` says why.
    Float {
        allowed: fn(f64) -> bool,
        rule: &'static str,
    },
    /// A whole number, a list of them, or a range (`{ range = [a, b], step = S }`,
    /// `{ pow2 = [a, b] }`). `what` names the values expected; `rule` is the message for one out
    /// of range (`{max}` stands for the upper bound).
    Int {
        min: u64,
        max: Max,
        what: &'static str,
        rule: &'static str,
    },
    /// One of `names` (or a list of them).
    Choice {
        names: &'static [&'static str],
        value: fn(usize) -> Value,
    },
    /// `true` or `false` (or both); `rule` explains the setting.
    Bool { rule: &'static str },
    /// Text read by `parse`; `rule` says what is allowed.
    Text {
        parse: fn(&str) -> Option<Value>,
        rule: &'static str,
    },
}

/// Where a setting's column sits in `metrics.csv` and `runs.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// One of the standard columns, always written, in table order after `run`.
    Standard,
    /// After the standard columns, written only by experiments that use a value other than the
    /// default; left out of run ids at the default, so the ids of runs that do not use it never
    /// change.
    Extra,
}

/// Whether runs that differ in a setting can be trained in one lockstep group (they share the
/// initial weights and the mini-batches, so some settings must be equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fusion {
    /// Runs of a group share the value.
    Shared,
    /// Each run of a group has its own value.
    Lane,
    /// Each run has its own value, but runs at the default and runs not at it are not mixed
    /// (momentum: velocities; dropout: masks).
    LaneIfUsed,
}

/// How a run is labelled in progress lines and failure lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// The value alone (`784-30-10`, `cross-entropy`).
    Bare,
    /// `name=value` (`batch=10`).
    Named(&'static str),
    /// Not shown (implied by the experiment).
    Hidden,
}

/// One run setting: everything about it, in one declaration.
pub struct Setting {
    /// The key in experiment files, the CSV column and the name in run ids.
    pub name: &'static str,
    /// Another way of writing it in a table (`hidden` for `sizes`, `output` for `cost`).
    pub form: Option<&'static str>,
    /// What people call it elsewhere (the book's code, other tools), for "did you mean".
    pub aliases: &'static [&'static str],
    /// What it means, for the guide's table of keys ([`keys_table`]).
    pub doc: &'static str,
    pub kind: Kind,
    pub default: fn() -> Value,
    pub get: fn(&RunSettings) -> Value,
    pub set: fn(&mut RunSettings, Value),
    pub column: Column,
    pub label: Label,
    /// May be listed in `[grid]` (train_size is set in `[data]`).
    pub in_grid: bool,
    /// May be a list in a `[[grid.zip]]` table.
    pub zip: bool,
    /// May be set by a `[[variant]]`.
    pub variant: bool,
    /// Drawn by a random search when it has several values.
    pub searched: bool,
    pub fusion: Fusion,
    /// Place in the grid's enumeration: the lowest varies slowest.
    pub axis: u8,
    /// Place among the answers of the summary: the lowest is answered first.
    pub report: u8,
}

impl Setting {
    /// True when `v` is not this setting's default.
    pub fn is_set(&self, v: &Value) -> bool {
        *v != (self.default)()
    }

    /// Reads a value written by [`Value::label`] back as plain text in this setting's normal
    /// form (floats through `f64`, so `1e-5` and `0.00001` agree); text that is not a number
    /// is kept as it is.
    pub fn normalize(&self, text: &str) -> String {
        match self.kind {
            Kind::Float { .. } => text.parse::<f64>().map_or(text.to_string(), float_label),
            Kind::Int { .. } => text
                .parse::<u64>()
                .map_or(text.to_string(), |n| n.to_string()),
            _ => text.to_string(),
        }
    }

    /// A number to plot a value on: numbers as they are, one-hidden-layer networks by their
    /// width; None for anything else.
    pub fn number(&self, text: &str) -> Option<f64> {
        match self.kind {
            Kind::Float { .. } | Kind::Int { .. } => text.parse().ok(),
            Kind::Sizes => match text.split('-').collect::<Vec<_>>()[..] {
                [_, hidden, _] => hidden.parse().ok(),
                _ => None,
            },
            _ => None,
        }
    }
}

impl fmt::Debug for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Setting({})", self.name)
    }
}

/// The guide's table of the run settings' keys (`docs/experiment-file.md`, between the
/// `keys table` markers), made from [`SETTINGS`]: a test fails when the guide's copy is stale.
pub fn keys_table() -> String {
    let mut out = String::from(
        "| key | default | allowed | meaning | in zips, variants, random search |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    for s in &SETTINGS {
        let table = if s.in_grid { "grid" } else { "data" };
        let key = match s.form {
            Some(form) => format!("`{table}.{}` (or `{form}`)", s.name),
            None => format!("`{table}.{}`", s.name),
        };
        let default = match (s.default)() {
            Value::Sizes(sizes) => format!("`{sizes:?}`"),
            v @ (Value::Float(_) | Value::Int(_) | Value::Bool(_)) => format!("`{v}`"),
            v => format!("`\"{v}\"`"),
        };
        let allowed = match s.kind {
            Kind::Sizes => "a list of whole numbers, or a list of such lists".to_string(),
            Kind::Float { rule, .. } | Kind::Text { rule, .. } => rule.to_string(),
            Kind::Bool { .. } => "`true`, `false`".to_string(),
            Kind::Int { what, max, .. } => what.replace(" ({max})", "").replace(
                "{max}",
                match max {
                    Max::Fixed(_) => "the maximum",
                    Max::Available => "the training images left after the validation split",
                    Max::TrainSize => "train_size",
                },
            ),
            Kind::Choice { names, .. } => names
                .iter()
                .map(|n| format!("`\"{n}\"`"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let yes = |b: bool| if b { "yes" } else { "no" };
        out.push_str(&format!(
            "| {key} | {default} | {allowed} | {} | {}, {}, {} |\n",
            s.doc,
            yes(s.zip),
            yes(s.variant),
            yes(s.searched)
        ));
    }
    out
}

/// The settings table, in the order of the CSV columns and of run ids.
pub static SETTINGS: [Setting; 15] = [
    Setting {
        name: "sizes",
        form: Some("hidden"),
        aliases: &["layers"],
        doc: "the network's layer sizes, at least two layers, the first 784 and the last 10; a list of them sweeps networks. `hidden` gives the hidden layers' widths instead (the input and output layers are the data set's): `hidden = 30` is `[784, 30, 10]`, `hidden = [10, 30, 100]` three networks, `hidden = { range = [10, 100], step = 10 }` ten, `hidden = [[100, 30], [30]]` each network's hidden layers; give `sizes` or `hidden`, not both",
        kind: Kind::Sizes,
        default: || Value::Sizes(vec![784, 30, 10]),
        get: |r| Value::Sizes(r.sizes.clone()),
        set: |r, v| {
            if let Value::Sizes(s) = v {
                r.sizes = s
            }
        },
        column: Column::Standard,
        label: Label::Bare,
        in_grid: true,
        zip: true,
        variant: true,
        searched: true,
        fusion: Fusion::Shared,
        axis: 2,
        report: 4,
    },
    Setting {
        name: "eta",
        form: None,
        aliases: &["learning_rate", "lr"],
        doc: "the learning rate of mini-batch SGD",
        kind: Kind::Float {
            // (training computes in f32: a smaller eta would be 0 there)
            allowed: |x| x.is_finite() && x >= f32::MIN_POSITIVE as f64 && x <= f32::MAX as f64,
            rule: "the learning rate eta must be a finite number > 0, e.g. 3.0 (and from \
                   1.2e-38 to 3.4e38, the smallest normal and the largest f32: training computes \
                   in f32)",
        },
        default: || Value::Float(3.0),
        get: |r| Value::Float(r.eta),
        set: |r, v| r.eta = v.as_f64().unwrap_or(r.eta),
        column: Column::Standard,
        label: Label::Named("eta"),
        in_grid: true,
        zip: true,
        variant: true,
        searched: true,
        fusion: Fusion::Lane,
        axis: 13,
        report: 1,
    },
    Setting {
        name: "batch_size",
        form: None,
        aliases: &["mini_batch_size", "batch"],
        doc: "the mini-batch size m",
        kind: Kind::Int {
            min: 1,
            max: Max::TrainSize,
            what: "whole numbers from 1 to train_size ({max})",
            rule: "the mini-batch size must be from 1 to train_size ({max})",
        },
        default: || Value::Int(10),
        get: |r| Value::Int(r.batch_size as u64),
        set: |r, v| r.batch_size = v.as_f64().map_or(r.batch_size, |n| n as usize),
        column: Column::Standard,
        label: Label::Named("batch"),
        in_grid: true,
        zip: true,
        variant: true,
        searched: true,
        fusion: Fusion::Shared,
        axis: 8,
        report: 3,
    },
    Setting {
        name: "epochs",
        form: None,
        aliases: &["epoch"],
        doc: "passes over the training set",
        kind: Kind::Int {
            min: 1,
            max: Max::Fixed(100_000),
            what: "whole numbers from 1 to 100000",
            rule: "epochs must be from 1 to 100000",
        },
        default: || Value::Int(30),
        get: |r| Value::Int(r.epochs as u64),
        set: |r, v| r.epochs = v.as_f64().map_or(r.epochs, |n| n as usize),
        column: Column::Standard,
        label: Label::Hidden,
        in_grid: true,
        zip: true,
        variant: true,
        searched: true,
        fusion: Fusion::Shared,
        axis: 9,
        report: 7,
    },
    Setting {
        name: "seed",
        form: None,
        aliases: &[],
        doc: "the seed of the initial weights, the shuffles and the dropout masks; `seeds = 5` is shorthand for `seed = [1, 2, 3, 4, 5]` (give one of `seed` and `seeds`)",
        kind: Kind::Int {
            min: 0,
            max: Max::Fixed(u64::MAX),
            what: "whole numbers >= 0",
            rule: "a seed is a whole number >= 0",
        },
        default: || Value::Int(1),
        get: |r| Value::Int(r.seed),
        set: |r, v| {
            if let Value::Int(n) = v {
                r.seed = n
            }
        },
        column: Column::Standard,
        label: Label::Named("seed"),
        in_grid: true,
        zip: true,
        variant: true,
        searched: false,
        fusion: Fusion::Shared,
        axis: 14,
        report: u8::MAX,
    },
    Setting {
        name: "cost",
        form: Some("output"),
        aliases: &[],
        doc: "`quadratic`: C = ½‖a−y‖²; `cross-entropy`: the output delta is a − y; `log-likelihood`: a softmax output layer, C = −ln a_y, output delta a − y. `output = \"softmax\"` is another way to write `cost = \"log-likelihood\"` (`output = [\"sigmoid\", \"softmax\"]` sweeps both, the sigmoid with `cost`)",
        kind: Kind::Choice {
            names: &["quadratic", "cross-entropy", "log-likelihood"],
            value: |i| Value::Cost(Cost::ALL[i]),
        },
        default: || Value::Cost(Cost::Quadratic),
        get: |r| Value::Cost(r.cost),
        set: |r, v| {
            if let Value::Cost(c) = v {
                r.cost = c
            }
        },
        column: Column::Standard,
        label: Label::Bare,
        in_grid: true,
        zip: true,
        variant: true,
        searched: true,
        fusion: Fusion::Lane,
        axis: 4,
        report: 5,
    },
    Setting {
        name: "init",
        form: None,
        aliases: &[],
        doc: "`large`: weights and biases N(0, 1); `scaled`: weights N(0, 1/n_in), biases N(0, 1)",
        kind: Kind::Choice {
            names: &["large", "scaled"],
            value: |i| Value::Init(Init::ALL[i]),
        },
        default: || Value::Init(Init::Large),
        get: |r| Value::Init(r.init),
        set: |r, v| {
            if let Value::Init(i) = v {
                r.init = i
            }
        },
        column: Column::Standard,
        label: Label::Bare,
        in_grid: true,
        zip: true,
        variant: true,
        searched: true,
        fusion: Fusion::Shared,
        axis: 5,
        report: 6,
    },
    Setting {
        name: "lambda",
        form: None,
        aliases: &["lmbda", "l2"],
        doc: "L2 regularisation: w ← (1 − eta·lambda/n)·w − (eta/m)·Σ∇, n the number of training examples",
        kind: Kind::Float {
            allowed: |x| x.is_finite() && (0.0..=f32::MAX as f64).contains(&x),
            rule: "the L2 regularisation lambda must be a finite number >= 0, e.g. 5.0 (0 turns it \
                   off), and at most 3.4e38, the largest f32: training computes in f32",
        },
        default: || Value::Float(0.0),
        get: |r| Value::Float(r.lambda),
        set: |r, v| r.lambda = v.as_f64().unwrap_or(r.lambda),
        column: Column::Standard,
        label: Label::Named("lambda"),
        in_grid: true,
        zip: true,
        variant: true,
        searched: true,
        fusion: Fusion::Lane,
        axis: 6,
        report: 2,
    },
    Setting {
        name: "train_size",
        form: None,
        aliases: &[],
        doc: "the first N training images (set in `[data]`, in a zip or a variant)",
        kind: Kind::Int {
            min: 1,
            max: Max::Available,
            what: "whole numbers from 1 to {max}",
            rule: "train_size must be from 1 to {max}",
        },
        default: || Value::Int(crate::data::MNIST_TRAIN as u64),
        get: |r| Value::Int(r.train_size as u64),
        set: |r, v| r.train_size = v.as_f64().map_or(r.train_size, |n| n as usize),
        column: Column::Standard,
        label: Label::Hidden,
        in_grid: false,
        zip: true,
        variant: true,
        searched: false,
        fusion: Fusion::Shared,
        axis: 0,
        report: 8,
    },
    Setting {
        name: "activation",
        form: None,
        aliases: &[],
        doc: "the hidden layers' neurons (`relu` is max(0, z)); the output layer is sigmoid or softmax (`cost`)",
        kind: Kind::Choice {
            names: &["sigmoid", "tanh", "relu"],
            value: |i| Value::Activation(Activation::ALL[i]),
        },
        default: || Value::Activation(Activation::Sigmoid),
        get: |r| Value::Activation(r.activation),
        set: |r, v| {
            if let Value::Activation(a) = v {
                r.activation = a
            }
        },
        column: Column::Extra,
        label: Label::Named("activation"),
        in_grid: true,
        zip: true,
        variant: true,
        searched: true,
        fusion: Fusion::Lane,
        axis: 3,
        report: 9,
    },
    Setting {
        name: "momentum",
        form: None,
        aliases: &["mu"],
        doc: "mu of momentum-based SGD: v ← mu·v − eta·(lambda/n)·w − (eta/m)·Σ∇, w ← w + v (biases the same without the lambda term); 0 is plain SGD",
        kind: Kind::Float {
            allowed: |x| x.is_finite() && (0.0..1.0).contains(&x),
            rule: "the momentum coefficient mu must be from 0 (plain SGD) up to, not including, 1, e.g. 0.9",
        },
        default: || Value::Float(0.0),
        get: |r| Value::Float(r.momentum),
        set: |r, v| r.momentum = v.as_f64().unwrap_or(r.momentum),
        column: Column::Extra,
        label: Label::Named("momentum"),
        in_grid: true,
        zip: true,
        variant: true,
        searched: true,
        fusion: Fusion::LaneIfUsed,
        axis: 7,
        report: 10,
    },
    Setting {
        name: "eta_schedule",
        form: None,
        aliases: &["schedule"],
        doc: "`halve:N` is the book's schedule: halve eta each time the validation accuracy has not improved for N epochs, and stop once eta has fallen to 1/128 of its start",
        kind: Kind::Text {
            parse: |text| Schedule::parse(text).map(Value::Schedule),
            rule: "use \"constant\" or \"halve:N\" (halve eta each time the validation accuracy has \
                   not improved for N epochs, and stop once eta is 1/128 of its start)",
        },
        default: || Value::Schedule(Schedule::Constant),
        get: |r| Value::Schedule(r.eta_schedule),
        set: |r, v| {
            if let Value::Schedule(s) = v {
                r.eta_schedule = s
            }
        },
        column: Column::Extra,
        label: Label::Named("eta_schedule"),
        in_grid: true,
        zip: true,
        variant: true,
        searched: true,
        fusion: Fusion::Lane,
        axis: 10,
        report: 11,
    },
    Setting {
        name: "early_stopping",
        form: None,
        aliases: &["patience"],
        doc: "stop a run when its validation accuracy has not improved for N epochs (0: never)",
        kind: Kind::Int {
            min: 0,
            max: Max::Fixed(100_000),
            what: "a whole number of epochs from 0 (never stop early) to 100000",
            rule: "early_stopping is a whole number of epochs from 0 (never stop early) to 100000",
        },
        default: || Value::Int(0),
        get: |r| Value::Int(r.early_stopping as u64),
        set: |r, v| r.early_stopping = v.as_f64().map_or(r.early_stopping, |n| n as usize),
        column: Column::Extra,
        label: Label::Named("early_stopping"),
        in_grid: true,
        zip: true,
        variant: true,
        searched: true,
        fusion: Fusion::Lane,
        axis: 11,
        report: 12,
    },
    Setting {
        name: "expand",
        form: None,
        aliases: &[],
        doc: "train on the book's expanded data: each training image followed by its copies shifted one pixel down, up, right and left (5 × `train_size` examples, and n = 5 × `train_size` in the L2 term)",
        kind: Kind::Bool {
            rule: "`expand = true` trains on each image and its four one-pixel shifts",
        },
        default: || Value::Bool(false),
        get: |r| Value::Bool(r.expand),
        set: |r, v| {
            if let Value::Bool(b) = v {
                r.expand = b
            }
        },
        column: Column::Extra,
        label: Label::Named("expand"),
        in_grid: true,
        zip: true,
        variant: true,
        searched: true,
        fusion: Fusion::Shared,
        axis: 1,
        report: 13,
    },
    Setting {
        name: "dropout",
        form: None,
        aliases: &["dropout_rate", "p_drop"],
        doc: "drop each hidden neuron with probability p for each example while training, scaling the kept ones by 1/(1 − p) (so evaluation is unchanged); the masks come from the run's seed and the example's place in the run; 0 is off",
        kind: Kind::Float {
            allowed: |x| x.is_finite() && (0.0..1.0).contains(&x),
            rule: "dropout is the probability of dropping each hidden neuron while training, from 0 \
                   (off) up to, not including, 1, e.g. 0.5",
        },
        default: || Value::Float(0.0),
        get: |r| Value::Float(r.dropout),
        set: |r, v| r.dropout = v.as_f64().unwrap_or(r.dropout),
        column: Column::Extra,
        label: Label::Named("dropout"),
        in_grid: true,
        zip: true,
        variant: true,
        searched: true,
        fusion: Fusion::LaneIfUsed,
        axis: 12,
        report: 14,
    },
];

/// The extra column of a run's `[[variant]]` name (a variant is a named bundle of settings,
/// not a setting): after the extra setting columns, in run ids after the settings.
pub const VARIANT: &str = "variant";

/// The index of the setting `name` in [`SETTINGS`].
pub fn index(name: &str) -> Option<usize> {
    SETTINGS.iter().position(|s| s.name == name)
}

/// The setting `name`.
pub fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// The setting a key of a table sets: its name, or its other form (`hidden`, `output`).
pub fn by_key(key: &str) -> Option<&'static Setting> {
    SETTINGS
        .iter()
        .find(|s| s.name == key || s.form == Some(key))
}

/// The settings' indices in the grid's enumeration order, slowest first.
pub fn axis_order() -> [usize; SETTINGS.len()] {
    let mut order: [usize; SETTINGS.len()] = std::array::from_fn(|i| i);
    order.sort_by_key(|&i| SETTINGS[i].axis);
    order
}

/// The names of the extra setting columns, in column order (without `variant`).
pub fn extra_names() -> impl Iterator<Item = &'static str> {
    SETTINGS
        .iter()
        .filter(|s| s.column == Column::Extra)
        .map(|s| s.name)
}

/// The default of an extra column as CSV text (`variant`: empty).
pub fn extra_default(column: &str) -> String {
    setting(column).map_or(String::new(), |s| (s.default)().label())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_consistent() {
        let n = SETTINGS.len();
        let mut axes: Vec<u8> = SETTINGS.iter().map(|s| s.axis).collect();
        axes.sort();
        assert_eq!(
            axes,
            (0..n as u8).collect::<Vec<_>>(),
            "axes are a permutation"
        );
        let mut names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
        names.dedup();
        assert_eq!(names.len(), n);
        // every setting reads back what it writes, and its default is a valid value of its kind
        let mut run = RunSettings::default();
        for s in &SETTINGS {
            let v = (s.get)(&run);
            assert_eq!(
                v,
                (s.default)(),
                "{}: RunSettings::default() is the default",
                s.name
            );
            (s.set)(&mut run, v.clone());
            assert_eq!((s.get)(&run), v, "{}", s.name);
        }
        // the standard columns come first
        let first_extra = SETTINGS
            .iter()
            .position(|s| s.column == Column::Extra)
            .unwrap();
        assert!(SETTINGS[first_extra..]
            .iter()
            .all(|s| s.column == Column::Extra));
    }

    #[test]
    fn labels_read_back() {
        assert_eq!(Value::Float(3.0).label(), "3.0");
        assert_eq!(Value::Float(1e-5).label(), "1e-5");
        assert_eq!(Value::Sizes(vec![784, 30, 10]).label(), "784-30-10");
        assert_eq!(
            Value::Schedule(Schedule::Halve { patience: 10 }).label(),
            "halve:10"
        );
        let eta = setting("eta").unwrap();
        assert_eq!(eta.normalize("0.00001"), "1e-5");
        assert_eq!(eta.number("0.5"), Some(0.5));
        assert_eq!(setting("sizes").unwrap().number("784-30-10"), Some(30.0));
        assert_eq!(setting("sizes").unwrap().number("784-30-20-10"), None);
        assert_eq!(extra_default("momentum"), "0.0");
        assert_eq!(extra_default(VARIANT), "");
    }
}

#[cfg(test)]
mod keys_table_tests {
    /// The guide's table is [`super::keys_table`]'s; with `RUNNER_WRITE_DOCS=1` the test writes
    /// it there instead of failing.
    #[test]
    fn the_guides_table_of_keys_is_the_settings_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/experiment-file.md");
        let text = std::fs::read_to_string(&path).unwrap();
        let (begin, end) = ("<!-- keys table: begin -->\n", "<!-- keys table: end -->");
        let start = text.find(begin).expect("the begin marker") + begin.len();
        let stop = text.find(end).expect("the end marker");
        let table = super::keys_table();
        if text[start..stop] != table {
            if std::env::var_os("RUNNER_WRITE_DOCS").is_some() {
                std::fs::write(&path, format!("{}{table}{}", &text[..start], &text[stop..]))
                    .unwrap();
            } else {
                panic!(
                    "{} is stale: its table of keys is not the settings table's; run \
                     `RUNNER_WRITE_DOCS=1 cargo test keys_table` to rewrite it",
                    path.display()
                );
            }
        }
        // the table holds every setting
        for s in &super::SETTINGS {
            assert!(table.contains(&format!(".{}`", s.name)), "{}", s.name);
        }
    }
}
