//! The optimizer's multi-tensor launches (`cuda/optimizer.cu`): AdamW (`adamw_multi`), the
//! squared gradient norm's partial sums (`grad_sq_sum_multi`) and the EMA (`ema_multi`), each
//! over every parameter tensor in one launch. A launch reads a table ([`Table`]) of the
//! tensors — their buffers' device addresses, lengths and per-tensor factors (the slots:
//! [`AdamwSlot`], [`SumSlot`], [`EmaSlot`]) — and of the chunks they are cut into
//! ([`Chunk`], one block each), built on the host and copied to the device once.

use super::{int, launch, Buffer, Launch, Param, PlanError};
use crate::launch::{AdamwArgs, EmaArgs, LaunchConfig, ELEMENT_THREADS, SQ_SUM_PER_BLOCK};

/// Elements per chunk: one block of [`ELEMENT_THREADS`] threads, 16 elements each.
pub const ADAMW_CHUNK: usize = 16 * ELEMENT_THREADS as usize;

/// One tensor of the table, as the kernel's `AdamwSlot` (48 bytes, `#[repr(C)]`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamwSlot {
    /// Device addresses of the parameter, its gradient and its two moments, `(n,)` each.
    pub p: u64,
    pub g: u64,
    pub m: u64,
    pub v: u64,
    pub n: i64,
    /// `1 − lr·wd` for a decayed tensor, 1 for one that is not.
    pub decay: f32,
    /// `lr / (1 − β₁ᵗ)`.
    pub step_size: f32,
}

/// One chunk: its tensor's index in the table and its first element (`#[repr(C)]`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub slot: i32,
    pub start: i32,
}

/// The table a multi-tensor kernel reads, as bytes: the slots, then the chunks (8-byte
/// aligned, as every slot's size is a multiple of 8), and where the chunks start.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub bytes: Vec<u8>,
    pub chunks_at: usize,
    pub chunks: usize,
}

/// One tensor for [`adamw_table`]: its buffers' addresses, length, and step factors.
#[derive(Debug, Clone, Copy)]
pub struct AdamwTensor {
    pub p: u64,
    pub g: u64,
    pub m: u64,
    pub v: u64,
    pub n: usize,
    pub args: AdamwArgs,
}

/// The chunks of tensors of `lens` elements, `chunk_len` each; with `at_least_one`, an empty
/// tensor gets one (empty) chunk too, as `grad_sq_sum_partial` writes one partial sum for it.
fn chunks(lens: &[usize], chunk_len: usize, at_least_one: bool) -> Result<Vec<Chunk>, PlanError> {
    let mut out = Vec::new();
    for (i, &n) in lens.iter().enumerate() {
        int("tensor length", n)?;
        let slot = int("tensors", i)?;
        let count = if at_least_one {
            n.div_ceil(chunk_len).max(1)
        } else {
            n.div_ceil(chunk_len)
        };
        for c in 0..count {
            out.push(Chunk {
                slot,
                start: int("chunk start", c * chunk_len)?,
            });
        }
    }
    int("chunks", out.len())?;
    Ok(out)
}

/// The table of `slots` (their bytes) and `chunks`.
fn table(mut bytes: Vec<u8>, chunks: &[Chunk]) -> Table {
    let chunks_at = bytes.len();
    for c in chunks {
        bytes.extend_from_slice(&c.slot.to_ne_bytes());
        bytes.extend_from_slice(&c.start.to_ne_bytes());
    }
    Table {
        bytes,
        chunks_at,
        chunks: chunks.len(),
    }
}

/// The AdamW table of `tensors`, each cut into chunks of [`ADAMW_CHUNK`] elements (an empty
/// tensor gets none).
pub fn adamw_table(tensors: &[AdamwTensor]) -> Result<Table, PlanError> {
    let lens: Vec<usize> = tensors.iter().map(|t| t.n).collect();
    let chunks = chunks(&lens, ADAMW_CHUNK, false)?;
    let mut bytes = Vec::with_capacity(48 * tensors.len());
    for t in tensors {
        for word in [t.p, t.g, t.m, t.v] {
            bytes.extend_from_slice(&word.to_ne_bytes());
        }
        bytes.extend_from_slice(&(t.n as i64).to_ne_bytes());
        bytes.extend_from_slice(&t.args.decay.to_ne_bytes());
        bytes.extend_from_slice(&t.args.step_size.to_ne_bytes());
    }
    Ok(table(bytes, &chunks))
}

/// One gradient of the squared norm's table, as the kernel's `SumSlot` (16 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SumSlot {
    pub g: u64,
    pub n: i64,
}

/// The squared norm's table of gradients `(address, length)`: each cut into
/// [`SQ_SUM_PER_BLOCK`] elements per chunk as `grad_sq_sum_partial` cuts it (an empty one
/// into one chunk), so the partial sums are that kernel's, tensor after tensor.
pub fn sum_table(grads: &[(u64, usize)]) -> Result<Table, PlanError> {
    let lens: Vec<usize> = grads.iter().map(|g| g.1).collect();
    let chunks = chunks(&lens, SQ_SUM_PER_BLOCK, true)?;
    let mut bytes = Vec::with_capacity(16 * grads.len());
    for &(g, n) in grads {
        bytes.extend_from_slice(&g.to_ne_bytes());
        bytes.extend_from_slice(&(n as i64).to_ne_bytes());
    }
    Ok(table(bytes, &chunks))
}

/// One tensor of the EMA's table, as the kernel's `EmaSlot` (24 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmaSlot {
    pub e: u64,
    pub p: u64,
    pub n: i64,
}

/// The EMA's table of `(ema address, parameter address, length)`, chunks of
/// [`ADAMW_CHUNK`] elements.
pub fn ema_table(pairs: &[(u64, u64, usize)]) -> Result<Table, PlanError> {
    let lens: Vec<usize> = pairs.iter().map(|p| p.2).collect();
    let chunks = chunks(&lens, ADAMW_CHUNK, false)?;
    let mut bytes = Vec::with_capacity(24 * pairs.len());
    for &(e, p, n) in pairs {
        bytes.extend_from_slice(&e.to_ne_bytes());
        bytes.extend_from_slice(&p.to_ne_bytes());
        bytes.extend_from_slice(&(n as i64).to_ne_bytes());
    }
    Ok(table(bytes, &chunks))
}

/// The number of chunks in a chunk buffer of `bytes`, or why it is not one.
fn chunk_count(bytes: usize) -> Result<usize, PlanError> {
    let size = std::mem::size_of::<Chunk>();
    if bytes.is_multiple_of(size) {
        Ok(bytes / size)
    } else {
        Err(PlanError::Length {
            what: "chunk table",
            want: bytes / size * size,
            got: bytes,
        })
    }
}

/// One block per chunk.
fn per_chunk(n_chunks: usize) -> LaunchConfig {
    LaunchConfig {
        grid: (u32::try_from(n_chunks.max(1)).unwrap_or(u32::MAX), 1, 1),
        block: (ELEMENT_THREADS, 1, 1),
        shared_bytes: 0,
    }
}

/// `grad_sq_sum_multi`: the partial sums of g² of every gradient in the table, one per
/// chunk, into `partial` (the chunks' count), as `grad_sq_sum_partial` writes them.
pub fn grad_sq_sum_multi<I: Buffer, O: Buffer>(
    slots: I,
    chunks: I,
    partial: O,
) -> Result<Launch<I, O>, PlanError> {
    let n = chunk_count(chunks.len())?;
    super::len("partial", &partial, n)?;
    let mut config = per_chunk(n);
    config.shared_bytes = 32 * 4; // the block sum's 32 floats
    launch(
        "grad_sq_sum_multi",
        config,
        vec![
            Param::In(slots),
            Param::In(chunks),
            Param::I32(int("per_block", SQ_SUM_PER_BLOCK)?),
            Param::Out(partial),
        ],
    )
}

/// `ema_multi`: `e = e·decay + p·(1 − decay)` over every tensor in the table.
pub fn ema_multi<I: Buffer, O: Buffer>(
    slots: I,
    chunks: I,
    args: &EmaArgs,
) -> Result<Launch<I, O>, PlanError> {
    let n = chunk_count(chunks.len())?;
    launch(
        "ema_multi",
        per_chunk(n),
        vec![
            Param::In(slots),
            Param::In(chunks),
            Param::I32(int("chunk_len", ADAMW_CHUNK)?),
            Param::F32(args.decay),
            Param::F32(args.one_minus_decay),
        ],
    )
}

/// `adamw_multi` over a table copied to the device: `slots` and `chunks` are its two parts
/// (byte buffers), `clip` the device's clipping factor (or none: 1). The step's shared
/// constants come from `args` (β's, √bc₂, ε); each tensor's decay and step size from its slot.
pub fn adamw_multi<I: Buffer, O: Buffer>(
    slots: I,
    chunks: I,
    clip: Option<I>,
    args: &AdamwArgs,
) -> Result<Launch<I, O>, PlanError> {
    let n_chunks = chunk_count(chunks.len())?;
    let config = per_chunk(n_chunks);
    launch(
        "adamw_multi",
        config,
        vec![
            Param::In(slots),
            Param::In(chunks),
            Param::I32(int("chunk_len", ADAMW_CHUNK)?),
            clip.map_or(Param::Null, Param::In),
            Param::F32(args.beta1),
            Param::F32(args.beta2),
            Param::F32(args.one_minus_beta1),
            Param::F32(args.one_minus_beta2),
            Param::F32(args.sqrt_bc2),
            Param::F32(args.eps),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_the_kernels_layout() {
        assert_eq!(std::mem::size_of::<AdamwSlot>(), 48);
        assert_eq!(std::mem::size_of::<Chunk>(), 8);
        let args = AdamwArgs::new(1e-3, [0.9, 0.999], 1e-8, 0.05, 3);
        let t = |n, a| AdamwTensor {
            p: a,
            g: a + 1,
            m: a + 2,
            v: a + 3,
            n,
            args,
        };
        let table =
            adamw_table(&[t(1, 100), t(0, 200), t(2 * ADAMW_CHUNK + 1, 300)]).expect("table");
        assert_eq!(table.chunks_at, 3 * 48);
        assert_eq!(table.chunks, 1 + 3); // the empty tensor has none
        let word = |at: usize| u64::from_ne_bytes(table.bytes[at..at + 8].try_into().unwrap());
        assert_eq!((word(0), word(8), word(32)), (100, 101, 1));
        let chunk = |k: usize| {
            let at = table.chunks_at + 8 * k;
            let w =
                |o: usize| i32::from_ne_bytes(table.bytes[at + o..at + o + 4].try_into().unwrap());
            (w(0), w(4))
        };
        let starts: Vec<(i32, i32)> = (0..4).map(chunk).collect();
        let c = ADAMW_CHUNK as i32;
        assert_eq!(starts, [(0, 0), (2, 0), (2, c), (2, 2 * c)]);
    }
}
