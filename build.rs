//! Decodes the repository's MNIST (`data/mnist/*.gz`) into the form the kernels read (each
//! image's list of non-zero pixels, see `src/data/built_in.rs`), which is built into the binary:
//! a run on those files then starts without inflating and indexing 55 MB of images.
//!
//! It watches only its own inputs (the four files and itself): what the machine has installed
//! does not rebuild the crate. The tests that need a system package (Chromium, Slurm,
//! TensorBoard's reader, Fashion-MNIST) or root are `#[ignore = "needs ..."]` always; `.ci/run`
//! installs the packages and runs them with `--include-ignored`.

use std::path::Path;

fn main() {
    built_in_mnist();
    println!("cargo::rerun-if-changed=build.rs");
}

/// The four files of `data/mnist`, in the order of `FILE_NAMES` in `src/data/mod.rs`.
const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Writes into `OUT_DIR`, for `src/data/built_in.rs`: for the training file (`train.*`) and the
/// test file (`test.*`), every image's non-zero pixels as compressed sparse rows (`offsets`: u32,
/// `index`: u16, in the target's byte order; `value`: the pixel bytes) and the labels; and
/// `built_in_mnist.rs`, the sha256 of each gzip file they were decoded from. When a file is
/// missing or not MNIST's layout, nothing is built in (empty files, empty digests): `runner` then
/// decodes the files it is given, and reports that it has no MNIST of its own.
fn built_in_mnist() {
    let dir =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("data/mnist");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let big_endian = std::env::var("CARGO_CFG_TARGET_ENDIAN").is_ok_and(|e| e == "big");
    for name in MNIST_FILES {
        println!("cargo::rerun-if-changed=data/mnist/{name}.gz");
    }
    let decoded = MNIST_FILES.map(|name| decode(&dir.join(format!("{name}.gz"))));
    let mut digests = [""; 4].map(String::from);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let sets = [("train", 0, 60_000), ("test", 2, 10_000)];
    let all_there = decoded.iter().all(|d| d.is_ok());
    for (set, first, n) in sets {
        let (offsets, index, value, labels) = match (&decoded[first], &decoded[first + 1]) {
            (Ok((_, images)), Ok((_, labels))) if all_there => {
                match (
                    payload(images, 0x803, &[n, 28, 28]),
                    payload(labels, 0x801, &[n]),
                ) {
                    (Some(images), Some(labels)) => {
                        let (o, i, v) = sparse(images, big_endian);
                        (o, i, v, labels.to_vec())
                    }
                    _ => {
                        println!("cargo::warning=data/mnist: the {set} files are not MNIST's layout; no MNIST built in");
                        Default::default()
                    }
                }
            }
            _ => Default::default(),
        };
        files.push((format!("{set}.offsets"), offsets));
        files.push((format!("{set}.index"), index));
        files.push((format!("{set}.value"), value));
        files.push((format!("{set}.labels"), labels));
    }
    let complete = files.iter().all(|(_, bytes)| !bytes.is_empty());
    if complete {
        for (digest, d) in digests.iter_mut().zip(&decoded) {
            *digest = d.as_ref().expect("all decoded").0.clone();
        }
    } else {
        for (name, d) in MNIST_FILES.iter().zip(&decoded) {
            if let Err(e) = d {
                println!("cargo::warning=data/mnist/{name}.gz: {e}; no MNIST built in");
            }
        }
        files.iter_mut().for_each(|(_, bytes)| bytes.clear());
    }
    for (name, bytes) in &files {
        write_if_changed(&out.join(name), bytes);
    }
    let code = format!(
        "/// The sha256 of the gzip files of `data/mnist` the built-in lists were decoded from\n\
         /// (empty when nothing was built in), in the order of `FILE_NAMES`.\n\
         pub const SOURCE_GZIP_SHA256: [&str; 4] = {digests:?};\n"
    );
    write_if_changed(&out.join("built_in_mnist.rs"), code.as_bytes());
}

/// The sha256 (lowercase hex) of the gzip file at `path` and its inflated bytes.
fn decode(path: &Path) -> Result<(String, Vec<u8>), String> {
    use sha2::Digest;
    use std::io::Read;
    let raw = std::fs::read(path).map_err(|e| e.to_string())?;
    let digest = sha2::Sha256::digest(&raw)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut bytes = Vec::new();
    flate2::read::MultiGzDecoder::new(raw.as_slice())
        .read_to_end(&mut bytes)
        .map_err(|e| format!("not a gzip file ({e})"))?;
    Ok((digest, bytes))
}

/// The payload of an IDX file of unsigned bytes with the given magic number and dimensions.
fn payload<'a>(bytes: &'a [u8], magic: u32, dims: &[usize]) -> Option<&'a [u8]> {
    let header = 4 + 4 * dims.len();
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let shape_ok = word(0)? == magic
        && dims
            .iter()
            .enumerate()
            .all(|(d, &n)| word(4 + 4 * d) == Some(n as u32));
    let payload = bytes.get(header..)?;
    (shape_ok && payload.len() == dims.iter().product::<usize>()).then_some(payload)
}

/// Each 784-byte image's non-zero pixels: offsets (one more than images), indices and bytes.
fn sparse(images: &[u8], big_endian: bool) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (mut offsets, mut index, mut value) = (Vec::new(), Vec::new(), Vec::new());
    let mut count = 0u32;
    let put = |out: &mut Vec<u8>, le: &[u8], be: &[u8]| {
        out.extend_from_slice(if big_endian { be } else { le })
    };
    put(&mut offsets, &count.to_le_bytes(), &count.to_be_bytes());
    for image in images.chunks_exact(784) {
        for (k, &p) in image.iter().enumerate() {
            if p != 0 {
                let k = k as u16;
                put(&mut index, &k.to_le_bytes(), &k.to_be_bytes());
                value.push(p);
                count += 1;
            }
        }
        put(&mut offsets, &count.to_le_bytes(), &count.to_be_bytes());
    }
    (offsets, index, value)
}

/// Writes `bytes` to `path` unless it already holds them (so that the crate is not rebuilt).
fn write_if_changed(path: &Path, bytes: &[u8]) {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return;
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
