/* fuzz_tokenizer_load.c - libFuzzer harness: arbitrary bytes as a
 * tokenizer.json document. Loading must either fail with a message or give a
 * tokenizer that then encodes, decodes and takes a special token without
 * crashing; encode/decode must round-trip on valid text when every byte has a
 * symbol.
 *   make fuzz && build/fuzz/fuzz_tokenizer_load -max_len=8192 tests/fuzz/corpus/fuzz_tokenizer_load */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"
#include "videollm.h"

static const char *const texts[] = {
    "Hello world's <v> <s>\r\n\t 123", "\xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80!!", "", "a", "  \n\n x", "<|eot_id|><v>",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    vlm_tokenizer *tok = NULL;
    vlm_status st = vlm_tokenizer_load_json((const char *)data, size, &tok, err, sizeof err);
    if (st != VLM_OK) {
        if (tok || !err[0]) abort(); /* failures leave no handle and always explain */
        return 0;
    }
    int all_bytes = 1;
    for (int b = 0; b < 256; b++) all_bytes &= tok->byte_id[b] >= 0;
    vlm_tokens t = {0};
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            size_t len = strlen(texts[i]);
            st = vlm_tokenizer_encode(tok, texts[i], len, &t);
            if (st != VLM_OK) continue; /* e.g. a regex hitting its match limit */
            for (size_t k = 0; k < t.n; k++) {
                if (t.ids[k] < 0 || t.ids[k] >= vlm_tokenizer_n_vocab(tok)) abort();
                if (t.offsets[2 * k] > t.offsets[2 * k + 1] || t.offsets[2 * k] < 0) abort();
            }
            char *out = NULL;
            size_t ol = 0;
            vlm_decode_params p = {false, false};
            if (vlm_tokenizer_decode(tok, t.ids, t.n, &p, &out, &ol) != VLM_OK) abort();
            /* lossless when every byte has a symbol and every added token
             * decodes to its own text and keeps it (lstrip/rstrip swallow spaces) */
            int exact = all_bytes;
            for (size_t k = 0; k < tok->n_added; k++) {
                const tok_added *a = &tok->added[k];
                exact &= !a->lstrip && !a->rstrip && tok->dec_len[a->id] == a->len &&
                         memcmp(tok->dec[a->id], a->content, a->len) == 0;
            }
            if (exact && (ol != len || (len && memcmp(out, texts[i], len) != 0))) abort();
            free(out);
            p.skip_special_tokens = p.clean_up_tokenization_spaces = true;
            if (vlm_tokenizer_decode(tok, t.ids, t.n, &p, &out, &ol) != VLM_OK) abort();
            free(out);
        }
        /* the input itself as text, when short */
        if (size <= 64) (void)vlm_tokenizer_encode(tok, (const char *)data, size, &t);
        int32_t id;
        if (vlm_tokenizer_add_special(tok, "<v>", &id) != VLM_OK || !vlm_tokenizer_is_special(tok, id)) abort();
        (void)vlm_tokenizer_add_special(tok, "a", NULL);
    }
    for (int32_t i = 0; i < vlm_tokenizer_n_vocab(tok); i++) {
        const char *s = vlm_tokenizer_id_to_token(tok, i);
        if (!s) abort();
        if (strlen(s) == tok->spell_len[i] && vlm_tokenizer_token_to_id(tok, s) != i) abort();
    }
    vlm_tokens_free(&t);
    vlm_tokenizer_free(tok);
    return 0;
}
