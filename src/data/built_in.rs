//! MNIST built into the binary, already in the form the kernels read.
//!
//! `build.rs` inflates the repository's four gzip files (`data/mnist/`) when `runner` is compiled
//! and writes each image's non-zero pixels as compressed sparse rows (the layout of
//! [`super::SparseImages`]) with the labels; they are included here as static data. A run whose
//! data folder holds exactly those gzip files (the same sha256) then uses them instead of inflating
//! 55 MB and indexing 70,000 images (about 70 ms on this project's machine, most of a short run's
//! start), and an installed `runner` trains without the repository. The results are the same: the
//! lists are what [`super::SparseImages`] builds from the files (a test compares them image by
//! image).
//!
//! When the data was missing or damaged at build time nothing is built in
//! ([`SOURCE_GZIP_SHA256`] is empty) and every run decodes the files it is given.

include!(concat!(env!("OUT_DIR"), "/built_in_mnist.rs"));

/// Bytes aligned for the `u32` and `u16` words they hold.
#[repr(C, align(4))]
struct Aligned<B: ?Sized>(B);

macro_rules! out_file {
    ($name:literal) => {
        &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/", $name)))
    };
}

static TRAIN: [&Aligned<[u8]>; 4] = [
    out_file!("train.offsets"),
    out_file!("train.index"),
    out_file!("train.value"),
    out_file!("train.labels"),
];
static TEST: [&Aligned<[u8]>; 4] = [
    out_file!("test.offsets"),
    out_file!("test.index"),
    out_file!("test.value"),
    out_file!("test.labels"),
];

/// One built-in file's images: image `i`'s pixels are `index[offsets[i]..offsets[i + 1]]` with
/// their bytes in `value`, its label `labels[i]`.
#[derive(Debug, Clone, Copy)]
pub struct Lists {
    pub offsets: &'static [u32],
    pub index: &'static [u16],
    pub value: &'static [u8],
    pub labels: &'static [u8],
}

/// The built-in training file (60,000 images) and test file (10,000), or `None` when nothing was
/// built in.
pub fn lists() -> Option<(Lists, Lists)> {
    let built_in = !SOURCE_GZIP_SHA256[0].is_empty();
    built_in.then(|| (as_lists(&TRAIN), as_lists(&TEST)))
}

fn as_lists(files: &[&'static Aligned<[u8]>; 4]) -> Lists {
    let lists = Lists {
        offsets: words(files[0]),
        index: words(files[1]),
        value: &files[2].0,
        labels: &files[3].0,
    };
    assert!(
        lists.offsets.len() == lists.labels.len() + 1
            && lists.offsets.last().copied() == Some(lists.value.len() as u32)
            && lists.index.len() == lists.value.len(),
        "the built-in MNIST's lists agree with each other"
    );
    lists
}

/// `bytes` as the `u16` or `u32` words `build.rs` wrote in this target's byte order.
fn words<T: Word>(bytes: &'static Aligned<[u8]>) -> &'static [T] {
    let bytes = &bytes.0;
    assert_eq!(bytes.len() % size_of::<T>(), 0, "whole words");
    // SAFETY: `Aligned` puts the bytes at a multiple of 4, enough for u16 and u32; every bit
    // pattern is a valid u16 or u32; the length is a whole number of words (checked above); and
    // the static data lives, unchanged, as long as the program.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), bytes.len() / size_of::<T>()) }
}

/// The unsigned integers [`words`] reads (any bit pattern valid, alignment at most 4).
trait Word {}
impl Word for u16 {}
impl Word for u32 {}
