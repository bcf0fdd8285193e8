//! [`Dataset`]: labelled images as u8, C×H×W each, held in memory or streamed from disk.

use super::source::Fit;
use super::stream::Streamed;
use super::DataError;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where one image of a dataset with varying sizes lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Index of its first value in `Dataset::images`.
    pub offset: usize,
    pub height: usize,
    pub width: usize,
}

/// An image dataset. Pixels are u8 (0..=255), channel-major per image.
///
/// Most datasets are held in memory in `images`. A streamed image folder
/// (`data.preload`) keeps `images` empty and reads each image from disk in
/// [`pixels`](Self::pixels) instead; its `height`/`width` are the fitted size (0 for
/// images kept at their own size).
///
/// Usually every image has the same size, `height × width`
/// (`images[((n·C + c)·H + y)·W + x]`). A dataset loaded at the images' own resolution
/// (for RandomResizedCrop, which crops the original image) keeps one [`Shape`] per image
/// in `shapes` instead, and `height` and `width` are 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The images, one after the other.
    pub images: Vec<u8>,
    /// One label per image, an index into `classes`.
    pub labels: Vec<u16>,
    /// Class names, in label order (ImageFolder: sorted folder names).
    pub classes: Vec<String>,
    pub channels: usize,
    /// The common height (0 when the sizes vary).
    pub height: usize,
    /// The common width (0 when the sizes vary).
    pub width: usize,
    /// Per-image shapes when the sizes vary; empty when every image is `height × width`.
    pub shapes: Vec<Shape>,
    /// Files left out because they could not be read or decoded (`data.skip_unreadable`),
    /// with the reason.
    pub skipped: Vec<(std::path::PathBuf, String)>,
    /// The samples of a preloaded image folder that could not be read
    /// (`data.skip_unreadable`), by index: they keep their place (with blank pixels) and
    /// answer [`pixels`](Self::pixels) with their error, as a streamed split's do, so the
    /// sample order and the batches do not depend on `data.preload`.
    pub holes: BTreeMap<usize, (std::path::PathBuf, String)>,
    /// The files, when the images are read from disk as they are needed.
    pub stream: Option<Arc<Streamed>>,
}

/// The pixels of one image: borrowed from memory or freshly decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Pixels<'a> {
    /// C×H×W.
    pub data: Cow<'a, [u8]>,
    pub height: usize,
    pub width: usize,
}

impl Dataset {
    /// The name of class `label`, or the number when the dataset has no such class name.
    pub fn class_name(&self, label: u16) -> String {
        self.classes
            .get(usize::from(label))
            .cloned()
            .unwrap_or_else(|| label.to_string())
    }

    /// Images that all have the size `height × width`.
    pub fn uniform(
        images: Vec<u8>,
        labels: Vec<u16>,
        classes: Vec<String>,
        channels: usize,
        height: usize,
        width: usize,
    ) -> Self {
        Dataset {
            images,
            labels,
            classes,
            channels,
            height,
            width,
            shapes: Vec::new(),
            skipped: Vec::new(),
            holes: BTreeMap::new(),
            stream: None,
        }
    }

    /// Images of their own sizes: `images[i]` is C×`sizes[i].0`×`sizes[i].1`. When every
    /// size is the same the result is a uniform dataset.
    pub fn from_images(
        images: Vec<Vec<u8>>,
        sizes: &[(usize, usize)],
        labels: Vec<u16>,
        classes: Vec<String>,
        channels: usize,
    ) -> Self {
        let first = sizes.first().copied().unwrap_or((0, 0));
        let same = sizes.iter().all(|&s| s == first);
        let mut shapes = Vec::with_capacity(if same { 0 } else { sizes.len() });
        let mut flat = Vec::with_capacity(images.iter().map(Vec::len).sum());
        for (img, &(height, width)) in images.iter().zip(sizes) {
            if !same {
                shapes.push(Shape {
                    offset: flat.len(),
                    height,
                    width,
                });
            }
            flat.extend_from_slice(img);
        }
        let (height, width) = if same { first } else { (0, 0) };
        Dataset {
            images: flat,
            labels,
            classes,
            channels,
            height,
            width,
            shapes,
            skipped: Vec::new(),
            holes: BTreeMap::new(),
            stream: None,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// A dataset read from disk as needed: `files[i]` has label `labels[i]`, and is decoded
    /// and fitted to `fit` on each [`pixels`](Self::pixels).
    pub fn streamed(
        files: Vec<std::path::PathBuf>,
        labels: Vec<u16>,
        classes: Vec<String>,
        channels: usize,
        fit: Fit,
        skip_unreadable: bool,
    ) -> Self {
        let (height, width) = match fit {
            Fit::Square(s) | Fit::Eval { side: s, .. } => (s, s),
            Fit::Native => (0, 0),
        };
        let stream = Streamed::new(files, fit, channels, skip_unreadable);
        Dataset {
            stream: Some(Arc::new(stream)),
            ..Self::uniform(Vec::new(), labels, classes, channels, height, width)
        }
    }

    /// Whether the images are read from disk as they are needed.
    pub fn is_streamed(&self) -> bool {
        self.stream.is_some()
    }

    /// Whether every image has the same size.
    pub fn is_uniform(&self) -> bool {
        self.shapes.is_empty() && !(self.is_streamed() && self.height == 0)
    }

    /// Image `i` with its size: a view into memory, or read and decoded from disk for a
    /// streamed dataset (which can fail: the file may have become unreadable).
    pub fn pixels(&self, i: usize) -> Result<Pixels<'_>, DataError> {
        if let Some(s) = &self.stream {
            let (data, (height, width)) = s.load(i)?;
            return Ok(Pixels {
                data: Cow::Owned(data),
                height,
                width,
            });
        }
        if let Some((path, why)) = self.holes.get(&i) {
            return Err(DataError::Decode {
                path: path.clone(),
                message: why.clone(),
            });
        }
        if i >= self.len() {
            return Err(DataError::Config {
                field: "data".into(),
                message: format!("sample {i} is past the {} images", self.len()),
            });
        }
        let (height, width) = self.size(i);
        Ok(Pixels {
            data: Cow::Borrowed(self.image(i)),
            height,
            width,
        })
    }

    /// Whether an unreadable sample is passed over (`data.skip_unreadable`): a streamed
    /// split's files, or a preloaded split's [`holes`](Self::holes).
    pub fn skips_unreadable(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.skip) || !self.holes.is_empty()
    }

    /// Every file left out or passed over as unreadable (`data.skip_unreadable`): at load
    /// time, and for a streamed dataset those found so far.
    pub fn unreadable(&self) -> Vec<(std::path::PathBuf, String)> {
        let mut all = self.skipped.clone();
        if let Some(s) = &self.stream {
            all.extend(s.unreadable());
        }
        all
    }

    /// Values per image, C·H·W, for a uniform dataset (0 when the sizes vary).
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// `(height, width)` of image `i`.
    pub fn size(&self, i: usize) -> (usize, usize) {
        match self.shapes.get(i) {
            Some(s) => (s.height, s.width),
            None => (self.height, self.width),
        }
    }

    /// The C×H×W pixels of image `i` of an in-memory dataset. Panics if `i >= len()`, like
    /// slice indexing, and for a streamed dataset (use [`pixels`](Self::pixels)).
    pub fn image(&self, i: usize) -> &[u8] {
        match self.shapes.get(i) {
            Some(s) => &self.images[s.offset..s.offset + self.channels * s.height * s.width],
            None => {
                let n = self.image_len();
                &self.images[i * n..(i + 1) * n]
            }
        }
    }

    /// Images per class, in label order.
    pub fn histogram(&self) -> Vec<usize> {
        let mut h = vec![0; self.classes.len()];
        for &l in &self.labels {
            if let Some(c) = h.get_mut(l as usize) {
                *c += 1;
            }
        }
        h
    }
}
