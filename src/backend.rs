//! Choosing where tensors live: WebGPU in the browser when it is there, else Burn's `flex` CPU
//! backend (natively, and in browsers without WebGPU).

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// What runs the model, as shown to the user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BackendInfo {
    /// `"webgpu"` or `"cpu"`.
    pub kind: String,
    /// Adapter name and driver as the browser reports them (empty for the CPU).
    pub adapter: String,
    /// True for a software WebGPU adapter (SwiftShader), which is far slower than a GPU.
    pub software_adapter: bool,
    /// Why this backend was chosen.
    pub reason: String,
}

/// A failure reported by the compute backend, kept as its debug text.
pub(crate) fn backend_error(err: impl std::fmt::Debug) -> crate::Error {
    crate::Error::Backend(format!("{err:?}"))
}

/// Reads a tensor back to the host. Always asynchronously: synchronous reads trap on the
/// browser's WebGPU; natively the future completes at once.
pub(crate) async fn read_back<const D: usize>(tensor: Tensor<D>) -> crate::Result<Vec<f32>> {
    let data = tensor.into_data_async().await.map_err(backend_error)?;
    data.try_into_vec::<f32>().map_err(backend_error)
}

/// Whether `device` is the CPU backend (where our own kernels run).
pub fn is_cpu(device: &Device) -> bool {
    matches!(device.as_dispatch(), burn::backend::DispatchDevice::Flex(_))
}

/// The pure-Rust CPU backend.
pub fn cpu(reason: impl Into<String>) -> (Device, BackendInfo) {
    let info =
        BackendInfo { kind: "cpu".into(), adapter: String::new(), software_adapter: false, reason: reason.into() };
    (Device::flex(), info)
}

/// Runs the module's static constructors, once. Burn's WebGPU compiler (pliron, under cubecl)
/// registers its operations with the `inventory` crate from constructors. Calling them explicitly
/// also stops wasm-ld from linking the module "command-style", where every constructor runs again
/// at the start of every exported function: every call from JavaScript into the module, and every
/// JS value the module creates (each an exported `__externref_table_alloc`), cost about half a
/// millisecond (a 300-image evaluation report took 6 s to hand over, now 9 ms).
#[cfg(target_arch = "wasm32")]
pub fn run_constructors() {
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: the linker synthesises this function; it runs once, before the registries are read,
    // as the `inventory` crate documents for wasm.
    ONCE.call_once(|| unsafe { __wasm_call_ctors() });
}

#[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
thread_local! {
    /// Burn registers one WebGPU runtime per wasm instance; later requests reuse it.
    static WEBGPU: std::cell::RefCell<Option<(Device, BackendInfo)>> = const { std::cell::RefCell::new(None) };
}

/// Initialises WebGPU (once per wasm instance); fails, never silently falls back, when the
/// browser has no usable adapter.
#[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
pub async fn webgpu() -> crate::Result<(Device, BackendInfo)> {
    use burn::tensor::wgpu::wgpu::DeviceType;

    if let Some(ready) = WEBGPU.with_borrow(Clone::clone) {
        return Ok(ready);
    }
    run_constructors();
    let (device, setup) = Device::wgpu_options()
        .init_with_setup_async()
        .await
        .map_err(|err| crate::Error::Backend(format!("WebGPU is not available: {err}")))?;
    let adapter = setup.adapter.get_info();
    // The browser marks software adapters (SwiftShader) as fallback adapters; wgpu maps that to Cpu.
    let software_adapter = adapter.device_type == DeviceType::Cpu;
    let name = if adapter.name.is_empty() { "unnamed adapter".to_string() } else { adapter.name.clone() };
    let info = BackendInfo {
        kind: "webgpu".into(),
        adapter: format!("{name}, {}", if software_adapter { "software fallback" } else { "hardware" }),
        software_adapter,
        reason: "WebGPU adapter found".into(),
    };
    WEBGPU.with_borrow_mut(|slot| *slot = Some((device.clone(), info.clone())));
    Ok((device, info))
}

/// WebGPU on a hardware adapter; otherwise the CPU, with the reason. A software WebGPU adapter
/// (SwiftShader, used where there is no GPU) runs ResNet18 several times slower than Burn's CPU
/// backend compiled to wasm, so it is only used when asked for by name.
#[cfg(target_arch = "wasm32")]
pub async fn auto() -> (Device, BackendInfo) {
    match webgpu().await {
        Ok((device, info)) if !info.software_adapter => (device, info),
        Ok((_, info)) => {
            cpu(format!("the only WebGPU adapter is a software renderer ({}), slower than the CPU path", info.adapter))
        }
        Err(err) => cpu(format!("{err}")),
    }
}

/// A build without WebGPU (the embed's CPU inference build) fails with what to load instead;
/// [`auto`] then picks the CPU.
#[cfg(all(target_arch = "wasm32", not(feature = "webgpu")))]
pub async fn webgpu() -> crate::Result<(Device, BackendInfo)> {
    Err(crate::Error::Backend("this build runs on the CPU only: load the WebGPU build to use WebGPU".into()))
}
