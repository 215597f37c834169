/* cmd_eval.c - `videollm eval`: the streaming metrics (LM-PPL, LM-Correctness,
 * TimeDiff, Fluency) of a model on a JSONL data file, per sample and on
 * average, and an SVG plot of P(interval) over time for one sample. With
 * --baseline the decisions come from a fixed rule (always silent, or speak
 * every K frames) instead of a model; only a tokenizer is needed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int usage(FILE *f) {
    fprintf(f,
            "usage: videollm eval [--model PATH] --data eval.jsonl [--threshold 0] [--fps F] [--threads N]\n"
            "                     [--sample N --plot out.svg] [--json]\n"
            "       videollm eval --baseline silent|every:K --data eval.jsonl [--tokenizer tokenizer.json [--live1]\n"
            "                     | --model PATH] [--fps F] [--threshold 0] [--sample N --plot out.svg] [--json]\n"
            "Each data line: {\"conversation\": [...], \"features\": \"file.safetensors\", \"frames\": [start, end]}\n"
            "with features [T, frame_num_tokens, vision_hidden] (before the connector; a relative path is\n"
            "relative to the data file). --fps defaults to the model's frame rate (TimeDiff = frame_diff / fps).\n"
            "--sample N (0-based) with --plot writes P(interval) per frame against the reference replies.\n"
            "--baseline: fixed decisions instead of a model: silent never speaks; every:K speaks after video\n"
            "frames K-1, 2K-1, ... TimeDiff and Fluency use the model path's metric code; LM-PPL and\n"
            "LM-Correctness are not applicable (null). The conversations are tokenized with --tokenizer\n"
            "(\"<v>\" is added; eos <|eot_id|>; live1+ unless --live1; --fps default 2) or with the model's\n"
            "tokenizer and settings; the features files are not read.\n"
            "--model defaults to %s.\n",
            cli_default_model());
    return f == stdout ? 0 : 2;
}

typedef struct {
    bool json;
    double fps;
    long plot_index; /* -1: none */
    /* the kept curve */
    double *curve;
    int64_t curve_n, curve_start;
    int64_t *replies;
    size_t n_replies;
    double curve_metrics[4];
    size_t curve_line;
    bool kept, oom;
} eval_ui;

static void num(double x) {
    if (isfinite(x)) printf("%.17g", x);
    else printf("null");
}

/* "LM-PPL 2.4300" or "LM-PPL n/a" (baselines). */
static void text_num(const char *name, double x, double scale, const char *fmt_unit) {
    if (isfinite(x)) {
        printf("%s ", name);
        printf(fmt_unit, scale * x);
    } else {
        printf("%s n/a", name);
    }
}

static void on_sample(void *ud, const vlm_eval_sample *s) {
    eval_ui *ui = ud;
    const vlm_eval_result *r = s->metrics;
    if (ui->json) {
        printf("%s\n{\"line\":%zu,\"index\":%zu,\"n_tokens\":%zu,\"frames\":[%lld,%lld],\"lm_ppl\":", s->index ? "," : "",
               s->line, s->index, s->n_tokens, (long long)s->frame_start, (long long)(s->frame_start + s->n_frames));
        num(r->lm_ppl);
        printf(",\"lm_correctness\":");
        num(r->lm_correctness);
        printf(",\"frame_diff\":");
        num(r->frame_diff);
        printf(",\"time_diff\":");
        num(r->frame_diff / ui->fps);
        printf(",\"fluency\":");
        num(r->fluency);
        printf(",\"turns\":[");
        for (size_t i = 0; i < r->n_turns; i++) {
            const vlm_eval_turn *t = &r->turns[i];
            printf("%s{\"start\":%lld,\"stop\":%lld,\"n_frames\":%lld,\"n_stream\":%lld,\"n_lm\":%lld", i ? "," : "",
                   (long long)t->start, (long long)t->stop, (long long)t->n_frames, (long long)t->n_stream,
                   (long long)t->n_lm);
            if (t->has_lm) {
                printf(",\"ppl\":");
                num(t->ppl);
                printf(",\"n_correct\":%lld,\"correctness\":", (long long)t->n_correct);
                num(t->correctness);
            }
            if (t->has_diff) printf(",\"diff\":%lld,\"lookahead\":%lld", (long long)t->diff, (long long)t->lookahead);
            if (t->has_fluency) {
                printf(",\"fluency\":");
                num(t->fluency);
            }
            printf("}");
        }
        printf("]}");
    } else {
        printf("sample %zu (line %zu, %zu tokens, %lld frames): ", s->index, s->line, s->n_tokens,
               (long long)s->n_frames);
        text_num("LM-PPL", r->lm_ppl, 1, "%.4f");
        text_num("  LM-Correctness", r->lm_correctness, 100, "%.2f%%");
        printf("  TimeDiff %.4f s  Fluency %.2f%%\n", r->frame_diff / ui->fps, 100 * r->fluency);
    }
    fflush(stdout);
    if ((long)s->index == ui->plot_index) {
        ui->curve = malloc((size_t)s->n_frames * sizeof *ui->curve);
        ui->replies = malloc((s->n_reply_frames ? s->n_reply_frames : 1) * sizeof *ui->replies);
        if (!ui->curve || !ui->replies) { ui->oom = true; return; }
        memcpy(ui->curve, s->p_interval, (size_t)s->n_frames * sizeof *ui->curve);
        if (s->n_reply_frames) memcpy(ui->replies, s->reply_frames, s->n_reply_frames * sizeof *ui->replies);
        ui->curve_n = s->n_frames;
        ui->curve_start = s->frame_start;
        ui->n_replies = s->n_reply_frames;
        ui->curve_line = s->line;
        ui->curve_metrics[0] = r->lm_ppl;
        ui->curve_metrics[1] = r->lm_correctness;
        ui->curve_metrics[2] = r->frame_diff / ui->fps;
        ui->curve_metrics[3] = r->fluency;
        ui->kept = true;
    }
}

/* P(interval) per frame (blue) against the reference reply times (red), the threshold (grey). */
static int write_svg(const char *path, const eval_ui *ui, double threshold) {
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); return 1; }
    const double W = 900, H = 360, L = 60, R = 20, T = 40, B = 50;
    double t0 = (double)ui->curve_start / ui->fps, t1 = (double)(ui->curve_start + ui->curve_n - 1) / ui->fps;
    if (t1 <= t0) t1 = t0 + 1.0 / ui->fps;
#define X(t) (L + ((t) - t0) / (t1 - t0) * (W - L - R))
#define Y(p) (T + (1.0 - (p)) * (H - T - B))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%g\" y=\"20\">line %zu: P(interval) per frame; LM-PPL %.3f, LM-Correctness %.3f, "
               "TimeDiff %.3f s, Fluency %.3f</text>\n", L, ui->curve_line, ui->curve_metrics[0],
            ui->curve_metrics[1], ui->curve_metrics[2], ui->curve_metrics[3]);
    for (int i = 0; i <= 4; i++) { /* y grid */
        double p = i / 4.0;
        fprintf(f, "<line x1=\"%g\" y1=\"%.2f\" x2=\"%g\" y2=\"%.2f\" stroke=\"#ddd\"/>"
                   "<text x=\"%g\" y=\"%.2f\" text-anchor=\"end\">%.2f</text>\n", L, Y(p), W - R, Y(p), L - 6,
                Y(p) + 4, p);
    }
    for (int i = 0; i <= 8; i++) { /* x ticks */
        double t = t0 + (t1 - t0) * i / 8.0;
        fprintf(f, "<text x=\"%.2f\" y=\"%g\" text-anchor=\"middle\">%.1f</text>\n", X(t), H - B + 16, t);
    }
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">time (s)</text>\n", (L + W - R) / 2, H - 10);
    fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"black\"/>\n", L, T,
            W - L - R, H - T - B);
    if (threshold > 0)
        fprintf(f, "<line x1=\"%g\" y1=\"%.2f\" x2=\"%g\" y2=\"%.2f\" stroke=\"grey\" stroke-dasharray=\"6,4\"/>\n", L,
                Y(threshold), W - R, Y(threshold));
    for (size_t i = 0; i < ui->n_replies; i++) {
        double t = (double)(ui->curve_start + ui->replies[i]) / ui->fps;
        fprintf(f, "<line x1=\"%.2f\" y1=\"%g\" x2=\"%.2f\" y2=\"%g\" stroke=\"red\" stroke-width=\"2\">"
                   "<title>reference reply at %.2f s</title></line>\n", X(t), T, X(t), H - B, t);
    }
    fprintf(f, "<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"1.5\" points=\"");
    for (int64_t i = 0; i < ui->curve_n; i++)
        fprintf(f, "%.2f,%.2f ", X((double)(ui->curve_start + i) / ui->fps), Y(ui->curve[i]));
    fprintf(f, "\"/>\n");
    for (int64_t i = 0; i < ui->curve_n; i++) {
        double t = (double)(ui->curve_start + i) / ui->fps;
        fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.5\" fill=\"#1f5fbf\"><title>frame %lld, %.2f s: %.6g"
                   "</title></circle>\n", X(t), Y(ui->curve[i]), (long long)(ui->curve_start + i), t, ui->curve[i]);
    }
    fprintf(f, "<text x=\"%g\" y=\"%g\" fill=\"#1f5fbf\">P(interval)</text><text x=\"%g\" y=\"%g\" fill=\"red\">"
               "reference replies</text>\n", W - R - 200, T + 16, W - R - 100, T + 16);
    fprintf(f, "</svg>\n");
#undef X
#undef Y
    if (fclose(f) != 0) { perror(path); return 1; }
    return 0;
}

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *plot = NULL, *baseline = NULL, *tokenizer = NULL;
    bool live1 = false;
    vlm_eval_params ep = vlm_eval_default_params();
    eval_ui ui = {.plot_index = -1, .fps = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout);
        if (!strcmp(a, "--json")) { ui.json = true; continue; }
        if (!strcmp(a, "--live1")) { live1 = true; continue; }
        if (!v) { fprintf(stderr, "videollm eval: %s needs a value (or is unknown)\n", a); return usage(stderr); }
        i++;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--plot")) plot = v;
        else if (!strcmp(a, "--baseline")) baseline = v;
        else if (!strcmp(a, "--tokenizer")) tokenizer = v;
        else if (!strcmp(a, "--threshold")) {
            ep.threshold = strtof(v, &end);
            if (*end || !(ep.threshold >= 0 && ep.threshold <= 1)) {
                fprintf(stderr, "videollm eval: --threshold %s: expected a number in [0, 1]\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--fps")) {
            ui.fps = strtod(v, &end);
            if (*end || !(ui.fps > 0 && ui.fps < 1e6)) {
                fprintf(stderr, "videollm eval: --fps %s: expected a positive number\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--sample")) {
            ui.plot_index = strtol(v, &end, 10);
            if (*end || ui.plot_index < 0) {
                fprintf(stderr, "videollm eval: --sample %s: expected a sample number >= 0\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--threads")) {
            long t = strtol(v, &end, 10);
            if (*end || t < 1 || t > 256) {
                fprintf(stderr, "videollm eval: --threads %s: expected 1..256\n", v);
                return 2;
            }
            ep.n_threads = (int32_t)t;
        } else {
            fprintf(stderr, "videollm eval: unknown option %s\n", a);
            return usage(stderr);
        }
    }
    if (!data) { fprintf(stderr, "videollm eval: --data is required\n"); return usage(stderr); }
    if ((plot != NULL) != (ui.plot_index >= 0)) {
        fprintf(stderr, "videollm eval: --plot and --sample go together\n");
        return 2;
    }
    char err[1024];
    vlm_eval_baseline_params bp = vlm_eval_baseline_default_params();
    if (baseline && vlm_eval_baseline_parse(baseline, &bp.baseline, err, sizeof err)) {
        fprintf(stderr, "videollm eval: --baseline: %s\n", err);
        return 2;
    }
    if (!baseline && (tokenizer || live1)) {
        fprintf(stderr, "videollm eval: --tokenizer and --live1 go with --baseline\n");
        return 2;
    }
    if (tokenizer && model) {
        fprintf(stderr, "videollm eval: give --tokenizer or --model, not both\n");
        return 2;
    }
    if (live1 && !tokenizer) {
        fprintf(stderr, "videollm eval: --live1 goes with --tokenizer (a model has its own live version)\n");
        return 2;
    }
    vlm_model *m = NULL;
    vlm_tokenizer *own_tok = NULL;
    if (tokenizer) {
        if (vlm_tokenizer_load(tokenizer, &own_tok, err, sizeof err) ||
            vlm_tokenizer_add_special(own_tok, "<v>", NULL)) {
            fprintf(stderr, "videollm eval: %s: %s\n", tokenizer, own_tok ? "cannot add <v>" : err);
            vlm_tokenizer_free(own_tok);
            return 1;
        }
        bp.live_version = live1 ? VLM_LIVE_V1 : VLM_LIVE_V1PLUS;
        if (ui.fps <= 0) ui.fps = 2.0;
    } else {
        if (!model) model = cli_default_model();
        vlm_model_params mp = vlm_model_default_params();
        if (baseline) mp.load_vision = false; /* only the tokenizer and the live settings are used */
        if (vlm_model_load(model, &mp, &m, err, sizeof err)) {
            fprintf(stderr, "videollm eval: %s\n", err);
            return 1;
        }
        if (ui.fps <= 0) ui.fps = vlm_model_frame_fps(m) > 0 ? vlm_model_frame_fps(m) : 2.0;
        bp.live_version = vlm_model_frame_interval_id(m) >= 0 ? VLM_LIVE_V1PLUS : VLM_LIVE_V1;
        bp.eos_token = vlm_model_tokenizer(m) ? vlm_tokenizer_id_to_token(vlm_model_tokenizer(m), vlm_model_eos_id(m))
                                              : NULL;
    }
    bp.threshold = ep.threshold;
    if (ui.json) {
        printf("{\"threshold\":%.9g,\"fps\":%.17g,", (double)ep.threshold, ui.fps);
        if (baseline) printf("\"baseline\":\"%s\",", baseline); /* parsed: "silent" or "every:<digits>" */
        printf("\"samples\":[");
    }
    vlm_eval_summary sum;
    vlm_status st;
    if (!baseline) {
        st = vlm_eval_file(m, data, &ep, on_sample, &ui, &sum, err, sizeof err);
    } else if (!own_tok && !vlm_model_tokenizer(m)) {
        st = VLM_ERR_INVALID_ARG;
        snprintf(err, sizeof err, "the model has no tokenizer");
    } else {
        st = vlm_eval_baseline_file(own_tok ? own_tok : vlm_model_tokenizer(m), data, &bp, on_sample, &ui, &sum, err,
                                    sizeof err);
    }
    int rc = 0;
    if (st) {
        if (ui.json) printf("\n]}\n");
        fprintf(stderr, "videollm eval: %s: %s\n", data, err);
        rc = 1;
    } else if (ui.json) {
        printf("\n],\"average\":{\"n_samples\":%zu,\"lm_ppl\":", sum.n_samples);
        num(sum.lm_ppl);
        printf(",\"lm_correctness\":");
        num(sum.lm_correctness);
        printf(",\"time_diff\":");
        num(sum.frame_diff / ui.fps);
        printf(",\"fluency\":");
        num(sum.fluency);
        printf(",\"frame_diff\":");
        num(sum.frame_diff);
        printf("}}\n");
    } else {
        printf("average over %zu samples%s%s: ", sum.n_samples, baseline ? ", baseline " : "", baseline ? baseline : "");
        text_num("LM-PPL", sum.lm_ppl, 1, "%.4f");
        text_num("  LM-Correctness", sum.lm_correctness, 100, "%.2f%%");
        printf("  TimeDiff %.4f s  Fluency %.2f%%\n", sum.frame_diff / ui.fps, 100 * sum.fluency);
    }
    if (!rc && plot) {
        if (ui.oom) {
            fprintf(stderr, "videollm eval: out of memory keeping sample %ld\n", ui.plot_index);
            rc = 1;
        } else if (!ui.kept) {
            fprintf(stderr, "videollm eval: --sample %ld: the data has only %zu samples\n", ui.plot_index,
                    sum.n_samples);
            rc = 1;
        } else {
            rc = write_svg(plot, &ui, ep.threshold);
        }
    }
    free(ui.curve);
    free(ui.replies);
    vlm_model_free(m);
    vlm_tokenizer_free(own_tok);
    return rc;
}
