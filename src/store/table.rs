//! The one reader of `metrics.csv` ([`MetricsFile`]) and its typed row ([`MetricsRow`]): every
//! stage that reads results reads them through here, with column positions from the schema.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::schema::{epoch_column, EPOCH_ETA};
use crate::grid::settings::{self, extra_default, Column, Kind, SETTINGS, VARIANT};
use crate::metrics::{Metric, MetricValues};

/// One row of `metrics.csv`, typed: the run, its settings but the seed, the seed, the epoch and
/// the metrics' values.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsRow {
    pub run: String,
    pub group: ConfigKey,
    pub seed: u64,
    pub epoch: usize,
    pub values: MetricValues,
}

impl MetricsRow {
    /// The value of a metric (None where it was not monitored).
    pub fn get(&self, m: Metric) -> Option<f64> {
        self.values.get(m)
    }
}

/// Every setting of a run except the seed, as text: the runs that differ only in their seed
/// share it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigKey {
    /// The value of each setting in [`SETTINGS`] order, normalized (the seed's is empty).
    values: Vec<String>,
    /// The run's `[[variant]]`, if the experiment has variants.
    variant: Option<String>,
}

impl ConfigKey {
    /// The value of a setting (or `variant`), as text.
    pub fn value(&self, key: &str) -> String {
        match settings::index(key) {
            Some(i) => self.values[i].clone(),
            None if key == VARIANT => self.variant.clone().unwrap_or_default(),
            None => String::new(),
        }
    }

    /// The value of a numeric setting, for plotting on a numeric axis (one-hidden-layer
    /// networks by their width).
    pub fn number(&self, key: &str) -> Option<f64> {
        settings::setting(key)?.number(&self.value(key))
    }

    /// `eta=3.0 lambda=0.0` for the given keys.
    pub fn label(&self, keys: &[&str]) -> String {
        keys.iter()
            .map(|k| format!("{k}={}", self.value(k)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Serialize for ConfigKey {
    /// The standard settings as JSON values (numbers as numbers), then `extra`: the extra
    /// settings not at their default and the variant.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        let mut extra = BTreeMap::new();
        for (s, text) in SETTINGS.iter().zip(&self.values) {
            if s.name == "seed" {
                continue;
            }
            if s.column == Column::Extra {
                if *text != extra_default(s.name) {
                    extra.insert(s.name, text.clone());
                }
                continue;
            }
            match (s.kind, text.parse::<u64>(), text.parse::<f64>()) {
                (Kind::Int { .. }, Ok(n), _) => map.serialize_entry(s.name, &n)?,
                (Kind::Float { .. }, _, Ok(x)) => map.serialize_entry(s.name, &x)?,
                _ => map.serialize_entry(s.name, text)?,
            }
        }
        if let Some(v) = &self.variant {
            extra.insert(VARIANT, v.clone());
        }
        if !extra.is_empty() {
            map.serialize_entry("extra", &extra)?;
        }
        map.end()
    }
}

/// Reads `metrics.csv` (or any CSV with its columns) into typed rows: the standard settings'
/// columns must be there, an extra setting's only when it is used. Lines that are not whole
/// rows (see [`MetricsFile`]) are left out.
pub fn read_metrics(path: &Path) -> Result<Vec<MetricsRow>> {
    let file = MetricsFile::read(path)?;
    file.rows(path)
}

/// The lines of a `metrics.csv` as written: its header, its whole rows (cells in the header's
/// order) and the count of lines that were not whole rows. The one reader of the results'
/// metrics: the summary, resume, merge, the shards' exchange and TensorBoard all read through it.
///
/// A whole row parses as CSV (bytes that are not UTF-8 are replaced), has as many cells as the
/// header, and a whole number in the `epoch` column: a torn tail (a write cut short), a junk line
/// or a line with the wrong number of fields is dropped and counted instead.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsFile {
    pub header: Vec<String>,
    pub lines: Vec<Vec<String>>,
    pub dropped: usize,
}

impl MetricsFile {
    /// Reads `path`; an error names the file.
    pub fn read(path: &Path) -> Result<MetricsFile> {
        let bytes = std::fs::read(path).with_context(|| format!("reading '{}'", path.display()))?;
        Ok(Self::parse(&bytes, None))
    }

    /// Reads `path` if it exists (an empty file otherwise), with `header` assumed where the
    /// file has none.
    pub fn read_or_empty(path: &Path, header: &[String]) -> MetricsFile {
        match std::fs::read(path) {
            Ok(bytes) => Self::parse(&bytes, Some(header)),
            Err(_) => MetricsFile {
                header: header.to_vec(),
                ..MetricsFile::default()
            },
        }
    }

    fn parse(bytes: &[u8], default_header: Option<&[String]>) -> MetricsFile {
        let text = String::from_utf8_lossy(bytes);
        let mut file = MetricsFile {
            header: default_header.map(<[String]>::to_vec).unwrap_or_default(),
            ..MetricsFile::default()
        };
        // The writer never puts a line break inside a field, so every row has its quotes in
        // pairs: a line with an open quote is junk on its own, and must not swallow the rows
        // after it into one field (one such line discarded six finished runs).
        let text: std::borrow::Cow<str> = if text.contains('"') {
            let kept: String = text
                .split_inclusive('\n')
                .filter(|line| {
                    let open = line.bytes().filter(|&b| b == b'"').count() % 2 == 1;
                    file.dropped += usize::from(open);
                    !open
                })
                .collect();
            kept.into()
        } else {
            text
        };
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut epoch = file.column("epoch");
        for (i, record) in csv.records().enumerate() {
            let Ok(record) = record else {
                file.dropped += 1;
                continue;
            };
            if i == 0 && (record.get(0) == Some("run") || default_header.is_none()) {
                file.header = record.iter().map(str::to_string).collect();
                epoch = file.column("epoch");
                continue;
            }
            let epoch_ok = epoch
                .and_then(|c| record.get(c))
                .is_some_and(|e| e.parse::<usize>().is_ok());
            if record.len() != file.header.len() || !epoch_ok {
                file.dropped += 1;
                continue;
            }
            file.lines.push(record.iter().map(str::to_string).collect());
        }
        file
    }

    /// The position of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The lines with their cells in the order of `header`: columns the file lacks (an extra
    /// setting column added since) get the setting's default, and a missing `epoch_eta` the
    /// run's eta (rows from before the grid had a schedule were trained with it).
    pub fn lines_in(&self, header: &[String]) -> Vec<Vec<String>> {
        let at: Vec<Option<usize>> = header.iter().map(|c| self.column(c)).collect();
        let eta = self.column("eta");
        self.lines
            .iter()
            .map(|line| {
                header
                    .iter()
                    .zip(&at)
                    .map(|(column, at)| match (at, eta) {
                        (Some(at), _) => line[*at].clone(),
                        (None, Some(eta)) if column == EPOCH_ETA => line[eta].clone(),
                        _ => extra_default(column).to_string(),
                    })
                    .collect()
            })
            .collect()
    }

    /// The run ids in the order their first line appears.
    pub fn runs_in_order(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        self.lines
            .iter()
            .map(|l| l[0].as_str())
            .filter(|id| seen.insert(*id))
            .collect()
    }

    /// Typed rows, perhaps none (`path` names the file in errors): the standard settings' columns must be
    /// there, an extra setting's only when it is used.
    pub fn rows(&self, path: &Path) -> Result<Vec<MetricsRow>> {
        let col = |name: &str| -> Result<usize> {
            self.column(name).with_context(|| {
                format!(
                    "'{}' has no `{name}` column; it needs the columns of runner's metrics.csv",
                    path.display()
                )
            })
        };
        let run = col("run")?;
        let columns: Vec<Option<usize>> = SETTINGS
            .iter()
            .map(|s| match s.column {
                Column::Standard => col(s.name).map(Some),
                Column::Extra => Ok(self.column(s.name)),
            })
            .collect::<Result<_>>()?;
        let (seed, epoch) = (col("seed")?, col("epoch")?);
        let variant = self.column(VARIANT);
        let metrics: Vec<(Metric, Option<usize>)> = Metric::ALL
            .iter()
            .map(|&m| (m, self.column(m.name())))
            .collect();
        let mut rows = Vec::with_capacity(self.lines.len());
        for (line, r) in self.lines.iter().enumerate() {
            let at = || format!("'{}' line {}", path.display(), line + 2);
            let mut values = Vec::with_capacity(SETTINGS.len());
            for (s, c) in SETTINGS.iter().zip(&columns) {
                let text = match c {
                    _ if s.name == "seed" => String::new(),
                    Some(c) => {
                        let cell = &r[*c];
                        if matches!(s.kind, Kind::Float { .. } | Kind::Int { .. })
                            && cell.parse::<f64>().is_err()
                        {
                            bail!("{}: `{}` is not a number", at(), s.name);
                        }
                        s.normalize(cell)
                    }
                    None => extra_default(s.name),
                };
                values.push(text);
            }
            let mut metric_values = MetricValues::default();
            for &(m, c) in &metrics {
                let v = c
                    .map(|c| &r[c])
                    .filter(|v| !v.is_empty())
                    .map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
                metric_values.set(m, v);
            }
            rows.push(MetricsRow {
                run: r[run].clone(),
                group: ConfigKey {
                    values,
                    variant: variant.map(|c| &r[c]).filter(|v| !v.is_empty()).cloned(),
                },
                seed: r[seed]
                    .parse::<u64>()
                    .with_context(|| format!("{}: `seed` is not a whole number", at()))?,
                epoch: r[epoch].parse::<usize>().expect("a whole row's epoch"),
                values: metric_values,
            });
        }
        Ok(rows)
    }
}

/// Each run's rows by id, in epoch order.
pub fn by_run(rows: &[MetricsRow]) -> HashMap<&str, Vec<&MetricsRow>> {
    let mut out: HashMap<&str, Vec<&MetricsRow>> = HashMap::new();
    for r in rows {
        out.entry(r.run.as_str()).or_default().push(r);
    }
    for v in out.values_mut() {
        v.sort_by_key(|r| r.epoch);
    }
    out
}

/// Run `id`'s metric values after each epoch, in epoch order, from [`by_run`]'s map: what the
/// searches' decisions read.
pub fn values_of(runs: &HashMap<&str, Vec<&MetricsRow>>, id: &str) -> Option<Vec<MetricValues>> {
    runs.get(id).map(|v| v.iter().map(|r| r.values).collect())
}

/// The lines of the runs `keep` accepts, grouped by run, each epoch once (the first written):
/// what resume, merge and the shards' exchange take from a folder. Returns them and the count
/// of lines left out.
pub fn lines_by_run(
    lines: Vec<Vec<String>>,
    keep: impl Fn(&str) -> bool,
) -> (HashMap<String, Vec<Vec<String>>>, usize) {
    let epoch = epoch_column();
    let mut seen = std::collections::HashSet::new();
    let mut out: HashMap<String, Vec<Vec<String>>> = HashMap::new();
    let mut left_out = 0;
    for line in lines {
        if keep(&line[0]) && seen.insert((line[0].clone(), line[epoch].clone())) {
            out.entry(line[0].clone()).or_default().push(line);
        } else {
            left_out += 1;
        }
    }
    (out, left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_columns_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        std::fs::write(&p, "run,eta\nx,1\n").unwrap();
        let err = read_metrics(&p).unwrap_err().to_string();
        assert!(err.contains("has no `sizes` column"), "{err}");
    }

    #[test]
    fn lines_that_are_not_whole_rows_are_dropped_and_counted() {
        let header = "run,sizes,eta,batch_size,epochs,seed,cost,init,lambda,train_size,epoch,x\n";
        let text = format!(
            "{header}a,784-10,3.0,10,2,1,quadratic,normal,0.0,100,1,0.5\n\
             a,784-10,3.0,10,2,1,quadratic,normal,0.0,100,x,0.5\n\
             b,784-10,3.0,10,2,1,quadratic,normal,0.0,100,1\n\
             a,784-10,3.0,10,2,1,quadratic,normal,0.0,100,2,0.25\n\
             junk,\"an open quote,1\n\
             a,784-10,3.0,10,2,1,quadratic,normal,0.0,100,3,0.125\n\
             c,784-10,3.0,10,2,1,quad"
        );
        let file = MetricsFile::parse(text.as_bytes(), None);
        assert_eq!(file.header.len(), 12);
        // the line with an open quote is dropped alone: the row after it is kept
        assert_eq!(file.lines.len(), 3, "{file:?}");
        assert_eq!(file.dropped, 4);
        assert_eq!(file.runs_in_order(), ["a"]);
        // a projection into a wider header fills the new column with its default
        let mut wider = file.header.clone();
        wider.push("momentum".into());
        assert_eq!(file.lines_in(&wider)[1][12], extra_default("momentum"));
        let (by_run, left_out) = lines_by_run(file.lines.clone(), |id| id == "a");
        assert_eq!((by_run["a"].len(), left_out), (3, 0));
        let twice = [file.lines.clone(), file.lines.clone()].concat();
        let (by_run, left_out) = lines_by_run(twice, |_| true);
        assert_eq!((by_run["a"].len(), left_out), (3, 3));
    }

    mod properties {
        use super::super::*;
        use crate::grid::RunSettings;
        use crate::metrics::{EpochRecord, Metric, MetricValues};
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// What the writer writes, the one reader reads back: each metric's value to the
            /// bit (or its absence), whatever torn or junk lines lie between the rows.
            #[test]
            fn rows_round_trip_through_the_reader(
                values in proptest::collection::vec(
                    proptest::collection::vec(proptest::option::of(-1e6f64..1e6), 6), 1..6),
                junk in proptest::collection::vec("[a-z,]{0,12}", 0..4),
            ) {
                let s = RunSettings::default();
                let header = crate::store::metrics_header(&[]);
                let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
                w.write_record(&header).unwrap();
                let mut written = Vec::new();
                for (e, v) in values.iter().enumerate() {
                    let mut m = MetricValues::default();
                    for (metric, x) in Metric::ALL.iter().zip(v) {
                        m.set(*metric, *x);
                    }
                    let r = EpochRecord { epoch: e + 1, values: m, seconds: 0.5, eta: s.eta };
                    w.serialize(crate::store::metrics_record(&crate::store::SettingsColumns::of(&s), &r)).unwrap();
                    written.push(m);
                }
                let mut text = String::from_utf8(w.into_inner().unwrap()).unwrap();
                for j in &junk {
                    text.push_str(j);
                    text.push('\n');
                }
                let file = MetricsFile::parse(text.as_bytes(), None);
                prop_assert_eq!(file.lines.len(), values.len());
                prop_assert!(file.dropped <= junk.len());
                let rows = file.rows(Path::new("m.csv")).unwrap();
                let read: Vec<MetricValues> = rows.iter().map(|r| r.values).collect();
                prop_assert_eq!(read, written);
            }
        }
    }
}
