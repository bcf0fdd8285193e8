//! With the `sim` feature, compiles the CUDA kernels as C++20 under the CPU simulator's
//! header (`sim/cuda_sim.h`) into a static library `sim::launch` calls.

fn main() {
    println!("cargo::rerun-if-changed=cuda");
    println!("cargo::rerun-if-changed=sim");
    #[cfg(feature = "sim")]
    cc::Build::new()
        .cpp(true)
        .std("c++20")
        .file("sim/launch.cpp")
        .include("sim")
        .include("cuda")
        .flag_if_supported("-pthread")
        .warnings(true)
        .extra_warnings(true)
        .opt_level(2)
        .compile("deitc_kernels_sim");
    #[cfg(feature = "sim")]
    println!("cargo::rustc-link-lib=pthread");
}
