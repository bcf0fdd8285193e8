//! [`Dataset`]: labelled images held in memory as u8, C×H×W each.

/// Where one image of a dataset with varying sizes lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Index of its first value in `Dataset::images`.
    pub offset: usize,
    pub height: usize,
    pub width: usize,
}

/// An in-memory image dataset. Pixels are u8 (0..=255), channel-major per image.
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
}

impl Dataset {
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
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Whether every image has the same size.
    pub fn is_uniform(&self) -> bool {
        self.shapes.is_empty()
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

    /// The C×H×W pixels of image `i`. Panics if `i >= len()`, like slice indexing.
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
