/* optim.c - AdamW (torch.optim.AdamW, decoupled weight decay), global
 * gradient-norm clipping (torch.nn.utils.clip_grad_norm_) and the cosine
 * schedule with linear warmup (transformers' get_cosine_schedule_with_warmup).
 * The update arithmetic follows torch's single-tensor implementation:
 *   p *= 1 - lr * wd
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * A frozen tensor (vlm_trainable_set_frozen) is skipped, as torch skips a
 * parameter without requires_grad: not updated, not in the clipped norm, and
 * its t counts only the steps it took (vlm_tparam.skipped). Held elements
 * (vlm_tparam.hold, the slices of --freeze) are what torch gives with a
 * gradient hook that zeroes them and their values put back after each step:
 * no part in the norm, no update, no weight decay, moments left at zero.
 */
#include <math.h>

#include "core/util.h"
#include "train/train_internal.h"

vlm_adamw_params vlm_adamw_default_params(void) {
    vlm_adamw_params p = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f, .max_grad_norm = 1.0f};
    return p;
}

int64_t vlm_warmup_steps(double ratio, int64_t total_steps) {
    if (!(ratio > 0) || total_steps <= 0) return 0;
    return (int64_t)ceil((double)total_steps * ratio);
}

double vlm_cosine_lr(double base_lr, int64_t step, int64_t warmup, int64_t total) {
    if (step < warmup) return base_lr * (double)step / (double)(warmup > 1 ? warmup : 1);
    double progress = (double)(step - warmup) / (double)(total - warmup > 1 ? total - warmup : 1);
    double f = 0.5 * (1.0 + cos(M_PI * 0.5 * 2.0 * progress));
    return base_lr * (f > 0 ? f : 0);
}

vlm_status vlm_adamw_step(vlm_trainable *t, const vlm_adamw_params *pp, double lr, double *grad_norm) {
    if (!t || !isfinite(lr)) return VLM_ERR_INVALID_ARG;
    vlm_adamw_params p = pp ? *pp : vlm_adamw_default_params();
    double ss = 0;
    for (size_t i = 0; i < t->n_params; i++) {
        const vlm_tparam *q = &t->params[i];
        if (q->frozen) continue;
        if (q->hold)
            for (int64_t k = 0; k < q->n; k++)
                if (q->hold[k]) q->grad[k] = 0.0f;
        double s = 0; /* per-tensor norms, then the norm of the norms, as torch */
        for (int64_t k = 0; k < q->n; k++) s += (double)q->grad[k] * q->grad[k];
        ss += s;
    }
    double norm = sqrt(ss);
    if (grad_norm) *grad_norm = norm;
    if (!isfinite(norm)) return VLM_ERR_FORMAT;
    if (p.max_grad_norm > 0) {
        double coef = (double)p.max_grad_norm / (norm + 1e-6);
        if (coef < 1.0) {
            float cf = (float)coef;
            for (size_t i = 0; i < t->n_params; i++)
                if (!t->params[i].frozen)
                    for (int64_t k = 0; k < t->params[i].n; k++) t->params[i].grad[k] *= cf;
        }
    }
    t->step++;
    const double b1 = p.beta1, b2 = p.beta2;
    const float decay = (float)(1.0 - lr * p.weight_decay);
    const float fb1 = p.beta1, fb2 = p.beta2;
    for (size_t i = 0; i < t->n_params; i++) {
        vlm_tparam *q = &t->params[i];
        if (q->frozen) {
            q->skipped++;
            continue;
        }
        const double taken = (double)(t->step - q->skipped); /* >= 1 */
        const double bc1 = 1.0 - pow(b1, taken), bc2 = 1.0 - pow(b2, taken);
        const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
        for (int64_t k = 0; k < q->n; k++) {
            if (q->hold && q->hold[k]) continue;
            float g = q->grad[k];
            if (p.weight_decay != 0.0f) q->val[k] *= decay;
            q->m[k] = fb1 * q->m[k] + (1.0f - fb1) * g;
            q->v[k] = fb2 * q->v[k] + (1.0f - fb2) * g * g;
            float denom = sqrtf(q->v[k]) / bc2_sqrt + p.eps;
            q->val[k] -= step_size * q->m[k] / denom;
        }
    }
    return VLM_OK;
}
