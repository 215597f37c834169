/* tiny_tokenizer.h - tests: a byte-level BPE tokenizer.json without merges
 * (one token per byte, GPT-2's byte -> code point map) plus added tokens,
 * for models made by vlm_init_write. Header-only; include after check.h. */
#ifndef VLM_TEST_TINY_TOKENIZER_H
#define VLM_TEST_TINY_TOKENIZER_H
#include <jansson.h>
#include <stdbool.h>

/* GPT-2 byte -> unicode code point. */
static int byte_cp(int b) {
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) n++;
    return 256 + n;
}

static void cp_utf8(int cp, char *out) {
    if (cp < 0x80) out[0] = (char)cp, out[1] = 0;
    else out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
}

/* specials: NULL-terminated list of added tokens (special unless prefixed by '!'). */
static void write_tokenizer(const char *path, const char *const *specials) {
    json_t *vocab = json_object();
    for (int b = 0; b < 256; b++) {
        char s[4];
        cp_utf8(byte_cp(b), s);
        json_object_set_new(vocab, s, json_integer(b));
    }
    json_t *added = json_array();
    for (int i = 0; specials[i]; i++) {
        const char *c = specials[i];
        bool special = c[0] != '!';
        json_array_append_new(added, json_pack("{s:i,s:s,s:b,s:b,s:b,s:b,s:b}", "id", 256 + i, "content",
                                               special ? c : c + 1, "single_word", 0, "lstrip", 0, "rstrip", 0,
                                               "normalized", 0, "special", special));
    }
    json_t *doc = json_pack(
        "{s:s,s:n,s:n,s:o,s:n,s:{s:s,s:b,s:b,s:b},s:n,s:{s:s,s:b,s:b,s:b},"
        "s:{s:s,s:n,s:n,s:n,s:n,s:b,s:b,s:b,s:o,s:[]}}",
        "version", "1.0", "truncation", "padding", "added_tokens", added, "normalizer", "pre_tokenizer", "type",
        "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 1, "post_processor", "decoder", "type",
        "ByteLevel", "add_prefix_space", 1, "trim_offsets", 1, "use_regex", 1, "model", "type", "BPE", "dropout",
        "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 0, "byte_fallback", 0,
        "ignore_merges", 1, "vocab", vocab, "merges");
    CHECK(doc != NULL);
    CHECK(json_dump_file(doc, path, JSON_COMPACT) == 0);
    json_decref(doc);
}

/* One token per byte plus the Llama-3 special tokens. */
static inline void write_llama3_tokenizer(const char *path) {
    static const char *const sp[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", NULL};
    write_tokenizer(path, sp);
}
#endif
