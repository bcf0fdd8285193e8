//! The tensors of a DeiT/ViT under timm's `state_dict` names, in timm's order and layouts,
//! and the one layout that differs in deitc.
//!
//! | timm key | timm shape | deitc shape |
//! |---|---|---|
//! | `cls_token` | `[1, 1, D]` | same |
//! | `dist_token` (distilled) | `[1, 1, D]` | same |
//! | `pos_embed` | `[1, T, D]` | same |
//! | `patch_embed.proj.weight` | `[D, C, P, P]` (Conv2d) | `[D, C·P·P]` (Linear), same bytes |
//! | `patch_embed.proj.bias` | `[D]` | same |
//! | `blocks.N.norm1.{weight,bias}` | `[D]` | same |
//! | `blocks.N.attn.qkv.weight` | `[3D, D]`: q, k, v stacked, heads contiguous in each | same |
//! | `blocks.N.attn.qkv.bias` | `[3D]` | same |
//! | `blocks.N.attn.proj.{weight,bias}` | `[D, D]`, `[D]` | same |
//! | `blocks.N.norm2.{weight,bias}` | `[D]` | same |
//! | `blocks.N.mlp.fc1.{weight,bias}` | `[F, D]`, `[F]` | same |
//! | `blocks.N.mlp.fc2.{weight,bias}` | `[D, F]`, `[D]` | same |
//! | `norm.{weight,bias}` | `[D]` | same |
//! | `head.{weight,bias}` | `[K, D]`, `[K]` | same |
//! | `head_dist.{weight,bias}` (distilled) | `[K, D]`, `[K]` | same |
//!
//! deitc's model visits its tensors under exactly these names (`model::Deit`'s
//! `TensorCollection`), so the mapping is the identity on names; `tests/interop.rs` checks
//! [`layout`] against the compiled graphs.

use crate::ir::Model;

/// timm's name for the one tensor whose layout differs.
pub const PATCH_WEIGHT: &str = "patch_embed.proj.weight";

/// The class and distillation tokens, and the heads.
pub const CLS_TOKEN: &str = "cls_token";
pub const DIST_TOKEN: &str = "dist_token";
pub const POS_EMBED: &str = "pos_embed";
pub const HEADS: [&str; 4] = [
    "head.weight",
    "head.bias",
    "head_dist.weight",
    "head_dist.bias",
];

/// One tensor of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// timm's `state_dict` key (= deitc's name).
    pub name: String,
    /// Its shape in timm.
    pub timm: Vec<usize>,
    /// Its shape in deitc (differs for `patch_embed.proj.weight` only).
    pub ours: Vec<usize>,
}

impl Spec {
    fn same(name: impl Into<String>, shape: &[usize]) -> Self {
        Spec {
            name: name.into(),
            timm: shape.to_vec(),
            ours: shape.to_vec(),
        }
    }

    /// Whether `shape` is this tensor's shape in either layout.
    pub fn accepts(&self, shape: &[usize]) -> bool {
        shape == self.timm.as_slice() || shape == self.ours.as_slice()
    }
}

/// Every tensor of a transformer `m`, in timm's `state_dict` order. `None` for a convnet,
/// which has no timm counterpart.
pub fn layout(m: &Model) -> Option<Vec<Spec>> {
    if !m.is_transformer() {
        return None;
    }
    let (d, c, p, k) = (m.embed, m.channels, m.patch, m.classes);
    let f = m.mlp_hidden();
    let mut v = vec![Spec::same(CLS_TOKEN, &[1, 1, d])];
    if m.distilled {
        v.push(Spec::same(DIST_TOKEN, &[1, 1, d]));
    }
    v.push(Spec::same(POS_EMBED, &[1, m.tokens(), d]));
    v.push(Spec {
        name: PATCH_WEIGHT.into(),
        timm: vec![d, c, p, p],
        ours: vec![d, c * p * p],
    });
    v.push(Spec::same("patch_embed.proj.bias", &[d]));
    for i in 0..m.depth {
        let b = |s: &str| format!("blocks.{i}.{s}");
        v.push(Spec::same(b("norm1.weight"), &[d]));
        v.push(Spec::same(b("norm1.bias"), &[d]));
        v.push(Spec::same(b("attn.qkv.weight"), &[3 * d, d]));
        if m.qkv_bias {
            v.push(Spec::same(b("attn.qkv.bias"), &[3 * d]));
        }
        v.push(Spec::same(b("attn.proj.weight"), &[d, d]));
        v.push(Spec::same(b("attn.proj.bias"), &[d]));
        v.push(Spec::same(b("norm2.weight"), &[d]));
        v.push(Spec::same(b("norm2.bias"), &[d]));
        v.push(Spec::same(b("mlp.fc1.weight"), &[f, d]));
        v.push(Spec::same(b("mlp.fc1.bias"), &[f]));
        v.push(Spec::same(b("mlp.fc2.weight"), &[d, f]));
        v.push(Spec::same(b("mlp.fc2.bias"), &[d]));
    }
    v.push(Spec::same("norm.weight", &[d]));
    v.push(Spec::same("norm.bias", &[d]));
    v.push(Spec::same("head.weight", &[k, d]));
    v.push(Spec::same("head.bias", &[k]));
    if m.distilled {
        v.push(Spec::same("head_dist.weight", &[k, d]));
        v.push(Spec::same("head_dist.bias", &[k]));
    }
    Some(v)
}

/// Whether `name` is one of the classifier heads (`head.*`, `head_dist.*`).
pub fn is_head(name: &str) -> bool {
    HEADS.contains(&name)
}
