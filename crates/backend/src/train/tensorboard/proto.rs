//! The few TensorBoard protobuf messages an events file needs, declared by hand for `prost`
//! (no `protoc` at build time). Field numbers and types follow TensorBoard's
//! `tensorboard/compat/proto/{event,summary,tensor,tensor_shape,types}.proto`; fields deitc
//! never writes are left out (protobuf readers skip what they do not know, and default what
//! is absent).

/// `tensorboard.Event`: one record of an events file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The global step (optimizer steps so far).
    #[prost(int64, tag = "2")]
    pub step: i64,
    #[prost(oneof = "What", tags = "3, 5, 7")]
    pub what: Option<What>,
}

/// What an [`Event`] holds (`Event.what`).
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum What {
    /// `brain.Event:2`, in the first record of every file.
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
    #[prost(message, tag = "7")]
    SessionLog(SessionLog),
}

/// `tensorboard.SessionLog`: a `START` at step `s` tells TensorBoard that the run restarted
/// there, so that it discards what it read at steps `≥ s` (its "orphaned data").
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionLog {
    #[prost(enumeration = "SessionStatus", tag = "1")]
    pub status: i32,
    #[prost(string, tag = "2")]
    pub checkpoint_path: String,
    #[prost(string, tag = "3")]
    pub msg: String,
}

/// `SessionLog.SessionStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SessionStatus {
    Unspecified = 0,
    Start = 1,
    Stop = 2,
    Checkpoint = 3,
}

/// `tensorboard.Summary`: tagged values at one step.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<Value>,
}

/// `Summary.Value`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Value {
    #[prost(string, tag = "1")]
    pub tag: String,
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<SummaryMetadata>,
    #[prost(oneof = "Kind", tags = "2, 4, 8")]
    pub value: Option<Kind>,
}

/// What a [`Value`] holds (`Summary.Value.value`).
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Kind {
    /// A scalar (the scalars dashboard).
    #[prost(float, tag = "2")]
    SimpleValue(f32),
    /// An encoded image (the images dashboard).
    #[prost(message, tag = "4")]
    Image(Image),
    /// A tensor, interpreted by the plugin its metadata names (text: a string tensor).
    #[prost(message, tag = "8")]
    Tensor(TensorProto),
}

/// `Summary.Image`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Image {
    #[prost(int32, tag = "1")]
    pub height: i32,
    #[prost(int32, tag = "2")]
    pub width: i32,
    /// 1 grayscale, 2 grayscale + alpha, 3 RGB, 4 RGBA.
    #[prost(int32, tag = "3")]
    pub colorspace: i32,
    /// PNG (or JPEG, GIF) bytes.
    #[prost(bytes = "vec", tag = "4")]
    pub encoded_image_string: Vec<u8>,
}

/// `tensorboard.SummaryMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryMetadata {
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
    #[prost(string, tag = "2")]
    pub display_name: String,
    #[prost(string, tag = "3")]
    pub summary_description: String,
    #[prost(enumeration = "DataClass", tag = "4")]
    pub data_class: i32,
}

/// `SummaryMetadata.PluginData`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PluginData {
    #[prost(string, tag = "1")]
    pub plugin_name: String,
    /// The plugin's own metadata proto, serialised (empty for the text plugin's version 0).
    #[prost(bytes = "vec", tag = "2")]
    pub content: Vec<u8>,
}

/// `tensorboard.DataClass`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DataClass {
    Unknown = 0,
    Scalar = 1,
    Tensor = 2,
    BlobSequence = 3,
}

/// `tensorboard.TensorProto`, with the fields a string tensor uses.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// `tensorboard.DataType`: [`DT_STRING`] for text.
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub string_val: Vec<Vec<u8>>,
}

/// `tensorboard.DataType.DT_STRING`.
pub const DT_STRING: i32 = 7;

/// `tensorboard.TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<Dim>,
}

/// `TensorShapeProto.Dim`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dim {
    #[prost(int64, tag = "1")]
    pub size: i64,
    #[prost(string, tag = "2")]
    pub name: String,
}

/// The plugin name of TensorBoard's text dashboard.
pub const TEXT_PLUGIN: &str = "text";

impl Event {
    /// The first record of a file.
    pub fn file_version(wall_time: f64) -> Self {
        Event {
            wall_time,
            step: 0,
            what: Some(What::FileVersion("brain.Event:2".into())),
        }
    }

    /// A restart at `step`: TensorBoard drops what earlier files hold at steps `≥ step`.
    pub fn start(wall_time: f64, step: i64) -> Self {
        Event {
            wall_time,
            step,
            what: Some(What::SessionLog(SessionLog {
                status: SessionStatus::Start as i32,
                ..SessionLog::default()
            })),
        }
    }

    /// Values at `step`.
    pub fn summary(wall_time: f64, step: i64, value: Vec<Value>) -> Self {
        Event {
            wall_time,
            step,
            what: Some(What::Summary(Summary { value })),
        }
    }
}

impl Value {
    /// A scalar, as TensorBoard's own `simple_value` summaries.
    pub fn scalar(tag: &str, v: f32) -> Self {
        Value {
            tag: tag.into(),
            metadata: None,
            value: Some(Kind::SimpleValue(v)),
        }
    }

    /// A text summary: a scalar string tensor for the text plugin (version 0, whose plugin
    /// content is empty), as TensorBoard's `text` summary of one string writes it. The
    /// dashboard renders it as Markdown.
    pub fn text(tag: &str, text: &str) -> Self {
        Value {
            tag: tag.into(),
            metadata: Some(SummaryMetadata {
                plugin_data: Some(PluginData {
                    plugin_name: TEXT_PLUGIN.into(),
                    content: Vec::new(),
                }),
                data_class: DataClass::Tensor as i32,
                ..SummaryMetadata::default()
            }),
            value: Some(Kind::Tensor(TensorProto {
                dtype: DT_STRING,
                // A scalar: the dashboard renders it as one Markdown document (a rank-1
                // tensor would be a table of them).
                tensor_shape: Some(TensorShapeProto { dim: Vec::new() }),
                string_val: vec![text.as_bytes().to_vec()],
            })),
        }
    }

    /// An RGB PNG image of `width × height` pixels.
    pub fn png(tag: &str, width: u32, height: u32, png: Vec<u8>) -> Self {
        Value {
            tag: tag.into(),
            metadata: None,
            value: Some(Kind::Image(Image {
                height: i32::try_from(height).unwrap_or(i32::MAX),
                width: i32::try_from(width).unwrap_or(i32::MAX),
                colorspace: 3,
                encoded_image_string: png,
            })),
        }
    }
}
