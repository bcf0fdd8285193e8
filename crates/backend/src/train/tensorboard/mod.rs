//! TensorBoard logging of a run: `events.out.tfevents.*` files in the run directory, in
//! TensorBoard's own format — TFRecord framing (`record.rs`) of `Event` protobufs
//! (`proto.rs`, declared for `prost`) — written by `writer.rs` and filled by the loop through
//! [`TrainLog`] (`train_log.rs`: the tags, what is written when, resume). `reader.rs` reads
//! them back strictly (both CRCs, every record decoded), for tests and tools.

pub mod proto;
pub mod reader;
pub mod record;
pub mod train_log;
pub mod writer;

pub use train_log::{tag, TeacherTally, TrainLog};
