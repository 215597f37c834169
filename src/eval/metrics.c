/* metrics.c - the streaming metrics of VideoLLM-online as a pure function of
 * what one full forward over a sample produces (the original's
 * LiveMixin.stream_evaluate, batch size 1):
 *
 *   turns     segments [start, stop) ending at each eos of input_ids (stop is
 *             the position after the eos); text after the last eos is ignored;
 *             turns without any label are skipped;
 *   stream    labelled positions whose input is <v> (the last <v> of a learned
 *             frame); lm = the other labelled positions;
 *   LM-PPL    exp(mean CE over lm positions);
 *   LM-Corr.  (index of the first lm position whose argmax != label) / #lm, 1 if none;
 *   diff      first stream position predicted to respond (argmax != interval,
 *             rows with P(interval) < threshold zeroed when threshold > 0):
 *             #stream - idx - 1; none: 0 for the last turn, else the look-ahead
 *             over k = min(next turn frames, this turn frames - 1) future frames
 *             (-(j+1) for the first reply at j, -k for none, 0 for k = 0);
 *   Fluency   from diff, #stream, #lm and the correct lm prefix.
 * The model itself is reached only through the look-ahead callback, so the
 * hand-made examples of tests/unit/test_eval.c can drive every branch.
 * docs/evaluation.md lists the interpretations made here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define IGNORE_INDEX (-100)

void vlm_eval_summarize(const float *logits, int32_t n_vocab, int32_t label, int32_t interval_id, vlm_eval_pos *out) {
    /* logits [n_vocab] -> argmax (first of equal maxima, as torch on CPU), CE of label, P(interval) */
    out->argmax = 0;
    out->ce = 0.0;
    out->p_interval = 0.0;
    if (!logits || n_vocab <= 0) return;
    int32_t am = 0;
    float mx = logits[0];
    for (int32_t i = 1; i < n_vocab; i++)
        if (logits[i] > mx) { mx = logits[i]; am = i; }
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - (double)mx);
    double lse = (double)mx + log(sum);
    out->argmax = am;
    if (label >= 0 && label < n_vocab) out->ce = lse - (double)logits[label];
    if (interval_id >= 0 && interval_id < n_vocab) out->p_interval = exp((double)logits[interval_id] - lse);
}

/* Whether a stream row predicts "respond": its argmax is not the interval
 * token. With threshold > 0 a row whose P(interval) is below it is zeroed
 * entirely, so its argmax becomes id 0. */
static bool predicts_reply(const vlm_eval_pos *p, const vlm_eval_config *cfg) {
    int32_t am = p->argmax;
    if (cfg->threshold > 0.0f && p->p_interval < (double)cfg->threshold) am = 0;
    return am != cfg->interval_id;
}

/* Frames (complete groups of frame_num_tokens <v>) among ids[a, b). */
static int64_t count_frames(const int32_t *ids, size_t a, size_t b, const vlm_eval_config *cfg) {
    int64_t nv = 0;
    for (size_t i = a; i < b; i++) nv += ids[i] == cfg->v_id;
    return nv / cfg->frame_num_tokens;
}

void vlm_eval_result_free(vlm_eval_result *r) {
    if (!r) return;
    free(r->turns);
    memset(r, 0, sizeof *r);
}

vlm_status vlm_eval_metrics(const int32_t *input_ids, const int32_t *labels, const vlm_eval_pos *pos, size_t n,
                            const vlm_eval_config *cfg, vlm_eval_lookahead_fn lookahead, void *user_data,
                            vlm_eval_result *out, char *err, size_t err_size) {
    if (!out) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_eval_metrics: NULL result");
    memset(out, 0, sizeof *out);
    out->lm_ppl = out->lm_correctness = out->fluency = 1.0;
    if (!cfg || (n && (!input_ids || !labels || !pos)))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_eval_metrics: NULL argument");
    if (cfg->frame_num_tokens <= 0)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_eval_metrics: frame_num_tokens %d <= 0",
                           (int)cfg->frame_num_tokens);

    /* turn_stops: the position after each eos */
    size_t n_stops = 0;
    for (size_t i = 0; i < n; i++) n_stops += input_ids[i] == cfg->eos_id;
    if (!n_stops) return VLM_OK;
    size_t *stops = malloc(n_stops * sizeof *stops);
    vlm_eval_turn *turns = calloc(n_stops, sizeof *turns);
    vlm_eval_pos *ahead = NULL;
    size_t ahead_cap = 0;
    if (!stops || !turns) {
        free(stops);
        free(turns);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "vlm_eval_metrics: out of memory (%zu turns)", n_stops);
    }
    for (size_t i = 0, k = 0; i < n; i++)
        if (input_ids[i] == cfg->eos_id) stops[k++] = i + 1;

    vlm_status st = VLM_OK;
    size_t n_turns = 0;
    double sum_ppl = 0, sum_corr = 0, sum_diff = 0, sum_flu = 0;
    size_t n_ppl = 0, n_diff = 0, n_flu = 0;
    for (size_t r = 0; r < n_stops && st == VLM_OK; r++) {
        size_t start = r ? stops[r - 1] : 0, stop = stops[r];
        bool any = false;
        for (size_t i = start; i < stop && !any; i++) any = labels[i] != IGNORE_INDEX;
        if (!any) continue;
        vlm_eval_turn *t = &turns[n_turns++];
        t->start = (int64_t)start;
        t->stop = (int64_t)stop;
        t->n_frames = count_frames(input_ids, start, stop, cfg);

        /* LM-PPL and LM-Correctness over the lm positions, in order */
        double ce_sum = 0.0;
        bool wrong_seen = false;
        int64_t last_stream = -1;
        for (size_t i = start; i < stop; i++) {
            if (labels[i] == IGNORE_INDEX) continue;
            if (input_ids[i] == cfg->v_id) {
                t->n_stream++;
                last_stream = (int64_t)i;
                continue;
            }
            ce_sum += pos[i].ce;
            if (!wrong_seen && pos[i].argmax != labels[i]) wrong_seen = true;
            if (!wrong_seen) t->n_correct++;
            t->n_lm++;
        }
        if (t->n_lm) {
            t->has_lm = true;
            t->ppl = exp(ce_sum / (double)t->n_lm);
            t->correctness = (double)t->n_correct / (double)t->n_lm;
            sum_ppl += t->ppl;
            sum_corr += t->correctness;
            n_ppl++;
        }

        /* frame_diff over the stream positions */
        if (t->n_stream) {
            t->has_diff = true;
            int64_t idx = 0, first = -1;
            for (size_t i = start; i < stop && first < 0; i++) {
                if (labels[i] == IGNORE_INDEX || input_ids[i] != cfg->v_id) continue;
                if (predicts_reply(&pos[i], cfg)) first = idx;
                idx++;
            }
            if (first >= 0) {
                t->diff = t->n_stream - first - 1;
            } else if (r == n_stops - 1) {
                t->diff = 0; /* no future frames: the stream's end is taken as the signal */
            } else {
                int64_t next = count_frames(input_ids, stop, stops[r + 1], cfg);
                int64_t k = next < t->n_frames - 1 ? next : t->n_frames - 1;
                if (k <= 0) {
                    t->diff = 0;
                } else if (!lookahead) {
                    st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                                     "turn %zu needs a look-ahead of %lld frames but no callback was given", r,
                                     (long long)k);
                    break;
                } else {
                    if ((size_t)k > ahead_cap) {
                        vlm_eval_pos *na = realloc(ahead, (size_t)k * sizeof *na);
                        if (!na) {
                            st = vlm_set_err(err, err_size, VLM_ERR_OOM, "look-ahead: out of memory");
                            break;
                        }
                        ahead = na;
                        ahead_cap = (size_t)k;
                    }
                    int64_t first_frame = count_frames(input_ids, 0, stop, cfg);
                    st = lookahead(user_data, last_stream + 1, first_frame, k, ahead);
                    if (st != VLM_OK) {
                        vlm_set_err(err, err_size, st, "look-ahead of turn %zu (%lld frames from frame %lld) failed",
                                    r, (long long)k, (long long)first_frame);
                        break;
                    }
                    t->lookahead = k;
                    t->diff = -k;
                    for (int64_t j = 0; j < k; j++)
                        if (predicts_reply(&ahead[j], cfg)) {
                            t->diff = -(j + 1);
                            break;
                        }
                }
            }
            sum_diff += (double)(t->diff < 0 ? -t->diff : t->diff);
            n_diff++;
        }

        /* Fluency: both kinds of positions present */
        if (t->has_lm && t->has_diff) {
            double nv = (double)t->n_stream, denom = (double)(t->n_stream + t->n_lm);
            if (t->diff == 0) t->fluency = (nv + (double)t->n_correct) / denom;
            else if (t->diff > 0) t->fluency = (nv - (double)t->diff) / denom;
            else t->fluency = (nv - 1.0) / denom;
            t->has_fluency = true;
            sum_flu += t->fluency;
            n_flu++;
        }
    }
    free(stops);
    free(ahead);
    if (st != VLM_OK) {
        free(turns);
        return st;
    }
    if (n_ppl) {
        out->lm_ppl = sum_ppl / (double)n_ppl;
        out->lm_correctness = sum_corr / (double)n_ppl;
    }
    if (n_diff) out->frame_diff = sum_diff / (double)n_diff;
    if (n_flu) out->fluency = sum_flu / (double)n_flu;
    if (n_turns) {
        out->turns = turns;
        out->n_turns = n_turns;
    } else {
        free(turns);
    }
    return VLM_OK;
}
