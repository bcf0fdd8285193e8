//! The `deitc` command.

/// mimalloc keeps freed memory for reuse instead of handing large blocks back to the
/// kernel: a training step allocates and frees hundreds of multi-megabyte tensors, and with
/// the system allocator each one costs fresh, zeroed pages (measured in docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    deitc::cli::main()
}
