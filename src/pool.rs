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
/// build's pool in the page, 1 on the single-thread page build and on any other device (wgpu,
/// or an autodiff device while training).
pub fn cpu_threads(device: &burn::tensor::Device) -> usize {
    if *device != burn::tensor::Device::flex() {
        return 1;
    }
    #[cfg(not(target_family = "wasm"))]
    return rayon::current_num_threads();
    #[cfg(target_family = "wasm")]
    threads()
}

/// `f` applied to every element of `x` over the pool's threads, natively on the CPU backend; `x`
/// back (`Err`) where that does not pay or does not apply: another device, one thread, not f32,
/// or under 2^16 elements (a decoder step's activations). burn's CPU backend runs element-wise
/// functions (exp, erf, tanh, sigmoid) one element at a time on the calling thread: on ViT-L/14
/// CLIP's activation was 5% of an embedding while the other core idled.
#[cfg(not(target_family = "wasm"))]
pub fn map_elements<const D: usize>(
    x: burn::tensor::Tensor<D>,
    f: impl Fn(f32) -> f32 + Sync,
) -> Result<burn::tensor::Tensor<D>, burn::tensor::Tensor<D>> {
    use rayon::prelude::*;
    let device = x.device();
    if cpu_threads(&device) < 2 || x.shape().num_elements() < 1 << 16 || x.dtype() != burn::tensor::DType::F32 {
        return Err(x);
    }
    let dims = x.dims();
    let mut v: Vec<f32> = match x.into_data().try_into_vec() {
        Ok(v) => v,
        Err(e) => unreachable!("an f32 tensor's data is f32: {e:?}"),
    };
    v.par_chunks_mut(1 << 14).for_each(|c| c.iter_mut().for_each(|e| *e = f(*e)));
    Ok(burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(v, dims), &device))
}

/// The page's builds keep burn's element-wise ops (reading a tensor's data back is not free on
/// every device there, and the threaded build has not been measured with it).
#[cfg(target_family = "wasm")]
pub fn map_elements<const D: usize>(
    x: burn::tensor::Tensor<D>,
    _f: impl Fn(f32) -> f32 + Sync,
) -> Result<burn::tensor::Tensor<D>, burn::tensor::Tensor<D>> {
    Err(x)
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
