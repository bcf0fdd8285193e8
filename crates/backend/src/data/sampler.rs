//! The official `RASampler` (repeated augmentation, `samplers.py`), for one process.
//!
//! For `N` images, `r` repeats and `R` replicas (processes), given the epoch's permutation
//! `perm` of `0..N`:
//!
//! ```text
//! num_samples          = ceil(N·r / R)
//! total_size           = num_samples·R
//! num_selected_samples = floor(N // 256 · 256 / R)
//! idx = [p for p in perm for _ in range(r)]        # each index r times, consecutively
//! idx += idx[:total_size − len(idx)]               # pad to a multiple of R
//! idx = idx[rank:total_size:R]                     # this replica's share
//! return idx[:num_selected_samples]
//! ```
//!
//! deitc trains in one process (`R = 1`, `rank = 0`): an epoch is the first `N // 256 · 256`
//! entries of the repeated permutation, so about `N/r` distinct images, each `r` times in a
//! row (each copy at its own position in the epoch, so with its own augmentation stream).
//! A training set under 256 images gives an empty epoch, as in the official code (`deitc
//! check` reports it as `deit::rule::empty_epoch`).
//!
//! Differences: the official permutation is `torch.randperm` seeded with the epoch alone;
//! deitc's comes from its own stream keyed by `(train.seed, epoch)`, like the plain
//! shuffle. The official code uses `r = 3` always; deitc takes `augment.repeated`. (At the
//! official code's HEAD the sampler is used only for distributed runs; deitc applies it
//! whenever `augment.repeated > 1`.)

/// The indices `RASampler` yields for replica `rank` of `replicas`, given the epoch's
/// permutation and the number of repeats.
pub fn ra_indices(perm: &[usize], repeats: usize, replicas: usize, rank: usize) -> Vec<usize> {
    let n = perm.len();
    let replicas = replicas.max(1);
    let num_samples = (n * repeats).div_ceil(replicas);
    let total = num_samples * replicas;
    let selected = n / 256 * 256 / replicas;
    let mut idx: Vec<usize> = perm
        .iter()
        .flat_map(|&p| std::iter::repeat_n(p, repeats))
        .collect();
    let pad = total.saturating_sub(idx.len());
    let head: Vec<usize> = idx.iter().copied().cycle().take(pad).collect();
    idx.extend(head);
    idx.into_iter()
        .skip(rank)
        .step_by(replicas)
        .take(num_samples.min(selected))
        .collect()
}

/// The epoch size of a single-process `RASampler`: `N // 256 · 256`.
pub fn ra_epoch_len(n: usize) -> usize {
    n / 256 * 256
}
