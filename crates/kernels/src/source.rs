//! The kernel sources, embedded: what NVRTC compiles on the GPU, one program per family.

/// One kernel family: a `.cu` file and the `extern "C"` kernels it defines.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    /// The file under `crates/kernels/cuda/`.
    pub file: &'static str,
    /// Its text (it includes `common.cuh`: see [`COMMON`]).
    pub text: &'static str,
    /// The names of its kernels.
    pub kernels: &'static [&'static str],
}

impl Family {
    /// The program NVRTC compiles at run time: the text with `common.cuh` pasted where it is
    /// included (the program has no files beside it); `<cuda_bf16.h>` still comes from the
    /// CUDA include folder.
    pub fn program(&self) -> String {
        self.text.replace("#include \"common.cuh\"", COMMON)
    }
}

/// `common.cuh`, the header every family includes (warp and block reductions, bf16).
pub const COMMON: &str = include_str!("../cuda/common.cuh");

/// Every kernel family.
pub const FAMILIES: &[Family] = &[
    Family {
        file: "layer_norm.cu",
        text: include_str!("../cuda/layer_norm.cu"),
        kernels: &[
            "layer_norm_forward",
            "layer_norm_forward_bf16",
            "residual_layer_norm_forward",
            "residual_layer_norm_forward_bf16",
            "residual_layer_norm_backward",
            "layer_norm_backward_input",
            "layer_norm_backward_params",
            "column_sum_accumulate",
        ],
    },
    Family {
        file: "softmax.cu",
        text: include_str!("../cuda/softmax.cu"),
        kernels: &[
            "softmax_forward",
            "softmax_backward",
            "softmax_forward_bf16",
            "softmax_backward_bf16",
            "softmax_backward_bf16_out",
        ],
    },
    Family {
        file: "gelu.cu",
        text: include_str!("../cuda/gelu.cu"),
        kernels: &[
            "bias_gelu_forward",
            "bias_gelu_backward",
            "gelu_forward_keep_bf16",
            "gelu_backward_bf16",
            "bias_gelu_forward_bf16",
            "bias_gelu_backward_bf16",
        ],
    },
    Family {
        file: "optimizer.cu",
        text: include_str!("../cuda/optimizer.cu"),
        kernels: &[
            "grad_sq_sum_partial",
            "grad_sq_sum_finish",
            "adamw_step",
            "adamw_multi",
            "grad_sq_sum_multi",
            "ema_multi",
            "sgd_step",
            "ema_update",
        ],
    },
    Family {
        file: "cross_entropy.cu",
        text: include_str!("../cuda/cross_entropy.cu"),
        kernels: &[
            "soft_ce_forward_backward",
            "soft_kd_forward_backward",
            "argmax_one_hot",
            "loss_sum",
            "loss_grad_accumulate",
        ],
    },
    Family {
        file: "regularization.cu",
        text: include_str!("../cuda/regularization.cu"),
        kernels: &["drop_path_scales", "dropout_forward", "dropout_backward"],
    },
    Family {
        file: "linear.cu",
        text: include_str!("../cuda/linear.cu"),
        kernels: &["bias_rows", "column_sum_partial", "f32_to_bf16"],
    },
    Family {
        file: "attention.cu",
        text: include_str!("../cuda/attention.cu"),
        kernels: &[
            "qkv_to_heads",
            "qkv_to_heads_bf16",
            "heads_to_qkv",
            "heads_to_rows",
            "rows_to_heads",
        ],
    },
    Family {
        file: "residual.cu",
        text: include_str!("../cuda/residual.cu"),
        kernels: &["residual_add_forward", "residual_add_backward"],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_kernel_is_defined_extern_c_in_its_file() {
        for f in FAMILIES {
            assert!(f.text.contains("#include \"common.cuh\""), "{}", f.file);
            for k in f.kernels {
                assert!(
                    f.text
                        .contains(&format!("extern \"C\" __global__ void {k}(")),
                    "{} does not define {k}",
                    f.file
                );
            }
            let program = f.program();
            assert!(!program.contains("#include \"common.cuh\""), "{}", f.file);
            assert!(program.contains("__device__ __forceinline__ float block_sum("));
            let defined = f.text.matches("extern \"C\" __global__ void ").count();
            assert_eq!(defined, f.kernels.len(), "{}: unlisted kernels", f.file);
        }
    }
}
