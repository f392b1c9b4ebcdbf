//! Builds MNIST into the binary, unchanged (cargo feature `built-in-mnist`, on by default): the
//! repository's four gzip files (`data/mnist/*.gz`, 11.4 MB) are included as they are, and
//! `src/data/built_in.rs` inflates them when a run needs them (about as long as reading them from
//! the folder). Nothing is decoded here: this script only hashes the files, so that `runner` knows
//! which copy it holds, and writes the `include_bytes!` that take them in.
//!
//! Without the feature, or where `data/mnist` is absent (the crate as `cargo package` makes it,
//! which leaves the data set out), nothing is built in and `runner` reads MNIST from its data
//! folder (`runner data` says which; `runner data fetch` downloads it).
//!
//! It watches only its own inputs (the four files and itself): what the machine has installed
//! does not rebuild the crate.

use std::path::Path;

/// The four files of `data/mnist`, in the order of `FILE_NAMES` in `src/data/mod.rs`.
const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let code = if std::env::var_os("CARGO_FEATURE_BUILT_IN_MNIST").is_some() {
        built_in_mnist()
    } else {
        None
    };
    let code = code.unwrap_or_else(|| {
        "/// Nothing is built in.\n\
         pub const GZIP_FILES: Option<[&[u8]; 4]> = None;\n\
         /// Nothing is built in.\n\
         pub const SOURCE_GZIP_SHA256: [&str; 4] = [\"\"; 4];\n"
            .to_string()
    });
    write_if_changed(&out.join("built_in_mnist.rs"), code.as_bytes());
}

/// The code that includes the four gzip files of `data/mnist` with their sha256, or `None` (with
/// a warning when some are there) when a file is missing or unreadable.
fn built_in_mnist() -> Option<String> {
    let dir =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("data/mnist");
    let mut paths = Vec::new();
    let mut digests = Vec::new();
    let mut problems = Vec::new();
    for name in MNIST_FILES {
        println!("cargo::rerun-if-changed=data/mnist/{name}.gz");
        let path = dir.join(format!("{name}.gz"));
        match std::fs::read(&path) {
            Ok(raw) => {
                digests.push(sha256_hex(&raw));
                paths.push(path);
            }
            Err(e) => problems.push(format!("data/mnist/{name}.gz: {e}")),
        }
    }
    if !problems.is_empty() {
        // the packaged crate has no data folder at all: say nothing then
        if problems.len() < MNIST_FILES.len() {
            for p in problems {
                println!("cargo::warning={p}; no MNIST built in");
            }
        }
        return None;
    }
    let files: Vec<String> = paths
        .iter()
        .map(|p| format!("include_bytes!({:?})", p.display().to_string()))
        .collect();
    Some(format!(
        "/// The repository's four gzip files (`data/mnist`), unchanged, in the order of \
         `FILE_NAMES`.\n\
         pub const GZIP_FILES: Option<[&[u8]; 4]> = Some([\n    {}\n]);\n\
         /// The sha256 of each of [`GZIP_FILES`], computed when they were built in.\n\
         pub const SOURCE_GZIP_SHA256: [&str; 4] = {digests:?};\n",
        files.join(",\n    ")
    ))
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `bytes` to `path` unless it already holds them (so that the crate is not rebuilt).
fn write_if_changed(path: &Path, bytes: &[u8]) {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return;
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
