//! The MNIST data set: IDX parsing (from any reader, gzipped or not), checksums, and the
//! book's split into training, validation and test examples.
//!
//! Each image is kept as the list of its non-zero pixels' places and bytes (the input is byte /
//! 255, read from a table as the kernels need it), so one loaded data set serves every run of a
//! sweep read-only. Where the files come from (the experiment's folder, the data folder, the copy
//! [`built_in`] to the binary) is [`locate`]'s; [`fetch`] downloads them.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

pub mod built_in;
pub mod error;
pub mod fetch;
pub mod locate;

pub use error::DataError;

/// Pixels of one 28x28 image.
pub const IMAGE_PIXELS: usize = 784;
/// Number of classes (digits 0-9).
pub const CLASSES: usize = 10;
/// Training examples in the book's split; the rest of the 60,000 are validation.
pub const MNIST_TRAIN: usize = 50_000;
/// Images in the training file of MNIST and Fashion-MNIST.
pub const TRAINING_FILE_IMAGES: usize = 60_000;
/// Validation examples in the book's split: the last 10,000 of the training file.
pub const DEFAULT_VALIDATION: usize = 10_000;

/// The standard file names, in the order of the checksum tables.
pub const FILE_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Which data set a folder holds, and so which checksums its files must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    /// LeCun et al.'s digits (the default; shipped in data/mnist).
    Mnist,
    /// Zalando's Fashion-MNIST: same layout, ten kinds of clothing.
    FashionMnist,
    /// Any folder of IDX files with MNIST's layout (28x28 images, labels 0-9); no checksums.
    Idx,
}

impl DatasetKind {
    pub const ALL: [DatasetKind; 3] = [
        DatasetKind::Mnist,
        DatasetKind::FashionMnist,
        DatasetKind::Idx,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Idx => "idx",
        }
    }

    /// The folder used when `data.dir` is not given.
    pub fn default_dir(self) -> Option<&'static str> {
        match self {
            DatasetKind::Mnist => Some("data/mnist"),
            DatasetKind::FashionMnist => Some("/usr/share/datasets/fashion-mnist"),
            DatasetKind::Idx => None,
        }
    }

    /// The sha256 of the gzip files known to decompress to [`Self::checksums`]'s bytes.
    fn gzip_checksums(self) -> Option<[&'static str; 4]> {
        match self {
            DatasetKind::Mnist => Some(MNIST_GZIP_SHA256),
            DatasetKind::FashionMnist | DatasetKind::Idx => None,
        }
    }

    /// The sha256 of each file's decompressed bytes, in the order of [`FILE_NAMES`].
    fn checksums(self) -> Option<[&'static str; 4]> {
        match self {
            DatasetKind::Mnist => Some(MNIST_FILES.map(|f| f.1)),
            DatasetKind::FashionMnist => Some(FASHION_MNIST_SHA256),
            DatasetKind::Idx => None,
        }
    }
}

/// Fashion-MNIST as Debian's `dataset-fashion-mnist` package installs it (the decompressed
/// bytes; the package's gzip files are compressed differently from Zalando's downloads).
const FASHION_MNIST_SHA256: [&str; 4] = [
    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
];

/// The four standard MNIST files with the sha256 of their decompressed bytes.
pub const MNIST_FILES: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    (
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    (
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
];

/// The sha256 of the repository's own gzip files (`data/mnist/`, repacked with `gzip -9 -n`; the
/// [`built_in`] copy is the same bytes), in the order of [`FILE_NAMES`]. A file whose compressed
/// bytes have this digest decompresses to the bytes [`MNIST_FILES`] names (libdeflate checks the
/// gzip trailer's CRC-32 and size), so its 47 MB are not hashed a second time; any other copy
/// (compressed differently, or not at all) is checked by the digest of its decompressed bytes.
pub(crate) const MNIST_GZIP_SHA256: [&str; 4] = [
    "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
    "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
    "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
    "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
];

/// A parsed IDX file of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Idx {
    /// Dimensions as declared in the header, e.g. `[60000, 28, 28]`.
    pub dims: Vec<usize>,
    /// The payload, `dims.iter().product()` bytes.
    pub data: Vec<u8>,
}

/// Parses the bytes of an (uncompressed) IDX file of unsigned bytes.
///
/// The header is two zero bytes, a type code (0x08 for `u8`), the number of dimensions, then one
/// big-endian `u32` per dimension. The payload must have exactly the declared size.
pub fn parse_idx(bytes: &[u8]) -> Result<Idx, String> {
    let (dims, header) = idx_header(bytes)?;
    Ok(Idx {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// [`parse_idx`] keeping `bytes`' buffer for the payload (moved down over the header in place:
/// no second buffer of the file's size to allocate and fault in).
pub fn parse_idx_owned(mut bytes: Vec<u8>) -> Result<Idx, String> {
    let (dims, header) = idx_header(&bytes)?;
    bytes.drain(..header);
    Ok(Idx { dims, data: bytes })
}

/// An IDX file's dimensions and header length, checked against its length.
fn idx_header(bytes: &[u8]) -> Result<(Vec<usize>, usize), String> {
    if bytes.len() < 4 {
        return Err(format!(
            "the file is {} bytes long, shorter than the 4-byte IDX magic number",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format!(
            "wrong magic number {:02x} {:02x} {:02x} {:02x}: an IDX file starts with two zero bytes",
            bytes[0], bytes[1], bytes[2], bytes[3]
        ));
    }
    if bytes[2] != 0x08 {
        return Err(format!(
            "type code 0x{:02x} is not supported: only unsigned bytes (0x08) are",
            bytes[2]
        ));
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 {
        return Err("the header declares 0 dimensions".to_string());
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(format!(
            "truncated header: {ndim} dimensions need {header} bytes, the file has {}",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("dimensions {dims:?} overflow"))?;
    let payload = bytes.len() - header;
    if payload != expected {
        return Err(format!(
            "dimensions {dims:?} declare {expected} bytes of data, the file has {payload}{}",
            if payload < expected {
                " (truncated)"
            } else {
                " (trailing bytes)"
            }
        ));
    }
    Ok((dims, header))
}

/// Reads all bytes from `reader`, decompressing them when they start with the gzip magic bytes.
///
/// A gzip file of one member is inflated in one call to libdeflate (MNIST's 47 MB of training
/// images in about 50 ms, against 85 ms streamed through flate2), into a buffer of the size its
/// trailer gives; any other (several members, a damaged trailer, corrupt data) is streamed
/// through flate2, which reads every member and reports the errors.
pub fn read_maybe_gzip(mut reader: impl Read) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw)?;
    decompress_maybe_gzip(raw)
}

/// `raw` decompressed when it starts with the gzip magic bytes, otherwise `raw` itself (see
/// [`read_maybe_gzip`]).
fn decompress_maybe_gzip(raw: Vec<u8>) -> std::io::Result<Vec<u8>> {
    if is_gzip(&raw) {
        inflate_gzip(&raw)
    } else {
        Ok(raw)
    }
}

/// True when `raw` starts with the gzip magic bytes.
fn is_gzip(raw: &[u8]) -> bool {
    raw.starts_with(&[0x1f, 0x8b])
}

/// The gzip file `raw` inflated (see [`read_maybe_gzip`]).
fn inflate_gzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    match inflate_one_member(raw) {
        Some(out) => Ok(out),
        None => stream_gzip(raw),
    }
}

/// The gzip file `raw` inflated by libdeflate when it is one member whose trailer's size is
/// right; `None` otherwise.
fn inflate_one_member(raw: &[u8]) -> Option<Vec<u8>> {
    // ISIZE, the last four bytes: the uncompressed size modulo 2^32
    let size = raw.len().checked_sub(4).map(|at| &raw[at..])?;
    let size = u32::from_le_bytes(size.try_into().ok()?) as usize;
    // deflate expands at most about 1032 times: a larger size is a damaged trailer
    if size > raw.len().saturating_mul(1032) {
        return None;
    }
    let mut out = vec![0u8; size];
    let (mut read, mut written) = (0usize, 0usize);
    // SAFETY: the decompressor is used by this call alone and freed after it; libdeflate reads
    // at most `raw.len()` bytes from `raw` and writes at most `out.len()` bytes to `out`, and
    // writes the two counts through pointers to live locals.
    let result = unsafe {
        let d = libdeflate_sys::libdeflate_alloc_decompressor();
        if d.is_null() {
            return None;
        }
        let result = libdeflate_sys::libdeflate_gzip_decompress_ex(
            d,
            raw.as_ptr().cast(),
            raw.len(),
            out.as_mut_ptr().cast(),
            out.len(),
            &mut read,
            &mut written,
        );
        libdeflate_sys::libdeflate_free_decompressor(d);
        result
    };
    // the whole file is one member, and it filled the buffer exactly (its own trailer's CRC and
    // size checked by libdeflate)
    let whole = result == libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS
        && read == raw.len()
        && written == size;
    whole.then_some(out)
}

/// All the members of the gzip file `raw`, inflated through flate2.
fn stream_gzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len() * 5);
    MultiGzDecoder::new(raw).read_to_end(&mut out)?;
    Ok(out)
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Finds `dir/name.gz` or `dir/name`.
fn find_file(dir: &Path, name: &'static str) -> Result<PathBuf, DataError> {
    for candidate in [dir.join(format!("{name}.gz")), dir.join(name)] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(DataError::Missing {
        dir: dir.to_path_buf(),
        name,
        hint: "set `data.dir` in the experiment file to the folder with the IDX files (for \
               Fashion-MNIST: apt-get install dataset-fashion-mnist)"
            .to_string(),
    })
}

/// How the built-in MNIST ([`built_in`]) is named in messages and in `Dataset::dir`.
pub const BUILT_IN: &str = "<MNIST built into runner>";

/// How [`load_checked`] verified a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verified {
    /// Its compressed bytes are the known gzip file.
    Compressed,
    /// By the digest of its decompressed bytes.
    Decompressed,
    /// Not at all (a data set without known digests).
    Unchecked,
}

/// Reads, decompresses, verifies and parses the IDX file `name`: by the sha256 `gzip_sha` of its
/// compressed bytes when they match it (computed while it inflates), otherwise by the sha256
/// `sha` of its decompressed bytes.
fn load_checked(
    dir: &Path,
    name: &'static str,
    (sha, gzip_sha): (Option<&'static str>, Option<&'static str>),
    dataset: &'static str,
) -> Result<(Idx, Verified), DataError> {
    let path = find_file(dir, name)?;
    let raw = std::fs::read(&path).map_err(|error| DataError::Io {
        path: path.clone(),
        error,
    })?;
    // a known gzip file is recognised while it inflates
    let gzip_sha = gzip_sha.filter(|_| sha.is_some() && is_gzip(&raw));
    let (bytes, known) = match gzip_sha {
        Some(expected) => rayon::join(|| inflate_gzip(&raw), || sha256_hex(&raw) == expected),
        None => (decompress_maybe_gzip(raw), false),
    };
    let bytes = bytes.map_err(|e| DataError::Format {
        path: path.clone(),
        reason: format!(
            "its gzip data is truncated or corrupt ({e}); restore the file from the repository \
             (git checkout -- {})",
            path.display()
        ),
    })?;
    let verified = match sha {
        None => Verified::Unchecked,
        Some(_) if known => Verified::Compressed,
        Some(expected) => {
            let actual = sha256_hex(&bytes);
            if actual != expected {
                return Err(DataError::Checksum {
                    path,
                    dataset,
                    expected,
                    actual,
                });
            }
            Verified::Decompressed
        }
    };
    let idx = parse_idx_owned(bytes).map_err(|reason| DataError::Format {
        path: path.clone(),
        reason,
    })?;
    Ok((idx, verified))
}

/// A set of labelled images, kept for the fast first layer as the list of each image's non-zero
/// pixels (about 19% of MNIST's pixels) and, for the code that wants whole images (the dense
/// reference network, the expanded training set), as raw bytes.
#[derive(Debug, Clone)]
pub struct Split {
    images: Vec<u8>,
    labels: Vec<u8>,
    sparse: SparseImages,
}

/// Two splits are equal when they hold the same images with the same labels (however they are
/// stored).
impl PartialEq for Split {
    fn eq(&self, other: &Split) -> bool {
        self.labels == other.labels
            && (0..self.len()).all(|i| self.sparse.image(i) == other.sparse.image(i))
    }
}

/// The non-zero pixels of every image (compressed sparse rows): image `i`'s pixels are
/// `index[offsets[i]..offsets[i + 1]]` with their bytes in `value[..]` (the network's input is
/// [`pixel`] of a byte: 3 bytes a pixel instead of 6 keep more of the training set in the caches).
#[derive(Debug, Clone)]
pub struct SparseImages {
    pub offsets: Vec<u32>,
    pub index: Vec<u16>,
    pub value: Vec<u8>,
}

impl SparseImages {
    /// Images per block of the parallel build (blocks are built in any order, each into its own
    /// place, so the result never depends on the threads).
    const BLOCK: usize = 1000;

    fn from_dense(images: &[u8]) -> SparseImages {
        let n = images.len() / IMAGE_PIXELS;
        let blocks: Vec<&[u8]> = images.chunks(Self::BLOCK * IMAGE_PIXELS).collect();
        // each block's number of non-zero pixels, then where its pixels start
        // (counted 64 bytes at a time into a byte, which vectorizes; a plain `filter().count()`
        // widens every byte to a 64-bit count)
        let nonzero = |b: &[u8]| -> usize {
            b.chunks(64)
                .map(|c| c.iter().fold(0u8, |n, &p| n + (p != 0) as u8) as usize)
                .sum()
        };
        let counts: Vec<usize> = blocks.par_iter().map(|b| nonzero(b)).collect();
        let nnz = counts.iter().sum();
        let (mut all_offsets, mut all_index, mut all_value) =
            (vec![0u32; n + 1], vec![0u16; nnz], vec![0u8; nnz]);
        // disjoint pieces of the three arrays, one per block
        let mut pieces = Vec::with_capacity(blocks.len());
        let (mut offsets, mut index, mut value) = (
            &mut all_offsets[1..],
            all_index.as_mut_slice(),
            all_value.as_mut_slice(),
        );
        let mut start = 0;
        for (block, &count) in blocks.iter().zip(&counts) {
            let (o, o_rest) = offsets.split_at_mut(block.len() / IMAGE_PIXELS);
            let (i, i_rest) = index.split_at_mut(count);
            let (v, v_rest) = value.split_at_mut(count);
            pieces.push((*block, start, o, i, v));
            (offsets, index, value) = (o_rest, i_rest, v_rest);
            start += count;
        }
        pieces
            .into_par_iter()
            .for_each(|(block, start, offsets, index, value)| {
                let mut at = 0;
                // one image's pixels, written without a branch per pixel: every pixel of a
                // chunk is written at the next place, which only advances past non-zero ones
                let mut image_index = [0u16; IMAGE_PIXELS];
                let mut image_value = [0u8; IMAGE_PIXELS];
                for (image, end) in block.chunks_exact(IMAGE_PIXELS).zip(offsets) {
                    let mut n = 0;
                    // Most of an image is zero in runs: skip 8 zero bytes at a time.
                    for (c, chunk) in image.chunks_exact(8).enumerate() {
                        let chunk: &[u8; 8] = chunk.try_into().expect("8 bytes");
                        if u64::from_ne_bytes(*chunk) == 0 {
                            continue;
                        }
                        for (j, &p) in chunk.iter().enumerate() {
                            // n counts non-zero pixels before this one: n <= c * 8 + j < 784
                            image_index[n] = (c * 8 + j) as u16;
                            image_value[n] = p;
                            n += (p != 0) as usize;
                        }
                    }
                    index[at..at + n].copy_from_slice(&image_index[..n]);
                    value[at..at + n].copy_from_slice(&image_value[..n]);
                    at += n;
                    *end = (start + at) as u32;
                }
            });
        SparseImages {
            offsets: all_offsets,
            index: all_index,
            value: all_value,
        }
    }

    /// Pixel indices and bytes of image `i`.
    #[inline]
    pub fn image(&self, i: usize) -> (&[u16], &[u8]) {
        let (a, b) = self.place(i);
        (
            &self.index[a as usize..b as usize],
            &self.value[a as usize..b as usize],
        )
    }

    /// Where image `i`'s pixels lie in `index` and `value`: `(start, end)`.
    #[inline]
    pub fn place(&self, i: usize) -> (u32, u32) {
        (self.offsets[i], self.offsets[i + 1])
    }
}

impl Split {
    /// Builds a split from `n * 784` pixel bytes and `n` labels in `0..10`.
    pub fn new(images: Vec<u8>, labels: Vec<u8>) -> Result<Self, DataError> {
        if images.len() != labels.len() * IMAGE_PIXELS {
            return Err(DataError::Inconsistent(format!(
                "{} labels need {} pixel bytes, got {}",
                labels.len(),
                labels.len() * IMAGE_PIXELS,
                images.len()
            )));
        }
        if let Some(pos) = labels.iter().position(|&l| l as usize >= CLASSES) {
            return Err(DataError::Inconsistent(format!(
                "label {} at index {pos} is not a digit 0-9",
                labels[pos]
            )));
        }
        let sparse = SparseImages::from_dense(&images);
        Ok(Split {
            images,
            labels,
            sparse,
        })
    }

    /// The images' bytes, `784` per image.
    fn images(&self) -> &[u8] {
        &self.images
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the split holds no example.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The first `n` examples (all of them when `n` is larger), without copying.
    pub fn examples(&self, n: usize) -> Examples<'_> {
        let n = n.min(self.len());
        Examples {
            split: self,
            labels: &self.labels[..n],
            first: 0,
        }
    }

    /// All examples, without copying.
    pub fn all(&self) -> Examples<'_> {
        self.examples(self.len())
    }

    /// The book's expanded training set (chapter 6's `expand_mnist.py`): each of the first `n`
    /// images followed by its copies shifted by one pixel down, up, right and left (the pixels
    /// shifted in are zero), so image `i`'s five versions are examples `5i..5i + 5`.
    pub fn expanded(&self, n: usize) -> Split {
        let n = n.min(self.len());
        let side = 28i32;
        let mut images = Vec::with_capacity(5 * n * IMAGE_PIXELS);
        let mut labels = Vec::with_capacity(5 * n);
        let all = self.images();
        for i in 0..n {
            let image = &all[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS];
            images.extend_from_slice(image);
            // (rows, columns) moved by: down, up, right, left
            for (dr, dc) in [(1i32, 0i32), (-1, 0), (0, 1), (0, -1)] {
                for r in 0..side {
                    for c in 0..side {
                        let (sr, sc) = (r - dr, c - dc);
                        let inside = (0..side).contains(&sr) && (0..side).contains(&sc);
                        images.push(if inside {
                            image[(sr * side + sc) as usize]
                        } else {
                            0
                        });
                    }
                }
            }
            labels.extend(std::iter::repeat_n(self.labels[i], 5));
        }
        Split::new(images, labels).expect("shifted copies of valid images are valid")
    }
}

/// A borrowed run of examples: example `i` is image `first + i` of `split`, with label
/// `labels[i]`.
#[derive(Debug, Clone, Copy)]
pub struct Examples<'a> {
    split: &'a Split,
    pub labels: &'a [u8],
    first: usize,
}

impl<'a> Examples<'a> {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there is no example.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixel bytes of example `i`.
    pub fn image(&self, i: usize) -> &'a [u8] {
        assert!(i < self.len(), "example {i} of {}", self.len());
        let at = (self.first + i) * IMAGE_PIXELS;
        &self.split.images()[at..at + IMAGE_PIXELS]
    }

    /// Examples `start..end`, without copying.
    pub fn range(&self, start: usize, end: usize) -> Examples<'a> {
        Examples {
            split: self.split,
            labels: &self.labels[start..end],
            first: self.first + start,
        }
    }

    /// The non-zero pixels of example `i`: their indices and bytes (the input is [`pixel`] of
    /// a byte).
    #[inline]
    pub fn nonzero(&self, i: usize) -> (&'a [u16], &'a [u8]) {
        self.split.sparse.image(self.first + i)
    }

    /// Where example `i`'s pixels lie in the data set's pixel lists: `(start, end)` for
    /// [`Self::pixels_at`].
    #[inline]
    pub fn place(&self, i: usize) -> (u32, u32) {
        self.split.sparse.place(self.first + i)
    }

    /// The pixels at `from..to` of the data set's pixel lists (part of [`Self::nonzero`] of the
    /// example whose [`Self::place`] holds them).
    #[inline]
    pub fn pixels_at(&self, from: usize, to: usize) -> (&'a [u16], &'a [u8]) {
        let sparse = &self.split.sparse;
        (&sparse.index[from..to], &sparse.value[from..to])
    }
}

/// Converts a pixel byte to the network's input in `[0, 1]` (x / 255, as the book).
#[inline]
pub fn pixel(p: u8) -> f32 {
    PIXEL_TABLE[p as usize]
}

static PIXEL_TABLE: [f32; 256] = {
    let mut t = [0f32; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as f32 / 255.0;
        i += 1;
    }
    t
};

/// A data set in the book's split: the training file's first images for training, its last
/// `validation_size` (10,000 by default) for validation, the t10k file for testing.
#[derive(Debug)]
pub struct Dataset {
    pub dir: PathBuf,
    pub kind: DatasetKind,
    pub train: Split,
    pub validation: Split,
    pub test: Split,
    /// The expanded training set ([`Split::expanded`]) of the first images of `train`, built
    /// when some run trains with `expand = true`.
    pub expanded: Option<Split>,
}

/// `file(i)` for the four standard files at once, on the pool's threads (the training images,
/// 47 MB once inflated, take most of the time), in file order.
fn all_four<T: Send>(file: impl Fn(usize) -> T + Sync) -> [T; 4] {
    let (a, (b, (c, d))) = rayon::join(
        || file(0),
        || rayon::join(|| file(1), || rayon::join(|| file(2), || file(3))),
    );
    [a, b, c, d]
}

impl Dataset {
    /// Loads MNIST from `dir` with the book's split.
    pub fn load_mnist(dir: &Path) -> Result<Dataset, DataError> {
        Self::load(dir, DatasetKind::Mnist, DEFAULT_VALIDATION)
    }

    /// Loads the four standard files from `dir` (`.gz` or uncompressed), verifying the sha256 of
    /// each file's decompressed bytes against the data set's (unless `kind` is
    /// [`DatasetKind::Idx`]; the repository's own gzip files are recognised by their compressed
    /// bytes' digest while they inflate) and the shapes, and keeps the last `validation_size`
    /// training images for validation.
    pub fn load(
        dir: &Path,
        kind: DatasetKind,
        validation_size: usize,
    ) -> Result<Dataset, DataError> {
        let sums = kind.checksums();
        let label = match kind {
            DatasetKind::Mnist => "MNIST",
            DatasetKind::FashionMnist => "Fashion-MNIST",
            DatasetKind::Idx => "IDX",
        };
        let gzip_sums = kind.gzip_checksums();
        let file = |i: usize| {
            let sums = (sums.map(|s| s[i]), gzip_sums.map(|s| s[i]));
            load_checked(dir, FILE_NAMES[i], sums, label).map(|(idx, _)| idx)
        };
        // the first failing file, in file order, is reported
        let [a, b, c, d] = all_four(file);
        Self::from_files(dir.to_path_buf(), kind, [a?, b?, c?, d?], validation_size)
    }

    /// The MNIST built into the binary ([`built_in`]: the repository's four gzip files), inflated
    /// on the pool's threads; they were hashed when they were built in, so they are not hashed
    /// again (libdeflate checks each one's CRC-32 and size).
    pub fn load_built_in_mnist(validation_size: usize) -> Result<Dataset, DataError> {
        let files = built_in::gzip_files().ok_or(DataError::NotBuiltIn)?;
        let dir = PathBuf::from(BUILT_IN);
        let file = |i: usize| {
            let path = || dir.join(format!("{}.gz", FILE_NAMES[i]));
            let bytes = inflate_gzip(files[i]).map_err(|e| DataError::Format {
                path: path(),
                reason: format!("its gzip data is corrupt ({e})"),
            })?;
            parse_idx_owned(bytes).map_err(|reason| DataError::Format {
                path: path(),
                reason,
            })
        };
        let [a, b, c, d] = all_four(file);
        Self::from_files(
            dir.clone(),
            DatasetKind::Mnist,
            [a?, b?, c?, d?],
            validation_size,
        )
    }

    /// How many of the training file's `total` images train when the last `validation_size`
    /// validate: an error when none would.
    fn training_part(dir: &Path, total: usize, validation_size: usize) -> Result<usize, DataError> {
        if validation_size >= total {
            return Err(DataError::Inconsistent(format!(
                "the training file of '{}' has {total} images: validation_size {validation_size} \
                 leaves none for training",
                dir.display()
            )));
        }
        Ok(total - validation_size)
    }

    /// The data set from its four parsed files (`name` for messages).
    fn from_files(
        dir: PathBuf,
        kind: DatasetKind,
        [train_images, train_labels, test_images, test_labels]: [Idx; 4],
        validation_size: usize,
    ) -> Result<Dataset, DataError> {
        Self::check_shapes(&train_images, &train_labels)?;
        Self::check_shapes(&test_images, &test_labels)?;
        for (labels, name) in [
            (&train_labels, FILE_NAMES[1]),
            (&test_labels, FILE_NAMES[3]),
        ] {
            if let Some(pos) = labels.data.iter().position(|&l| l as usize >= CLASSES) {
                return Err(DataError::Format {
                    path: find_file(&dir, name).unwrap_or_else(|_| dir.join(name)),
                    reason: format!(
                        "label {} of image {pos} is not a digit 0-9 (the file is damaged, or \
                         not a labels file of 10 classes)",
                        labels.data[pos]
                    ),
                });
            }
        }
        let kept = Self::training_part(&dir, train_labels.data.len(), validation_size)?;
        let mut images = train_images.data;
        let mut labels = train_labels.data;
        let (validation_images, validation_labels) = (
            images.split_off(kept * IMAGE_PIXELS),
            labels.split_off(kept),
        );
        // the three splits' sparse indexes at once (the training split is the largest)
        let (train, (validation, test)) = rayon::join(
            || Split::new(images, labels),
            || {
                rayon::join(
                    || Split::new(validation_images, validation_labels),
                    || Split::new(test_images.data, test_labels.data),
                )
            },
        );
        let (validation, train, test) = (validation?, train?, test?);
        Ok(Dataset {
            dir,
            kind,
            train,
            validation,
            test,
            expanded: None,
        })
    }

    /// Builds [`Dataset::expanded`] from the first `n` training images.
    pub fn expand_training(&mut self, n: usize) {
        self.expanded = Some(self.train.expanded(n));
    }

    /// The training examples of a run: the first `train_size` images, or with `expand` their
    /// expanded set of `5 * train_size` (see [`Split::expanded`]).
    pub fn training(&self, train_size: usize, expand: bool) -> Examples<'_> {
        if expand {
            self.expanded
                .as_ref()
                .expect("the expanded training set is built before runs that use it")
                .examples(5 * train_size)
        } else {
            self.train.examples(train_size)
        }
    }

    fn check_shapes(images: &Idx, labels: &Idx) -> Result<(), DataError> {
        if images.dims.len() != 3 || images.dims[1] * images.dims[2] != IMAGE_PIXELS {
            return Err(DataError::Inconsistent(format!(
                "images have dimensions {:?}, expected [n, 28, 28]",
                images.dims
            )));
        }
        if labels.dims.len() != 1 || labels.dims[0] != images.dims[0] {
            return Err(DataError::Inconsistent(format!(
                "labels have dimensions {:?} for {} images",
                labels.dims, images.dims[0]
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_shifts_each_image_by_one_pixel_four_ways() {
        let mut images = vec![0u8; 2 * IMAGE_PIXELS];
        images[5 * 28 + 7] = 200; // image 0: one pixel at row 5, column 7
        images[IMAGE_PIXELS] = 9; // image 1: the top-left corner
        let split = Split::new(images, vec![3, 4]).unwrap();
        let e = split.expanded(2);
        assert_eq!(e.len(), 10);
        assert_eq!(e.labels, vec![3, 3, 3, 3, 3, 4, 4, 4, 4, 4]);
        let lit = |i: usize| -> Vec<(usize, u8)> {
            let img = e.all().image(i).to_vec();
            img.iter()
                .enumerate()
                .filter(|(_, &p)| p != 0)
                .map(|(k, &p)| (k, p))
                .collect()
        };
        // original, down, up, right, left
        assert_eq!(lit(0), vec![(5 * 28 + 7, 200)]);
        assert_eq!(lit(1), vec![(6 * 28 + 7, 200)]);
        assert_eq!(lit(2), vec![(4 * 28 + 7, 200)]);
        assert_eq!(lit(3), vec![(5 * 28 + 8, 200)]);
        assert_eq!(lit(4), vec![(5 * 28 + 6, 200)]);
        // the corner pixel survives moving down and right, falls off moving up and left
        assert_eq!(lit(6), vec![(28, 9)]);
        assert_eq!(lit(7), vec![]);
        assert_eq!(lit(8), vec![(1, 9)]);
        assert_eq!(lit(9), vec![]);
        // the sparse view agrees with the bytes
        let (index, value) = e.all().nonzero(3);
        assert_eq!((index, value), (&[(5 * 28 + 8) as u16][..], &[200][..]));
        assert_eq!(split.expanded(1).len(), 5);
    }
    use std::io::Write;

    fn idx_bytes(dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(payload);
        b
    }

    /// The audit's IDX folder whose labels file holds a 200: the message names that file.
    #[test]
    fn a_label_that_is_not_a_digit_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let write =
            |name: &str, bytes: Vec<u8>| std::fs::write(dir.path().join(name), bytes).unwrap();
        write(FILE_NAMES[0], idx_bytes(&[3, 28, 28], &[0; 3 * 784]));
        write(FILE_NAMES[1], idx_bytes(&[3], &[1, 200, 2]));
        write(FILE_NAMES[2], idx_bytes(&[1, 28, 28], &[0; 784]));
        write(FILE_NAMES[3], idx_bytes(&[1], &[4]));
        let e = Dataset::load(dir.path(), DatasetKind::Idx, 1)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(FILE_NAMES[1]) && e.contains("label 200 of image 1 is not a digit 0-9"),
            "{e}"
        );
    }

    #[test]
    fn parses_a_small_idx_file() {
        let bytes = idx_bytes(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let idx = parse_idx(&bytes).unwrap();
        assert_eq!(idx.dims, vec![2, 3]);
        assert_eq!(idx.data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn big_endian_dimensions() {
        let bytes = idx_bytes(&[256 + 1], &[7; 257]);
        assert_eq!(parse_idx(&bytes).unwrap().dims, vec![257]);
    }

    #[test]
    fn rejects_wrong_magic() {
        let mut bytes = idx_bytes(&[1], &[0]);
        bytes[0] = 0x42;
        let err = parse_idx(&bytes).unwrap_err();
        assert!(err.contains("wrong magic number 42 00 08 01"), "{err}");
    }

    #[test]
    fn rejects_other_types() {
        let mut bytes = idx_bytes(&[1], &[0]);
        bytes[2] = 0x0d;
        assert!(parse_idx(&bytes).unwrap_err().contains("type code 0x0d"));
    }

    #[test]
    fn rejects_truncated_payload_and_header() {
        let bytes = idx_bytes(&[2, 3], &[1, 2, 3, 4, 5]);
        let err = parse_idx(&bytes).unwrap_err();
        assert!(
            err.contains("declare 6 bytes of data, the file has 5 (truncated)"),
            "{err}"
        );
        let err = parse_idx(&bytes[..7]).unwrap_err();
        assert!(err.contains("truncated header"), "{err}");
        assert!(parse_idx(&[0, 0]).unwrap_err().contains("shorter than"));
    }

    #[test]
    fn rejects_trailing_bytes() {
        let bytes = idx_bytes(&[2], &[1, 2, 3]);
        assert!(parse_idx(&bytes).unwrap_err().contains("trailing bytes"));
    }

    #[test]
    fn gzip_is_detected_and_plain_passes_through() {
        let plain = idx_bytes(&[3], &[9, 8, 7]);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&plain).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(read_maybe_gzip(gz.as_slice()).unwrap(), plain);
        assert_eq!(read_maybe_gzip(plain.as_slice()).unwrap(), plain);
        // A truncated gzip stream is an error, not a short file.
        assert!(read_maybe_gzip(&gz[..gz.len() - 10]).is_err());
    }

    #[test]
    fn gzip_files_inflate_whole_or_member_by_member_to_the_same_bytes() {
        let gzip = |bytes: &[u8]| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            enc.write_all(bytes).unwrap();
            enc.finish().unwrap()
        };
        // larger than one deflate block, compressible like an image file
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i % 784 / 97 * 31) as u8).collect();
        assert_eq!(read_maybe_gzip(gzip(&plain).as_slice()).unwrap(), plain);
        assert_eq!(inflate_one_member(&gzip(&plain)), Some(plain.clone()));
        // two members (as `cat a.gz b.gz` makes): both halves, not only the first, even where
        // the last member's trailer matches the first member
        let (a, b) = plain.split_at(100_000);
        let two = [gzip(a), gzip(b)].concat();
        assert_eq!(inflate_one_member(&two), None);
        assert_eq!(read_maybe_gzip(two.as_slice()).unwrap(), plain);
        let twice = [gzip(a), gzip(a)].concat();
        assert_eq!(read_maybe_gzip(twice.as_slice()).unwrap(), [a, a].concat());
        // a damaged size in the trailer is an error, not a short or long file
        let mut bad = gzip(&plain);
        let at = bad.len() - 4;
        bad[at] ^= 1;
        assert!(read_maybe_gzip(bad.as_slice()).is_err());
    }

    #[test]
    fn owned_parse_gives_the_borrowed_parse() {
        let bytes = idx_bytes(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(parse_idx_owned(bytes.clone()), parse_idx(&bytes));
        let short = bytes[..9].to_vec();
        assert_eq!(parse_idx_owned(short.clone()), parse_idx(&short));
    }

    #[test]
    fn the_repositorys_gzip_files_are_known_and_other_copies_are_checked_decompressed() {
        let dir = crate::tests_support::mnist_dir();
        let name = "t10k-labels-idx1-ubyte";
        let i = FILE_NAMES.iter().position(|n| *n == name).unwrap();
        let sums = (
            DatasetKind::Mnist.checksums().map(|s| s[i]),
            DatasetKind::Mnist.gzip_checksums().map(|s| s[i]),
        );
        let (committed, how) = load_checked(&dir, name, sums, "MNIST").unwrap();
        assert_eq!(how, Verified::Compressed);
        // the digests name the files data/mnist holds
        for (i, name) in FILE_NAMES.iter().enumerate() {
            let raw = std::fs::read(dir.join(format!("{name}.gz"))).unwrap();
            assert_eq!(sha256_hex(&raw), MNIST_GZIP_SHA256[i], "{name}");
        }
        // the same bytes compressed differently, or not at all: checked by their own digest
        let plain = read_maybe_gzip(
            std::fs::read(dir.join(format!("{name}.gz")))
                .unwrap()
                .as_slice(),
        )
        .unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&plain).unwrap();
        let other = tempfile::tempdir().unwrap();
        std::fs::write(
            other.path().join(format!("{name}.gz")),
            enc.finish().unwrap(),
        )
        .unwrap();
        let (recompressed, how) = load_checked(other.path(), name, sums, "MNIST").unwrap();
        assert_eq!((&recompressed, how), (&committed, Verified::Decompressed));
        std::fs::remove_file(other.path().join(format!("{name}.gz"))).unwrap();
        std::fs::write(other.path().join(name), &plain).unwrap();
        let (uncompressed, how) = load_checked(other.path(), name, sums, "MNIST").unwrap();
        assert_eq!((&uncompressed, how), (&committed, Verified::Decompressed));
        // one label changed, recompressed: the decompressed digest catches it
        let mut changed = plain.clone();
        let last = changed.len() - 1;
        changed[last] = (changed[last] + 1) % 10;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&changed).unwrap();
        std::fs::remove_file(other.path().join(name)).unwrap();
        std::fs::write(
            other.path().join(format!("{name}.gz")),
            enc.finish().unwrap(),
        )
        .unwrap();
        let err = load_checked(other.path(), name, sums, "MNIST").unwrap_err();
        assert!(matches!(err, DataError::Checksum { .. }), "{err}");
        // a data set without digests is not checked
        let (_, how) = load_checked(&dir, name, (None, None), "IDX").unwrap();
        assert_eq!(how, Verified::Unchecked);
    }

    #[test]
    fn the_built_in_files_are_the_repositorys_and_load_to_the_same_data() {
        let dir = crate::tests_support::mnist_dir();
        let files = built_in::gzip_files().expect("the tests are built with built-in-mnist");
        for (name, built_in) in FILE_NAMES.iter().zip(files) {
            let on_disk = std::fs::read(dir.join(format!("{name}.gz"))).unwrap();
            assert!(built_in == on_disk.as_slice(), "{name}");
        }
        for validation_size in [DEFAULT_VALIDATION, 5_000] {
            let from_folder = Dataset::load(&dir, DatasetKind::Mnist, validation_size).unwrap();
            let built_in = Dataset::load_built_in_mnist(validation_size).unwrap();
            assert_eq!(from_folder.dir, dir);
            assert_eq!(built_in.dir, Path::new(BUILT_IN));
            assert_eq!(built_in.validation.len(), validation_size);
            let splits = [&built_in.train, &built_in.validation, &built_in.test];
            let expected = [
                &from_folder.train,
                &from_folder.validation,
                &from_folder.test,
            ];
            for (split, expected) in splits.into_iter().zip(expected) {
                // image by image, the pixel lists and labels, and the bytes
                assert!(split == expected, "validation_size {validation_size}");
                assert!(split.images() == expected.images());
            }
        }
        // the comparison sees a difference
        let data = crate::tests_support::mnist();
        let mut other = data.test.clone();
        other.labels[9_999] = (other.labels[9_999] + 1) % 10;
        assert!(other != data.test);
        let mut other = data.test.clone();
        other.sparse.value[0] ^= 1;
        assert!(other != data.test);
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn split_checks_labels_and_sizes() {
        assert!(Split::new(vec![0; 784], vec![3]).is_ok());
        assert!(Split::new(vec![0; 783], vec![3]).is_err());
        let err = Split::new(vec![0; 784], vec![10]).unwrap_err().to_string();
        assert!(err.contains("label 10 at index 0"), "{err}");
    }

    #[test]
    fn sparse_rows_list_the_nonzero_pixels() {
        let mut images = vec![0u8; 3 * 784];
        images[5] = 7;
        images[783] = 255;
        images[2 * 784] = 1;
        let split = Split::new(images, vec![1, 2, 3]).unwrap();
        let all = split.all();
        assert_eq!(all.nonzero(0), (&[5u16, 783][..], &[7u8, 255][..]));
        assert_eq!(all.nonzero(1), (&[][..], &[][..]));
        assert_eq!(all.range(2, 3).nonzero(0), (&[0u16][..], &[1u8][..]));
        // the network sees bytes scaled to [0, 1], as the book
        assert_eq!((pixel(0), pixel(255)), (0.0, 1.0));
        assert_eq!(pixel(7), 7.0 / 255.0);
    }

    #[test]
    fn sparse_rows_built_in_blocks_equal_a_plain_scan() {
        // several blocks of the parallel build, the last one partial, of varied images
        let n = 2 * SparseImages::BLOCK + 37;
        let images: Vec<u8> = (0..n * IMAGE_PIXELS)
            .map(|i| match (i * 2_654_435_761) % 97 {
                h if h < 20 => (h * 13) as u8,
                _ => 0,
            })
            .collect();
        let sparse = SparseImages::from_dense(&images);
        assert_eq!(sparse.offsets.len(), n + 1);
        for (i, image) in images.chunks_exact(IMAGE_PIXELS).enumerate() {
            let (index, value): (Vec<u16>, Vec<u8>) = (image.iter().enumerate())
                .filter(|(_, &p)| p != 0)
                .map(|(k, &p)| (k as u16, p))
                .unzip();
            assert_eq!(sparse.image(i), (&index[..], &value[..]), "image {i}");
        }
        assert_eq!(
            sparse.index.len(),
            images.iter().filter(|&&p| p != 0).count()
        );
    }

    #[test]
    fn pixels_are_scaled_to_unit_interval() {
        assert_eq!(pixel(0), 0.0);
        assert_eq!(pixel(255), 1.0);
        assert_eq!(pixel(51), 0.2);
    }

    #[test]
    fn missing_and_corrupt_files_are_reported_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = Dataset::load_mnist(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no train-images-idx3-ubyte"), "{err}");
        // A well-formed IDX file with the wrong content fails the checksum.
        let p = dir.path().join("train-images-idx3-ubyte");
        std::fs::write(&p, idx_bytes(&[1, 28, 28], &[0; 784])).unwrap();
        let err = Dataset::load_mnist(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("sha256") && err.contains("train-images-idx3-ubyte"),
            "{err}"
        );
        // A truncated gzip file is an I/O error naming the file.
        let gz =
            std::fs::read(crate::tests_support::mnist_dir().join("train-labels-idx1-ubyte.gz"))
                .unwrap();
        let d2 = tempfile::tempdir().unwrap();
        std::fs::write(
            d2.path().join("train-images-idx3-ubyte.gz"),
            &gz[..gz.len() / 2],
        )
        .unwrap();
        let err = Dataset::load_mnist(d2.path()).unwrap_err().to_string();
        assert!(err.contains("train-images-idx3-ubyte.gz"), "{err}");
    }

    #[test]
    fn validation_size_moves_the_split() {
        let m =
            Dataset::load(&crate::tests_support::mnist_dir(), DatasetKind::Mnist, 5000).unwrap();
        assert_eq!(
            (m.train.len(), m.validation.len(), m.test.len()),
            (55_000, 5_000, 10_000)
        );
        let book = crate::tests_support::mnist();
        // the validation set is the last images of the training file
        assert_eq!(
            m.validation.all().labels,
            &book.validation.all().labels[5000..]
        );
        assert_eq!(&m.train.all().labels[..50_000], book.train.all().labels);
        let err = Dataset::load(
            &crate::tests_support::mnist_dir(),
            DatasetKind::Mnist,
            60_000,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("validation_size 60000 leaves none for training"),
            "{err}"
        );
    }

    #[test]
    fn mnist_is_not_fashion_mnist() {
        let err = Dataset::load(
            &crate::tests_support::mnist_dir(),
            DatasetKind::FashionMnist,
            10_000,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not the standard Fashion-MNIST file"), "{err}");
        // but any IDX folder of the same layout loads without checksums
        let any =
            Dataset::load(&crate::tests_support::mnist_dir(), DatasetKind::Idx, 10_000).unwrap();
        assert_eq!(any.train.len(), 50_000);
    }

    #[test]
    #[ignore = "needs Debian's dataset-fashion-mnist (.ci/run installs it and runs it with --include-ignored)"]
    fn fashion_mnist_loads_where_debian_installs_it() {
        let dir = Path::new("/usr/share/datasets/fashion-mnist");
        let f = Dataset::load(dir, DatasetKind::FashionMnist, 10_000).unwrap();
        assert_eq!(
            (f.train.len(), f.validation.len(), f.test.len()),
            (50_000, 10_000, 10_000)
        );
        assert_eq!(&f.train.all().labels[..10], &[9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    }

    #[test]
    fn real_mnist_loads_with_the_books_split() {
        let m = crate::tests_support::mnist();
        assert_eq!(
            (m.train.len(), m.validation.len(), m.test.len()),
            (50_000, 10_000, 10_000)
        );
        assert_eq!(&m.train.all().labels[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
        assert_eq!(&m.test.all().labels[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
        let test = m.test.all();
        let mean: f64 = (0..test.len())
            .flat_map(|i| test.image(i))
            .map(|&p| pixel(p) as f64)
            .sum::<f64>()
            / (10_000.0 * 784.0);
        assert!((mean - 0.1325).abs() < 1e-4, "{mean}");
    }
}
