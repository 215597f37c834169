/* tokenizer_internal.h - the byte-level BPE tokenizer's private structures,
 * shared by tokenizer.c (loading, added tokens, encode/decode), pretok.c
 * (pre-tokenizer splitting) and bpe.c (hash tables, byte-level mapping, merges).
 *
 * Vocabulary layout: ids are dense, 0..n_base-1 for the BPE vocabulary and
 * n_base..n_vocab-1 for added tokens that are not in it. Every id has
 *   - its spelling (the vocabulary string: byte-level form for BPE tokens, the
 *     literal content for added tokens), NUL-terminated, and
 *   - its decode bytes (what the ByteLevel decoder turns it into).
 * BPE runs on raw input bytes: vocabulary spellings are mapped back to raw
 * bytes at load time, so no byte-level string is ever built during encode. */
#ifndef VLM_TEXT_TOKENIZER_INTERNAL_H
#define VLM_TEXT_TOKENIZER_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "videollm.h"

/* ---- character classes (pretok.c) ---------------------------------------- */
enum {
    TOK_C_L = 1,     /* \p{L}: Lu Ll Lt Lm Lo                                  */
    TOK_C_N = 2,     /* \p{N}: Nd Nl No                                        */
    TOK_C_WS = 4,    /* \s as Oniguruma/Rust define it: Unicode White_Space    */
    TOK_C_CRLF = 8,  /* \r or \n                                               */
    TOK_C_WORD = 16, /* Rust regex \w (approximation, see pretok.c)           */
};

/* Class bits of any code point (slow path for cp >= 0x10000). */
unsigned tok_class_slow(uint32_t cp);
/* Fill cls[0x10000] with the class bits of every BMP code point. */
void tok_class_fill_bmp(uint8_t *cls);

/* Strict UTF-8 validation. Returns 1 if valid, else 0 with *bad = byte offset of
 * the first invalid sequence. */
int tok_utf8_valid(const uint8_t *s, size_t n, size_t *bad);

/* Decode one code point of valid UTF-8 at s[p]; *q receives the next offset. */
static inline uint32_t tok_utf8_next(const uint8_t *s, size_t p, size_t *q) {
    uint32_t c = s[p];
    if (c < 0x80) { *q = p + 1; return c; }
    if (c < 0xE0) { *q = p + 2; return ((c & 0x1F) << 6) | (s[p + 1] & 0x3F); }
    if (c < 0xF0) {
        *q = p + 3;
        return ((c & 0x0F) << 12) | ((uint32_t)(s[p + 1] & 0x3F) << 6) | (s[p + 2] & 0x3F);
    }
    *q = p + 4;
    return ((c & 0x07) << 18) | ((uint32_t)(s[p + 1] & 0x3F) << 12) | ((uint32_t)(s[p + 2] & 0x3F) << 6) |
           (s[p + 3] & 0x3F);
}

/* ---- pre-tokenizer stages (pretok.c) -------------------------------------- */
typedef enum {
    TOK_SPLIT_LLAMA3 = 1, /* the Llama-3 regex, hand-written matcher          */
    TOK_SPLIT_GPT2 = 2,   /* ByteLevel(use_regex=true): the GPT-2 regex       */
    TOK_SPLIT_PCRE2 = 3,  /* any other Split regex, through PCRE2 (UTF|UCP)   */
} tok_split_kind;

typedef struct {
    tok_split_kind kind;
    void *re; /* pcre2_code_8 * for TOK_SPLIT_PCRE2 */
} tok_split;

#define TOK_MAX_SPLITS 8

/* The exact regex strings that get a hand-written matcher. */
extern const char tok_llama3_regex[];
extern const char tok_gpt2_regex[];

/* Compile a regex for TOK_SPLIT_PCRE2; NULL with a message on failure. */
void *tok_pcre2_compile(const char *pattern, size_t len, char *err, size_t err_size);
void tok_pcre2_free(void *re);

/* ---- hash tables and BPE (bpe.c) ------------------------------------------ */
typedef struct {
    uint32_t tag; /* upper hash bits; 0 marks an empty slot (tags are forced non-zero) */
    int32_t id;
} tok_slot;

typedef struct {
    tok_slot *slots;
    size_t mask; /* capacity - 1 (capacity a power of two) */
    size_t n;
} tok_strmap;

typedef struct {
    uint64_t key; /* (a << 32) | b; UINT64_MAX = empty */
    uint32_t rank;
    int32_t id;
} tok_merge_slot;

typedef struct {
    tok_merge_slot *slots;
    size_t mask;
    size_t n;
} tok_mergemap;

uint64_t tok_hash_bytes(const void *p, size_t n);

/* ---- added tokens ---------------------------------------------------------- */
typedef struct {
    int32_t id;
    char *content; /* malloc'd, NUL-terminated (may hold NUL bytes: use len) */
    size_t len;
    bool special, lstrip, rstrip, single_word, normalized;
} tok_added;

typedef struct {
    int32_t child;   /* first child node, -1 if none  */
    int32_t sibling; /* next sibling node, -1 if none */
    int32_t term;    /* index into tok->added, -1 if no pattern ends here */
    uint8_t byte;
} tok_trie_node;

typedef struct {
    tok_trie_node *nodes; /* nodes[0] is the root */
    size_t n, cap;
    bool first[256]; /* bytes that start some pattern */
    bool empty;      /* no patterns at all */
} tok_trie;

/* ---- the tokenizer --------------------------------------------------------- */
enum { TOK_F_SPECIAL = 1, TOK_F_ADDED = 2, TOK_F_RAW = 4 /* base entry with byte-level spelling */ };

struct vlm_tokenizer {
    /* per id, [cap_ids] */
    const uint8_t **spell;  /* vocabulary spelling, NUL-terminated      */
    uint32_t *spell_len;
    const uint8_t **dec;    /* decode bytes (raw bytes for BPE tokens)   */
    uint32_t *dec_len;
    uint8_t *flags;         /* TOK_F_*                                    */
    uint16_t *trim_lead;    /* post-processor trim counts, NULL if unused */
    uint16_t *trim_trail;
    int32_t n_base, n_vocab, cap_ids;

    char *spell_pool; /* base spellings, NUL-separated */
    uint8_t *raw_pool; /* base raw bytes               */

    tok_strmap raw_map;   /* raw bytes -> base id (TOK_F_RAW entries)       */
    tok_strmap spell_map; /* spelling -> id (base and added)                */
    tok_mergemap merges;  /* (id_a, id_b) -> (rank, merged id)              */
    int32_t byte_id[256]; /* single raw byte -> base id, -1 if absent       */
    bool ignore_merges;

    tok_added *added;
    size_t n_added, cap_added;
    tok_trie trie_plain; /* non-normalized added tokens */
    tok_trie trie_norm;  /* normalized added tokens     */

    tok_split splits[TOK_MAX_SPLITS];
    int n_splits;

    bool trim_offsets;     /* ByteLevel post-processor with trim_offsets    */
    bool trim_prefix;      /* ... and its add_prefix_space                  */

    uint8_t *cls; /* [0x10000] class bits of BMP code points */

    int32_t eos_id;
    char last_error[320];
};

/* Class bits of a code point, using the tokenizer's BMP table. */
static inline unsigned tok_class(const vlm_tokenizer *t, uint32_t cp) {
    return cp < 0x10000 ? t->cls[cp] : tok_class_slow(cp);
}

/* ---- bpe.c ----------------------------------------------------------------- */
/* Byte-level alphabet: byte -> code point, and code point -> byte (-1 if none). */
uint32_t tok_byte_to_cp(uint8_t b);
int tok_cp_to_byte(uint32_t cp);

int tok_strmap_init(tok_strmap *m, size_t n_expected);
void tok_strmap_free(tok_strmap *m);
/* Insert (bytes of id given by get) -> id. Returns 0 on OOM. Does not check duplicates. */
int tok_strmap_put(tok_strmap *m, uint64_t h, int32_t id,
                   const uint8_t *const *keys, const uint32_t *key_lens);
/* Look up; keys/key_lens are the per-id byte strings the map was built on. */
int32_t tok_strmap_get(const tok_strmap *m, const uint8_t *s, size_t n, uint64_t h,
                       const uint8_t *const *keys, const uint32_t *key_lens);

int tok_mergemap_init(tok_mergemap *m, size_t n_expected);
void tok_mergemap_free(tok_mergemap *m);
void tok_mergemap_put(tok_mergemap *m, int32_t a, int32_t b, uint32_t rank, int32_t id); /* later wins */
static inline const tok_merge_slot *tok_mergemap_get(const tok_mergemap *m, int32_t a, int32_t b) {
    if (!m->slots) return NULL;
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 32) & m->mask;
    for (;;) {
        const tok_merge_slot *s = &m->slots[i];
        if (s->key == key) return s;
        if (s->key == UINT64_MAX) return NULL;
        i = (i + 1) & m->mask;
    }
}

/* One BPE symbol: a token id covering len bytes starting at start (byte
 * offsets are relative to the word, as Hugging Face's Word computes them). */
typedef struct {
    int32_t id;
    uint32_t start, len;
    int32_t prev, next;
    uint32_t rank; /* rank of the pair (this, next), UINT32_MAX if none */
    int32_t merged;
} tok_sym;

/* Merge symbols in place (lowest rank first, leftmost on ties, as HF's
 * Word::merge_all). Returns the index of the first live symbol (-1 if n == 0);
 * live symbols are linked through next. heap is scratch of at least n entries
 * for the priority-queue path (used when n > small or force_heap). */
int32_t tok_bpe_merge(const tok_mergemap *m, tok_sym *sym, int32_t n, uint64_t *heap, bool force_heap);

/* Scratch of one encode call (never shared between threads). */
typedef struct {
    const vlm_tokenizer *tok;
    const uint8_t *text;
    size_t len;
    vlm_tokens *out;
    tok_sym *sym;
    uint64_t *heap;
    size_t sym_cap;
    void *md;  /* pcre2 match data, created on demand */
    void *mctx; /* pcre2 match context */
    void *jit;  /* pcre2 JIT stack */
    vlm_status st;
    char *err;
    size_t err_size;
    /* When set, pre-tokens (added = -1) and added tokens (added = id) go here
     * instead of to BPE and the output (tests compare splitters). */
    int (*piece_cb)(void *user, int32_t added, size_t bs, size_t be);
    void *user;
} tok_enc;

/* Emit (id, byte start, byte end). Returns 0 on OOM (sets e->st). */
int tok_emit(tok_enc *e, int32_t id, size_t bs, size_t be);
/* Encode one pre-token [bs, be) of e->text with BPE. */
int tok_bpe_word(tok_enc *e, size_t bs, size_t be);

/* ---- pretok.c -------------------------------------------------------------- */
/* End of the pre-token that starts at p in the piece [p, end). */
size_t tok_pretok_llama3(const vlm_tokenizer *t, const uint8_t *s, size_t p, size_t end);
size_t tok_pretok_gpt2(const vlm_tokenizer *t, const uint8_t *s, size_t p, size_t end);
/* Run split stages [stage, n_splits) over the piece [bs, be), then BPE. */
int tok_pretokenize(tok_enc *e, int stage, size_t bs, size_t be);
void tok_enc_release(tok_enc *e);

/* ---- tokenizer.c ------------------------------------------------------------ */
/* Run the added-token split and the pre-tokenizer over valid UTF-8 text and
 * report every pre-token [bs, be) (byte offsets) to cb; added tokens are
 * reported with added = their id, pre-tokens with added = -1. For tests. */
vlm_status tok_pretokenize_text(const vlm_tokenizer *t, const char *text, size_t len,
                                int (*cb)(void *user, int32_t added, size_t bs, size_t be), void *user);

#endif
