//! Choosing the compute device: burn's pure-Rust CPU backend (Flex) or wgpu (Vulkan, Metal,
//! DX12 natively; WebGPU in the browser).

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

use crate::error::{Error, Result};

/// The backends glimpse runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// burn's pure-Rust CPU backend (Flex): multi-threaded natively, one thread in the browser.
    #[default]
    Cpu,
    /// wgpu: the GPU through Vulkan/Metal/DX12, or WebGPU in the browser.
    Wgpu,
}

impl FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" | "flex" => Ok(Self::Cpu),
            "wgpu" | "gpu" | "webgpu" => Ok(Self::Wgpu),
            other => Err(Error::usage(format!("unknown backend `{other}` (cpu or wgpu)"))),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Wgpu => "wgpu",
        })
    }
}

/// The wgpu device's largest buffer in bytes, recorded when the runtime is set up (one wgpu
/// device per process).
#[cfg(feature = "gpu")]
static GPU_MAX_BUFFER: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

#[cfg(feature = "gpu")]
fn record_limits(setup: &burn::tensor::wgpu::WgpuSetup) {
    let limits = setup.device.limits();
    // What one tensor may occupy: it is bound as one storage buffer (as cubecl's page limit).
    let _ = GPU_MAX_BUFFER.set(limits.max_storage_buffer_binding_size.min(limits.max_buffer_size));
}

/// The largest tensor, in bytes, that `device` holds in one buffer: the GPU's storage-buffer
/// limit (128 MiB on lavapipe and WebGPU's baseline; 2 to 4 GiB on most desktop GPUs), or
/// `None` on the CPU backend (no limit).
#[cfg(feature = "gpu")]
pub fn max_tensor_bytes(device: &Device) -> Option<u64> {
    device.as_dispatch().identity()?; // only GPU (cubecl) devices have an identity
    GPU_MAX_BUFFER.get().copied()
}

/// Without the `gpu` feature every device is the CPU: no buffer limit.
#[cfg(not(feature = "gpu"))]
pub fn max_tensor_bytes(_device: &Device) -> Option<u64> {
    None
}

/// Initialises the device of `backend` (native). The wgpu runtime is set up once per process;
/// later calls return the same device.
#[cfg(not(target_family = "wasm"))]
pub fn init(backend: Backend) -> Result<Device> {
    static WGPU: std::sync::OnceLock<std::result::Result<Device, String>> = std::sync::OnceLock::new();
    match backend {
        Backend::Cpu => Ok(Device::flex()),
        #[cfg(not(feature = "gpu"))]
        Backend::Wgpu => Err(Error::Unsupported(NO_GPU.into())),
        #[cfg(feature = "gpu")]
        Backend::Wgpu => WGPU
            .get_or_init(|| {
                let (device, setup) =
                    Device::wgpu_options().init_with_setup().map_err(|e| format!("no usable GPU adapter for wgpu: {e}"))?;
                record_limits(&setup);
                Ok(device)
            })
            .clone()
            .map_err(Error::Device),
    }
}

/// Initialises the WebGPU device (browser).
#[cfg(all(target_family = "wasm", feature = "gpu"))]
pub async fn init_webgpu() -> Result<Device> {
    let (device, setup) =
        Device::wgpu_options().init_with_setup_async().await.map_err(|e| Error::Device(format!("WebGPU is not available: {e}")))?;
    record_limits(&setup);
    Ok(device)
}

/// A build without the `gpu` feature (the page's threaded CPU build) has no WebGPU.
#[cfg(all(target_family = "wasm", not(feature = "gpu")))]
pub async fn init_webgpu() -> Result<Device> {
    Err(Error::Unsupported(NO_GPU.into()))
}

/// What a build without the `gpu` feature says when asked for the GPU.
#[cfg(not(feature = "gpu"))]
const NO_GPU: &str = "this build has no GPU backend (built without the `gpu` feature; the page's threaded CPU build is one)";

#[cfg(all(target_family = "wasm", feature = "gpu", not(feature = "webgpu")))]
compile_error!("the page's wasm with the GPU backend needs the `webgpu` feature (WGSL shaders): build it with ./build.sh web");

/// Whether wgpu sees a hardware GPU (not a software rasteriser such as lavapipe or llvmpipe).
#[cfg(all(not(target_family = "wasm"), feature = "gpu"))]
pub fn hardware_gpu_available() -> bool {
    use burn::tensor::wgpu::wgpu;
    let instance = wgpu::Instance::default();
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    adapters.iter().any(|a| matches!(a.get_info().device_type, wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu))
}

/// Without the `gpu` feature there is no GPU to find.
#[cfg(all(not(target_family = "wasm"), not(feature = "gpu")))]
pub fn hardware_gpu_available() -> bool {
    false
}

/// Initialises a device by name: `cpu`, `wgpu`, or `auto` (wgpu when a hardware GPU adapter
/// exists, else cpu).
#[cfg(not(target_family = "wasm"))]
pub fn init_named(name: &str) -> Result<Device> {
    let backend = match name {
        "auto" => {
            if hardware_gpu_available() {
                Backend::Wgpu
            } else {
                Backend::Cpu
            }
        }
        other => other.parse()?,
    };
    log::info!("backend: {backend}");
    init(backend)
}
