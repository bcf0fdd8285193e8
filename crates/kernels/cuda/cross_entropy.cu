// The training losses over logits (rows, K), forward and gradient in one kernel, as deitc's
// CPU losses compute them (crates/backend/src/train/losses.rs, dfdx compositions):
//
// * soft-target cross-entropy against targets t (rows, K) (label smoothing and mixup make
//   them soft; one-hot is plain CE). Per row, with dfdx's log_softmax
//     tm = z − max z,  S = Σ exp(tm),  ls = tm − ln S,
//     loss[row] = −Σ_k t_k·ls_k,
//     dz (+)= scale·(exp(tm)/S · Σ_k t_k − t)          (= scale·(softmax(z) − t) when Σt = 1),
//   the total loss being weight·(1/rows)·Σ_rows loss[row], so scale = weight/rows;
// * soft distillation, KL(softmax(t/τ) ‖ softmax(s/τ)) of teacher logits t and student
//   logits s. Per row, with ls and lt the log_softmaxes of s/τ and t/τ, pt = exp(lt),
//   ps = softmax(s/τ) as above:
//     loss[row] = −Σ_k (ls_k − lt_k)·pt_k,
//     ds (+)= scale·(ps · Σ_k pt_k − pt) / τ,
//   the total being weight·τ²/(rows·K)·Σ_rows loss[row] (the official `numel`
//   normalisation), so scale = weight·τ²/(rows·K). A teacher probability that underflows to
//   0 contributes 0 (no ln 0 is taken);
// * hard distillation: CE against the teacher's argmax, made one-hot by `argmax_one_hot`
//   (the first index of the row's maximum; 0 when no value exceeds −∞, NaNs skipped) and fed
//   to `soft_ce_forward_backward`, as the CPU does.
//
// With `accumulate` 0 the gradient is overwritten, else added to; a null gradient pointer
// computes the loss only. Subtracting each row's maximum keeps logits of ±1e4 finite; a NaN
// stays in its row. The per-row losses are summed by the caller, or on the device by
// `loss_sum`, which also applies the loss's normalisation.
//
// On the CUDA device a loss is one op on dfdx's tape: its forward runs the loss kernel with
// the gradient of a loss of weight 1 (scale = 1/rows for CE, τ²/(rows·K) for KD), saved, and
// `loss_sum`; its backward runs `loss_grad_accumulate`, which multiplies the saved gradient
// by the loss's incoming gradient (the weight α, 1 − α or 1, read from device memory: no
// host read) and adds it into the logits' gradient.
//
// Launch: the losses one warp per row, as many rows per block as the block has warps (the
// crate's `launch::per_row`), K arbitrary; `loss_sum` one warp; `loss_grad_accumulate` one
// thread per element (`launch::per_element`).
#include "common.cuh"

// Per row: loss[row] = −Σ t·log_softmax(z), dlogits (+)= scale·(softmax(z)·Σt − t).
// logits, targets, dlogits: (rows, k); loss: (rows,); dlogits may be null.
extern "C" __global__ void soft_ce_forward_backward(const float* __restrict__ logits,
                                                    const float* __restrict__ targets, float* __restrict__ loss,
                                                    float* __restrict__ dlogits, int rows, int k, float scale,
                                                    int accumulate) {
    const int lane = threadIdx.x % 32;
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= rows) return;  // a whole warp leaves together
    const long at = (long)row * k;
    const float* z = logits + at;
    const float* t = targets + at;
    float m = -INFINITY;
    for (int c = lane; c < k; c += 32) m = fmaxf(m, z[c]);
    m = warp_max(m);
    float s = 0.0f, tsum = 0.0f;
    for (int c = lane; c < k; c += 32) {
        s += expf(z[c] - m);
        tsum += t[c];
    }
    s = warp_sum(s);
    tsum = warp_sum(tsum);
    const float ln_s = logf(s);
    const float coef = tsum / s;  // d(Σ t·ls)/dz = t − softmax·Σt
    float l = 0.0f;
    for (int c = lane; c < k; c += 32) {
        const float tm = z[c] - m;
        l += t[c] * (tm - ln_s);
        if (dlogits) {
            const float d = scale * (expf(tm) * coef - t[c]);
            dlogits[at + c] = accumulate ? dlogits[at + c] + d : d;
        }
    }
    l = warp_sum(l);
    if (lane == 0) loss[row] = -l;
}

// Per row: loss[row] = KL(softmax(teacher/τ) ‖ softmax(student/τ)),
// dstudent (+)= scale·(softmax(student/τ)·Σpt − pt)/τ.
// student, teacher, dstudent: (rows, k); loss: (rows,); dstudent may be null.
extern "C" __global__ void soft_kd_forward_backward(const float* __restrict__ student,
                                                    const float* __restrict__ teacher, float* __restrict__ loss,
                                                    float* __restrict__ dstudent, int rows, int k, float tau,
                                                    float scale, int accumulate) {
    const int lane = threadIdx.x % 32;
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= rows) return;
    const long at = (long)row * k;
    const float* s = student + at;
    const float* t = teacher + at;
    float ms = -INFINITY, mt = -INFINITY;
    for (int c = lane; c < k; c += 32) {
        ms = fmaxf(ms, s[c] / tau);
        mt = fmaxf(mt, t[c] / tau);
    }
    ms = warp_max(ms);
    mt = warp_max(mt);
    float ss = 0.0f, st = 0.0f;
    for (int c = lane; c < k; c += 32) {
        ss += expf(s[c] / tau - ms);
        st += expf(t[c] / tau - mt);
    }
    ss = warp_sum(ss);
    st = warp_sum(st);
    const float ln_ss = logf(ss), ln_st = logf(st);
    float kl = 0.0f, pt_sum = 0.0f;
    for (int c = lane; c < k; c += 32) {
        const float ls = (s[c] / tau - ms) - ln_ss;
        const float lt = (t[c] / tau - mt) - ln_st;
        const float pt = expf(lt);
        kl += (ls - lt) * pt;
        pt_sum += pt;
    }
    kl = warp_sum(kl);
    pt_sum = warp_sum(pt_sum);
    if (lane == 0) loss[row] = -kl;
    if (dstudent == nullptr) return;  // the whole warp: dstudent is uniform
    const float coef = pt_sum / ss;
    for (int c = lane; c < k; c += 32) {
        const float pt = expf((t[c] / tau - mt) - ln_st);
        const float d = scale * (expf(s[c] / tau - ms) * coef - pt) / tau;
        dstudent[at + c] = accumulate ? dstudent[at + c] + d : d;
    }
}

// Per row: one_hot[row] = the one-hot row of the first index of the row's maximum (0 when
// no value exceeds −∞; NaNs never win), as the CPU's `argmax_one_hot`.
// logits, one_hot: (rows, k).
extern "C" __global__ void argmax_one_hot(const float* __restrict__ logits, float* __restrict__ one_hot, int rows,
                                          int k) {
    const int lane = threadIdx.x % 32;
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= rows) return;
    const long at = (long)row * k;
    // The lane's first strict maximum, then the warp's: the larger value, ties to the smaller
    // index (an associative choice, so every lane ends with the row's first maximum).
    float best = -INFINITY;
    int index = k;  // none yet
    for (int c = lane; c < k; c += 32) {
        const float v = logits[at + c];
        if (v > best) {
            best = v;
            index = c;
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        const float ob = __shfl_xor_sync(DEITC_FULL_MASK, best, o);
        const int oi = __shfl_xor_sync(DEITC_FULL_MASK, index, o);
        if (ob > best || (ob == best && oi < index)) {
            best = ob;
            index = oi;
        }
    }
    if (index >= k) index = 0;
    for (int c = lane; c < k; c += 32) one_hot[at + c] = c == index ? 1.0f : 0.0f;
}

// One warp: out[0] = norm·Σ terms, each lane summing its terms (stride 32) in order, then the
// warp's fixed tree, so the same terms give the same bits every launch.
// terms: (rows,); out: (1,).
extern "C" __global__ void loss_sum(const float* __restrict__ terms, int rows, float norm,
                                    float* __restrict__ out) {
    const int lane = threadIdx.x % 32;
    if (threadIdx.x >= 32) return;  // one warp does the sum, whatever the block
    float s = 0.0f;
    for (int i = lane; i < rows; i += 32) s += terms[i];
    s = warp_sum(s);
    if (lane == 0) out[0] = s * norm;
}

// dx[i] += g[0]·saved[i]: a loss's saved gradient (of weight 1) times the loss's incoming
// gradient, a scalar on the device. g: (1,); saved, dx: (n,).
extern "C" __global__ void loss_grad_accumulate(const float* __restrict__ g, const float* __restrict__ saved,
                                                float* __restrict__ dx, int n) {
    const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    dx[i] += g[0] * saved[i];
}
