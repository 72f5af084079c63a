//! Where CPU work runs in the threaded wasm build: on a thread of rayon's pool, not on the
//! engine's worker that asks for it.
//!
//! burn's CPU kernels and gemm split each operation with rayon. Called from a thread outside the
//! pool (the page's engine worker), every such operation is injected into the pool and the caller
//! sleeps until a pool thread, itself often asleep, wakes (`Atomics.wait`/`notify`), takes it and
//! finishes: thousands of times per forward pass. Run from inside the pool, the same operations
//! split into the running thread's own queue: it keeps working on its part while the others
//! steal the rest, and nobody waits to be woken.

#[cfg(all(feature = "threads", target_family = "wasm"))]
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once the threaded build's pool runs (asking rayon before would make it spawn std threads,
/// which wasm lacks).
#[cfg(all(feature = "threads", target_family = "wasm"))]
static STARTED: AtomicBool = AtomicBool::new(false);

/// Marks the pool as running (after `wasm_bindgen_rayon::init_thread_pool` resolved).
#[cfg(all(feature = "threads", target_family = "wasm"))]
pub fn mark_started() {
    STARTED.store(true, Ordering::Release);
}

/// Whether the threaded build's pool runs.
pub fn started() -> bool {
    #[cfg(all(feature = "threads", target_family = "wasm"))]
    return STARTED.load(Ordering::Acquire);
    #[cfg(not(all(feature = "threads", target_family = "wasm")))]
    false
}

/// Threads of the CPU backend now: the pool's size in the threaded build once it runs, else 1.
pub fn threads() -> usize {
    #[cfg(all(feature = "threads", target_family = "wasm"))]
    if started() {
        return rayon::current_num_threads();
    }
    1
}

/// Threads the CPU backend splits work over on `device`: rayon's pool natively, the threaded
/// build's pool in the page (an autodiff device on the CPU too), 1 on the single-thread page
/// build and on any other device (wgpu).
pub fn cpu_threads(device: &burn::tensor::Device) -> usize {
    if *device != burn::tensor::Device::flex() {
        return 1;
    }
    #[cfg(not(target_family = "wasm"))]
    return rayon::current_num_threads();
    #[cfg(target_family = "wasm")]
    threads()
}

/// Whether `x` is f32 on the CPU backend, outside autodiff: what the kernels that read and write
/// tensors' buffers directly ([`map_in_place`], `panels`) need. Device equality ignores autodiff,
/// so this asks for it too: those kernels leave the graph.
pub fn on_cpu_f32<const D: usize>(x: &burn::tensor::Tensor<D>) -> bool {
    let device = x.device();
    device == burn::tensor::Device::flex() && !device.is_autodiff() && x.dtype() == burn::tensor::DType::F32
}

/// `x`'s buffer on the CPU backend, contiguous (a copy only if it was a strided view). `x` must
/// pass [`on_cpu_f32`].
pub fn cpu_f32<const D: usize>(x: burn::tensor::Tensor<D>) -> burn::backend::flex::FlexTensor {
    let t = match x.try_into_primitive::<burn::backend::Flex>() {
        Ok(t) => t,
        Err(e) => unreachable!("a CPU tensor outside autodiff is a Flex tensor: {e:?}"),
    };
    match t.as_slice::<f32>() {
        Some(_) => t,
        None => t.to_contiguous(),
    }
}

/// The f32 elements of a tensor from [`cpu_f32`].
pub fn f32s(t: &burn::backend::flex::FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("cpu_f32 gives contiguous f32 tensors")
}

/// `f` run over the elements of `x` in place, in chunks of whole `unit`s (1 for an element-wise
/// function, a row's length for a row-wise one), on the CPU backend in f32: over the pool's
/// threads when there are several and `x` has 2^16 elements or more (not a decoder step's
/// activations), else on this thread. `x` back (`Err`) elsewhere: another device (wgpu, or an
/// autodiff device while training) or another dtype.
pub fn map_in_place<const D: usize>(
    x: burn::tensor::Tensor<D>,
    unit: usize,
    f: impl Fn(&mut [f32]) + Sync,
) -> Result<burn::tensor::Tensor<D>, burn::tensor::Tensor<D>> {
    if !on_cpu_f32(&x) {
        return Err(x);
    }
    let device = x.device();
    let dims = x.dims();
    let mut v: Vec<f32> = match x.into_data().try_into_vec() {
        Ok(v) => v,
        Err(e) => unreachable!("an f32 tensor's data is f32: {e:?}"),
    };
    #[cfg(any(not(target_family = "wasm"), feature = "threads"))]
    if cpu_threads(&device) > 1 && v.len() >= 1 << 16 {
        use rayon::prelude::*;
        let chunk = unit.max(1) * (1usize << 14).div_ceil(unit.max(1)); // whole units, about 2^14 elements
        pieces(v.par_chunks_mut(chunk), 1).for_each(&f);
        return Ok(burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(v, dims), &device));
    }
    #[cfg(all(target_family = "wasm", not(feature = "threads")))]
    let _ = unit; // one thread: the whole buffer is one chunk
    f(&mut v);
    Ok(burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(v, dims), &device))
}

/// `items` split into pieces of at least `min` items and at most 1/8 of a thread's share, for
/// the CPU kernels that split their own work (`panels`, [`map_in_place`]).
///
/// Why an upper bound: rayon splits a range only as threads steal from it. In the page, a pool
/// thread woken late (`Atomics.wait`) found nothing left to steal, the whole operation already
/// taken in two halves by the thread that started it (a V8 profile of ViT-L/14 on 2 threads
/// showed 4-39 ms stretches of one busy thread in most products). With pieces of at most 1/8 of
/// a share, a thread that arrives late still finds most of the work queued.
#[cfg(any(not(target_family = "wasm"), feature = "threads"))]
pub fn pieces<I: rayon::iter::IndexedParallelIterator>(items: I, min: usize) -> impl rayon::iter::IndexedParallelIterator<Item = I::Item> {
    use rayon::iter::IndexedParallelIterator;
    let max = items.len().div_ceil(8 * rayon::current_num_threads()).max(min.max(1));
    items.with_min_len(min.max(1)).with_max_len(max)
}

/// A `[rows, cols]` output of `len` floats written by `groups` independent pieces of work, each
/// of its own columns (a panel of 8, a block of head rows): `write(g, y)` writes group `g`'s
/// elements through `y`, the output's first element. Over the pool in [`pieces`] of at least
/// `min` groups when `parallel` (and the build has threads), else in order on this thread. The
/// output is not zero-filled first.
///
/// # Safety
/// Every group writes only its own elements (no two groups the same one), only within `len`,
/// and the groups together write all `len`.
pub unsafe fn write_columns(len: usize, groups: usize, min: usize, parallel: bool, write: impl Fn(usize, Out) + Sync + Send) -> Vec<f32> {
    let mut y: Vec<f32> = Vec::with_capacity(len);
    if len == 0 {
        return y;
    }
    let out = Out(y.spare_capacity_mut().as_mut_ptr().cast::<f32>());
    let _ = (parallel, min);
    #[cfg(any(not(target_family = "wasm"), feature = "threads"))]
    if parallel {
        use rayon::prelude::*;
        pieces((0..groups).into_par_iter(), min).for_each(|g| write(g, out));
        // SAFETY: the caller's: the groups wrote all `len` elements.
        unsafe { y.set_len(len) };
        return y;
    }
    (0..groups).for_each(|g| write(g, out));
    // SAFETY: as above.
    unsafe { y.set_len(len) };
    y
}

/// An output's elements, shared by threads that each write their own ([`write_columns`]).
#[derive(Clone, Copy)]
pub struct Out(*mut f32);
// SAFETY: see `write_columns`: threads write disjoint elements through it.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// Element `i` of the output.
    ///
    /// # Safety
    /// `i` within the output.
    pub unsafe fn at(self, i: usize) -> *mut f32 {
        // SAFETY: the caller's.
        unsafe { self.0.add(i) }
    }
}

/// Runs `f` on a pool thread in the threaded wasm build (once its pool runs), else here. Wrap
/// each stretch of CPU work (a forward pass, a decoder step) in it, not each operation.
#[cfg(all(feature = "threads", target_family = "wasm"))]
pub fn run<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if started() && rayon::current_thread_index().is_none() {
        // `scope` from outside the pool queues the closure for a pool thread and blocks this
        // one (the engine's Web Worker, where blocking is allowed) until it returns.
        return rayon::scope(|_| f());
    }
    f()
}

/// Runs `f` on a pool thread natively too: the same reason as in the page, and one more. Left on
/// the caller's thread, a forward pass runs its small operations there while the pool's threads,
/// just done with a product, spin looking for work: three busy threads on two cores.
#[cfg(not(target_family = "wasm"))]
pub fn run<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_none() {
        return rayon::scope(|_| f());
    }
    f()
}

/// Runs `f` here: the single-thread and WebGPU page builds have no pool.
#[cfg(all(target_family = "wasm", not(feature = "threads")))]
pub fn run<R>(f: impl FnOnce() -> R) -> R {
    f()
}
