//! The `deitc` command.

use libmimalloc_sys::{mi_option_t, mi_option_use_numa_nodes};

/// mimalloc keeps freed memory for reuse instead of handing large blocks back to the
/// kernel: a training step allocates and frees hundreds of multi-megabyte tensors, and with
/// the system allocator each one costs fresh, zeroed pages (measured in docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h, which libmimalloc-sys does not export: the option
/// just before `mi_option_use_numa_nodes` (16), which it does (checked below).
const PURGE_DELAY: mi_option_t = 15;
const _: () = assert!(mi_option_use_numa_nodes == PURGE_DELAY + 1);

/// Never return freed memory to the OS (mimalloc's default returns it after a second, and a
/// CPU training step is longer than that, so every step re-faults its pages). A user's
/// `MIMALLOC_PURGE_DELAY` wins.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: `mi_option_set` stores an integer in mimalloc's option table; it runs
        // first thing in `main`, before any other thread exists.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) }
    }
}

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    deitc::cli::main()
}
