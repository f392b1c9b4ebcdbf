//! `runner data` and `runner data fetch` as a binary built without MNIST (the packaged crate's)
//! meets them: a local HTTP server on 127.0.0.1 serves the repository's files, and mirrors that
//! fail in each way (refused, an HTTP error, a body cut short, a truncated file, another file).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use predicates::prelude::*;

use crate::common::{repo, runner, without_seconds};

const FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

/// A server on 127.0.0.1 answering at most `requests` requests, then stopping (and with the test
/// process in any case). Paths are `/MODE/FILE`: `good` serves the repository's file, `broken`
/// answers 500, `short` announces the whole file and sends half, `truncated` serves the first
/// half as a whole file, `wrong` serves another MNIST file.
fn serve(requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(stream) = stream else { continue };
            let _ = answer(stream);
        }
    });
    format!("http://{address}")
}

fn answer(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") && request.len() < 8192 {
        if stream.read(&mut byte)? == 0 {
            return Ok(());
        }
        request.push(byte[0]);
    }
    let request = String::from_utf8_lossy(&request);
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (mode, file) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let data = repo().join("data/mnist");
    let bytes = match FILES.iter().position(|f| *f == file) {
        Some(i) if mode == "wrong" => std::fs::read(data.join(FILES[(i + 1) % 4]))?,
        Some(_) => std::fs::read(data.join(file))?,
        None => Vec::new(),
    };
    let head = |status: &str, length: usize| {
        format!("HTTP/1.1 {status}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n")
    };
    match mode {
        _ if bytes.is_empty() => stream.write_all(head("404 Not Found", 0).as_bytes()),
        "good" | "wrong" => {
            stream.write_all(head("200 OK", bytes.len()).as_bytes())?;
            stream.write_all(&bytes)
        }
        "short" => {
            stream.write_all(head("200 OK", bytes.len()).as_bytes())?;
            stream.write_all(&bytes[..bytes.len() / 2])
        }
        "truncated" => {
            stream.write_all(head("200 OK", bytes.len() / 2).as_bytes())?;
            stream.write_all(&bytes[..bytes.len() / 2])
        }
        _ => stream.write_all(head("500 Internal Server Error", 0).as_bytes()),
    }
}

/// A port nothing listens on.
fn refused() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}/")
}

/// `runner` as the binary without MNIST built in, with its platform data folder in `home`.
fn packaged(cwd: &Path, home: &Path) -> assert_cmd::Command {
    let mut cmd = runner(cwd);
    cmd.env("RUNNER_FAULT", "no-built-in")
        .env("XDG_DATA_HOME", home)
        .env("HOME", home)
        .env_remove("RUNNER_DATA_DIR");
    cmd
}

/// The files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    // (in name order: the t10k files first)
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn sorted_files() -> Vec<String> {
    let mut files = FILES.map(String::from).to_vec();
    files.sort();
    files
}

fn same_as_the_repositorys(dir: &Path) {
    for f in FILES {
        let ours = std::fs::read(repo().join("data/mnist").join(f)).unwrap();
        assert!(std::fs::read(dir.join(f)).unwrap() == ours, "{f}");
    }
}

#[test]
fn a_binary_without_mnist_fetches_it_past_every_kind_of_bad_mirror_then_trains() {
    let tmp = tempfile::tempdir().unwrap();
    let (here, home) = (tmp.path().join("work"), tmp.path().join("home"));
    std::fs::create_dir_all(&here).unwrap();
    assert!(!here.ancestors().any(|a| a.join("data/mnist").is_dir()));
    let platform = home.join("runner/mnist");
    // nothing to train on: `runner data` says where it looked and what to do
    packaged(&here, &home)
        .arg("data")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("built into runner - no"))
        .stdout(predicate::str::contains("runner data fetch"));
    packaged(&here, &home)
        .args(["new", "mine"])
        .assert()
        .success();
    let quick = std::fs::read_to_string(here.join("mine.toml"))
        .unwrap()
        .replace("epochs = 10", "epochs = 1")
        .replace("# train_size = 10000", "train_size = 300")
        .replace("eta = [0.1, 1.0, 3.0, 10.0]", "eta = [3.0]");
    std::fs::write(here.join("mine.toml"), quick).unwrap();
    packaged(&here, &home)
        .args(["mine.toml", "-q"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no MNIST found"))
        .stderr(predicate::str::contains(format!(
            "runner data fetch` to download it to '{}'",
            platform.display()
        )));
    // the mirrors in order: each bad one is passed over, the good one is used
    let server = serve(64);
    let mirrors = [
        refused(),
        format!("{server}/broken/"),
        format!("{server}/short"),
        format!("{server}/truncated/"),
        format!("{server}/wrong/"),
        format!("{server}/good/"),
    ];
    let mut fetch = packaged(&here, &home);
    fetch.args(["data", "fetch"]);
    for m in &mirrors {
        fetch.args(["--mirror", m]);
    }
    let output = fetch.output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{err}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("4 of 4 files downloaded"), "{stdout}");
    for (mirror, why) in mirrors[1..5].iter().zip([
        "500",
        "disconnected",
        "not a whole gzip file",
        "wrong content",
    ]) {
        let url = format!("{}/t10k-labels", mirror.trim_end_matches('/'));
        let line = err
            .lines()
            .find(|l| l.contains(&url) && !l.contains("downloading"))
            .unwrap_or_else(|| panic!("{mirror}: {err}"));
        assert!(line.contains(why), "{line}");
    }
    same_as_the_repositorys(&platform);
    assert_eq!(listing(&platform), sorted_files());
    // now it is found, and a second fetch downloads nothing
    packaged(&here, &home)
        .arg("data")
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "-> 3. the platform's data folder: {}",
            platform.display()
        )));
    packaged(&here, &home)
        .args(["data", "fetch", "--mirror", &refused()])
        .assert()
        .success()
        .stdout(predicate::str::contains("0 of 4 files downloaded"));
    packaged(&here, &home)
        .args(["mine.toml", "-q"])
        .assert()
        .success();
    // the same rows as the binary's own copy gives
    let fetched = without_seconds(&here.join("results/mine/runs.csv"));
    runner(&here)
        .env("XDG_DATA_HOME", tmp.path().join("nowhere"))
        .args(["mine.toml", "-q", "--fresh", "--out", "builtin"])
        .assert()
        .success();
    assert_eq!(fetched, without_seconds(&here.join("builtin/runs.csv")));
}

#[test]
fn a_fetch_that_fails_everywhere_names_every_attempt_and_keeps_what_is_there() {
    let tmp = tempfile::tempdir().unwrap();
    let (here, home) = (tmp.path().join("work"), tmp.path().join("home"));
    std::fs::create_dir_all(&here).unwrap();
    let server = serve(32);
    let target: PathBuf = tmp.path().join("variable/mnist");
    // RUNNER_DATA_DIR names where it goes; nothing good anywhere: nothing is written
    packaged(&here, &home)
        .env("RUNNER_DATA_DIR", tmp.path().join("variable"))
        .args(["data", "fetch", "--mirror", &format!("{server}/broken/")])
        .args(["--mirror", &format!("{server}/truncated/")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no mirror gave a good train-images-idx3-ubyte.gz",
        ))
        .stderr(predicate::str::contains(format!(
            "{server}/broken/train-images-idx3-ubyte.gz: http status: 500"
        )))
        .stderr(predicate::str::contains(format!(
            "{server}/truncated/train-images-idx3-ubyte.gz: not a whole gzip file"
        )));
    assert_eq!(listing(&target), Vec::<String>::new());
    // three good files there, the fourth damaged: only the fourth is downloaded
    std::fs::create_dir_all(&target).unwrap();
    for f in &FILES[..3] {
        std::fs::copy(repo().join("data/mnist").join(f), target.join(f)).unwrap();
    }
    std::fs::write(target.join(FILES[3]), b"not gzip").unwrap();
    packaged(&here, &home)
        .env("RUNNER_DATA_DIR", tmp.path().join("variable"))
        .args(["data", "fetch", "--mirror", &format!("{server}/good/")])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 of 4 files downloaded"));
    same_as_the_repositorys(&target);
    assert_eq!(listing(&target), sorted_files());
    // and the variable, once set, is where runs read it from
    packaged(&here, &home)
        .env("RUNNER_DATA_DIR", tmp.path().join("variable"))
        .arg("data")
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "-> 1. $RUNNER_DATA_DIR/mnist: {}",
            target.display()
        )));
}
