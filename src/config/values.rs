//! The ways a value may be written in an experiment file: one value or a list, ranges of numbers
//! (`{ log = [a, b], num = N }`, `{ lin = ... }`, `{ range = [a, b], step = S }`,
//! `{ pow2 = [a, b] }`), names from a list, layer sizes and hidden widths; each mistake is an
//! [`ExperimentError`] at the value's line that says what was expected.

use std::ops::Range;
use std::path::Path;

use toml::{Table, Value};

use super::error::ExperimentError;
use crate::data::{CLASSES, IMAGE_PIXELS};

/// Largest number of values a range may generate.
pub const MAX_RANGE_VALUES: usize = 100_000;

/// Names people use for the keys in other tools and in the book's code, beside the settings'
/// own aliases.
const ALIASES: &[(&str, &str)] = &[("variants", "variant")];

/// The file being validated, for locating errors.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl<'a> Source<'a> {
    /// An error at byte `span` of the file, about the dotted `key`.
    pub fn error(&self, key: &str, span: Option<Range<usize>>, message: String) -> ExperimentError {
        ExperimentError {
            path: self.path.to_path_buf(),
            location: span.map(|s| line_col(self.text, s.start)),
            key: key.to_string(),
            message,
        }
    }

    /// A place in the file: the dotted `key`, located at `span`.
    pub fn at(&self, key: impl Into<String>, span: Range<usize>) -> At<'a> {
        At {
            source: *self,
            key: key.into(),
            span,
        }
    }
}

/// A value's place: its dotted key and its span.
#[derive(Clone)]
pub struct At<'a> {
    pub source: Source<'a>,
    pub key: String,
    pub span: Range<usize>,
}

impl At<'_> {
    pub fn err(&self, message: impl Into<String>) -> ExperimentError {
        self.source
            .error(&self.key, Some(self.span.clone()), message.into())
    }

    /// A key inside this value (a range's `num`), located at the value.
    pub fn sub(&self, key: &str) -> At<'_> {
        At {
            source: self.source,
            key: format!("{}.{key}", self.key),
            span: self.span.clone(),
        }
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The allowed key closest to `given`, if it is close enough to be a likely misspelling, or the
/// key that a known alias stands for (`aliases`: (alias, key) pairs).
pub fn suggest<'k>(given: &str, allowed: &[&'k str], aliases: &[(&str, &str)]) -> Option<&'k str> {
    let lower = given.to_ascii_lowercase();
    let alias = aliases
        .iter()
        .chain(ALIASES)
        .find(|(alias, _)| *alias == lower)
        .and_then(|(_, target)| allowed.iter().find(|a| *a == target));
    if let Some(t) = alias {
        return Some(t);
    }
    allowed
        .iter()
        .map(|a| (strsim::damerau_levenshtein(&lower, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4) && *d < a.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// The "unknown key" error for `key` (dotted path `path`, located at `span`) in a table whose
/// keys are `allowed`.
pub fn unknown_key(
    source: &Source,
    key: &str,
    path: &str,
    span: Range<usize>,
    section: &str,
    allowed: &[&str],
    aliases: &[(&str, &str)],
) -> ExperimentError {
    let section = if section.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in [{section}]")
    };
    let hint = suggest(key, allowed, aliases)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    source.error(
        path,
        Some(span),
        format!(
            "unknown key{hint}; the keys allowed {section} are: {}",
            allowed.join(", ")
        ),
    )
}

/// A value as the user wrote it, with its TOML type for context.
pub fn show(v: &Value) -> String {
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
        // 1e39, not forty digits
        Value::Float(x) if x.is_finite() && *x != 0.0 && !(1e-6..1e16).contains(&x.abs()) => {
            format!("{x:e}")
        }
        Value::Float(_) | Value::Integer(_) => v.to_string(),
        Value::String(text) if text.chars().count() > 60 => {
            let start: String = text.chars().take(40).collect();
            format!("{kind} of {} characters \"{start}…\"", text.chars().count())
        }
        _ => format!("{kind} {v}"),
    }
}

pub fn string(at: &At, v: &Value) -> Result<String, ExperimentError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(at.err(format!("expected a string, found {}", show(other)))),
    }
}

pub fn integer(at: &At, v: &Value, what: &str) -> Result<i64, ExperimentError> {
    match v {
        Value::Integer(n) => Ok(*n),
        other => Err(at.err(format!("expected {what}, found {}", show(other)))),
    }
}

/// One value or a non-empty list of values.
pub fn list<'v>(at: &At, v: &'v Value, what: &str) -> Result<Vec<&'v Value>, ExperimentError> {
    match v {
        Value::Array(items) if items.is_empty() => Err(at.err(format!(
            "an empty list is not allowed: give one value or a list of {what}"
        ))),
        Value::Array(items) => Ok(items.iter().collect()),
        other => Ok(vec![other]),
    }
}

/// Whole numbers: one, a list, or a range.
pub fn integers(at: &At, v: &Value, what: &str) -> Result<Vec<i64>, ExperimentError> {
    if let Value::Table(t) = v {
        return int_range(at, t);
    }
    list(at, v, what)?
        .into_iter()
        .map(|item| match item {
            Value::Integer(n) => Ok(*n),
            other => Err(at.err(format!(
                "expected {what} (one or a list), found {}",
                show(other)
            ))),
        })
        .collect()
}

/// Numbers: one, a list, or a range; `allowed` tells a value that is not, `rule` says why.
pub fn floats(
    at: &At,
    v: &Value,
    allowed: fn(f64) -> bool,
    rule: &str,
) -> Result<Vec<f64>, ExperimentError> {
    if let Value::Table(t) = v {
        let values = float_range(at, t)?;
        if let Some(x) = values.iter().find(|&&x| !allowed(x)) {
            return Err(at.err(format!("the range gives {x}, which is not allowed: {rule}")));
        }
        return Ok(values);
    }
    list(at, v, "numbers")?
        .into_iter()
        .map(|item| {
            let x = match item {
                Value::Float(x) => *x,
                Value::Integer(n) => *n as f64,
                other => {
                    return Err(at.err(format!(
                        "expected a number or a list of numbers, found {}",
                        show(other)
                    )))
                }
            };
            if !allowed(x) {
                return Err(at.err(format!("{} is not allowed: {rule}", show(item))));
            }
            Ok(x)
        })
        .collect()
}

fn check_range_keys(at: &At, t: &Table, allowed: &[&str]) -> Result<(), ExperimentError> {
    match t.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => {
            let path = format!("{}.{k}", at.key);
            Err(unknown_key(
                &at.source,
                k,
                &path,
                at.span.clone(),
                &at.key,
                allowed,
                &[],
            ))
        }
    }
}

/// The ends of a `log` or `lin` range, if the table is one (for random search).
pub fn continuous_range(v: &Value) -> Option<(bool, f64, f64)> {
    let Value::Table(t) = v else {
        return None;
    };
    let (log, ends) = match (t.get("log"), t.get("lin")) {
        (Some(e), _) => (true, e),
        (_, Some(e)) => (false, e),
        _ => return None,
    };
    let Value::Array(a) = ends else { return None };
    let num = |v: &Value| v.as_float().or_else(|| v.as_integer().map(|n| n as f64));
    Some((log, num(a.first()?)?, num(a.get(1)?)?))
}

/// `{ log = [from, to], num = N }` (log-spaced) or `{ lin = [from, to], num = N }`, ends
/// included, values rounded to 12 significant digits so that they print as written.
fn float_range(at: &At, t: &Table) -> Result<Vec<f64>, ExperimentError> {
    const FORM: &str = "a range is { log = [from, to], num = N } (log-spaced) or \
                        { lin = [from, to], num = N } (evenly spaced), ends included";
    check_range_keys(at, t, &["log", "lin", "num"])?;
    let (kind, ends) = match (t.get("log"), t.get("lin")) {
        (Some(e), None) => ("log", e),
        (None, Some(e)) => ("lin", e),
        _ => return Err(at.err(format!("give exactly one of `log` and `lin`: {FORM}"))),
    };
    let num = match t.get("num") {
        Some(Value::Integer(n)) if (2..=MAX_RANGE_VALUES as i64).contains(n) => *n as usize,
        Some(other) => {
            return Err(at.sub("num").err(format!(
                "{} is not allowed: `num` is how many values, from 2 to 100000",
                show(other)
            )))
        }
        None => return Err(at.err(format!("`num` is missing: {FORM}"))),
    };
    let number = |v: &Value| match v {
        Value::Float(x) => Some(*x),
        Value::Integer(n) => Some(*n as f64),
        _ => None,
    };
    let (from, to) = match ends {
        Value::Array(a) if a.len() == 2 => match (number(&a[0]), number(&a[1])) {
            (Some(x), Some(y)) if x.is_finite() && y.is_finite() => (x, y),
            _ => return Err(at.err(format!("the ends must be two finite numbers: {FORM}"))),
        },
        other => {
            return Err(at.err(format!(
                "expected two ends like [0.01, 100.0], found {}: {FORM}",
                show(other)
            )))
        }
    };
    if kind == "log" && (from <= 0.0 || to <= 0.0) {
        return Err(at.err(format!(
            "a log-spaced range needs ends > 0, found [{from}, {to}]"
        )));
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
fn int_range(at: &At, t: &Table) -> Result<Vec<i64>, ExperimentError> {
    const FORM: &str = "a range of whole numbers is { range = [from, to], step = S } \
                        (step 1 if left out) or { pow2 = [from, to] } (the powers of two in between)";
    check_range_keys(at, t, &["range", "step", "pow2"])?;
    let ends = |v: &Value| -> Result<(i64, i64), ExperimentError> {
        match v {
            Value::Array(a) if a.len() == 2 => match (&a[0], &a[1]) {
                (Value::Integer(x), Value::Integer(y)) if x <= y => Ok((*x, *y)),
                _ => Err(at.err(format!(
                    "the ends must be two whole numbers, the first not larger: {FORM}"
                ))),
            },
            other => Err(at.err(format!(
                "expected two ends like [10, 100], found {}: {FORM}",
                show(other)
            ))),
        }
    };
    match (t.get("range"), t.get("pow2")) {
        (Some(r), None) => {
            let (from, to) = ends(r)?;
            let step = match t.get("step") {
                None => 1,
                Some(Value::Integer(s)) if *s >= 1 => *s,
                Some(other) => {
                    return Err(at.sub("step").err(format!(
                        "{} is not allowed: the step is a whole number >= 1",
                        show(other)
                    )))
                }
            };
            // (checked arithmetic: the ends may be anywhere in i64)
            let count = (to as i128 - from as i128) / step as i128;
            if count >= MAX_RANGE_VALUES as i128 {
                return Err(at.err("the range gives more than 100000 values"));
            }
            Ok((0..=count as i64).map(|k| from + k * step).collect())
        }
        (None, Some(r)) => {
            if t.contains_key("step") {
                return Err(at.err(format!("`step` goes with `range`, not `pow2`: {FORM}")));
            }
            let (from, to) = ends(r)?;
            // ends that are not powers of two would be moved silently: [3, 100] gives 4 to 64
            for end in [from, to] {
                if end < 1 || end.count_ones() != 1 {
                    let (below, above) = power_bounds(end);
                    return Err(at.sub("pow2").err(format!(
                        "{end} is not a power of two: pow2 = [from, to] takes two powers of two \
                         as its ends (the nearest to {end}: {below} and {above})"
                    )));
                }
            }
            let powers: Vec<i64> = (0..63)
                .map(|k| 1i64 << k)
                .filter(|p| (from..=to).contains(p))
                .collect();
            if powers.is_empty() {
                return Err(at.err(format!("there is no power of two from {from} to {to}")));
            }
            Ok(powers)
        }
        _ => Err(at.err(format!("give exactly one of `range` and `pow2`: {FORM}"))),
    }
}

/// The powers of two next to `n`, below and above (1 below 1).
fn power_bounds(n: i64) -> (i64, i64) {
    if n <= 1 {
        return (1, 1);
    }
    let above = (n as u64).next_power_of_two().min(1 << 62) as i64;
    (above / 2, above)
}

/// One of `names`, or a list of them: their indices.
pub fn choices(at: &At, v: &Value, names: &[&str]) -> Result<Vec<usize>, ExperimentError> {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    let allowed = quoted.join(" or ");
    list(at, v, &allowed)?
        .into_iter()
        .map(|item| {
            let Value::String(s) = item else {
                return Err(at.err(format!("expected {allowed}, found {}", show(item))));
            };
            names.iter().position(|n| n == s).ok_or_else(|| {
                let hint = suggest(s, names, &[])
                    .map(|x| format!(" (did you mean \"{x}\"?)"))
                    .unwrap_or_default();
                at.err(format!("\"{s}\" is not allowed{hint}: use {allowed}"))
            })
        })
        .collect()
}

/// `true` or `false`, or a list of them.
pub fn booleans(at: &At, v: &Value, rule: &str) -> Result<Vec<bool>, ExperimentError> {
    list(at, v, "true or false")?
        .into_iter()
        .map(|item| match item {
            Value::Boolean(b) => Ok(*b),
            other => Err(at.err(format!(
                "expected true or false (one or a list), found {}: {rule}",
                show(other)
            ))),
        })
        .collect()
}

/// Strings, one or a list, each read by `parse`.
pub fn texts<T>(
    at: &At,
    v: &Value,
    parse: impl Fn(&str) -> Option<T>,
    rule: &str,
) -> Result<Vec<T>, ExperimentError> {
    list(at, v, "strings")?
        .into_iter()
        .map(|item| {
            let Value::String(text) = item else {
                return Err(at.err(format!("expected a string, found {}: {rule}", show(item))));
            };
            parse(text).ok_or_else(|| at.err(format!("\"{text}\" is not allowed: {rule}")))
        })
        .collect()
}

/// `hidden = 30` (one hidden layer of 30), `[10, 30, 100]` (three networks),
/// `{ range = [10, 100], step = 10 }`, or `[[100, 30], [30]]` (the hidden layers of each
/// network); the input and output layers are the data set's (784 and 10).
pub fn hidden(at: &At, v: &Value) -> Result<Vec<Vec<usize>>, ExperimentError> {
    const FORM: &str = "`hidden` gives the hidden layers' widths: 30, a list like [10, 30, 100] \
                        (one network each), a range like { range = [10, 100], step = 10 }, or \
                        lists of layers like [[100, 30], [30]]";
    let width = |n: i64| -> Result<usize, ExperimentError> {
        if (1..=100_000).contains(&n) {
            Ok(n as usize)
        } else {
            Err(at.err(format!(
                "a hidden layer of {n} neurons is not allowed: each layer has 1 to 100000 neurons"
            )))
        }
    };
    let network = |hidden: Vec<usize>| -> Vec<usize> {
        std::iter::once(IMAGE_PIXELS)
            .chain(hidden)
            .chain([CLASSES])
            .collect()
    };
    let items = match v {
        Value::Array(items) if items.iter().any(|i| i.is_array()) => items,
        _ => {
            return integers(at, v, "hidden layer widths")?
                .into_iter()
                .map(|n| Ok(network(vec![width(n)?])))
                .collect()
        }
    };
    items
        .iter()
        .map(|item| match item {
            Value::Array(layers) => layers
                .iter()
                .map(|l| match l {
                    Value::Integer(n) => width(*n),
                    other => Err(at.err(format!("found {}: {FORM}", show(other)))),
                })
                .collect::<Result<Vec<usize>, _>>()
                .map(network),
            other => Err(at.err(format!(
                "found {} beside lists of layers: {FORM}",
                show(other)
            ))),
        })
        .collect()
}

/// `[784, 30, 10]` (one network) or `[[784, 30, 10], [784, 100, 10]]` (several).
pub fn sizes(at: &At, v: &Value) -> Result<Vec<Vec<usize>>, ExperimentError> {
    let shape_error = |found: &Value| {
        at.err(format!(
            "expected layer sizes like [784, 30, 10] or a list of them like \
             [[784, 30, 10], [784, 100, 10]], found {}",
            show(found)
        ))
    };
    let Value::Array(items) = v else {
        return Err(shape_error(v));
    };
    if items.is_empty() {
        return Err(at.err("an empty list is not allowed: give layer sizes like [784, 30, 10]"));
    }
    // a list without lists is one network: each size is then checked in its place
    let networks: Vec<&Vec<Value>> = if !items.iter().any(|i| i.is_array()) {
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
                    return Err(at.err(format!(
                        "a layer of {n} neurons is not allowed: each layer has 1 to 100000 neurons"
                    )))
                }
                other if net.iter().any(|i| i.is_array()) => return Err(shape_error(other)),
                other => {
                    return Err(at.err(format!(
                        "{} is not a layer size: each layer is a whole number of neurons from 1 \
                         to 100000, e.g. [784, 30, 10]",
                        show(other)
                    )))
                }
            }
        }
        if sizes.len() < 2 {
            return Err(at.err(format!(
                "{sizes:?} is not allowed: a network has at least an input and an output layer, like [784, 10]"
            )));
        }
        if sizes[0] != IMAGE_PIXELS || *sizes.last().unwrap() != CLASSES {
            return Err(at.err(format!(
                "{sizes:?} is not allowed: for MNIST the first layer must have {IMAGE_PIXELS} neurons \
                 (28x28 pixels) and the last {CLASSES} (digits 0-9), like [784, 30, 10]"
            )));
        }
        out.push(sizes);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn ranges_at_the_ends_of_the_integers_do_not_overflow() {
        let source = Source {
            path: Path::new("e.toml"),
            text: "",
        };
        let at = source.at("grid.seed", 0..0);
        let v: Value = toml::from_str::<Table>("r = { range = [-9223372036854775808, 0] }")
            .unwrap()
            .remove("r")
            .unwrap();
        let e = integers(&at, &v, "seeds").unwrap_err();
        assert!(e.message.contains("more than 100000 values"), "{e}");
        let v: Value =
            toml::from_str::<Table>("r = { range = [9223372036854775806, 9223372036854775807] }")
                .unwrap()
                .remove("r")
                .unwrap();
        assert_eq!(integers(&at, &v, "seeds").unwrap().len(), 2);
    }
}
