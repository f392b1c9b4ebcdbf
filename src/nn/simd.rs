//! A minimal SIMD layer for the training kernels: vectors of `f32` with load, store, add,
//! multiply and broadcast, for AVX-512, AVX and SSE2 (and plain scalars elsewhere).
//!
//! The kernels are written once, generic over [`Simd`], marked `#[inline(always)]`, and
//! instantiated inside `#[target_feature]` entry points chosen at run time ([`Isa::detect`]).
//! Only separate multiplies and adds are used (never fused multiply-add), and every lane computes
//! exactly what the scalar code would, so the results are the same on every instruction set.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// A vector of `LANES` floats.
///
/// # Safety
/// Every method may execute the instructions of the type's instruction set: call them only where
/// that set is available on the processor. The kernels generic over `Simd` are `unsafe fn` for
/// the same reason; `dispatch!` is the door that calls them, with the widest set
/// [`Isa::detect`] found ([`Scalar`], and [`Sse2`] on x86-64, run anywhere). `load` and `store`
/// also read and write the start of their slices, checking the bounds.
pub trait Simd: Copy {
    const LANES: usize;
    unsafe fn splat(x: f32) -> Self;
    /// Loads `LANES` floats from the start of `s`.
    unsafe fn load(s: &[f32]) -> Self;
    /// Stores `LANES` floats at the start of `s`.
    unsafe fn store(self, s: &mut [f32]);
    /// Loads `LANES` floats from `p`.
    ///
    /// # Safety
    /// `p` must point to `LANES` readable floats.
    unsafe fn load_ptr(p: *const f32) -> Self;
    /// Stores `LANES` floats at `p`.
    ///
    /// # Safety
    /// `p` must point to `LANES` writable floats.
    unsafe fn store_ptr(self, p: *mut f32);
    unsafe fn add(self, o: Self) -> Self;
    unsafe fn sub(self, o: Self) -> Self;
    unsafe fn mul(self, o: Self) -> Self;
}

/// The instruction set the kernels run with on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    Avx512,
    Avx,
    Sse2,
    /// Plain scalars, off x86-64.
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    Scalar,
}

impl Isa {
    /// The widest instruction set this processor supports (detected once).
    pub fn detect() -> Isa {
        static ISA: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *ISA.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                if std::env::var_os("RUNNER_NO_AVX512").is_none()
                    && std::arch::is_x86_feature_detected!("avx512f")
                {
                    return Isa::Avx512;
                }
                if std::arch::is_x86_feature_detected!("avx") {
                    return Isa::Avx;
                }
                Isa::Sse2
            }
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Scalar
        })
    }
}

/// The processor's floating-point mode borrowed by the engine: while a `FlushSubnormals` lives,
/// this thread computes in flush-to-zero and denormals-are-zero mode; when it drops, the mode it
/// found is put back, so code after the engine (the rest of the pool's work, every f64 sum of a
/// report) runs in the default mode the language assumes.
///
/// Subnormal floats (below about 1.2e-38 in f32) appear as a network trains: sigmoid slopes of
/// saturated neurons, tiny gradients, weights decayed towards zero. Most processors compute with
/// them tens of times slower than with normal numbers, so a trained network's epochs became up to
/// 8 times slower than a fresh one's. In this mode they are read and written as 0 instead, on
/// every instruction set the kernels use (SSE, AVX and AVX-512 share the x86 control register).
/// Every engine entry point takes one on the thread that computes, so the numbers never depend
/// on which thread did the work. Taking one costs two reads and at most two writes of the control
/// register: nothing beside a mini-batch's work.
#[must_use = "the mode lasts only while the guard lives"]
pub struct FlushSubnormals {
    /// The control word found on entry, written back on drop (None: unchanged, or no such mode).
    previous: Option<u64>,
}

impl FlushSubnormals {
    /// Sets the mode on this thread until the guard drops.
    #[inline]
    pub fn enter() -> FlushSubnormals {
        let Some(found) = fp_control() else {
            return FlushSubnormals { previous: None };
        };
        let wanted = found | FLUSH_BITS;
        if wanted == found {
            return FlushSubnormals { previous: None };
        }
        set_fp_control(wanted);
        FlushSubnormals {
            previous: Some(found),
        }
    }
}

impl Drop for FlushSubnormals {
    #[inline]
    fn drop(&mut self) {
        if let Some(previous) = self.previous {
            set_fp_control(previous);
        }
    }
}

/// Whether this thread computes with subnormals flushed (for tests: after the engine returns it
/// never does).
#[cfg(test)]
pub fn subnormals_flushed() -> bool {
    fp_control().is_some_and(|c| c & FLUSH_BITS == FLUSH_BITS)
}

/// MXCSR bit 15: flush to zero; bit 6: denormals are zero.
#[cfg(target_arch = "x86_64")]
const FLUSH_BITS: u64 = (1 << 15) | (1 << 6);
/// FPCR bit 24: flush to zero (inputs and outputs).
#[cfg(target_arch = "aarch64")]
const FLUSH_BITS: u64 = 1 << 24;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const FLUSH_BITS: u64 = 0;

/// This thread's floating-point control word (None where the engine sets no mode).
#[inline]
fn fp_control() -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    {
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr stores the 32-bit control register to the given address, a local.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
        }
        Some(csr as u64)
    }
    #[cfg(target_arch = "aarch64")]
    {
        let fpcr: u64;
        // SAFETY: reading FPCR has no effect beyond the read.
        unsafe {
            std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags));
        }
        Some(fpcr)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    None
}

/// Writes this thread's floating-point control word.
#[inline]
fn set_fp_control(word: u64) {
    #[cfg(target_arch = "x86_64")]
    {
        let csr = word as u32;
        // SAFETY: ldmxcsr loads a control word read from this register by `fp_control`, with at
        // most the two mode bits of FLUSH_BITS changed: no reserved bit is set. Only this thread's
        // modes change, and the guard that changed them puts them back.
        unsafe {
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly, preserves_flags));
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: as above, a word read from FPCR with at most the flush bit changed.
        unsafe {
            std::arch::asm!("msr fpcr, {}", in(reg) word, options(nomem, nostack, preserves_flags));
        }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = word;
}

/// The start of each whole vector of `V::LANES` floats in `0..len`, in order. The kernels' loops
/// over slices a vector at a time use this rather than zipping `chunks_exact` iterators, whose
/// `zip` computes both lengths with a division in a call the compiler did not inline (4.8% of a
/// one-run epoch at batch 1,000, where such loops run a few times per example).
#[inline(always)]
pub unsafe fn vector_starts<V: Simd>(len: usize) -> impl Iterator<Item = usize> {
    (0..len / V::LANES).map(|q| q * V::LANES)
}

/// Asks the processor to bring the cache lines of `data` closer (a hint; no effect elsewhere).
#[inline(always)]
pub fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        let bytes = std::mem::size_of_val(data);
        let start = data.as_ptr() as *const i8;
        for offset in (0..bytes).step_by(64) {
            // SAFETY: a prefetch never faults and the address lies inside `data`; SSE is part
            // of x86_64.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// One float: the portable fallback.
#[derive(Clone, Copy)]
pub struct Scalar(f32);

impl Simd for Scalar {
    const LANES: usize = 1;
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        Scalar(x)
    }
    #[inline(always)]
    unsafe fn load(s: &[f32]) -> Self {
        Scalar(s[0])
    }
    #[inline(always)]
    unsafe fn store(self, s: &mut [f32]) {
        s[0] = self.0;
    }
    #[inline(always)]
    unsafe fn load_ptr(p: *const f32) -> Self {
        // SAFETY: the caller guarantees one readable float at p.
        unsafe { Scalar(*p) }
    }
    #[inline(always)]
    unsafe fn store_ptr(self, p: *mut f32) {
        // SAFETY: the caller guarantees one writable float at p.
        unsafe { *p = self.0 }
    }
    #[inline(always)]
    unsafe fn add(self, o: Self) -> Self {
        Scalar(self.0 + o.0)
    }
    #[inline(always)]
    unsafe fn sub(self, o: Self) -> Self {
        Scalar(self.0 - o.0)
    }
    #[inline(always)]
    unsafe fn mul(self, o: Self) -> Self {
        Scalar(self.0 * o.0)
    }
}

macro_rules! x86_vector {
    ($name:ident, $lanes:expr, $reg:ty, $set1:ident, $loadu:ident, $storeu:ident, $add:ident, $sub:ident, $mul:ident) => {
        /// A SIMD register of floats.
        #[cfg(target_arch = "x86_64")]
        #[derive(Clone, Copy)]
        pub struct $name($reg);

        #[cfg(target_arch = "x86_64")]
        impl Simd for $name {
            const LANES: usize = $lanes;
            #[inline(always)]
            unsafe fn splat(x: f32) -> Self {
                // SAFETY: only instantiated inside functions compiled with this instruction set,
                // which run only where Isa::detect found it.
                unsafe { $name($set1(x)) }
            }
            #[inline(always)]
            unsafe fn load(s: &[f32]) -> Self {
                assert!(s.len() >= $lanes);
                // SAFETY: bounds checked above; instruction set as for splat.
                unsafe { $name($loadu(s.as_ptr())) }
            }
            #[inline(always)]
            unsafe fn store(self, s: &mut [f32]) {
                assert!(s.len() >= $lanes);
                // SAFETY: bounds checked above; instruction set as for splat.
                unsafe { $storeu(s.as_mut_ptr(), self.0) }
            }
            #[inline(always)]
            unsafe fn load_ptr(p: *const f32) -> Self {
                // SAFETY: the caller guarantees LANES readable floats at p; instruction set as
                // for splat.
                unsafe { $name($loadu(p)) }
            }
            #[inline(always)]
            unsafe fn store_ptr(self, p: *mut f32) {
                // SAFETY: the caller guarantees LANES writable floats at p; instruction set as
                // for splat.
                unsafe { $storeu(p, self.0) }
            }
            #[inline(always)]
            unsafe fn add(self, o: Self) -> Self {
                // SAFETY: instruction set as for splat.
                unsafe { $name($add(self.0, o.0)) }
            }
            #[inline(always)]
            unsafe fn sub(self, o: Self) -> Self {
                // SAFETY: instruction set as for splat.
                unsafe { $name($sub(self.0, o.0)) }
            }
            #[inline(always)]
            unsafe fn mul(self, o: Self) -> Self {
                // SAFETY: instruction set as for splat.
                unsafe { $name($mul(self.0, o.0)) }
            }
        }
    };
}

x86_vector!(
    Avx512,
    16,
    __m512,
    _mm512_set1_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_add_ps,
    _mm512_sub_ps,
    _mm512_mul_ps
);
x86_vector!(
    Avx,
    8,
    __m256,
    _mm256_set1_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_add_ps,
    _mm256_sub_ps,
    _mm256_mul_ps
);
x86_vector!(
    Sse2,
    4,
    __m128,
    _mm_set1_ps,
    _mm_loadu_ps,
    _mm_storeu_ps,
    _mm_add_ps,
    _mm_sub_ps,
    _mm_mul_ps
);

/// Defines `$name(args) -> ret` that runs the generic kernel `$kernel::<V>(args)` compiled for
/// the widest instruction set of this machine.
#[macro_export]
#[doc(hidden)]
macro_rules! dispatch {
    ($vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $kernel:ident) => {
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    // SAFETY: only called below where AVX-512 was detected; this function is
                    // compiled with it.
                    unsafe { $kernel::<$crate::nn::simd::Avx512>($($arg),*) }
                }
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx")]
                fn avx($($arg: $ty),*) $(-> $ret)? {
                    // SAFETY: only called below where AVX was detected; this function is
                    // compiled with it.
                    unsafe { $kernel::<$crate::nn::simd::Avx>($($arg),*) }
                }
                match $crate::nn::simd::Isa::detect() {
                    // SAFETY: the instruction set was detected on this processor.
                    $crate::nn::simd::Isa::Avx512 => unsafe { avx512($($arg),*) },
                    $crate::nn::simd::Isa::Avx => unsafe { avx($($arg),*) },
                    // SAFETY: SSE2 is part of x86-64.
                    _ => unsafe { $kernel::<$crate::nn::simd::Sse2>($($arg),*) },
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                // SAFETY: plain scalars need no instruction set.
                unsafe { $kernel::<$crate::nn::simd::Scalar>($($arg),*) }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe fn axpy<V: Simd>(y: &mut [f32], a: f32, x: &[f32]) {
        for i in (0..y.len()).step_by(V::LANES) {
            V::load(&y[i..])
                .add(V::splat(a).mul(V::load(&x[i..])))
                .store(&mut y[i..]);
        }
    }

    #[test]
    fn subnormals_are_flushed_to_zero_on_every_instruction_set() {
        std::thread::spawn(|| {
            let tiny = std::hint::black_box(1e-38f32);
            // without the mode, 1e-38 / 4 is a subnormal
            assert!(std::hint::black_box(tiny) / 4.0 > 0.0);
            assert!(!subnormals_flushed());
            let guard = FlushSubnormals::enter();
            assert!(subnormals_flushed());
            let x = [tiny; 16];
            let mut y = [0f32; 16];
            for i in (0..16).step_by(4) {
                // SAFETY: SSE2 is part of x86-64.
                unsafe {
                    Sse2::load(&x[i..])
                        .mul(Sse2::splat(0.25))
                        .store(&mut y[i..]);
                }
            }
            assert!(y.iter().all(|&v| v == 0.0), "SSE2 flushes {y:?}");
            dispatch!(fn scaled(y: &mut [f32], a: f32, x: &[f32]) => axpy);
            let mut z = [0f32; 32];
            scaled(&mut z, 0.25, &[tiny; 32]);
            assert!(z.iter().all(|&v| v == 0.0), "the widest ISA flushes {z:?}");
            // and a subnormal input counts as zero
            let sub = f32::from_bits(1);
            assert_eq!(std::hint::black_box(sub) * 2.0, 0.0);
            // a guard inside a guard leaves the mode on; the outer one restores the default
            drop(FlushSubnormals::enter());
            assert!(subnormals_flushed());
            drop(guard);
            assert!(!subnormals_flushed());
            assert!(std::hint::black_box(tiny) / 4.0 > 0.0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn every_instruction_set_computes_the_same_lanes() {
        let x: Vec<f32> = (0..32).map(|i| (i as f32).sin() * 1e3).collect();
        let y0: Vec<f32> = (0..32).map(|i| (i as f32).cos() / 7.0).collect();
        let mut want = y0.clone();
        // SAFETY: scalars and SSE2 run on every x86-64.
        unsafe { axpy::<Scalar>(&mut want, 0.1, &x) };
        let mut sse = y0.clone();
        unsafe { axpy::<Sse2>(&mut sse, 0.1, &x) };
        assert_eq!(sse, want);
        dispatch!(fn detected(y: &mut [f32], a: f32, x: &[f32]) => axpy);
        let mut best = y0.clone();
        detected(&mut best, 0.1, &x);
        assert_eq!(best, want);
        assert_ne!(want, y0);
        // every wider instruction set the processor has, not only the one dispatch picks
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx")]
            fn with_avx(y: &mut [f32], a: f32, x: &[f32]) {
                // SAFETY: compiled with AVX and called only where it was detected.
                unsafe { axpy::<Avx>(y, a, x) }
            }
            #[target_feature(enable = "avx512f")]
            fn with_avx512(y: &mut [f32], a: f32, x: &[f32]) {
                // SAFETY: compiled with AVX-512 and called only where it was detected.
                unsafe { axpy::<Avx512>(y, a, x) }
            }
            let mut tested = vec!["SSE2"];
            if std::arch::is_x86_feature_detected!("avx") {
                let mut v = y0.clone();
                // SAFETY: AVX was detected on this processor.
                unsafe { with_avx(&mut v, 0.1, &x) };
                assert_eq!(v, want, "AVX");
                tested.push("AVX");
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                let mut v = y0.clone();
                // SAFETY: AVX-512F was detected on this processor.
                unsafe { with_avx512(&mut v, 0.1, &x) };
                assert_eq!(v, want, "AVX-512");
                tested.push("AVX-512");
            }
            eprintln!(
                "instruction sets compared with scalar code: {}",
                tested.join(", ")
            );
        }
    }
}

/// One cache line of floats (one AVX-512 vector).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// A buffer of floats whose start is aligned to a cache line, so that rows of whole vectors (the
/// engine pads every row to whole vectors) never straddle two lines. A plain `Vec<f32>` starts
/// wherever the allocator puts it (16 bytes apart here): with 64-byte vectors most loads then
/// straddle cache lines, and an unrelated change in the program's allocations could make the
/// kernels 14% slower (measured). Derefs to `[f32]`.
#[derive(Debug, Clone, Default)]
pub struct Buf {
    lines: Vec<Line>,
    len: usize,
}

impl Buf {
    /// `len` zeros.
    pub fn zeros(len: usize) -> Buf {
        Buf {
            lines: vec![Line::default(); len.div_ceil(16)],
            len,
        }
    }

    /// Grows or shrinks to `len` floats, new ones `value`.
    pub fn resize(&mut self, len: usize, value: f32) {
        let old = self.len;
        self.lines.resize(len.div_ceil(16), Line::default());
        self.len = len;
        if len > old {
            self[old..].fill(value);
        }
    }
}

impl std::ops::Deref for Buf {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` over `[f32; 16]` (size 64, no padding), so the lines are
        // `16 * lines.len() >= len` contiguous, initialised floats.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.len) }
    }
}

impl std::ops::DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`, and the slice borrows `self` mutably.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.len) }
    }
}

impl PartialEq for Buf {
    fn eq(&self, other: &Buf) -> bool {
        **self == **other
    }
}

impl From<Vec<f32>> for Buf {
    fn from(v: Vec<f32>) -> Buf {
        let mut b = Buf::zeros(v.len());
        b.copy_from_slice(&v);
        b
    }
}

#[cfg(test)]
mod buf_tests {
    use super::*;

    #[test]
    fn a_buffer_starts_on_a_cache_line_and_holds_its_floats() {
        for len in [0, 1, 15, 16, 17, 1000] {
            let mut b = Buf::zeros(len);
            assert_eq!(b.len(), len);
            assert_eq!(b.as_ptr() as usize % 64, 0);
            assert!(b.iter().all(|&x| x == 0.0));
            b.iter_mut().enumerate().for_each(|(i, x)| *x = i as f32);
            let c = b.clone();
            assert_eq!(b, c);
            assert_eq!(c.as_ptr() as usize % 64, 0);
        }
        let mut b = Buf::from(vec![1.0, 2.0]);
        b.resize(40, 7.0);
        assert_eq!(&b[..3], &[1.0, 2.0, 7.0]);
        assert_eq!(b[39], 7.0);
        b.resize(1, 0.0);
        assert_eq!(&*b, &[1.0]);
        b.resize(3, 5.0);
        assert_eq!(&*b, &[1.0, 5.0, 5.0]);
    }
}
