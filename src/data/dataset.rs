//! [`Dataset`]: labelled images held in memory as u8, N×C×H×W.

/// An in-memory image dataset. Pixels are u8 (0..=255), channel-major per image
/// (`images[((n·C + c)·H + y)·W + x]`), and every image has the same shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// N×C×H×W pixels.
    pub images: Vec<u8>,
    /// One label per image, an index into `classes`.
    pub labels: Vec<u16>,
    /// Class names, in label order (ImageFolder: sorted folder names).
    pub classes: Vec<String>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image, C·H·W.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The C×H×W pixels of image `i`. Panics if `i >= len()`, like slice indexing.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
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
