/* cmd_train.c - `videollm train`: LoRA + connector training (or, with
 * --full, full fine-tuning of every LM weight + the connector) with the LIVE
 * objective on JSONL samples with pre-extracted frame features
 * (docs/training.md). Progress lines go to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int usage(FILE *f) {
    fprintf(f,
            "usage: videollm train --model BASE.gguf --data train.jsonl --out DIR\n"
            "                      [--lora-r 128] [--lora-alpha 256] [--lora-dropout 0.05] [--lr 2e-4]\n"
            "                      [--epochs 1] [--batch 1] [--grad-accum 8] [--warmup-ratio 0.05]\n"
            "                      [--stream-loss-weight 1.0] [--weight-decay 0] [--max-grad-norm 1.0]\n"
            "                      [--seed 42] [--threads 2] [--save-every N] [--max-steps N]\n"
            "                      [--init-adapter DIR] [--augmentation] [--freeze PATTERNS [--freeze-steps N]]\n"
            "                      [--quiet]\n"
            "       videollm train --full --model BASE.gguf --data train.jsonl --out DIR [--out-type f32|f16|bf16]\n"
            "                      [same options without --lora-* and --init-adapter]\n"
            "  --model       converted base model (LoRA not merged) with its vision file\n"
            "  --data        JSONL: {\"conversation\": [...], \"features\": \"f.safetensors\", \"frames\": [start, end]}\n"
            "  --out         checkpoint.safetensors (resumed when present) and adapter/ (PEFT) go here\n"
            "  --save-every  optimizer steps between checkpoints (default: only at the end)\n"
            "  --max-steps   stop after N optimizer steps in this run (a later run resumes)\n"
            "  --augmentation  the original's training-time augmentation, drawn afresh every epoch from\n"
            "                (seed, epoch, sample) for samples with >= 2 learned assistant turns\n"
            "  --freeze      comma-separated patterns (fnmatch) of trained tensor names to hold fixed, e.g.\n"
            "                'model.layers.0.self_attn.*,connector.*' (not updated, not in the clipped norm);\n"
            "                a pattern ending in [r0:r1] or [r0:r1,c0:c1] holds only those rows (and columns)\n"
            "                of the matched tensors, in their Hugging Face shape, e.g.\n"
            "                'model.layers.*.mlp.down_proj.weight[3:7],model.embed_tokens.weight[:,3:7]'\n"
            "  --freeze-steps  N: hold them only until optimizer step N (default: the whole run)\n"
            "  --full        train every LM weight and the connector in f32 (f32/f16/bf16 base); writes\n"
            "                DIR/model.gguf + DIR/model.vision.gguf instead of DIR/adapter/\n"
            "  --out-type    weight type of the exported model (--full only; default f32)\n"
            "  --model-name  NAME: export DIR/NAME.gguf + DIR/NAME.vision.gguf (--full only; default model)\n");
    return f == stdout ? 0 : 2;
}

static void on_line(const char *line, void *ud) {
    if (!*(int *)ud) fprintf(stderr, "train: %s\n", line);
}

static int num(const char *s, double lo, double hi, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) return 0;
    *out = v;
    return 1;
}

int cmd_train(int argc, char **argv) {
    vlm_train_run_params p = vlm_train_run_default_params();
    int quiet = 0;
    const char *lora_opt = NULL, *out_type = NULL; /* a LoRA-only option given; --out-type's value */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout);
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!strcmp(a, "--full")) {
            p.lora.full = true;
            continue;
        }
        if (!strcmp(a, "--augmentation")) {
            p.augmentation = true;
            continue;
        }
        if (!strcmp(a, "--lora-r") || !strcmp(a, "--lora-alpha") || !strcmp(a, "--lora-dropout") ||
            !strcmp(a, "--init-adapter"))
            lora_opt = a;
        if (i + 1 >= argc) {
            fprintf(stderr, "train: %s needs a value\n", a);
            return usage(stderr);
        }
        const char *v = argv[++i];
        double d = 0;
        int ok = 1;
        if (!strcmp(a, "--model")) p.model_path = v;
        else if (!strcmp(a, "--data")) p.data_path = v;
        else if (!strcmp(a, "--out")) p.out_dir = v;
        else if (!strcmp(a, "--init-adapter")) p.init_adapter = v;
        else if (!strcmp(a, "--model-name")) {
            p.model_name = v;
            ok = *v && !strchr(v, '/') && strcmp(v, ".") && strcmp(v, "..") && strlen(v) < 200;
        }
        else if (!strcmp(a, "--out-type")) {
            out_type = v;
            ok = !strcmp(v, "f32") || !strcmp(v, "f16") || !strcmp(v, "bf16");
            p.out_type = !strcmp(v, "f16") ? VLM_WTYPE_F16 : !strcmp(v, "bf16") ? VLM_WTYPE_BF16 : VLM_WTYPE_F32;
        }
        else if (!strcmp(a, "--lora-r")) ok = num(v, 1, 65536, &d) && d == (int)d, p.lora.lora_r = (int32_t)d;
        else if (!strcmp(a, "--lora-alpha")) ok = num(v, 1e-9, 1e9, &d), p.lora.lora_alpha = (float)d;
        else if (!strcmp(a, "--lora-dropout")) ok = num(v, 0, 0.999, &d), p.lora.lora_dropout = (float)d;
        else if (!strcmp(a, "--lr")) ok = num(v, 0, 10, &d), p.lr = d;
        else if (!strcmp(a, "--epochs")) ok = num(v, 1, 1e6, &d) && d == (int)d, p.epochs = (int32_t)d;
        else if (!strcmp(a, "--batch")) ok = num(v, 1, 4096, &d) && d == (int)d, p.batch = (int32_t)d;
        else if (!strcmp(a, "--grad-accum")) ok = num(v, 1, 1e6, &d) && d == (int)d, p.grad_accum = (int32_t)d;
        else if (!strcmp(a, "--warmup-ratio")) ok = num(v, 0, 1, &d), p.warmup_ratio = d;
        else if (!strcmp(a, "--stream-loss-weight")) ok = num(v, 0, 1e6, &d), p.stream_loss_weight = (float)d;
        else if (!strcmp(a, "--weight-decay")) ok = num(v, 0, 1e3, &d), p.adamw.weight_decay = (float)d;
        else if (!strcmp(a, "--max-grad-norm")) ok = num(v, 0, 1e9, &d), p.adamw.max_grad_norm = (float)d;
        else if (!strcmp(a, "--seed")) ok = num(v, 0, 1.8e19, &d), p.lora.seed = (uint64_t)d;
        else if (!strcmp(a, "--threads")) ok = num(v, 1, 256, &d) && d == (int)d, p.n_threads = (int32_t)d;
        else if (!strcmp(a, "--save-every")) ok = num(v, 0, 1e15, &d) && d == (int64_t)d, p.save_every = (int64_t)d;
        else if (!strcmp(a, "--freeze")) p.freeze = v, ok = *v != 0;
        else if (!strcmp(a, "--freeze-steps")) ok = num(v, 1, 1e15, &d) && d == (int64_t)d, p.freeze_steps = (int64_t)d;
        else if (!strcmp(a, "--max-steps")) ok = num(v, 0, 1e15, &d) && d == (int64_t)d, p.max_steps = (int64_t)d;
        else {
            fprintf(stderr, "train: unknown option %s\n", a);
            return usage(stderr);
        }
        if (!ok) {
            fprintf(stderr, "train: bad value '%s' for %s\n", v, a);
            return 2;
        }
    }
    if (!p.model_path || !p.data_path || !p.out_dir) {
        fprintf(stderr, "train: --model, --data and --out are required\n");
        return usage(stderr);
    }
    if (p.lora.full && lora_opt) {
        fprintf(stderr, "train: %s is a LoRA option; --full trains the weights themselves\n", lora_opt);
        return 2;
    }
    if (!p.lora.full && out_type) {
        fprintf(stderr, "train: --out-type applies to --full only (LoRA training writes an f32 adapter)\n");
        return 2;
    }
    if (p.freeze_steps && !p.freeze) {
        fprintf(stderr, "train: --freeze-steps needs --freeze\n");
        return 2;
    }
    p.progress = on_line;
    p.user_data = &quiet;
    char err[1024];
    vlm_status st = vlm_train_run(&p, err, sizeof err);
    if (st) {
        fprintf(stderr, "train: %s\n", err);
        return 1;
    }
    return 0;
}
