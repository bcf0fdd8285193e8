//! The process allocator of the `deitc` binaries: mimalloc, keeping freed memory.
//!
//! A training step allocates and frees hundreds of multi-megabyte tensors; with the system
//! allocator each one costs fresh, zeroed pages from the kernel (measured in
//! docs/performance.md). The binaries (`src/main.rs` and every generated graph) install
//! [`MiMalloc`] as their global allocator and call [`keep_freed_memory`] first thing.

use libmimalloc_sys::{mi_option_t, mi_option_use_numa_nodes};

pub use mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h, which libmimalloc-sys does not export: the option
/// just before `mi_option_use_numa_nodes` (16), which it does (checked below).
const PURGE_DELAY: mi_option_t = 15;
const _: () = assert!(mi_option_use_numa_nodes == PURGE_DELAY + 1);

/// Never return freed memory to the OS (mimalloc's default returns it after a second, and a
/// CPU training step is longer than that, so every step re-faults its pages). A user's
/// `MIMALLOC_PURGE_DELAY` wins. Call it first thing in `main`, before other threads exist.
#[allow(unsafe_code)]
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: `mi_option_set` stores an integer in mimalloc's option table; the caller
        // runs it before any other thread exists.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) }
    }
}
