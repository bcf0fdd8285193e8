//! A contact sheet of augmented training samples, for `deitc preview`.
//!
//! Each sample is shown as the model receives it, mapped back to pixels:
//! `clamp(round(255·(x·std + mean)))` per channel (grayscale replicated to RGB), enlarged
//! by an integer factor with nearest-neighbour so small images stay legible, with a caption
//! under it drawn in an 8×8 bitmap font: the class, the mix partner's class and λ when the
//! batch was mixed, and the auto-augmentation ops applied.

use font8x8::{UnicodeFonts, BASIC_FONTS, GREEK_FONTS};

/// Gap between cells and around the sheet, in pixels.
const GAP: usize = 6;
/// Caption lines under each image.
const LINES: usize = 3;
/// One caption line: 8 px glyphs plus 2 px leading.
const LINE: usize = 10;
const BACKGROUND: [u8; 3] = [28, 28, 32];
const TEXT: [u8; 3] = [235, 235, 235];

/// One sample to draw: C×S×S normalised values and its caption lines.
pub struct Tile<'a> {
    pub image: &'a [f32],
    pub caption: [String; LINES],
}

/// An RGB image, row-major, 3 bytes a pixel.
pub struct Sheet {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
    /// The enlargement factor used for every tile.
    pub zoom: usize,
    pub columns: usize,
}

/// The enlargement that brings a `side`-pixel image to at least 96 px (at least 1).
pub fn zoom_for(side: usize) -> usize {
    96usize.div_ceil(side.max(1)).max(1)
}

/// Lays `tiles` (each C×`side`×`side`) out on a grid of about √n columns.
pub fn compose(
    tiles: &[Tile<'_>],
    channels: usize,
    side: usize,
    mean: &[f64],
    std: &[f64],
) -> Sheet {
    let zoom = zoom_for(side);
    let cell = (side * zoom).max(8 * 12);
    let columns = ((tiles.len() as f64).sqrt().ceil() as usize).max(1);
    let rows = tiles.len().div_ceil(columns).max(1);
    let (cell_w, cell_h) = (cell, side * zoom + 4 + LINES * LINE);
    let width = GAP + columns * (cell_w + GAP);
    let height = GAP + rows * (cell_h + GAP);
    let mut sheet = Sheet {
        width,
        height,
        rgb: BACKGROUND.repeat(width * height),
        zoom,
        columns,
    };
    let plane = side * side;
    for (i, tile) in tiles.iter().enumerate() {
        let (x0, y0) = (
            GAP + (i % columns) * (cell_w + GAP),
            GAP + (i / columns) * (cell_h + GAP),
        );
        for y in 0..side * zoom {
            for x in 0..side * zoom {
                let at = (y / zoom) * side + x / zoom;
                let px: [u8; 3] = std::array::from_fn(|c| {
                    let ch = if channels == 1 {
                        0
                    } else {
                        c.min(channels - 1)
                    };
                    let v = tile.image.get(ch * plane + at).copied().unwrap_or(0.0);
                    let (m, s) = (
                        mean.get(ch).copied().unwrap_or(0.0),
                        std.get(ch).copied().unwrap_or(1.0),
                    );
                    (255.0 * (f64::from(v) * s + m)).round().clamp(0.0, 255.0) as u8
                });
                sheet.put(x0 + x, y0 + y, px);
            }
        }
        for (line, text) in tile.caption.iter().enumerate() {
            sheet.text(x0, y0 + side * zoom + 4 + line * LINE, text, cell_w / 8);
        }
    }
    sheet
}

impl Sheet {
    fn put(&mut self, x: usize, y: usize, px: [u8; 3]) {
        if x < self.width && y < self.height {
            let at = 3 * (y * self.width + x);
            if let Some(dst) = self.rgb.get_mut(at..at + 3) {
                dst.copy_from_slice(&px);
            }
        }
    }

    /// Draws `text` from (x, y), at most `max` characters (a `~` marks a cut).
    fn text(&mut self, x: usize, y: usize, text: &str, max: usize) {
        let chars: Vec<char> = text.chars().collect();
        let shown: Vec<char> = if chars.len() > max && max > 0 {
            chars[..max - 1].iter().copied().chain(['~']).collect()
        } else {
            chars
        };
        for (k, ch) in shown.into_iter().enumerate() {
            let glyph = BASIC_FONTS
                .get(ch)
                .or_else(|| GREEK_FONTS.get(ch))
                .unwrap_or([0; 8]);
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits >> col & 1 == 1 {
                        self.put(x + 8 * k + col, y + row, TEXT);
                    }
                }
            }
        }
    }

    /// The sheet as PNG bytes.
    pub fn png(&self) -> Result<Vec<u8>, String> {
        use image::ImageEncoder;
        let mut bytes = Vec::new();
        let (w, h) = (
            u32::try_from(self.width).map_err(|e| e.to_string())?,
            u32::try_from(self.height).map_err(|e| e.to_string())?,
        );
        image::codecs::png::PngEncoder::new(&mut bytes)
            .write_image(&self.rgb, w, h, image::ExtendedColorType::Rgb8)
            .map_err(|e| e.to_string())?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_are_denormalised_and_enlarged() {
        // A 2×2 gray image: 0, 1 in normalised units with mean 0.5, std 0.25.
        let image = [-2.0f32, 2.0, 0.0, 0.0];
        let tiles = [Tile {
            image: &image,
            caption: ["7".into(), String::new(), String::new()],
        }];
        let s = compose(&tiles, 1, 2, &[0.5], &[0.25]);
        assert_eq!(s.zoom, 48);
        let at = |x: usize, y: usize| &s.rgb[3 * (y * s.width + x)..3 * (y * s.width + x) + 3];
        assert_eq!(at(GAP, GAP), &[0, 0, 0]);
        assert_eq!(at(GAP + 48, GAP + 47), &[255, 255, 255]);
        assert_eq!(at(GAP + 10, GAP + 60), &[128, 128, 128]);
        assert_eq!(at(0, 0), &BACKGROUND);
        let png = s.png().expect("png");
        assert_eq!(&png[1..4], b"PNG");
    }
}
