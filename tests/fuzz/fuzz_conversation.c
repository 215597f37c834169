/* fuzz_conversation.c - libFuzzer harness: conversation JSON parser, live chat
 * template, learn ranges and range -> label mapping on arbitrary bytes.
 *
 * Input: byte 0 selects the parameters (live version, the four flags, strict,
 * bos/eos variant); the rest is the conversation JSON. Besides "no crash, no
 * leak, no sanitizer report", it checks an invariant that ties the renderer
 * to the learn-range code: when strict rendering succeeds without the
 * stream-query flag, every learn range starts inside the text, ends at most
 * 1 (live1+) or 3 (live1) characters past it (a stream closing the text),
 * and starts on the character the range is about (',' or ']' or '<' for
 * frames, "Assistant: " for replies). Labels are then mapped onto a
 * synthetic tokenization (code points grouped by the input bytes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "videollm.h"

#define MAX_INPUT (1 << 16)

static size_t *cp_starts(const char *s, size_t n, size_t *ncp) {
    size_t *st = malloc((n + 1) * sizeof *st), k = 0;
    if (!st) abort();
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) st[k++] = i;
    st[k] = n;
    *ncp = k;
    return st;
}

static void check_ranges(const char *text, size_t len, const int64_t *r, size_t nr, vlm_live_version v) {
    size_t ncp;
    size_t *st = cp_starts(text, len, &ncp);
    for (size_t k = 0; k < nr; k++) {
        int64_t a = r[2 * k], b = r[2 * k + 1];
        /* a stream closing the text runs past it: "]" + 1 (live1+), "]" + 3 (live1's 4-character range) */
        if (a < 0 || b <= a || b > (int64_t)ncp + (v == VLM_LIVE_V1 ? 3 : 1)) abort();
        if (a >= (int64_t)ncp) abort(); /* a range always starts inside the text */
        const char *p = text + st[a];
        size_t left = len - st[a];
        int is_reply = left >= 11 && memcmp(p, "Assistant: ", 11) == 0;
        int is_frame = *p == ']' || (v == VLM_LIVE_V1PLUS ? *p == ',' : *p == '<');
        if (!is_reply && !is_frame) abort();
    }
    free(st);
}

/* Tokens: runs of code points; a new token starts where the pattern byte says so. */
static void labels_on_synthetic_tokens(const char *text, size_t len, const int64_t *r, size_t nr,
                                       const uint8_t *pat, size_t npat) {
    size_t ncp;
    size_t *st = cp_starts(text, len, &ncp);
    vlm_tokens t = {0};
    t.ids = malloc((ncp + 1) * sizeof *t.ids);
    t.offsets = malloc((ncp + 1) * 2 * sizeof *t.offsets);
    int32_t *labels = malloc((ncp + 1) * sizeof *labels);
    if (!t.ids || !t.offsets || !labels) abort();
    for (size_t i = 0; i < ncp; i++) {
        int new_tok = i == 0 || !npat || (pat[i % npat] & 3) != 0;
        if (new_tok) {
            t.ids[t.n] = (int32_t)(unsigned char)text[st[i]] + (pat && npat ? pat[i % npat] : 0) * 7;
            t.offsets[2 * t.n] = (int32_t)i;
            t.offsets[2 * t.n + 1] = (int32_t)i + 1;
            t.n++;
        } else {
            t.offsets[2 * (t.n - 1) + 1] = (int32_t)i + 1;
        }
    }
    char err[256];
    vlm_status s = vlm_labels_from_ranges(&t, r, nr, 1500, 2, text, len, labels, err, sizeof err);
    if (s == VLM_OK)
        for (size_t j = 0; j < t.n; j++)
            if (labels[j] != -100 && (labels[j] < 0 || labels[j] >= 1500)) abort();
    if (s == VLM_OK && t.n) {
        vlm_sample smp;
        memset(&smp, 0, sizeof smp);
        smp.toks = t;
        smp.labels = labels;
        int32_t *a, *b, *c;
        size_t T;
        if (vlm_collate(&smp, 1, 2, &a, &b, &c, &T) == VLM_OK) {
            if (T != t.n || memcmp(c, labels, T * sizeof *c) != 0) abort();
            free(a);
            free(b);
            free(c);
        }
    }
    free(t.ids);
    free(t.offsets);
    free(labels);
    free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > MAX_INPUT) return 0;
    uint8_t cfg = data[0];
    vlm_template_params p = vlm_template_default_params();
    p.live_version = cfg & 1 ? VLM_LIVE_V1 : VLM_LIVE_V1PLUS;
    p.add_generation_prompt = cfg & 2;
    p.add_stream_prompt = cfg & 4;
    p.add_stream_query_prompt = cfg & 8;
    p.add_stream_generation_prompt = cfg & 16;
    p.strict = cfg & 32;
    if (cfg & 64) {
        p.bos_token = "\xc3\xa9";
        p.eos_token = "";
    }
    p.max_frames = 64; /* keep renders small */
    const char *json = (const char *)data + 1;
    size_t len = size - 1;

    char err[512];
    vlm_conversation *c = NULL;
    if (vlm_conversation_parse(json, len, &c, err, sizeof err) != VLM_OK) return 0;
    const vlm_message *m = vlm_conversation_messages(c);
    size_t n = vlm_conversation_size(c);
    char *text = NULL;
    size_t text_len = 0;
    vlm_status rs = vlm_template_render(m, n, &p, &text, &text_len, err, sizeof err);
    if (rs == VLM_OK && (!text || text[text_len] != 0)) abort();
    int64_t *r = NULL;
    size_t nr = 0;
    vlm_status ls = vlm_learn_ranges(m, n, &p, &r, &nr, err, sizeof err);
    if (p.strict && rs == VLM_OK && ls != VLM_OK) abort(); /* strict render = the learn-range checks */
    if (rs == VLM_OK && ls == VLM_OK && p.strict && !p.add_stream_query_prompt) {
        check_ranges(text, text_len, r, nr, p.live_version);
        labels_on_synthetic_tokens(text, text_len, r, nr, data, size > 64 ? 64 : size);
    }
    free(r);
    free(text);
    vlm_conversation_free(c);
    return 0;
}
