//! The `deitc` command.

/// mimalloc, keeping freed memory for reuse (see `deitc::memory`).
#[global_allocator]
static GLOBAL: deitc::memory::MiMalloc = deitc::memory::MiMalloc;

fn main() -> std::process::ExitCode {
    deitc::memory::keep_freed_memory();
    deitc::cli::main()
}
