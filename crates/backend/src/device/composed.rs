//! `DEITC_CUDA_COMPOSED`: which of the CUDA device's fused ops run as dfdx's compositions
//! instead ([`super::compose`], and the optimizer's tensor-op path). Nothing for everyday
//! use: it measures what each fused op buys ("before" and "after" in one sitting on one
//! GPU), and it takes a suspect op out of a run while the rest stay fused.
//!
//! The value is a comma-separated list of op names ([`Op::NAMES`]), or `all`; unset or empty,
//! every fused op runs. An unknown name is an error when the device opens.

/// A fused op of the CUDA device that can be sent back to its composition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    LayerNorm,
    Linear,
    Gelu,
    Softmax,
    Attention,
    Sublayer,
    Optimizer,
    Loss,
    Ema,
    Dropout,
    Mlp,
    AttentionCore,
}

impl Op {
    /// Every op with the name `DEITC_CUDA_COMPOSED` gives it.
    pub const NAMES: [(&'static str, Op); 12] = [
        ("layer_norm", Op::LayerNorm),
        ("linear", Op::Linear),
        ("gelu", Op::Gelu),
        ("softmax", Op::Softmax),
        ("attention", Op::Attention),
        ("sublayer", Op::Sublayer),
        ("optimizer", Op::Optimizer),
        ("loss", Op::Loss),
        ("ema", Op::Ema),
        ("dropout", Op::Dropout),
        ("mlp", Op::Mlp),
        ("attention_core", Op::AttentionCore),
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// The environment variable.
pub const ENV: &str = "DEITC_CUDA_COMPOSED";

/// A set of [`Op`]s that run composed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Composed(u16);

impl Composed {
    /// Reads `value` (the variable's text), or says which name it does not know.
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut set = 0u16;
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "all" {
                set = u16::MAX;
                continue;
            }
            let op = Op::NAMES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, op)| *op)
                .ok_or_else(|| {
                    let known: Vec<&str> = Op::NAMES.iter().map(|(n, _)| *n).collect();
                    format!(
                        "{ENV} names `{name}`, which is not a fused op; the ops are {}, or `all`",
                        known.join(", ")
                    )
                })?;
            set |= op.bit();
        }
        Ok(Composed(set))
    }

    /// Whether `op` runs composed.
    pub fn has(self, op: Op) -> bool {
        self.0 & op.bit() != 0
    }

    /// Whether every op runs composed (then no kernel of deitc's is needed).
    pub fn all(self) -> bool {
        Op::NAMES.iter().all(|(_, op)| self.has(*op))
    }
}

/// The process's setting, read once: `Err` names an unknown op.
pub fn from_env() -> &'static Result<Composed, String> {
    static SET: std::sync::OnceLock<Result<Composed, String>> = std::sync::OnceLock::new();
    SET.get_or_init(|| Composed::parse(&std::env::var(ENV).unwrap_or_default()))
}

/// Whether `op` runs composed in this process (an unknown name counts as none: the device
/// refuses to open first).
pub fn composed(op: Op) -> bool {
    from_env().as_ref().is_ok_and(|c| c.has(op))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lists_and_all() {
        assert_eq!(Composed::parse(""), Ok(Composed::default()));
        let c = Composed::parse(" linear, attention ,").expect("valid");
        assert!(c.has(Op::Linear) && c.has(Op::Attention));
        assert!(!c.has(Op::LayerNorm) && !c.has(Op::Optimizer));
        let all = Composed::parse("all").expect("valid");
        assert!(Op::NAMES.iter().all(|(_, op)| all.has(*op)) && all.all());
        assert!(!c.all() && !Composed::default().all());
    }

    #[test]
    fn an_unknown_name_is_an_error_that_lists_the_ops() {
        let e = Composed::parse("linear,flash").expect_err("unknown");
        assert!(
            e.contains("`flash`") && e.contains("layer_norm, linear"),
            "{e}"
        );
    }
}
