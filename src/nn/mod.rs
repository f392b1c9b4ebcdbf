//! The networks: their parameters ([`params`]), the maths they share ([`maths`]), the fast
//! training engine that trains a group of runs in lockstep with SIMD kernels ([`engine`],
//! [`simd`]), and the dense mini-batch network of the book ([`mod@reference`]), which the tests and
//! benchmarks check the engine against and which is not on the training path.

pub mod curvature;
pub(crate) mod dropout;
pub(crate) mod engine;
pub mod maths;
pub mod params;
pub mod reference;
pub(crate) mod simd;
