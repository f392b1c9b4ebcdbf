//! TensorBoard event files, written as training goes: `tensorboard/<run id>/events.out.tfevents.*`
//! in the results folder holds one scalar per monitored metric per epoch (step = epoch) and the
//! HParams plugin's session start info (every setting of the run; its configuration as the group
//! name, so that seeds group together) and end info (status), so that `tensorboard --logdir
//! results/<name>/tensorboard` shows the sweep in its HParams table and parallel coordinates.
//! `tensorboard/events.out.tfevents.*` holds the experiment: the settings that vary, with their
//! values, and the metrics.
//!
//! The format, read from TensorBoard's sources (`tensorboard/summary/writer/record_writer.py`,
//! `tensorflow/core/util/event.proto`, `tensorboard/compat/proto/summary.proto`,
//! `tensorboard/plugins/hparams/{plugin_data,api}.proto`): a file of TFRecords (little-endian
//! u64 length, masked CRC32C of it, the bytes, their masked CRC32C), each record an `Event`
//! protobuf. The messages are declared here by hand with prost, only the fields written.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use prost::Message;

use super::{RunRow, SettingsColumns};
use crate::grid::settings::Cell;
use crate::metrics::{Metric, Status};
use crate::store::MetricsRow;

/// The folder of the event files inside a results folder.
pub const FOLDER: &str = "tensorboard";

/// A run's folder of event files.
pub fn run_folder(results: &Path, run: &str) -> PathBuf {
    results.join(FOLDER).join(run)
}

// ---- the protobuf messages (field numbers as in TensorFlow's and TensorBoard's .proto files)

#[derive(Clone, PartialEq, Message)]
struct Event {
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(oneof = "What", tags = "3, 5")]
    what: Option<What>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum What {
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
}

#[derive(Clone, PartialEq, Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<SummaryValue>,
}

#[derive(Clone, PartialEq, Message)]
struct SummaryValue {
    #[prost(string, tag = "1")]
    tag: String,
    #[prost(message, optional, tag = "9")]
    metadata: Option<SummaryMetadata>,
    #[prost(oneof = "ValueKind", tags = "2, 8")]
    value: Option<ValueKind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum ValueKind {
    #[prost(float, tag = "2")]
    SimpleValue(f32),
    #[prost(message, tag = "8")]
    Tensor(TensorProto),
}

#[derive(Clone, PartialEq, Message)]
struct SummaryMetadata {
    #[prost(message, optional, tag = "1")]
    plugin_data: Option<PluginData>,
}

#[derive(Clone, PartialEq, Message)]
struct PluginData {
    #[prost(string, tag = "1")]
    plugin_name: String,
    #[prost(bytes = "vec", tag = "2")]
    content: Vec<u8>,
}

/// TensorFlow's `TensorProto`: only the dtype and shape of the empty tensor the HParams plugin's
/// summaries carry.
#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int32, tag = "1")]
    dtype: i32,
    #[prost(message, optional, tag = "2")]
    tensor_shape: Option<TensorShape>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorShape {
    #[prost(message, repeated, tag = "2")]
    dim: Vec<Dim>,
}

#[derive(Clone, PartialEq, Message)]
struct Dim {
    #[prost(int64, tag = "1")]
    size: i64,
}

#[derive(Clone, PartialEq, Message)]
struct HParamsPluginData {
    #[prost(int32, tag = "1")]
    version: i32,
    #[prost(oneof = "HParamsData", tags = "2, 3, 4")]
    data: Option<HParamsData>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum HParamsData {
    #[prost(message, tag = "2")]
    Experiment(Experiment),
    #[prost(message, tag = "3")]
    SessionStartInfo(SessionStartInfo),
    #[prost(message, tag = "4")]
    SessionEndInfo(SessionEndInfo),
}

#[derive(Clone, PartialEq, Message)]
struct SessionStartInfo {
    #[prost(btree_map = "string, message", tag = "1")]
    hparams: BTreeMap<String, PbValue>,
    #[prost(string, tag = "4")]
    group_name: String,
    #[prost(double, tag = "5")]
    start_time_secs: f64,
}

#[derive(Clone, PartialEq, Message)]
struct SessionEndInfo {
    #[prost(int32, tag = "1")]
    status: i32,
    #[prost(double, tag = "2")]
    end_time_secs: f64,
}

#[derive(Clone, PartialEq, Message)]
struct Experiment {
    #[prost(double, tag = "3")]
    time_created_secs: f64,
    #[prost(message, repeated, tag = "4")]
    hparam_infos: Vec<HParamInfo>,
    #[prost(message, repeated, tag = "5")]
    metric_infos: Vec<MetricInfo>,
}

#[derive(Clone, PartialEq, Message)]
struct HParamInfo {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(int32, tag = "4")]
    data_type: i32,
    #[prost(message, optional, tag = "5")]
    domain_discrete: Option<ListValue>,
    #[prost(bool, tag = "7")]
    differs: bool,
}

#[derive(Clone, PartialEq, Message)]
struct MetricInfo {
    #[prost(message, optional, tag = "1")]
    name: Option<MetricName>,
    #[prost(string, tag = "3")]
    display_name: String,
    #[prost(int32, tag = "5")]
    dataset_type: i32,
}

#[derive(Clone, PartialEq, Message)]
struct MetricName {
    #[prost(string, tag = "1")]
    group: String,
    #[prost(string, tag = "2")]
    tag: String,
}

/// `google.protobuf.Value`: the kinds a setting can have.
#[derive(Clone, PartialEq, Message)]
struct PbValue {
    #[prost(oneof = "Kind", tags = "2, 3, 4")]
    kind: Option<Kind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Kind {
    #[prost(double, tag = "2")]
    Number(f64),
    #[prost(string, tag = "3")]
    Text(String),
    #[prost(bool, tag = "4")]
    Bool(bool),
}

#[derive(Clone, PartialEq, Message)]
struct ListValue {
    #[prost(message, repeated, tag = "1")]
    values: Vec<PbValue>,
}

// ---- values

/// A setting's value as the HParams plugin holds it.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum HParam {
    Number(f64),
    Text(String),
}

impl HParam {
    fn pb(&self) -> PbValue {
        PbValue {
            kind: Some(match self {
                HParam::Number(x) => Kind::Number(*x),
                HParam::Text(s) => Kind::Text(s.clone()),
            }),
        }
    }
}

/// How a run ended, as the HParams plugin's `Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Success = 1,
    Failure = 2,
}

// ---- the record writer

const MASK_DELTA: u32 = 0xa282_ead8;

/// TFRecord's masked CRC32C.
fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// One TFRecord: length, its masked CRC, the data, its masked CRC.
fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

/// Seconds since the Unix epoch, as event files record time.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// An open event file.
pub struct EventWriter {
    path: PathBuf,
    file: BufWriter<File>,
}

impl EventWriter {
    /// Starts a new event file in `folder` (created if needed), named as TensorFlow names them
    /// (`events.out.tfevents.<seconds>.<host>.<pid>.<suffix>`), with its file version event.
    pub fn create(folder: &Path, suffix: &str) -> Result<EventWriter> {
        let time = now();
        let name = format!(
            "events.out.tfevents.{}.{}.{}.{suffix}",
            time as u64,
            host(),
            std::process::id()
        );
        Self::create_named(folder, &name, time)
    }

    /// Starts the event file `folder/name`, its first event at `time`.
    fn create_named(folder: &Path, name: &str, time: f64) -> Result<EventWriter> {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("creating '{}'", folder.display()))?;
        let path = folder.join(name);
        let file = File::create(&path).with_context(|| format!("creating '{}'", path.display()))?;
        let mut w = EventWriter {
            path,
            file: BufWriter::new(file),
        };
        w.write(&Event {
            wall_time: time,
            step: 0,
            what: Some(What::FileVersion("brain.Event:2".to_string())),
        })?;
        Ok(w)
    }

    fn write(&mut self, event: &Event) -> Result<()> {
        self.file
            .write_all(&record(&event.encode_to_vec()))
            .with_context(|| format!("writing '{}'", self.path.display()))
    }

    /// Writes what is buffered to the file.
    pub fn flush(&mut self) -> Result<()> {
        self.file
            .flush()
            .with_context(|| format!("writing '{}'", self.path.display()))
    }

    fn summary(&mut self, step: i64, wall_time: f64, value: Vec<SummaryValue>) -> Result<()> {
        self.write(&Event {
            wall_time,
            step,
            what: Some(What::Summary(Summary { value })),
        })
    }

    /// One epoch's scalars, `(tag, value)`.
    pub fn scalars(&mut self, step: usize, values: &[(&str, f64)]) -> Result<()> {
        self.scalars_at(step, now(), values)
    }

    /// As [`Self::scalars`], at a given wall time.
    pub fn scalars_at(
        &mut self,
        step: usize,
        wall_time: f64,
        values: &[(&str, f64)],
    ) -> Result<()> {
        let value = values
            .iter()
            .map(|(tag, v)| SummaryValue {
                tag: tag.to_string(),
                metadata: None,
                value: Some(ValueKind::SimpleValue(*v as f32)),
            })
            .collect();
        self.summary(step as i64, wall_time, value)
    }

    fn hparams(&mut self, tag: &str, data: HParamsData, wall_time: f64) -> Result<()> {
        let content = HParamsPluginData {
            version: 0,
            data: Some(data),
        }
        .encode_to_vec();
        let value = SummaryValue {
            tag: tag.to_string(),
            metadata: Some(SummaryMetadata {
                plugin_data: Some(PluginData {
                    plugin_name: "hparams".to_string(),
                    content,
                }),
            }),
            // the empty float tensor TensorBoard's own writer puts there
            value: Some(ValueKind::Tensor(TensorProto {
                dtype: 1,
                tensor_shape: Some(TensorShape {
                    dim: vec![Dim { size: 0 }],
                }),
            })),
        };
        self.summary(0, wall_time, vec![value])
    }

    /// The HParams session start: the run's settings and its group (the configuration).
    pub fn session_start(
        &mut self,
        settings: &[(String, HParam)],
        group: &str,
        start: f64,
    ) -> Result<()> {
        let info = SessionStartInfo {
            hparams: settings.iter().map(|(k, v)| (k.clone(), v.pb())).collect(),
            group_name: group.to_string(),
            start_time_secs: start,
        };
        self.hparams(
            "_hparams_/session_start_info",
            HParamsData::SessionStartInfo(info),
            start,
        )
    }

    /// The HParams session end.
    pub fn session_end(&mut self, ending: Ending, end: f64) -> Result<()> {
        let info = SessionEndInfo {
            status: ending as i32,
            end_time_secs: end,
        };
        self.hparams(
            "_hparams_/session_end_info",
            HParamsData::SessionEndInfo(info),
            end,
        )
    }

    /// The HParams experiment: the settings that vary with the values they take, and the
    /// metrics (scalar tags).
    pub fn experiment(
        &mut self,
        settings: &[(String, Vec<HParam>)],
        metrics: &[&str],
        time: f64,
    ) -> Result<()> {
        let hparam_infos = settings
            .iter()
            .map(|(name, values)| HParamInfo {
                name: name.clone(),
                data_type: match values.first() {
                    Some(HParam::Text(_)) => 1,
                    _ => 3,
                },
                domain_discrete: Some(ListValue {
                    values: values.iter().map(HParam::pb).collect(),
                }),
                differs: values.len() > 1,
            })
            .collect();
        let metric_infos = metrics
            .iter()
            .map(|tag| MetricInfo {
                name: Some(MetricName {
                    group: String::new(),
                    tag: tag.to_string(),
                }),
                display_name: tag.to_string(),
                dataset_type: if tag.ends_with("/train") {
                    1
                } else if tag.ends_with("/validation") {
                    2
                } else {
                    0
                },
            })
            .collect();
        self.hparams(
            "_hparams_/experiment",
            HParamsData::Experiment(Experiment {
                time_created_secs: time,
                hparam_infos,
                metric_infos,
            }),
            time,
        )
    }
}

// ---- runs and results folders

/// The scalar tag of a metric: `accuracy/validation`, `cost/train`, ... (TensorBoard groups
/// its charts by the part before the slash).
pub fn tag(metric: Metric) -> String {
    let (set, kind) = metric
        .name()
        .split_once('_')
        .expect("metric names are SET_KIND");
    format!("{kind}/{set}")
}

/// An epoch's scalars: each metric `value` gives, under its tag.
pub fn epoch_scalars(value: impl Fn(Metric) -> Option<f64>) -> Vec<(String, f64)> {
    Metric::ALL
        .into_iter()
        .filter_map(|m| value(m).map(|v| (tag(m), v)))
        .collect()
}

/// A run's settings as hyperparameters: every standard setting, then the extra ones it sets.
pub fn hparams_of(
    cols: &SettingsColumns,
    extra: &BTreeMap<String, String>,
) -> Vec<(String, HParam)> {
    let mut out: Vec<(String, HParam)> = super::schema::standard_settings()
        .zip(&cols.cells)
        .map(|(s, cell)| {
            let v = match cell {
                Cell::Int(n) => HParam::Number(*n as f64),
                Cell::Float(x) => HParam::Number(*x),
                Cell::Text(t) => HParam::Text(t.clone()),
            };
            (s.name.to_string(), v)
        })
        .collect();
    for (k, v) in extra {
        let v = v
            .parse::<f64>()
            .map_or_else(|_| HParam::Text(v.clone()), HParam::Number);
        out.push((k.clone(), v));
    }
    out
}

/// The HParams group of a run: its settings but the seed, so that seeds group together.
pub fn group_of(hparams: &[(String, HParam)]) -> String {
    hparams
        .iter()
        .filter(|(k, _)| k != "seed")
        .map(|(k, v)| match v {
            HParam::Number(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{k}={x:.0}"),
            HParam::Number(x) => format!("{k}={}", crate::grid::float_label(*x)),
            HParam::Text(t) => format!("{k}={t}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How a run's status (`runs.csv`) ends its HParams session.
pub fn ending(status: Status) -> Ending {
    if status == Status::Diverged {
        Ending::Failure
    } else {
        Ending::Success
    }
}

/// Starts a run's event file afresh (a run trained again replaces what an earlier attempt
/// wrote, so steps are never duplicated), with its session start.
pub fn start_run(results: &Path, run: &str, hparams: &[(String, HParam)]) -> Result<EventWriter> {
    let folder = run_folder(results, run);
    if folder.exists() {
        std::fs::remove_dir_all(&folder)
            .with_context(|| format!("removing '{}'", folder.display()))?;
    }
    let mut w = EventWriter::create(&folder, run)?;
    w.session_start(hparams, &group_of(hparams), now())?;
    Ok(w)
}

/// True when `folder` holds an event file.
fn has_events(folder: &Path) -> bool {
    std::fs::read_dir(folder).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("tfevents"))
    })
}

/// True when `bytes` are whole TFRecords, each with its CRCs right: a file cut short (a full
/// disk, a kill during a copy) or damaged is not.
fn whole_records(mut bytes: &[u8]) -> bool {
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4"));
    while !bytes.is_empty() {
        if bytes.len() < 12 {
            return false;
        }
        let len = u64::from_le_bytes(bytes[..8].try_into().expect("8"));
        if masked_crc(&bytes[..8]) != u32_at(bytes, 8) {
            return false;
        }
        let Some(end) = usize::try_from(len).ok().and_then(|l| l.checked_add(16)) else {
            return false;
        };
        if bytes.len() < end || masked_crc(&bytes[12..end - 4]) != u32_at(bytes, end - 4) {
            return false;
        }
        bytes = &bytes[end..];
    }
    true
}

/// True when `folder` holds an event file and every event file in it is whole.
fn whole_events(folder: &Path) -> bool {
    has_events(folder)
        && std::fs::read_dir(folder).is_ok_and(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains("tfevents"))
                .all(|e| std::fs::read(e.path()).is_ok_and(|b| !b.is_empty() && whole_records(&b)))
        })
}

/// The event files of a learning-rate range test, one folder per seed
/// (`tensorboard/range_test-seed-N`, written anew): per mini-batch (step = its number from 1),
/// its eta, log10 eta, cost and smoothed cost under `range_test/`.
pub fn range_test(results: &Path, seeds: &[crate::search::range_test::SeedRange]) -> Result<()> {
    for s in seeds {
        let folder = results
            .join(FOLDER)
            .join(format!("range_test-seed-{}", s.seed));
        if folder.exists() {
            std::fs::remove_dir_all(&folder)
                .with_context(|| format!("removing '{}'", folder.display()))?;
        }
        let mut w = EventWriter::create(&folder, "range_test")?;
        let time = now();
        for (i, step) in s.steps.iter().enumerate() {
            w.scalars_at(
                i + 1,
                time,
                &[
                    ("range_test/eta", step.eta),
                    ("range_test/log10_eta", step.eta.log10()),
                    ("range_test/cost", step.cost),
                    ("range_test/smoothed_cost", step.smoothed),
                ],
            )?;
        }
        w.flush()?;
    }
    Ok(())
}

/// Removes the event folders of runs that are not in `keep` (unfinished runs a resume trains
/// again from the start), leaving the experiment's own file.
pub fn remove_others(results: &Path, keep: &dyn Fn(&str) -> bool) {
    if let Ok(entries) = std::fs::read_dir(results.join(FOLDER)) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if e.path().is_dir() && !keep(&name) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Copies a run's event folder from another results folder (a shard's, a merge's source).
pub fn copy_run(from: &Path, into: &Path, run: &str) -> Result<()> {
    let (src, dst) = (run_folder(from, run), run_folder(into, run));
    if !has_events(&src) {
        return Ok(());
    }
    if dst.exists() {
        std::fs::remove_dir_all(&dst).with_context(|| format!("removing '{}'", dst.display()))?;
    }
    std::fs::create_dir_all(&dst).with_context(|| format!("creating '{}'", dst.display()))?;
    for e in std::fs::read_dir(&src)?.flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), dst.join(e.file_name()))
                .with_context(|| format!("copying '{}'", e.path().display()))?;
        }
    }
    Ok(())
}

/// Completes the event files of a results folder from its CSV files: a finished run without
/// its own (from before runner wrote them, or a folder merged from such) or with one cut short
/// or damaged gets one written from its rows, and the experiment file (the settings that vary,
/// the metrics) is written anew.
pub fn complete(results: &Path, runs: &[RunRow], rows: &[MetricsRow]) -> Result<()> {
    let mut by_run: HashMap<&str, Vec<&MetricsRow>> = HashMap::new();
    for r in rows {
        by_run.entry(r.run.as_str()).or_default().push(r);
    }
    let monitored: Vec<Metric> = Metric::ALL
        .into_iter()
        .filter(|&m| rows.iter().any(|r| r.get(m).is_some()))
        .collect();
    let mut values: BTreeMap<String, Vec<HParam>> = BTreeMap::new();
    let mut names: Vec<String> = Vec::new();
    for run in runs {
        let hparams = hparams_of(&run.settings, &run.extra);
        for (k, v) in &hparams {
            if !names.contains(k) {
                names.push(k.clone());
            }
            let seen = values.entry(k.clone()).or_default();
            if !seen.contains(v) {
                seen.push(v.clone());
            }
        }
        let id = run.settings.run.as_str();
        let folder = run_folder(results, id);
        if whole_events(&folder) {
            continue;
        }
        // none, or cut short: written anew from the rows
        if folder.exists() {
            std::fs::remove_dir_all(&folder)
                .with_context(|| format!("removing '{}'", folder.display()))?;
        }
        let mut w = start_run(results, id, &hparams)?;
        let mut mine = by_run.remove(id).unwrap_or_default();
        mine.sort_by_key(|r| r.epoch);
        let start = now();
        for r in mine {
            let scalars = epoch_scalars(|m| r.get(m));
            let scalars: Vec<(&str, f64)> = scalars.iter().map(|(t, v)| (t.as_str(), *v)).collect();
            w.scalars_at(r.epoch, start, &scalars)?;
        }
        w.session_end(ending(run.status), start)?;
        w.flush()?;
    }
    // the experiment, written anew
    let root = results.join(FOLDER);
    std::fs::create_dir_all(&root).with_context(|| format!("creating '{}'", root.display()))?;
    for e in std::fs::read_dir(&root)?.flatten() {
        if e.path().is_file() && e.file_name().to_string_lossy().contains("tfevents") {
            let _ = std::fs::remove_file(e.path());
        }
    }
    // the settings that vary (all of them when none does): the columns of the HParams views
    let varies = |n: &String| values.get(n).is_some_and(|v| v.len() > 1);
    let any_varies = names.iter().any(|n| n != "seed" && varies(n));
    let settings: Vec<(String, Vec<HParam>)> = names
        .iter()
        .filter(|n| *n != "seed" && (!any_varies || varies(n)))
        .map(|n| {
            let mut v = values.get(n).cloned().unwrap_or_default();
            v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            (n.clone(), v)
        })
        .collect();
    let tags: Vec<String> = monitored.iter().map(|&m| tag(m)).collect();
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    // named and dated by the experiment (when experiment.toml was written), not by this
    // summary, so that writing the summary again gives the same file
    let created = std::fs::metadata(super::ResultsDir::experiment_path(results))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs() as f64);
    let mut w = EventWriter::create_named(
        &root,
        &format!("events.out.tfevents.{}.runner.experiment", created as u64),
        created,
    )?;
    w.experiment(&settings, &tags, created)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_crc32c_matches_tensorflows() {
        // CRC32C("123456789") = 0xE3069283 (the standard check value); masked as TFRecord does
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        // rotated right by 15 bits plus 0xa282ead8, as TensorFlow's crc32c::Mask
        assert_eq!(masked_crc(b"123456789"), 0xc78a_b0e5);
    }

    #[test]
    fn a_record_frames_its_data_with_length_and_checksums() {
        let data = b"an event";
        let r = record(data);
        assert_eq!(r.len(), data.len() + 16);
        assert_eq!(u64::from_le_bytes(r[..8].try_into().unwrap()), 8);
        assert_eq!(
            u32::from_le_bytes(r[8..12].try_into().unwrap()),
            masked_crc(&r[..8])
        );
        assert_eq!(&r[12..20], data);
        assert_eq!(
            u32::from_le_bytes(r[20..].try_into().unwrap()),
            masked_crc(data)
        );
    }

    #[test]
    fn a_file_cut_short_or_damaged_is_not_whole() {
        let file = [record(b"first"), record(b"second event")].concat();
        assert!(whole_records(&file));
        for cut in 1..file.len() {
            assert!(
                !whole_records(&file[..cut]) || cut == record(b"first").len(),
                "{cut}"
            );
        }
        let mut flipped = file.clone();
        flipped[14] ^= 1;
        assert!(!whole_records(&flipped));
    }

    /// The audit: a finished run's event file cut short was never repaired. The summary's
    /// completion writes it anew from the rows.
    #[test]
    fn a_truncated_event_file_of_a_finished_run_is_written_anew() {
        use crate::grid::RunSettings;
        use crate::metrics::{EpochRecord, MetricValues, RunStatus};
        use crate::store::RunRow;
        let tmp = tempfile::tempdir().unwrap();
        let s = RunSettings::default();
        let mut values = MetricValues::default();
        values.set(Metric::TrainCost, Some(0.5));
        let records = [EpochRecord {
            epoch: 1,
            values,
            seconds: 0.1,
            eta: s.eta,
        }];
        let outcome = crate::metrics::RunOutcome {
            status: RunStatus::Completed,
            epochs_completed: 1,
        };
        let row = RunRow::new(&s, &outcome, &records);
        // the run's rows as metrics.csv holds them, read back by the one reader
        let header = crate::store::schema::metrics_header(&[]);
        let cells = crate::store::metrics_cells(&s, &records[0]).unwrap();
        let csv = tmp.path().join("metrics.csv");
        std::fs::write(&csv, format!("{}\n{}\n", header.join(","), cells.join(","))).unwrap();
        let rows = crate::store::read_metrics(&csv).unwrap();
        complete(tmp.path(), std::slice::from_ref(&row), &rows).unwrap();
        let folder = run_folder(tmp.path(), &s.id());
        let file = std::fs::read_dir(&folder)
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        let whole = std::fs::read(&file).unwrap();
        std::fs::write(&file, &whole[..whole.len() - 5]).unwrap();
        assert!(!whole_events(&folder));
        complete(tmp.path(), &[row], &rows).unwrap();
        assert!(whole_events(&folder));
    }

    #[test]
    fn events_decode_back_to_what_was_written() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(tmp.path(), "x").unwrap();
        w.scalars(3, &[("accuracy/validation", 0.9)]).unwrap();
        w.flush().unwrap();
        let bytes = std::fs::read(&w.path).unwrap();
        let mut events = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
            events.push(Event::decode(&bytes[at + 12..at + 12 + len]).unwrap());
            at += len + 16;
        }
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0].what,
            Some(What::FileVersion("brain.Event:2".into()))
        );
        assert_eq!(events[1].step, 3);
        let Some(What::Summary(s)) = &events[1].what else {
            panic!("a summary")
        };
        assert_eq!(s.value[0].tag, "accuracy/validation");
        assert_eq!(s.value[0].value, Some(ValueKind::SimpleValue(0.9)));
    }
}
