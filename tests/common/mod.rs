//! Helpers for the end-to-end tests: small experiments on a slice of the real MNIST.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The runner binary, run from `cwd`.
pub fn runner(cwd: &Path) -> Command {
    let mut cmd = Command::cargo_bin("runner").unwrap();
    cmd.current_dir(cwd);
    cmd
}

/// Writes an experiment file with the real data folder and returns its path.
pub fn experiment(dir: &Path, name: &str, body: &str) -> PathBuf {
    let data = repo().join("data/mnist");
    let text = format!(
        "description = \"test\"\n[data]\ndir = \"{}\"\n{body}",
        data.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// A CSV file's rows with the `seconds` column removed (timing is the only column allowed to
/// differ between two runs of the same experiment).
pub fn without_seconds(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    let skip = header.iter().position(|h| h == "seconds").unwrap();
    let mut rows = vec![header
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != skip)
        .map(|(_, v)| v.to_string())
        .collect::<Vec<_>>()];
    for r in reader.records() {
        let r = r.unwrap();
        rows.push(
            r.iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, v)| v.to_string())
                .collect(),
        );
    }
    rows
}

/// A CSV file's rows as maps from column to value.
pub fn csv_rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}
