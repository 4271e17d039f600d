//! The GPU device of the benchmarks' `--gpu` option (`bench_forward`, `bench_training`).

use burn::tensor::Device;

/// The machine's preferred GPU (wgpu's choice: a high-power adapter first), named on stdout.
#[cfg(feature = "gpu")]
pub fn gpu_device() -> Device {
    match Device::wgpu_options().init_with_setup() {
        Ok((device, setup)) => {
            let info = setup.adapter.get_info();
            println!(
                "adapter {} ({:?}, {:?}, driver {} {})",
                info.name, info.device_type, info.backend, info.driver, info.driver_info
            );
            device
        }
        Err(err) => {
            eprintln!("no usable GPU through wgpu: {err}");
            std::process::exit(1);
        }
    }
}

#[cfg(not(feature = "gpu"))]
pub fn gpu_device() -> Device {
    eprintln!("--gpu needs the GPU build: cargo run --release --features gpu --example NAME -- --gpu …");
    std::process::exit(2);
}
