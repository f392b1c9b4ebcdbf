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

/// `runner summary DIR --format json`, run from `cwd`, parsed.
pub fn summary_json(cwd: &Path, dir: &str) -> serde_json::Value {
    let output = runner(cwd)
        .args(["summary", dir, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
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

/// A `runner` process held at a fault-injection point (`RUNNER_FAULT`, see `runner::fault`):
/// spawned with piped standard input and output, its standard error read on a thread of its
/// own. [`Held::wait`] returns once it is at the point, so what a test does next (a kill, a
/// signal, a second runner) happens at exactly that point, without sleeping.
pub struct Held {
    pub child: std::process::Child,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
    lines: std::sync::mpsc::Receiver<String>,
    point: String,
}

impl Held {
    pub fn spawn(cwd: &Path, args: &[&str], point: &str) -> Held {
        use std::io::BufRead;
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("runner"))
            .current_dir(cwd)
            .args(args)
            .env(runner::fault::VARIABLE, point)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, lines) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let text = stderr.clone();
        let reader = std::thread::spawn(move || {
            for l in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                {
                    let mut t = text.lock().unwrap();
                    t.push_str(&l);
                    t.push('\n');
                }
                let _ = tx.send(l);
            }
        });
        Held {
            child,
            stderr,
            reader: Some(reader),
            lines,
            point: runner::fault::holding_line(point),
        }
    }

    /// Waits until the process holds at its point; panics with its output if it ended first.
    pub fn wait(&mut self) {
        let line = self.point.clone();
        self.wait_for(&line);
    }

    /// Waits until the process prints a line of standard error that contains `text`.
    pub fn wait_for(&mut self, text: &str) {
        loop {
            match self.lines.recv() {
                Ok(l) if l.contains(text) => return,
                Ok(_) => {}
                Err(_) => {
                    let status = self.child.wait().unwrap();
                    panic!(
                        "the process ended ({status:?}) before printing {text:?}:\n{}",
                        self.stderr.lock().unwrap()
                    );
                }
            }
        }
    }

    /// Sends the process a signal (`INT`, `TERM`, `KILL`).
    pub fn signal(&self, name: &str) {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name}");
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Lets the process go on (closes its standard input), waits for it to end and returns its
    /// exit code, standard output and standard error.
    pub fn finish(mut self) -> (Option<i32>, String, String) {
        drop(self.child.stdin.take());
        let output = self.child.wait_with_output().unwrap();
        self.reader.take().unwrap().join().unwrap();
        let stderr = self.stderr.lock().unwrap().clone();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr,
        )
    }
}
