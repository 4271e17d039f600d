//! Choosing where tensors live: WebGPU in the browser when it is there, else Burn's `flex` CPU
//! backend (natively, and in browsers without WebGPU).

use burn::tensor::Device;
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

/// The pure-Rust CPU backend.
pub fn cpu(reason: impl Into<String>) -> (Device, BackendInfo) {
    let info = BackendInfo { kind: "cpu".into(), adapter: String::new(), software_adapter: false, reason: reason.into() };
    (Device::flex(), info)
}

/// Initialises WebGPU; fails (never silently falls back) when the browser has no usable adapter.
#[cfg(target_arch = "wasm32")]
pub async fn webgpu() -> crate::Result<(Device, BackendInfo)> {
    use burn::tensor::wgpu::wgpu::DeviceType;

    let (device, setup) = Device::wgpu_options()
        .init_with_setup_async()
        .await
        .map_err(|err| crate::Error::Backend(format!("WebGPU is not available: {err}")))?;
    let adapter = setup.adapter.get_info();
    let software_adapter = adapter.device_type == DeviceType::Cpu
        || adapter.name.to_lowercase().contains("swiftshader")
        || adapter.driver.to_lowercase().contains("swiftshader");
    let info = BackendInfo {
        kind: "webgpu".into(),
        adapter: format!("{} ({:?}, {:?}, driver {} {})", adapter.name, adapter.device_type, adapter.backend, adapter.driver, adapter.driver_info),
        software_adapter,
        reason: "WebGPU adapter found".into(),
    };
    Ok((device, info))
}
