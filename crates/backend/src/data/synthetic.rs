//! Generated images for tests and smoke runs: a class-dependent pattern plus noise, easy
//! enough for a small model to learn.
//!
//! The image is split into a `g × g` grid of cells, `g = min(⌈√K⌉, size)`. Class `k` lights
//! cell `k mod g²` on a dark background (≈ 40), and the lit cell's content also depends on
//! the class: a texture `k mod 4` (solid, horizontal, vertical or diagonal stripes at half
//! brightness) and a brightness `160 + 40·(⌊k/4⌋ mod 3)`. Position alone is a hard problem
//! for a freshly initialised ViT (its attention starts uniform, and every image holds the
//! same bag of patches); the content makes the classes separable from the first steps.
//! Each sample gets a random brightness factor in [0.9, 1.1] and N(0, 20²) pixel noise on
//! every channel. Sample `i` has label `i mod K` and depends only on `(seed, i)`.

use super::rng::{Purpose, Stream};
use super::{DataError, Dataset};

/// `samples` images of `channels × size × size` in `classes` classes.
pub fn generate(
    samples: usize,
    classes: usize,
    seed: u64,
    channels: usize,
    size: usize,
) -> Result<Dataset, DataError> {
    if classes == 0 || classes > u16::MAX as usize + 1 {
        return Err(DataError::Config {
            field: "data".into(),
            message: format!("synthetic(classes = {classes}): need 1..=65536 classes"),
        });
    }
    if channels == 0 || size == 0 {
        return Err(DataError::Config {
            field: "model".into(),
            message: format!(
                "synthetic images need positive channels and image size, not {channels} and {size}"
            ),
        });
    }
    let g = ((classes as f64).sqrt().ceil() as usize).clamp(1, size);
    let cells = g * g;
    let per = channels * size * size;
    let mut images = vec![0u8; samples * per];
    let mut labels = Vec::with_capacity(samples);
    for (i, img) in images.chunks_exact_mut(per).enumerate() {
        let k = i % classes;
        labels.push(k as u16);
        let cell = k % cells;
        let texture = k % 4;
        let level = 160.0 + 40.0 * ((k / 4) % 3) as f64;
        let (cy, cx) = (cell / g, cell % g);
        let (y0, y1) = (cy * size / g, ((cy + 1) * size / g).max(cy * size / g + 1));
        let (x0, x1) = (cx * size / g, ((cx + 1) * size / g).max(cx * size / g + 1));
        let mut rng = Stream::new(Purpose::Synthetic, seed, 0, i as u64);
        let gain = rng.uniform_in(0.9, 1.1);
        for plane in img.chunks_exact_mut(size * size) {
            for (p, v) in plane.iter_mut().enumerate() {
                let (y, x) = (p / size, p % size);
                let lit = (y0..y1).contains(&y) && (x0..x1).contains(&x);
                let dim = match texture {
                    1 => y % 2 == 0,
                    2 => x % 2 == 0,
                    3 => (x + y) % 2 == 0,
                    _ => false,
                };
                let base = match (lit, dim) {
                    (true, false) => level,
                    (true, true) => level / 2.0,
                    (false, _) => 40.0,
                };
                *v = (base * gain + 20.0 * rng.normal())
                    .round()
                    .clamp(0.0, 255.0) as u8;
            }
        }
    }
    Ok(Dataset::uniform(
        images,
        labels,
        (0..classes).map(|k| k.to_string()).collect(),
        channels,
        size,
        size,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_balanced_and_class_dependent() {
        let a = generate(40, 10, 3, 1, 8).expect("synthetic");
        assert_eq!(a, generate(40, 10, 3, 1, 8).expect("synthetic"));
        assert_ne!(
            a.images,
            generate(40, 10, 4, 1, 8).expect("synthetic").images
        );
        assert_eq!(a.histogram(), vec![4; 10]);
        // Class 0 lights the top-left 2×2 cell of a 4×4 grid.
        let img = a.image(0);
        let lit = [0, 1, 8, 9].iter().map(|&p| img[p] as u32).sum::<u32>() / 4;
        let dark = img[63] as u32;
        assert!(lit > 120 && dark < 120, "{lit} {dark}");
    }
}
