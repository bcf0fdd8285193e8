//! The shape of a model's graph: the values that a statically shaped graph fixes at compile
//! time. A build has a graph for a recipe's model exactly when it has one of
//! `Shape::of(&recipe.model)`.

use super::Model;
use std::fmt;

/// A model's graph shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    Deit(DeitShape),
    Convnet(ConvShape),
}

/// A vision transformer's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeitShape {
    pub patch: usize,
    pub image: usize,
    pub channels: usize,
    pub embed: usize,
    pub depth: usize,
    pub heads: usize,
    /// The MLP's hidden width (`embed · mlp_ratio`, rounded).
    pub mlp: usize,
    pub classes: usize,
    pub distilled: bool,
    pub qkv_bias: bool,
}

/// The small convnet's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConvShape {
    pub image: usize,
    pub channels: usize,
    pub width: usize,
    pub classes: usize,
}

/// A shape with the name a build knows it by (`deit_tiny_patch16_224`, `generated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Named {
    pub name: &'static str,
    pub shape: Shape,
}

impl DeitShape {
    /// Tokens: patches, the class token and, when distilled, the distillation token.
    pub fn tokens(&self) -> usize {
        (self.image / self.patch.max(1)).pow(2) + 1 + usize::from(self.distilled)
    }
}

impl Shape {
    /// The graph shape of `m`.
    pub fn of(m: &Model) -> Shape {
        if m.is_transformer() {
            Shape::Deit(DeitShape {
                patch: m.patch,
                image: m.image,
                channels: m.channels,
                embed: m.embed,
                depth: m.depth,
                heads: m.heads,
                mlp: m.mlp_hidden(),
                classes: m.classes,
                distilled: m.distilled,
                qkv_bias: m.qkv_bias,
            })
        } else {
            Shape::Convnet(ConvShape {
                image: m.image,
                channels: m.channels,
                width: m.width,
                classes: m.classes,
            })
        }
    }

    /// How many of the shape's values differ from `other`'s (`None` across families).
    pub fn distance(&self, other: &Shape) -> Option<usize> {
        let differ = |d: &[bool]| d.iter().filter(|d| **d).count();
        match (self, other) {
            (Shape::Deit(a), Shape::Deit(b)) => Some(differ(&[
                a.patch != b.patch,
                a.image != b.image,
                a.channels != b.channels,
                a.embed != b.embed,
                a.depth != b.depth,
                a.heads != b.heads,
                a.mlp != b.mlp,
                a.classes != b.classes,
                a.distilled != b.distilled,
                a.qkv_bias != b.qkv_bias,
            ])),
            (Shape::Convnet(a), Shape::Convnet(b)) => Some(differ(&[
                a.image != b.image,
                a.channels != b.channels,
                a.width != b.width,
                a.classes != b.classes,
            ])),
            _ => None,
        }
    }

    /// The names of the `n` shapes of `among` nearest to this one (same family), nearest
    /// first.
    pub fn nearest(&self, among: &[Named], n: usize) -> Vec<&'static str> {
        let mut v: Vec<(usize, &'static str)> = among
            .iter()
            .filter_map(|g| Some((g.shape.distance(self)?, g.name)))
            .collect();
        v.sort_by_key(|(d, _)| *d);
        v.into_iter().take(n).map(|(_, name)| name).collect()
    }
}

/// "DeiT embed 192 · depth 12 · 3 heads · patch 16 · 224 px · 3 ch · 197 tokens · 1000
/// classes", "convnet width 32 · 8 px · 1 ch · 10 classes".
/// The side of the square patch grid in a position embedding of `tokens` rows with `prefix`
/// of them outside the grid (class and distillation tokens), when the rest is a perfect
/// square.
pub fn grid_side(tokens: usize, prefix: usize) -> Option<usize> {
    let n = tokens.checked_sub(prefix)?;
    let g = (n as f64).sqrt().round() as usize;
    (g * g == n && g > 0).then_some(g)
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Deit(s) => write!(
                f,
                "DeiT embed {} · depth {} · {} heads · mlp {} · patch {} · {} px · {} ch · {} tokens · {} classes{}{}",
                s.embed,
                s.depth,
                s.heads,
                s.mlp,
                s.patch,
                s.image,
                s.channels,
                s.tokens(),
                s.classes,
                if s.distilled { " · distilled" } else { "" },
                if s.qkv_bias { "" } else { " · no qkv bias" },
            ),
            Shape::Convnet(s) => write!(
                f,
                "convnet width {} · {} px · {} ch · {} classes",
                s.width, s.image, s.channels, s.classes
            ),
        }
    }
}
