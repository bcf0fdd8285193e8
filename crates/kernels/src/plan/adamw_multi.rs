//! AdamW over every parameter tensor in one launch (`adamw_multi` of `cuda/optimizer.cu`):
//! a table of the tensors ([`AdamwSlot`]: their buffers' device addresses, lengths and
//! per-tensor factors) and of the chunks they are cut into ([`AdamwChunk`], one block each),
//! built on the host ([`adamw_table`]) and copied to the device once per step.

use super::{int, launch, Buffer, Launch, Param, PlanError};
use crate::launch::{AdamwArgs, LaunchConfig, ELEMENT_THREADS};

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
pub struct AdamwChunk {
    pub slot: i32,
    pub start: i32,
}

/// The table the kernel reads, as bytes: the slots, then the chunks (8-byte aligned, as
/// the slots' size is a multiple of 8), and where the chunks start.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamwTable {
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

/// The table of `tensors`, each cut into chunks of [`ADAMW_CHUNK`] elements (an empty
/// tensor gets none).
pub fn adamw_table(tensors: &[AdamwTensor]) -> Result<AdamwTable, PlanError> {
    let mut slots = Vec::with_capacity(tensors.len());
    let mut chunks = Vec::new();
    for (i, t) in tensors.iter().enumerate() {
        int("tensor length", t.n)?;
        slots.push(AdamwSlot {
            p: t.p,
            g: t.g,
            m: t.m,
            v: t.v,
            n: t.n as i64,
            decay: t.args.decay,
            step_size: t.args.step_size,
        });
        let slot = int("tensors", i)?;
        for start in (0..t.n).step_by(ADAMW_CHUNK) {
            chunks.push(AdamwChunk {
                slot,
                start: int("chunk start", start)?,
            });
        }
    }
    int("chunks", chunks.len())?;
    let mut bytes = Vec::with_capacity(48 * slots.len() + 8 * chunks.len());
    for s in &slots {
        for word in [s.p, s.g, s.m, s.v] {
            bytes.extend_from_slice(&word.to_ne_bytes());
        }
        bytes.extend_from_slice(&s.n.to_ne_bytes());
        bytes.extend_from_slice(&s.decay.to_ne_bytes());
        bytes.extend_from_slice(&s.step_size.to_ne_bytes());
    }
    let chunks_at = bytes.len();
    for c in &chunks {
        bytes.extend_from_slice(&c.slot.to_ne_bytes());
        bytes.extend_from_slice(&c.start.to_ne_bytes());
    }
    Ok(AdamwTable {
        bytes,
        chunks_at,
        chunks: chunks.len(),
    })
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
    let n_chunks = chunks.len() / std::mem::size_of::<AdamwChunk>();
    if !slots.len().is_multiple_of(std::mem::size_of::<AdamwSlot>())
        || chunks.len() != n_chunks * std::mem::size_of::<AdamwChunk>()
    {
        return Err(PlanError::Length {
            what: "adamw table",
            want: n_chunks * std::mem::size_of::<AdamwChunk>(),
            got: chunks.len(),
        });
    }
    let config = LaunchConfig {
        grid: (u32::try_from(n_chunks.max(1)).unwrap_or(u32::MAX), 1, 1),
        block: (ELEMENT_THREADS, 1, 1),
        shared_bytes: 0,
    };
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
        assert_eq!(std::mem::size_of::<AdamwChunk>(), 8);
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
