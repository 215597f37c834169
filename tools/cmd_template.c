/* cmd_template.c - `videollm template` (render a JSON conversation with the
 * live chat template) and `videollm labels` (JSONL conversations -> text,
 * learn ranges, input ids and labels, one JSON object per line). */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int parse_live_version(const char *s, vlm_live_version *v) {
    if (!strcmp(s, "v1plus") || !strcmp(s, "live1+")) { *v = VLM_LIVE_V1PLUS; return 1; }
    if (!strcmp(s, "v1") || !strcmp(s, "live1")) { *v = VLM_LIVE_V1; return 1; }
    return 0;
}

/* Option with a value: "--name VALUE" or "--name=VALUE". Advances *i. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, const char *cmd, int *bad) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] != 0) return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "videollm %s: %s needs a value\n", cmd, name);
        *bad = 1;
        return NULL;
    }
    return argv[++*i];
}

/* ------------------------------------------------------------------------- */
/* videollm template                                                          */
/* ------------------------------------------------------------------------- */
static void template_usage(FILE *f) {
    fprintf(f,
            "usage: videollm template [options] [FILE]\n"
            "Render a JSON array of messages (FILE or stdin) with VideoLLM-online's live chat\n"
            "template and print the text exactly (no newline added).\n\n"
            "  --live-version v1plus|v1        placeholders of live1+ (default) or live1\n"
            "  --bos S                         bos token (default <|begin_of_text|>)\n"
            "  --eos S                         eos token (default <|eot_id|>)\n"
            "  --add-generation-prompt         end with \"\\nAssistant:\"\n"
            "  --add-stream-prompt             end with \"\\n[\"\n"
            "  --add-stream-query-prompt       user turns start with \"]\\nUser: \"\n"
            "  --add-stream-generation-prompt  end with \"]\\nAssistant:\"\n"
            "  --strict                        reject role sequences the training code rejects\n"
            "  --max-frames N                  refuse longer streams (default 1000000)\n");
}

int cmd_template(int argc, char **argv) {
    vlm_template_params p = vlm_template_default_params();
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int bad = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { template_usage(stdout); return 0; }
        else if (!strcmp(a, "--add-generation-prompt")) p.add_generation_prompt = true;
        else if (!strcmp(a, "--add-stream-prompt")) p.add_stream_prompt = true;
        else if (!strcmp(a, "--add-stream-query-prompt")) p.add_stream_query_prompt = true;
        else if (!strcmp(a, "--add-stream-generation-prompt")) p.add_stream_generation_prompt = true;
        else if (!strcmp(a, "--strict")) p.strict = true;
        else if ((v = opt_value(argc, argv, &i, "--live-version", "template", &bad))) {
            if (!parse_live_version(v, &p.live_version)) {
                fprintf(stderr, "videollm template: unknown live version '%s' (v1plus or v1)\n", v);
                return 2;
            }
        } else if ((v = opt_value(argc, argv, &i, "--bos", "template", &bad))) p.bos_token = v;
        else if ((v = opt_value(argc, argv, &i, "--eos", "template", &bad))) p.eos_token = v;
        else if ((v = opt_value(argc, argv, &i, "--max-frames", "template", &bad))) {
            char *end;
            long long mf = strtoll(v, &end, 10);
            if (!*v || *end || mf < 0) {
                fprintf(stderr, "videollm template: --max-frames wants a non-negative integer, got '%s'\n", v);
                return 2;
            }
            p.max_frames = mf;
        } else if (bad) return 2;
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "videollm template: unknown option '%s'\n", a);
            template_usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "videollm template: only one input file, got '%s' and '%s'\n", path, a);
            return 2;
        } else path = a;
        if (bad) return 2;
    }
    size_t len;
    char *json = cli_read_input(path, &len);
    if (!json) return 1;
    char err[512];
    vlm_conversation *c = NULL;
    char *text = NULL;
    size_t text_len = 0;
    vlm_status st = vlm_conversation_parse(json, len, &c, err, sizeof err);
    if (st == VLM_OK)
        st = vlm_template_render(vlm_conversation_messages(c), vlm_conversation_size(c), &p, &text, &text_len, err,
                                 sizeof err);
    int rc = 0;
    if (st != VLM_OK) {
        fprintf(stderr, "videollm template: %s: %s\n", path ? path : "<stdin>", err);
        rc = 1;
    } else if (fwrite(text, 1, text_len, stdout) != text_len || fflush(stdout) != 0) {
        fprintf(stderr, "videollm template: error writing the output\n");
        rc = 1;
    }
    free(text);
    vlm_conversation_free(c);
    free(json);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* videollm labels                                                            */
/* ------------------------------------------------------------------------- */
static void labels_usage(FILE *f) {
    fprintf(f,
            "usage: videollm labels --tokenizer TOKENIZER_JSON [options] [FILE]\n"
            "Read JSONL (one conversation = one JSON array of messages per line; empty lines\n"
            "are skipped) from FILE or stdin and print one JSON object per line:\n"
            "  {\"text\": ..., \"learn_ranges\": [[s,e],...], \"input_ids\": [...], \"labels\": [...]}\n"
            "or {\"error\": ..., \"line\": N} for a line that cannot be labelled (message on stderr\n"
            "too; exit status 1 at the end).\n\n"
            "  --tokenizer FILE          Hugging Face tokenizer.json (required); <v> is added\n"
            "  --tokenizer-config FILE   tokenizer_config.json (default: the one beside\n"
            "                            tokenizer.json, if any) for eos_token and bos_token\n"
            "  --live-version v1plus|v1  (default v1plus)\n"
            "  --eos S                   eos token (default: the config's, else <|eot_id|>)\n"
            "  --bos S                   bos token (default: the config's, else <|begin_of_text|>)\n");
}

/* dirname(tok_path) + "/tokenizer_config.json" if that file exists, else NULL. */
static char *config_beside(const char *tok_path) {
    const char *slash = strrchr(tok_path, '/');
    size_t dl = slash ? (size_t)(slash - tok_path + 1) : 0;
    const char *name = "tokenizer_config.json";
    char *p = malloc(dl + strlen(name) + 1);
    if (!p) return NULL;
    memcpy(p, tok_path, dl);
    strcpy(p + dl, name);
    FILE *f = fopen(p, "rb");
    if (!f) { free(p); return NULL; }
    fclose(f);
    return p;
}

static json_t *ints_json(const int32_t *v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_integer(v[i])) != 0) { json_decref(a); return NULL; }
    return a;
}

/* The JSON object for one labelled sample, or NULL (out of memory/bad UTF-8). */
static json_t *sample_json(const vlm_sample *s) {
    json_t *o = json_object(), *r = json_array();
    if (!o || !r) { json_decref(o); json_decref(r); return NULL; }
    json_object_set_new(o, "text", json_stringn(s->text, s->text_len));
    for (size_t k = 0; k < s->n_ranges; k++)
        json_array_append_new(r, json_pack("[II]", (json_int_t)s->ranges[2 * k], (json_int_t)s->ranges[2 * k + 1]));
    json_object_set_new(o, "learn_ranges", r);
    json_object_set_new(o, "input_ids", ints_json(s->toks.ids, s->toks.n));
    json_object_set_new(o, "labels", ints_json(s->labels, s->toks.n));
    if (json_object_size(o) != 4 || json_array_size(r) != s->n_ranges) { json_decref(o); return NULL; }
    return o;
}

static int print_json_line(json_t *o) {
    char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!line) return 0;
    fputs(line, stdout);
    fputc('\n', stdout);
    free(line);
    return 1;
}

/* Copy msg replacing every byte that is not part of valid UTF-8 with '?'
 * (messages may quote broken input; JSON strings must be valid UTF-8). */
static void utf8_sanitize(char *dst, size_t cap, const char *msg) {
    size_t w = 0;
    for (size_t i = 0; msg[i] && w + 5 < cap;) {
        unsigned char c = (unsigned char)msg[i];
        size_t n = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
                 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        bool ok = n > 0;
        for (size_t k = 1; ok && k < n; k++) ok = ((unsigned char)msg[i + k] & 0xC0) == 0x80;
        if (ok && n == 3) {
            unsigned char d = (unsigned char)msg[i + 1];
            ok = !(c == 0xE0 && d < 0xA0) && !(c == 0xED && d >= 0xA0);
        }
        if (ok && n == 4) {
            unsigned char d = (unsigned char)msg[i + 1];
            ok = !(c == 0xF0 && d < 0x90) && !(c == 0xF4 && d >= 0x90);
        }
        if (!ok) { dst[w++] = '?'; i++; continue; }
        memcpy(dst + w, msg + i, n);
        w += n;
        i += n;
    }
    dst[w] = 0;
}

static void print_error_line(size_t line, const char *msg) {
    char clean[1100];
    utf8_sanitize(clean, sizeof clean, msg);
    fprintf(stderr, "line %zu: %s\n", line, clean);
    json_t *o = json_pack("{s:s,s:I}", "error", clean, "line", (json_int_t)line);
    if (!o || !print_json_line(o)) printf("{\"error\":\"out of memory\",\"line\":%zu}\n", line);
    json_decref(o);
}

int cmd_labels(int argc, char **argv) {
    vlm_template_params p = vlm_template_default_params();
    const char *path = NULL, *tok_path = NULL, *cfg_path = NULL, *eos_opt = NULL, *bos_opt = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int bad = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { labels_usage(stdout); return 0; }
        else if ((v = opt_value(argc, argv, &i, "--tokenizer-config", "labels", &bad))) cfg_path = v;
        else if ((v = opt_value(argc, argv, &i, "--tokenizer", "labels", &bad))) tok_path = v;
        else if ((v = opt_value(argc, argv, &i, "--live-version", "labels", &bad))) {
            if (!parse_live_version(v, &p.live_version)) {
                fprintf(stderr, "videollm labels: unknown live version '%s' (v1plus or v1)\n", v);
                return 2;
            }
        } else if ((v = opt_value(argc, argv, &i, "--eos", "labels", &bad))) eos_opt = v;
        else if ((v = opt_value(argc, argv, &i, "--bos", "labels", &bad))) bos_opt = v;
        else if (bad) return 2;
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "videollm labels: unknown option '%s'\n", a);
            labels_usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "videollm labels: only one input file, got '%s' and '%s'\n", path, a);
            return 2;
        } else path = a;
        if (bad) return 2;
    }
    if (!tok_path) {
        fprintf(stderr, "videollm labels: --tokenizer TOKENIZER_JSON is required\n");
        labels_usage(stderr);
        return 2;
    }

    char err[1024];
    int rc = 1;
    vlm_tokenizer *tok = NULL;
    char *cfg_found = NULL, *cfg_bos = NULL, *cfg_eos = NULL, *input = NULL;
    if (vlm_tokenizer_load(tok_path, &tok, err, sizeof err) != VLM_OK) {
        fprintf(stderr, "videollm labels: %s\n", err);
        goto done;
    }
    /* The config only matters for what the options leave open. */
    if (!cfg_path && (!eos_opt || !bos_opt)) cfg_path = cfg_found = config_beside(tok_path);
    if (cfg_path && vlm_read_tokenizer_config(cfg_path, &cfg_bos, &cfg_eos, err, sizeof err) != VLM_OK) {
        fprintf(stderr, "videollm labels: %s\n", err);
        goto done;
    }
    p.eos_token = eos_opt ? eos_opt : cfg_eos ? cfg_eos : "<|eot_id|>";
    p.bos_token = bos_opt ? bos_opt : cfg_bos ? cfg_bos : "<|begin_of_text|>";
    if (vlm_tokenizer_set_eos(tok, p.eos_token) != VLM_OK) {
        fprintf(stderr, "videollm labels: eos token '%s': %s\n", p.eos_token, vlm_tokenizer_last_error(tok));
        goto done;
    }
    if (vlm_tokenizer_add_special(tok, "<v>", NULL) != VLM_OK) {
        fprintf(stderr, "videollm labels: adding <v>: %s\n", vlm_tokenizer_last_error(tok));
        goto done;
    }
    size_t len;
    if (!(input = cli_read_input(path, &len))) goto done;

    size_t n_err = 0, line_no = 0;
    for (size_t pos = 0; pos < len;) {
        size_t end = pos;
        while (end < len && input[end] != '\n') end++;
        line_no++;
        const char *line = input + pos;
        size_t ll = end - pos;
        pos = end + 1;
        size_t k = 0;
        while (k < ll && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r')) k++;
        if (k == ll) continue; /* empty line: skipped, still counted */

        vlm_conversation *c = NULL;
        vlm_sample s;
        memset(&s, 0, sizeof s);
        vlm_status st = vlm_conversation_parse(line, ll, &c, err, sizeof err);
        if (st == VLM_OK)
            st = vlm_sample_build(tok, vlm_conversation_messages(c), vlm_conversation_size(c), &p, &s, err,
                                  sizeof err);
        if (st == VLM_OK) {
            json_t *o = sample_json(&s);
            if (!o || !print_json_line(o)) {
                n_err++;
                print_error_line(line_no, "cannot write the result as JSON (out of memory or invalid UTF-8)");
            }
            json_decref(o);
        } else {
            n_err++;
            print_error_line(line_no, err);
        }
        vlm_sample_free(&s);
        vlm_conversation_free(c);
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "videollm labels: error writing the output\n");
        goto done;
    }
    rc = n_err ? 1 : 0;
done:
    free(input);
    free(cfg_found);
    free(cfg_bos);
    free(cfg_eos);
    vlm_tokenizer_free(tok);
    return rc;
}
