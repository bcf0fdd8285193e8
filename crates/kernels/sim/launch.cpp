// The CPU simulator's one entry point, shaped like `cuLaunchKernel`: a kernel by name, its
// grid, block and dynamic shared memory, and its parameters as an array of pointers to
// values. Each kernel source is compiled here unchanged, under cuda_sim.h.
#define DEITC_SIM 1

#include <cstring>
#include <utility>

#include "../cuda/layer_norm.cu"
#include "../cuda/softmax.cu"
#include "../cuda/gelu.cu"
#include "../cuda/optimizer.cu"
#include "../cuda/cross_entropy.cu"
#include "../cuda/regularization.cu"
#include "../cuda/linear.cu"
#include "../cuda/attention.cu"
#include "../cuda/residual.cu"

namespace {

struct Launch {
    unsigned grid[3];
    unsigned block[3];
    unsigned shared_bytes;
};

template <class... A, size_t... I>
void call(void (*kernel)(A...), void** params, std::index_sequence<I...>) {
    kernel(*static_cast<A*>(params[I])...);
}

template <class... A>
void run(void (*kernel)(A...), const Launch& l, void** params) {
    sim::launch(dim3(l.grid[0], l.grid[1], l.grid[2]), dim3(l.block[0], l.block[1], l.block[2]),
                l.shared_bytes, [&] { call(kernel, params, std::index_sequence_for<A...>{}); });
}

struct Entry {
    const char* name;
    void (*launch)(const Launch&, void**);
    unsigned params;
};

template <class... A>
constexpr unsigned arity(void (*)(A...)) {
    return sizeof...(A);
}

#define KERNEL(k) Entry{#k, [](const Launch& l, void** p) { run(k, l, p); }, arity(k)}

const Entry KERNELS[] = {
    KERNEL(layer_norm_forward),
    KERNEL(layer_norm_forward_bf16),
    KERNEL(residual_layer_norm_forward),
    KERNEL(residual_layer_norm_forward_bf16),
    KERNEL(residual_layer_norm_backward),
    KERNEL(layer_norm_backward_input),
    KERNEL(layer_norm_backward_params),
    KERNEL(column_sum_accumulate),
    KERNEL(softmax_forward),
    KERNEL(softmax_backward),
    KERNEL(softmax_forward_bf16),
    KERNEL(softmax_backward_bf16),
    KERNEL(softmax_backward_bf16_out),
    KERNEL(bias_gelu_forward),
    KERNEL(bias_gelu_backward),
    KERNEL(gelu_forward_keep_bf16),
    KERNEL(gelu_backward_bf16),
    KERNEL(bias_gelu_forward_bf16),
    KERNEL(bias_gelu_backward_bf16),
    KERNEL(grad_sq_sum_partial),
    KERNEL(grad_sq_sum_finish),
    KERNEL(adamw_step),
    KERNEL(adamw_multi),
    KERNEL(grad_sq_sum_multi),
    KERNEL(ema_multi),
    KERNEL(sgd_step),
    KERNEL(ema_update),
    KERNEL(soft_ce_forward_backward),
    KERNEL(soft_kd_forward_backward),
    KERNEL(argmax_one_hot),
    KERNEL(loss_sum),
    KERNEL(loss_grad_accumulate),
    KERNEL(drop_path_scales),
    KERNEL(dropout_forward),
    KERNEL(dropout_backward),
    // linear.cu
    KERNEL(bias_rows),
    KERNEL(column_sum_partial),
    KERNEL(f32_to_bf16),
    // attention.cu
    KERNEL(qkv_to_heads),
    KERNEL(qkv_to_heads_bf16),
    KERNEL(heads_to_qkv),
    KERNEL(heads_to_rows),
    KERNEL(rows_to_heads),
    // residual.cu
    KERNEL(residual_add_forward),
    KERNEL(residual_add_backward),
};

}  // namespace

// 0 on success; 1 for an unknown kernel, 2 for a wrong parameter count.
extern "C" int deitc_sim_launch(const char* name, const Launch* launch, void** params, unsigned count) {
    for (const Entry& e : KERNELS) {
        if (std::strcmp(e.name, name) == 0) {
            if (e.params != count) return 2;
            e.launch(*launch, params);
            return 0;
        }
    }
    return 1;
}
