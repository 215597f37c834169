/* fuzz_bpe_train.c - libFuzzer harness for the BPE trainer. The first bytes
 * pick the parameters (vocab size, min frequency, required strings, specials,
 * cut tokens); the rest, split at 0xFF bytes, are the texts. Checks:
 *   - add_text accepts exactly the valid UTF-8 texts;
 *   - finish succeeds (or reports that the vocabulary has no room for the
 *     required merges) and the document loads; every accepted text encodes
 *     and decodes back to itself; every required string is one token;
 *   - in the plain mode (no required/special/cut strings, input <= 3 KB) the
 *     merges equal those of a naive trainer written here that recounts every
 *     pair from scratch at every step.
 *   build/fuzz/fuzz_bpe_train -max_len=4096 -max_total_time=60 corpus_dir */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"
#include "videollm.h"

/* ---- the naive trainer -------------------------------------------------- */
typedef struct {
    uint8_t *s[4096];
    size_t n[4096];
    size_t n_tok;
} ntoks;

static int ntok_find(const ntoks *t, const uint8_t *s, size_t n) {
    for (size_t i = 0; i < t->n_tok; i++)
        if (t->n[i] == n && !memcmp(t->s[i], s, n)) return (int)i;
    return -1;
}

static int cmp_cp(const void *x, const void *y) {
    uint32_t a = tok_byte_to_cp(*(const uint8_t *)x), b = tok_byte_to_cp(*(const uint8_t *)y);
    return (a > b) - (a < b);
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* Merges as byte-level "a b" strings into out (JSON array). */
static json_t *naive(const uint8_t **texts, const size_t *lens, size_t nt, int64_t vocab, int64_t minf) {
    static vlm_tokenizer pt;
    static uint8_t cls[0x10000];
    if (!pt.cls) {
        tok_class_fill_bmp(cls);
        pt.cls = cls;
    }
    /* words: symbol arrays with counts (duplicates kept separately: same result) */
    size_t cap = 0;
    for (size_t i = 0; i < nt; i++) cap += lens[i];
    int *sym = malloc((cap + 1) * sizeof *sym), **w = malloc((cap + 1) * sizeof *w);
    size_t *wl = malloc((cap + 1) * sizeof *wl), nw = 0, used = 0;
    ntoks *T = calloc(1, sizeof *T);
    uint8_t order[256];
    for (int b = 0; b < 256; b++) order[b] = (uint8_t)b;
    qsort(order, 256, 1, cmp_cp);
    int byte_id[256];
    for (int i = 0; i < 256; i++) {
        T->s[i] = malloc(1);
        T->s[i][0] = order[i];
        T->n[i] = 1;
        byte_id[order[i]] = i;
    }
    T->n_tok = 256;
    for (size_t i = 0; i < nt; i++)
        for (size_t p = 0; p < lens[i];) {
            size_t q = tok_pretok_llama3(&pt, texts[i], p, lens[i]);
            w[nw] = sym + used;
            wl[nw] = q - p;
            for (size_t k = p; k < q; k++) sym[used++] = byte_id[texts[i][k]];
            nw++;
            p = q;
        }
    json_t *merges = json_array();
    uint64_t *done = malloc(4096 * sizeof *done);
    size_t n_done = 0;
    while ((int64_t)T->n_tok < vocab - 5 && T->n_tok < 4096) {
        /* recount every pair: sort all adjacent pairs, count runs */
        size_t np = 0;
        uint64_t *pk = malloc((used + 1) * sizeof *pk);
        for (size_t i = 0; i < nw; i++)
            for (size_t k = 0; k + 1 < wl[i]; k++) pk[np++] = ((uint64_t)w[i][k] << 32) | (uint32_t)w[i][k + 1];
        qsort(pk, np, sizeof *pk, cmp_u64);
        int64_t bc = 0;
        uint64_t key = 0;
        for (size_t j = 0; j < np;) { /* runs in ascending key order: the first maximum is the smallest pair */
            size_t e = j;
            while (e < np && pk[e] == pk[j]) e++;
            if ((int64_t)(e - j) > bc) {
                bc = (int64_t)(e - j);
                key = pk[j];
            }
            j = e;
        }
        free(pk);
        if (bc < (minf > 1 ? minf : 1)) break;
        int a = (int)(key >> 32), b = (int)(uint32_t)key;
        uint8_t buf[8192];
        size_t ln = T->n[a] + T->n[b];
        if (ln > sizeof buf) break;
        memcpy(buf, T->s[a], T->n[a]);
        memcpy(buf + T->n[a], T->s[b], T->n[b]);
        int c = ntok_find(T, buf, ln);
        if (c < 0) {
            c = (int)T->n_tok;
            T->s[c] = malloc(ln);
            memcpy(T->s[c], buf, ln);
            T->n[c] = ln;
            T->n_tok++;
        }
        size_t d;
        for (d = 0; d < n_done && done[d] != key; d++) {}
        if (d == n_done) {
            done[n_done++] = key;
            char sp[2 * 8192 + 8];
            size_t o = 0;
            for (int side = 0; side < 2; side++) {
                const uint8_t *s = T->s[side ? b : a];
                for (size_t k = 0; k < T->n[side ? b : a]; k++) {
                    uint32_t cp = tok_byte_to_cp(s[k]);
                    if (cp < 0x80) sp[o++] = (char)cp;
                    else {
                        sp[o++] = (char)(0xC0 | (cp >> 6));
                        sp[o++] = (char)(0x80 | (cp & 0x3F));
                    }
                }
                if (!side) sp[o++] = ' ';
            }
            json_array_append_new(merges, json_stringn(sp, o));
        }
        for (size_t i = 0; i < nw; i++) { /* left to right */
            size_t o = 0;
            for (size_t k = 0; k < wl[i];) {
                if (k + 1 < wl[i] && w[i][k] == a && w[i][k + 1] == b) {
                    w[i][o++] = c;
                    k += 2;
                } else {
                    w[i][o++] = w[i][k++];
                }
            }
            wl[i] = o;
        }
    }
    for (size_t i = 0; i < T->n_tok; i++) free(T->s[i]);
    free(T);
    free(done);
    free(sym);
    free(w);
    free(wl);
    return merges;
}

/* ---- the harness ---------------------------------------------------------- */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    static const char *const req_pool[] = {",", "]\n", "ab", "\n\n", " the", "...", "ſ"};
    static const char *const specials_pool[] = {"<|begin_of_text|>", "<s>", "<|eot_id|>"};
    static const char *const cut_pool[] = {"<v>"};
    const char *req[8];
    vlm_bpe_train_params p = vlm_bpe_train_default_params();
    p.vocab_size = 256 + 3 + data[0] % 64;
    p.min_frequency = data[1] % 4;
    bool plain = (data[2] & 0x80) && size <= 3072;
    size_t nr = 0;
    for (int k = 0; k < 7; k++)
        if (!plain && (data[2] >> k) & 1) req[nr++] = req_pool[k];
    p.required = req;
    p.n_required = nr;
    p.specials = specials_pool;
    p.n_specials = plain ? 0 : 3;
    p.bos_token = plain ? NULL : "<|begin_of_text|>";
    p.cut_tokens = cut_pool;
    p.n_cut_tokens = plain ? 0 : 1;
    if (plain) p.vocab_size -= 3;
    char err[256];
    vlm_bpe_trainer *tr = NULL;
    if (vlm_bpe_trainer_new(&p, &tr, err, sizeof err) != VLM_OK) abort();
    /* texts: the rest split at 0xFF */
    const uint8_t *texts[512];
    size_t lens[512], nt = 0;
    for (size_t s = 3; s <= size && nt < 512;) {
        const uint8_t *e = memchr(data + s, 0xFF, size - s);
        size_t end = e ? (size_t)(e - data) : size;
        size_t bad;
        int valid = tok_utf8_valid(data + s, end - s, &bad);
        vlm_status st = vlm_bpe_trainer_add_text(tr, (const char *)data + s, end - s);
        if ((st == VLM_OK) != valid) abort();
        if (valid) {
            texts[nt] = data + s;
            lens[nt++] = end - s;
        }
        s = end + 1;
    }
    char *json = NULL;
    size_t jl = 0;
    vlm_status st = vlm_bpe_trainer_finish(tr, &json, &jl);
    if (st != VLM_OK) {
        if (st != VLM_ERR_INVALID_ARG || !strstr(vlm_bpe_trainer_last_error(tr), "no room")) {
            fprintf(stderr, "finish: %s\n", vlm_bpe_trainer_last_error(tr));
            abort();
        }
        vlm_bpe_trainer_free(tr);
        return 0;
    }
    vlm_bpe_trainer_free(tr);
    vlm_tokenizer *tok = NULL;
    if (vlm_tokenizer_load_json(json, jl, &tok, err, sizeof err) != VLM_OK) {
        fprintf(stderr, "load: %s\n", err);
        abort();
    }
    vlm_tokens t = {0};
    for (size_t i = 0; i < nt; i++) {
        char *dec = NULL;
        size_t dl = 0;
        if (vlm_tokenizer_encode(tok, (const char *)texts[i], lens[i], &t) != VLM_OK ||
            vlm_tokenizer_decode(tok, t.ids, t.n, NULL, &dec, &dl) != VLM_OK || dl != lens[i] ||
            memcmp(dec, texts[i], dl))
            abort();
        free(dec);
    }
    for (size_t r = 0; r < nr; r++)
        if (vlm_tokenizer_encode(tok, req[r], strlen(req[r]), &t) != VLM_OK || t.n != 1) abort();
    vlm_tokens_free(&t);
    vlm_tokenizer_free(tok);
    if (plain) {
        json_t *doc = json_loadb(json, jl, 0, NULL), *ref = naive(texts, lens, nt, p.vocab_size + 5, p.min_frequency);
        json_t *ours = json_object_get(json_object_get(doc, "model"), "merges");
        if (!json_equal(ours, ref)) {
            char *a = json_dumps(ours, JSON_COMPACT), *b = json_dumps(ref, JSON_COMPACT);
            fprintf(stderr, "merges differ from the naive trainer:\n  ours  %s\n  naive %s\n", a, b);
            abort();
        }
        json_decref(doc);
        json_decref(ref);
    }
    free(json);
    return 0;
}
