//! MNIST built into the binary: the repository's four gzip files, unchanged.
//!
//! With the cargo feature `built-in-mnist` (on by default) `build.rs` includes `data/mnist/*.gz`
//! as they are (11.4 MB of the binary) with each file's sha256; [`super::Dataset`] inflates them
//! like any copy on disk when a run uses them (an installed `runner` far from the repository, or
//! `data.dir = "built-in"`), without hashing them again: the digests were compared when they were
//! built in.
//!
//! Without the feature, or when `data/mnist` was absent at build time (the crate as `cargo package`
//! makes it), nothing is built in ([`gzip_files`] is `None`) and runs read MNIST from a data
//! folder (see [`super::locate`]).

include!(concat!(env!("OUT_DIR"), "/built_in_mnist.rs"));

/// The four gzip files built in, in the order of [`super::FILE_NAMES`], when they are MNIST's
/// (each one's sha256, taken at build time, is the repository's, [`super::MNIST_GZIP_SHA256`]);
/// `None` when nothing, or something else, was built in.
pub fn gzip_files() -> Option<[&'static [u8]; 4]> {
    GZIP_FILES.filter(|_| SOURCE_GZIP_SHA256 == super::MNIST_GZIP_SHA256)
}
