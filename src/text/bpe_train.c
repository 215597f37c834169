/* bpe_train.c - training a byte-level BPE tokenizer (Hugging Face's
 * BpeTrainer semantics, Llama-3 pre-tokenizer) and writing a tokenizer.json
 * shaped like Llama-3's.
 *
 * Counting (vlm_bpe_trainer_add_text): each text is cut at the special and cut
 * tokens exactly as encode splits added tokens (leftmost, longest), every
 * remaining piece is split by the Llama-3 matcher of pretok.c, and each
 * pre-token's bytes are counted in a hash set. Texts are not kept.
 *
 * Training (vlm_bpe_trainer_finish):
 *   - ids 0..255 are the bytes, ordered by the code point of their byte-level
 *     character (the order of GPT-2's and Llama-3's vocabularies, and of HF's
 *     trainer alphabet, which it sorts by character);
 *   - every distinct pre-token becomes a word (a symbol array) with its count;
 *     pair counts are weighted by word counts; each pair keeps the list of
 *     words it may occur in (a superset: entries are never removed);
 *   - a max-heap with decrease/increase-key orders the pairs by count, then by
 *     the smallest (left id, right id), which is HF's Ord for Merge;
 *   - merging a pair rewrites only the words on its list, left to right
 *     (HF's Word::merge), and applies the count changes of the neighbouring
 *     pairs (x,a)->(x,c) and (b,y)->(c,y) weighted by the word's count.
 * Forced merges for the required strings come first: each string is segmented
 * with the merges made so far, then its segments are merged left to right,
 * so BPE alone (without ignore_merges) turns the string into one token.
 * A merge whose string already exists reuses that id (as HF does) and does not
 * grow the vocabulary; a pair merged a second time (possible only after such a
 * reuse) is applied to the words but written once.
 * Cost: O(total pair occurrences touched * log pairs); the initial counting is
 * linear in the text. */
#include <jansson.h>

#include "core/util.h"
#include "text/tokenizer_internal.h"

#define MAX_VOCAB ((int64_t)1 << 30)

/* ------------------------------------------------------------------------- */
/* A set of byte strings (words, tokens): index <-> bytes, open addressing     */
/* ------------------------------------------------------------------------- */
typedef struct {
    uint8_t *pool;
    size_t pool_n, pool_cap;
    size_t *off;     /* [cap] start in pool     */
    uint32_t *len;   /* [cap] length in bytes   */
    uint64_t *hash;  /* [cap]                   */
    int64_t *count;  /* [cap] occurrences (words only, else NULL) */
    size_t n, cap;
    int32_t *slots;  /* index or -1 */
    size_t mask;
    bool counted;
} bset;

static void bset_free(bset *s) {
    free(s->pool);
    free(s->off);
    free(s->len);
    free(s->hash);
    free(s->count);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

static int bset_rehash(bset *s, size_t cap) {
    int32_t *sl = malloc(cap * sizeof *sl);
    if (!sl) return 0;
    for (size_t i = 0; i < cap; i++) sl[i] = -1;
    for (size_t k = 0; k < s->n; k++) {
        size_t i = (size_t)s->hash[k] & (cap - 1);
        while (sl[i] >= 0) i = (i + 1) & (cap - 1);
        sl[i] = (int32_t)k;
    }
    free(s->slots);
    s->slots = sl;
    s->mask = cap - 1;
    return 1;
}

static int64_t bset_find(const bset *s, const uint8_t *p, size_t n, uint64_t h) {
    if (!s->slots) return -1;
    for (size_t i = (size_t)h & s->mask;; i = (i + 1) & s->mask) {
        int32_t k = s->slots[i];
        if (k < 0) return -1;
        if (s->hash[k] == h && s->len[k] == n && memcmp(s->pool + s->off[k], p, n) == 0) return k;
    }
}

/* Index of p[0..n) (added if new: *added = 1). -1 on OOM or too many entries. */
static int64_t bset_add(bset *s, const uint8_t *p, size_t n, uint64_t h, int *added) {
    *added = 0;
    int64_t k = bset_find(s, p, n, h);
    if (k >= 0) return k;
    if (s->n >= (size_t)INT32_MAX - 1 || n > UINT32_MAX) return -1;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        size_t *o = realloc(s->off, cap * sizeof *o);
        if (!o) return -1;
        s->off = o;
        uint32_t *l = realloc(s->len, cap * sizeof *l);
        if (!l) return -1;
        s->len = l;
        uint64_t *hh = realloc(s->hash, cap * sizeof *hh);
        if (!hh) return -1;
        s->hash = hh;
        if (s->counted) {
            int64_t *c = realloc(s->count, cap * sizeof *c);
            if (!c) return -1;
            s->count = c;
        }
        s->cap = cap;
    }
    if ((s->n + 1) * 2 > (s->slots ? s->mask + 1 : 0) && !bset_rehash(s, s->slots ? (s->mask + 1) * 2 : 2048))
        return -1;
    size_t need;
    if (!vlm_add_ok(s->pool_n, n, &need)) return -1;
    if (need > s->pool_cap) {
        size_t cap = s->pool_cap ? s->pool_cap : 1 << 16;
        while (cap < need) {
            if (cap > ((size_t)-1) / 2) return -1;
            cap *= 2;
        }
        uint8_t *np = realloc(s->pool, cap);
        if (!np) return -1;
        s->pool = np;
        s->pool_cap = cap;
    }
    if (n) memcpy(s->pool + s->pool_n, p, n);
    k = (int64_t)s->n++;
    s->off[k] = s->pool_n;
    s->len[k] = (uint32_t)n;
    s->hash[k] = h;
    if (s->counted) s->count[k] = 0;
    s->pool_n += n;
    size_t i = (size_t)h & s->mask;
    while (s->slots[i] >= 0) i = (i + 1) & s->mask;
    s->slots[i] = (int32_t)k;
    *added = 1;
    return k;
}

/* ------------------------------------------------------------------------- */
/* uint64 -> int32 map (pair keys (a << 32) | b; UINT64_MAX = empty)          */
/* ------------------------------------------------------------------------- */
typedef struct {
    uint64_t *keys;
    int32_t *vals;
    size_t mask, n;
} u64map;

static inline size_t u64_slot(uint64_t k, size_t mask) { return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 20) & mask; }

static void u64map_free(u64map *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static int32_t u64map_get(const u64map *m, uint64_t k) {
    if (!m->keys) return -1;
    for (size_t i = u64_slot(k, m->mask);; i = (i + 1) & m->mask) {
        if (m->keys[i] == k) return m->vals[i];
        if (m->keys[i] == UINT64_MAX) return -1;
    }
}

static int u64map_put(u64map *m, uint64_t k, int32_t v) {
    if (!m->keys || (m->n + 1) * 2 > m->mask + 1) {
        size_t cap = m->keys ? (m->mask + 1) * 2 : 4096;
        uint64_t *nk = malloc(cap * sizeof *nk);
        int32_t *nv = malloc(cap * sizeof *nv);
        if (!nk || !nv) {
            free(nk);
            free(nv);
            return 0;
        }
        for (size_t i = 0; i < cap; i++) nk[i] = UINT64_MAX;
        if (m->keys)
            for (size_t j = 0; j <= m->mask; j++) {
                if (m->keys[j] == UINT64_MAX) continue;
                size_t i = u64_slot(m->keys[j], cap - 1);
                while (nk[i] != UINT64_MAX) i = (i + 1) & (cap - 1);
                nk[i] = m->keys[j];
                nv[i] = m->vals[j];
            }
        free(m->keys);
        free(m->vals);
        m->keys = nk;
        m->vals = nv;
        m->mask = cap - 1;
    }
    size_t i = u64_slot(k, m->mask);
    while (m->keys[i] != UINT64_MAX && m->keys[i] != k) i = (i + 1) & m->mask;
    if (m->keys[i] == UINT64_MAX) m->n++;
    m->keys[i] = k;
    m->vals[i] = v;
    return 1;
}

static inline uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

/* ------------------------------------------------------------------------- */
/* The trainer                                                                */
/* ------------------------------------------------------------------------- */
typedef struct {
    uint64_t key;
    int64_t count;
    int32_t heap;     /* position in the heap, -1 if not in it */
    uint32_t nw, cw;  /* where: words the pair may occur in   */
    int32_t *where;
} pair_t;

typedef struct {
    char *s;
    size_t n;
} str_t;

struct vlm_bpe_trainer {
    int64_t vocab_size, min_frequency;
    str_t *required, *specials, *cuts; /* copies of the parameters */
    size_t n_required, n_specials, n_cuts;
    char *bos;
    void (*progress)(void *, int64_t, int64_t);
    void *progress_user;
    bool cut_first[256];

    vlm_tokenizer *pt; /* only its character-class table is used (pretok.c) */
    bset words;        /* distinct pre-tokens and their counts            */
    int64_t n_texts, n_bytes, n_pretokens;
    bool finished;

    /* training state */
    bset toks;            /* raw bytes of every token id                  */
    int32_t byte_id[256]; /* byte -> id                                   */
    int32_t *sym;         /* word symbols, word k at words.off[k]         */
    uint32_t *wlen;       /* current number of symbols per word           */
    int32_t *stamp;       /* last merge step that rewrote the word        */
    int32_t step;
    pair_t *pairs;
    size_t n_pairs, cap_pairs;
    u64map pair_idx;      /* key -> index in pairs                        */
    int32_t *heap;        /* pair indices                                 */
    size_t n_heap;
    int32_t *ma, *mb, *mc; /* merges in order: (a, b) -> c                */
    size_t n_merges, cap_merges;
    u64map merge_rank;    /* key -> rank                                  */
    int64_t n_forced, last_count;
    uint8_t *scratch;     /* bytes of a token being built                 */
    size_t scratch_cap;

    char last_error[320];
};

static vlm_status tr_fail(vlm_bpe_trainer *tr, vlm_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static vlm_status tr_fail(vlm_bpe_trainer *tr, vlm_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tr->last_error, sizeof tr->last_error, fmt, ap);
    va_end(ap);
    return st;
}

/* A printable, quoted, truncated rendering of s[0..n) for messages. */
static const char *quote(char *buf, size_t cap, const char *s, size_t n) {
    size_t o = 0;
    buf[o++] = '"';
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { buf[o++] = '\\'; buf[o++] = (char)c; }
        else if (c == '\n') { buf[o++] = '\\'; buf[o++] = 'n'; }
        else if (c < 0x20 || c == 0x7F) o += (size_t)snprintf(buf + o, cap - o, "\\x%02X", c);
        else buf[o++] = (char)c;
        if (i + 1 < n && o + 8 >= cap) { memcpy(buf + o, "...", 3); o += 3; break; }
    }
    buf[o++] = '"';
    buf[o] = 0;
    return buf;
}

static const char *const default_required[] = {",", "]\n"};
static const char *const default_specials[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                               "<|end_header_id|>", "<|eot_id|>"};

vlm_bpe_train_params vlm_bpe_train_default_params(void) {
    vlm_bpe_train_params p;
    memset(&p, 0, sizeof p);
    p.vocab_size = 1024;
    p.min_frequency = 2;
    p.required = default_required;
    p.n_required = sizeof default_required / sizeof default_required[0];
    p.specials = default_specials;
    p.n_specials = sizeof default_specials / sizeof default_specials[0];
    p.bos_token = "<|begin_of_text|>";
    return p;
}

void vlm_bpe_trainer_free(vlm_bpe_trainer *tr) {
    if (!tr) return;
    str_t *lists[3] = {tr->required, tr->specials, tr->cuts};
    size_t counts[3] = {tr->n_required, tr->n_specials, tr->n_cuts};
    for (int l = 0; l < 3; l++) {
        for (size_t i = 0; i < counts[l]; i++) free(lists[l][i].s);
        free(lists[l]);
    }
    free(tr->bos);
    vlm_tokenizer_free(tr->pt);
    bset_free(&tr->words);
    bset_free(&tr->toks);
    free(tr->sym);
    free(tr->wlen);
    free(tr->stamp);
    for (size_t i = 0; i < tr->n_pairs; i++) free(tr->pairs[i].where);
    free(tr->pairs);
    u64map_free(&tr->pair_idx);
    free(tr->heap);
    free(tr->ma);
    free(tr->mb);
    free(tr->mc);
    u64map_free(&tr->merge_rank);
    free(tr->scratch);
    free(tr);
}

const char *vlm_bpe_trainer_last_error(const vlm_bpe_trainer *tr) { return tr ? tr->last_error : ""; }

/* Copy a list of strings; checks non-empty, valid UTF-8, no duplicates. */
static vlm_status copy_list(const char *what, const char *const *src, size_t n, str_t **out, size_t *n_out,
                            char *err, size_t err_size) {
    *out = NULL;
    *n_out = 0;
    if (!n) return VLM_OK;
    if (!src) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "%s: NULL list of %zu strings", what, n);
    str_t *l = calloc(n, sizeof *l);
    if (!l) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    *out = l;
    char qb[96];
    for (size_t i = 0; i < n; i++) {
        if (!src[i] || !src[i][0]) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "%s[%zu]: empty string", what, i);
        size_t len = strlen(src[i]), bad;
        if (!tok_utf8_valid((const uint8_t *)src[i], len, &bad))
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "%s[%zu]: invalid UTF-8 at byte offset %zu", what, i,
                               bad);
        for (size_t j = 0; j < i; j++)
            if (l[j].n == len && !memcmp(l[j].s, src[i], len))
                return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "%s: %s given twice", what,
                                   quote(qb, sizeof qb, src[i], len));
        l[i].s = malloc(len + 1);
        if (!l[i].s) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        memcpy(l[i].s, src[i], len + 1);
        l[i].n = len;
        *n_out = i + 1;
    }
    return VLM_OK;
}

static bool contains(const char *hay, size_t hn, const char *needle, size_t nn) {
    if (nn > hn) return false;
    for (size_t i = 0; i + nn <= hn; i++)
        if (!memcmp(hay + i, needle, nn)) return true;
    return false;
}

vlm_status vlm_bpe_trainer_new(const vlm_bpe_train_params *p, vlm_bpe_trainer **out, char *err, size_t err_size) {
    if (!out) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "out is NULL");
    *out = NULL;
    vlm_bpe_train_params d = vlm_bpe_train_default_params();
    if (!p) p = &d;
    vlm_bpe_trainer *tr = calloc(1, sizeof *tr);
    if (!tr) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    vlm_status st;
    char qb[96];
    if ((st = copy_list("required", p->required, p->n_required, &tr->required, &tr->n_required, err, err_size)) ||
        (st = copy_list("specials", p->specials, p->n_specials, &tr->specials, &tr->n_specials, err, err_size)) ||
        (st = copy_list("cut_tokens", p->cut_tokens, p->n_cut_tokens, &tr->cuts, &tr->n_cuts, err, err_size)))
        goto fail;
    st = VLM_ERR_INVALID_ARG;
    if (p->min_frequency < 0) {
        vlm_set_err(err, err_size, st, "min_frequency %lld is negative", (long long)p->min_frequency);
        goto fail;
    }
    if (p->vocab_size < 256 + (int64_t)tr->n_specials || p->vocab_size > MAX_VOCAB) {
        vlm_set_err(err, err_size, st, "vocab size %lld is outside [%lld, %lld] (256 byte tokens + %zu special tokens)",
                    (long long)p->vocab_size, (long long)(256 + (int64_t)tr->n_specials), (long long)MAX_VOCAB,
                    tr->n_specials);
        goto fail;
    }
    tr->vocab_size = p->vocab_size;
    tr->min_frequency = p->min_frequency;
    tr->progress = p->progress;
    tr->progress_user = p->progress_user;
    if (p->bos_token && p->bos_token[0]) {
        size_t bl = strlen(p->bos_token), i;
        for (i = 0; i < tr->n_specials; i++)
            if (tr->specials[i].n == bl && !memcmp(tr->specials[i].s, p->bos_token, bl)) break;
        if (i == tr->n_specials) {
            vlm_set_err(err, err_size, st, "bos token %s is not one of the special tokens",
                        quote(qb, sizeof qb, p->bos_token, bl));
            goto fail;
        }
        tr->bos = strdup(p->bos_token);
        if (!tr->bos) {
            st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
            goto fail;
        }
    }
    for (size_t i = 0; i < tr->n_specials; i++) tr->cut_first[(uint8_t)tr->specials[i].s[0]] = true;
    for (size_t i = 0; i < tr->n_cuts; i++) tr->cut_first[(uint8_t)tr->cuts[i].s[0]] = true;
    tr->pt = calloc(1, sizeof *tr->pt);
    if (tr->pt) tr->pt->cls = malloc(0x10000);
    if (!tr->pt || !tr->pt->cls) {
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        goto fail;
    }
    tok_class_fill_bmp(tr->pt->cls);
    for (size_t i = 0; i < tr->n_required; i++) {
        const str_t *r = &tr->required[i];
        size_t e = tok_pretok_llama3(tr->pt, (const uint8_t *)r->s, 0, r->n);
        if (e != r->n) {
            char qb2[96];
            vlm_set_err(err, err_size, st,
                        "required token %s is not one pre-token under the Llama-3 regex (it splits after %s), so it "
                        "can never be a single token",
                        quote(qb, sizeof qb, r->s, r->n), quote(qb2, sizeof qb2, r->s, e));
            goto fail;
        }
        for (int l = 0; l < 2; l++) {
            const str_t *lst = l ? tr->cuts : tr->specials;
            size_t nl = l ? tr->n_cuts : tr->n_specials;
            for (size_t j = 0; j < nl; j++)
                if (contains(r->s, r->n, lst[j].s, lst[j].n)) {
                    char qb2[96];
                    vlm_set_err(err, err_size, st, "required token %s contains the %s token %s",
                                quote(qb, sizeof qb, r->s, r->n), l ? "cut" : "special",
                                quote(qb2, sizeof qb2, lst[j].s, lst[j].n));
                    goto fail;
                }
        }
    }
    tr->words.counted = true;
    *out = tr;
    return VLM_OK;
fail:
    vlm_bpe_trainer_free(tr);
    return st;
}

/* ------------------------------------------------------------------------- */
/* Counting                                                                   */
/* ------------------------------------------------------------------------- */
static vlm_status count_piece(vlm_bpe_trainer *tr, const uint8_t *s, size_t bs, size_t be) {
    for (size_t p = bs; p < be;) {
        size_t q = tok_pretok_llama3(tr->pt, s, p, be);
        int added;
        int64_t k = bset_add(&tr->words, s + p, q - p, tok_hash_bytes(s + p, q - p), &added);
        if (k < 0) return tr_fail(tr, VLM_ERR_OOM, "out of memory counting pre-tokens (%zu distinct)", tr->words.n);
        tr->words.count[k]++;
        tr->n_pretokens++;
        p = q;
    }
    return VLM_OK;
}

/* Length of the longest special/cut token at s[i..n), 0 if none. */
static size_t cut_at(const vlm_bpe_trainer *tr, const uint8_t *s, size_t i, size_t n) {
    size_t best = 0;
    for (int l = 0; l < 2; l++) {
        const str_t *lst = l ? tr->cuts : tr->specials;
        size_t nl = l ? tr->n_cuts : tr->n_specials;
        for (size_t j = 0; j < nl; j++)
            if (lst[j].n > best && lst[j].n <= n - i && !memcmp(s + i, lst[j].s, lst[j].n)) best = lst[j].n;
    }
    return best;
}

vlm_status vlm_bpe_trainer_add_text(vlm_bpe_trainer *tr, const char *text, size_t len) {
    if (!tr) return VLM_ERR_INVALID_ARG;
    if (tr->finished) return tr_fail(tr, VLM_ERR_INVALID_ARG, "add_text: training has already finished");
    if (!text && len) return tr_fail(tr, VLM_ERR_INVALID_ARG, "add_text: text is NULL");
    const uint8_t *s = (const uint8_t *)text;
    size_t bad;
    if (!tok_utf8_valid(s, len, &bad))
        return tr_fail(tr, VLM_ERR_INVALID_ARG, "invalid UTF-8 at byte offset %zu (byte 0x%02X)", bad, (unsigned)s[bad]);
    size_t start = 0;
    vlm_status st;
    if (tr->n_specials || tr->n_cuts) {
        for (size_t i = 0; i < len;) {
            size_t m = tr->cut_first[s[i]] ? cut_at(tr, s, i, len) : 0;
            if (!m) {
                i++;
                continue;
            }
            if ((st = count_piece(tr, s, start, i))) return st;
            i += m;
            start = i;
        }
    }
    if ((st = count_piece(tr, s, start, len))) return st;
    tr->n_texts++;
    tr->n_bytes += (int64_t)len;
    return VLM_OK;
}

/* ------------------------------------------------------------------------- */
/* Pair heap: highest count first, then the smallest key (HF's Merge order)   */
/* ------------------------------------------------------------------------- */
static inline bool before(const pair_t *x, const pair_t *y) {
    return x->count > y->count || (x->count == y->count && x->key < y->key);
}

static void heap_set(vlm_bpe_trainer *tr, size_t pos, int32_t pi) {
    tr->heap[pos] = pi;
    tr->pairs[pi].heap = (int32_t)pos;
}

static void sift_up(vlm_bpe_trainer *tr, size_t pos) {
    int32_t pi = tr->heap[pos];
    while (pos > 0) {
        size_t par = (pos - 1) / 2;
        if (!before(&tr->pairs[pi], &tr->pairs[tr->heap[par]])) break;
        heap_set(tr, pos, tr->heap[par]);
        pos = par;
    }
    heap_set(tr, pos, pi);
}

static void sift_down(vlm_bpe_trainer *tr, size_t pos) {
    int32_t pi = tr->heap[pos];
    for (;;) {
        size_t c = 2 * pos + 1;
        if (c >= tr->n_heap) break;
        if (c + 1 < tr->n_heap && before(&tr->pairs[tr->heap[c + 1]], &tr->pairs[tr->heap[c]])) c++;
        if (!before(&tr->pairs[tr->heap[c]], &tr->pairs[pi])) break;
        heap_set(tr, pos, tr->heap[c]);
        pos = c;
    }
    heap_set(tr, pos, pi);
}

static void heap_remove(vlm_bpe_trainer *tr, int32_t pi) {
    int32_t pos = tr->pairs[pi].heap;
    if (pos < 0) return;
    tr->pairs[pi].heap = -1;
    int32_t last = tr->heap[--tr->n_heap];
    if ((size_t)pos == tr->n_heap) return;
    heap_set(tr, (size_t)pos, last);
    sift_up(tr, (size_t)pos);
    sift_down(tr, (size_t)tr->pairs[last].heap);
}

/* The heap holds every pair with a positive count (capacity: all pairs). */
static void heap_fix(vlm_bpe_trainer *tr, int32_t pi) {
    pair_t *p = &tr->pairs[pi];
    if (p->heap < 0) {
        if (p->count <= 0) return;
        tr->heap[tr->n_heap] = pi;
        p->heap = (int32_t)tr->n_heap++;
        sift_up(tr, tr->n_heap - 1);
        return;
    }
    if (p->count <= 0) {
        heap_remove(tr, pi);
        return;
    }
    sift_up(tr, (size_t)p->heap);
    sift_down(tr, (size_t)tr->pairs[pi].heap);
}

/* Index of the pair (a, b), created with count 0 if new; -1 on OOM. */
static int32_t pair_get(vlm_bpe_trainer *tr, int32_t a, int32_t b) {
    uint64_t key = pair_key(a, b);
    int32_t pi = u64map_get(&tr->pair_idx, key);
    if (pi >= 0) return pi;
    if (tr->n_pairs == tr->cap_pairs) {
        if (tr->cap_pairs >= (size_t)INT32_MAX / 2) return -1;
        size_t cap = tr->cap_pairs ? tr->cap_pairs * 2 : 4096;
        pair_t *np = realloc(tr->pairs, cap * sizeof *np);
        if (!np) return -1;
        tr->pairs = np;
        int32_t *nh = realloc(tr->heap, cap * sizeof *nh);
        if (!nh) return -1;
        tr->heap = nh;
        tr->cap_pairs = cap;
    }
    pi = (int32_t)tr->n_pairs;
    if (!u64map_put(&tr->pair_idx, key, pi)) return -1;
    tr->n_pairs++;
    pair_t *p = &tr->pairs[pi];
    memset(p, 0, sizeof *p);
    p->key = key;
    p->heap = -1;
    return pi;
}

/* count(a, b) += delta; a positive delta records the word. 0 on OOM. */
static int pair_change(vlm_bpe_trainer *tr, int32_t a, int32_t b, int64_t delta, int32_t word) {
    int32_t pi = pair_get(tr, a, b);
    if (pi < 0) return 0;
    pair_t *p = &tr->pairs[pi];
    p->count += delta;
    if (delta > 0 && (p->nw == 0 || p->where[p->nw - 1] != word)) {
        if (p->nw == p->cw) {
            if (p->cw >= UINT32_MAX / 2) return 0;
            uint32_t cap = p->cw ? p->cw * 2 : 4;
            int32_t *nw = realloc(p->where, (size_t)cap * sizeof *nw);
            if (!nw) return 0;
            p->where = nw;
            p->cw = cap;
        }
        p->where[p->nw++] = word;
    }
    heap_fix(tr, pi);
    return 1;
}

/* ------------------------------------------------------------------------- */
/* Merging                                                                    */
/* ------------------------------------------------------------------------- */
/* Rewrite word w, replacing each (a, b) left to right by c (HF Word::merge). */
static int merge_word(vlm_bpe_trainer *tr, int32_t w, int32_t a, int32_t b, int32_t c) {
    int32_t *s = tr->sym + tr->words.off[w];
    uint32_t n = tr->wlen[w], o = 0;
    int64_t wc = tr->words.count[w];
    uint64_t self = pair_key(a, b);
    for (uint32_t i = 0; i < n;) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            if (o > 0) {
                int32_t x = s[o - 1];
                if (pair_key(x, a) != self && !pair_change(tr, x, a, -wc, w)) return 0;
                if (!pair_change(tr, x, c, wc, w)) return 0;
            }
            if (i + 2 < n) {
                int32_t y = s[i + 2];
                if (pair_key(b, y) != self && !pair_change(tr, b, y, -wc, w)) return 0;
                if (!pair_change(tr, c, y, wc, w)) return 0;
            }
            s[o++] = c;
            i += 2;
        } else {
            s[o++] = s[i++];
        }
    }
    tr->wlen[w] = o;
    return 1;
}

/* Merge the pair pi everywhere; writes the merge unless the pair was merged
 * before. *out_id receives the id of the merged token. */
static vlm_status do_merge(vlm_bpe_trainer *tr, int32_t pi, int32_t *out_id) {
    uint64_t key = tr->pairs[pi].key;
    int32_t a = (int32_t)(key >> 32), b = (int32_t)(uint32_t)key;
    size_t la = tr->toks.len[a], lb = tr->toks.len[b], ln;
    if (!vlm_add_ok(la, lb, &ln) || ln > UINT32_MAX) return tr_fail(tr, VLM_ERR_INVALID_ARG, "token too long");
    if (ln > tr->scratch_cap) {
        size_t cap = ln * 2;
        uint8_t *ns = realloc(tr->scratch, cap);
        if (!ns) return tr_fail(tr, VLM_ERR_OOM, "out of memory");
        tr->scratch = ns;
        tr->scratch_cap = cap;
    }
    memcpy(tr->scratch, tr->toks.pool + tr->toks.off[a], la);
    memcpy(tr->scratch + la, tr->toks.pool + tr->toks.off[b], lb);
    int added;
    int64_t c = bset_add(&tr->toks, tr->scratch, ln, tok_hash_bytes(tr->scratch, ln), &added);
    if (c < 0) return tr_fail(tr, VLM_ERR_OOM, "out of memory (vocabulary)");
    if (u64map_get(&tr->merge_rank, key) < 0) {
        if (tr->n_merges == tr->cap_merges) {
            size_t cap = tr->cap_merges ? tr->cap_merges * 2 : 1024;
            int32_t *x = realloc(tr->ma, cap * sizeof *x);
            if (x) tr->ma = x;
            int32_t *y = x ? realloc(tr->mb, cap * sizeof *y) : NULL;
            if (y) tr->mb = y;
            int32_t *z = y ? realloc(tr->mc, cap * sizeof *z) : NULL;
            if (!z) return tr_fail(tr, VLM_ERR_OOM, "out of memory (merges)");
            tr->mc = z;
            tr->cap_merges = cap;
        }
        if (!u64map_put(&tr->merge_rank, key, (int32_t)tr->n_merges))
            return tr_fail(tr, VLM_ERR_OOM, "out of memory (merges)");
        tr->ma[tr->n_merges] = a;
        tr->mb[tr->n_merges] = b;
        tr->mc[tr->n_merges] = (int32_t)c;
        tr->n_merges++;
    }
    /* detach the pair: it is fully merged after this */
    pair_t *p = &tr->pairs[pi];
    int32_t *where = p->where;
    uint32_t nw = p->nw;
    p->where = NULL;
    p->nw = p->cw = 0;
    p->count = 0;
    heap_remove(tr, pi);
    tr->step++;
    for (uint32_t i = 0; i < nw; i++) {
        int32_t w = where[i];
        if (tr->stamp[w] == tr->step) continue;
        tr->stamp[w] = tr->step;
        if (!merge_word(tr, w, a, b, (int32_t)c)) {
            free(where);
            return tr_fail(tr, VLM_ERR_OOM, "out of memory (pair counts)");
        }
    }
    free(where);
    /* merge_word never counts the merged pair itself: it is gone */
    tr->pairs[pi].count = 0;
    heap_remove(tr, pi);
    *out_id = (int32_t)c;
    return VLM_OK;
}

/* BPE of raw bytes with the merges made so far (lowest rank first, leftmost
 * on ties). ids holds n entries; returns the number of tokens. */
static size_t bpe_segment(const vlm_bpe_trainer *tr, const uint8_t *s, size_t n, int32_t *ids) {
    for (size_t i = 0; i < n; i++) ids[i] = tr->byte_id[s[i]];
    for (;;) {
        int32_t best = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            int32_t r = u64map_get(&tr->merge_rank, pair_key(ids[i], ids[i + 1]));
            if (r >= 0 && (best < 0 || r < best)) {
                best = r;
                at = i;
            }
        }
        if (best < 0) return n;
        ids[at] = tr->mc[best];
        memmove(ids + at + 1, ids + at + 2, (n - at - 2) * sizeof *ids);
        n--;
    }
}

/* ------------------------------------------------------------------------- */
/* Output                                                                     */
/* ------------------------------------------------------------------------- */
/* Byte-level spelling of raw bytes (each byte one character, <= 2 UTF-8 bytes). */
static json_t *spelled(const uint8_t *s, size_t n, char *buf) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = tok_byte_to_cp(s[i]);
        if (cp < 0x80) buf[o++] = (char)cp;
        else {
            buf[o++] = (char)(0xC0 | (cp >> 6));
            buf[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return json_stringn_nocheck(buf, o);
}

/* Raw bytes of a byte-level spelling, -1 if some character is not byte-level. */
static long unspell(const char *s, size_t n, uint8_t *out) {
    size_t p = 0, o = 0;
    while (p < n) {
        size_t q;
        int b = tok_cp_to_byte(tok_utf8_next((const uint8_t *)s, p, &q));
        if (b < 0) return -1;
        out[o++] = (uint8_t)b;
        p = q;
    }
    return (long)o;
}

static int obj_set(json_t *o, const char *k, json_t *v) { return v && json_object_set_new(o, k, v) == 0; }

static json_t *bytelevel(bool aps, bool trim, bool use_regex) {
    json_t *o = json_object();
    if (!o) return NULL;
    if (!obj_set(o, "type", json_string("ByteLevel")) || !obj_set(o, "add_prefix_space", json_boolean(aps)) ||
        !obj_set(o, "trim_offsets", json_boolean(trim)) || !obj_set(o, "use_regex", json_boolean(use_regex))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* {"SpecialToken": {"id": name, "type_id": t}} or {"Sequence": {"id": name, ...}} */
static json_t *template_piece(const char *name, int type_id, bool seq) {
    json_t *inner = json_object(), *o = json_object();
    if (!inner || !o || !obj_set(inner, "id", json_string(name)) ||
        !obj_set(inner, "type_id", json_integer(type_id)) || !obj_set(o, seq ? "Sequence" : "SpecialToken", inner)) {
        json_decref(inner);
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Build the document; ids of the specials in special_ids. NULL on OOM. */
static json_t *build_doc(vlm_bpe_trainer *tr, const int32_t *special_ids) {
    size_t maxlen = 0;
    for (size_t i = 0; i < tr->toks.n; i++)
        if (tr->toks.len[i] > maxlen) maxlen = tr->toks.len[i];
    char *buf = malloc(4 * maxlen + 8);
    json_t *root = json_object(), *added = json_array(), *vocab = json_object(), *merges = json_array();
    json_t *model = json_object(), *pre = json_object(), *pres = json_array(), *split = json_object();
    json_t *pat = json_object(), *post = NULL, *tmp;
    bool ok = buf && root && added && vocab && merges && model && pre && pres && split && pat;
    for (size_t i = 0; ok && i < tr->n_specials; i++) {
        json_t *a = json_object();
        ok = a && obj_set(a, "id", json_integer(special_ids[i])) &&
             obj_set(a, "content", json_stringn_nocheck(tr->specials[i].s, tr->specials[i].n)) &&
             obj_set(a, "single_word", json_false()) && obj_set(a, "lstrip", json_false()) &&
             obj_set(a, "rstrip", json_false()) && obj_set(a, "normalized", json_false()) &&
             obj_set(a, "special", json_true()) && json_array_append_new(added, a) == 0;
    }
    for (size_t i = 0; ok && i < tr->toks.n; i++) {
        json_t *k = spelled(tr->toks.pool + tr->toks.off[i], tr->toks.len[i], buf);
        ok = k && json_object_setn_new_nocheck(vocab, json_string_value(k), json_string_length(k),
                                               json_integer((json_int_t)i)) == 0;
        json_decref(k);
    }
    for (size_t i = 0; ok && i < tr->n_merges; i++) {
        json_t *l = spelled(tr->toks.pool + tr->toks.off[tr->ma[i]], tr->toks.len[tr->ma[i]], buf);
        json_t *r = spelled(tr->toks.pool + tr->toks.off[tr->mb[i]], tr->toks.len[tr->mb[i]], buf);
        ok = l && r;
        if (ok) {
            size_t ll = json_string_length(l), rl = json_string_length(r);
            memcpy(buf, json_string_value(l), ll);
            buf[ll] = ' ';
            memcpy(buf + ll + 1, json_string_value(r), rl);
            ok = json_array_append_new(merges, json_stringn_nocheck(buf, ll + 1 + rl)) == 0;
        }
        json_decref(l);
        json_decref(r);
    }
    /* pre_tokenizer: Sequence[Split(Llama-3 regex, Isolated), ByteLevel(no prefix space, no regex)] */
    ok = ok && obj_set(pat, "Regex", json_string(tok_llama3_regex));
    if (ok) {
        ok = obj_set(split, "type", json_string("Split")) && obj_set(split, "pattern", pat);
        pat = NULL;
        ok = ok && obj_set(split, "behavior", json_string("Isolated")) && obj_set(split, "invert", json_false());
        ok = ok && json_array_append_new(pres, split) == 0;
        split = NULL;
        ok = ok && json_array_append_new(pres, bytelevel(false, true, false)) == 0;
        ok = ok && obj_set(pre, "type", json_string("Sequence")) && obj_set(pre, "pretokenizers", pres);
        pres = NULL;
    }
    /* post_processor: ByteLevel (no trimming) then TemplateProcessing adding bos, as Llama-3 */
    if (ok) {
        json_t *bl = bytelevel(true, false, true);
        ok = bl != NULL;
        if (ok && tr->bos) {
            int32_t bos_id = -1;
            for (size_t i = 0; i < tr->n_specials; i++)
                if (!strcmp(tr->specials[i].s, tr->bos)) bos_id = special_ids[i];
            json_t *single = json_array(), *pair = json_array(), *sp = json_object(), *ent = json_object(),
                   *ids = json_array(), *toks = json_array(), *procs = json_array();
            post = json_object();
            ok = single && pair && sp && ent && ids && toks && procs && post &&
                 json_array_append_new(single, template_piece(tr->bos, 0, false)) == 0 &&
                 json_array_append_new(single, template_piece("A", 0, true)) == 0 &&
                 json_array_append_new(pair, template_piece(tr->bos, 0, false)) == 0 &&
                 json_array_append_new(pair, template_piece("A", 0, true)) == 0 &&
                 json_array_append_new(pair, template_piece(tr->bos, 1, false)) == 0 &&
                 json_array_append_new(pair, template_piece("B", 1, true)) == 0 &&
                 json_array_append_new(ids, json_integer(bos_id)) == 0 &&
                 json_array_append_new(toks, json_string(tr->bos)) == 0 && obj_set(ent, "id", json_string(tr->bos)) &&
                 obj_set(ent, "ids", json_incref(ids)) && obj_set(ent, "tokens", json_incref(toks)) &&
                 obj_set(sp, tr->bos, json_incref(ent));
            tmp = json_object();
            ok = ok && tmp && obj_set(tmp, "type", json_string("TemplateProcessing")) &&
                 obj_set(tmp, "single", json_incref(single)) && obj_set(tmp, "pair", json_incref(pair)) &&
                 obj_set(tmp, "special_tokens", json_incref(sp));
            ok = ok && json_array_append(procs, bl) == 0 && json_array_append(procs, tmp) == 0 &&
                 obj_set(post, "type", json_string("Sequence")) && obj_set(post, "processors", json_incref(procs));
            json_decref(tmp);
            json_decref(single);
            json_decref(pair);
            json_decref(sp);
            json_decref(ent);
            json_decref(ids);
            json_decref(toks);
            json_decref(procs);
            json_decref(bl);
        } else {
            post = bl;
        }
    }
    ok = ok && obj_set(model, "type", json_string("BPE")) && obj_set(model, "dropout", json_null()) &&
         obj_set(model, "unk_token", json_null()) && obj_set(model, "continuing_subword_prefix", json_null()) &&
         obj_set(model, "end_of_word_suffix", json_null()) && obj_set(model, "fuse_unk", json_false()) &&
         obj_set(model, "byte_fallback", json_false()) && obj_set(model, "ignore_merges", json_true()) &&
         obj_set(model, "vocab", json_incref(vocab)) && obj_set(model, "merges", json_incref(merges));
    ok = ok && obj_set(root, "version", json_string("1.0")) && obj_set(root, "truncation", json_null()) &&
         obj_set(root, "padding", json_null()) && obj_set(root, "added_tokens", json_incref(added)) &&
         obj_set(root, "normalizer", json_null()) && obj_set(root, "pre_tokenizer", json_incref(pre)) &&
         obj_set(root, "post_processor", json_incref(post)) &&
         obj_set(root, "decoder", bytelevel(true, true, true)) && obj_set(root, "model", json_incref(model));
    json_decref(added);
    json_decref(vocab);
    json_decref(merges);
    json_decref(model);
    json_decref(pre);
    json_decref(pres);
    json_decref(split);
    json_decref(pat);
    json_decref(post);
    free(buf);
    if (!ok) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ------------------------------------------------------------------------- */
/* Training                                                                   */
/* ------------------------------------------------------------------------- */
static int cmp_cp(const void *x, const void *y) {
    uint32_t a = tok_byte_to_cp(*(const uint8_t *)x), b = tok_byte_to_cp(*(const uint8_t *)y);
    return (a > b) - (a < b);
}

static vlm_status setup(vlm_bpe_trainer *tr) {
    uint8_t order[256];
    for (int b = 0; b < 256; b++) order[b] = (uint8_t)b;
    qsort(order, 256, 1, cmp_cp);
    for (int i = 0; i < 256; i++) {
        int added;
        int64_t id = bset_add(&tr->toks, &order[i], 1, tok_hash_bytes(&order[i], 1), &added);
        if (id < 0) return tr_fail(tr, VLM_ERR_OOM, "out of memory");
        tr->byte_id[order[i]] = (int32_t)id;
    }
    size_t nw = tr->words.n, total = tr->words.pool_n;
    tr->sym = malloc((total ? total : 1) * sizeof *tr->sym);
    tr->wlen = malloc((nw ? nw : 1) * sizeof *tr->wlen);
    tr->stamp = calloc(nw ? nw : 1, sizeof *tr->stamp);
    if (!tr->sym || !tr->wlen || !tr->stamp) return tr_fail(tr, VLM_ERR_OOM, "out of memory (%zu words)", nw);
    for (size_t i = 0; i < total; i++) tr->sym[i] = tr->byte_id[tr->words.pool[i]];
    for (size_t w = 0; w < nw; w++) {
        const int32_t *s = tr->sym + tr->words.off[w];
        uint32_t n = tr->words.len[w];
        tr->wlen[w] = n;
        for (uint32_t i = 0; i + 1 < n; i++)
            if (!pair_change(tr, s[i], s[i + 1], tr->words.count[w], (int32_t)w))
                return tr_fail(tr, VLM_ERR_OOM, "out of memory (pair counts)");
    }
    return VLM_OK;
}

static vlm_status force_required(vlm_bpe_trainer *tr, int64_t target) {
    char qb[96];
    for (size_t r = 0; r < tr->n_required; r++) {
        const uint8_t *s = (const uint8_t *)tr->required[r].s;
        size_t n = tr->required[r].n;
        int32_t *seg = malloc(n * sizeof *seg);
        if (!seg) return tr_fail(tr, VLM_ERR_OOM, "out of memory");
        size_t k = bpe_segment(tr, s, n, seg);
        int32_t cur = seg[0];
        for (size_t i = 1; i < k; i++) {
            if ((int64_t)tr->toks.n >= target) {
                free(seg);
                return tr_fail(tr, VLM_ERR_INVALID_ARG,
                               "vocab size %lld leaves no room for the merges of required token %s",
                               (long long)tr->vocab_size, quote(qb, sizeof qb, tr->required[r].s, n));
            }
            int32_t pi = pair_get(tr, cur, seg[i]);
            if (pi < 0) {
                free(seg);
                return tr_fail(tr, VLM_ERR_OOM, "out of memory");
            }
            size_t before_merges = tr->n_merges;
            vlm_status st = do_merge(tr, pi, &cur);
            if (st) {
                free(seg);
                return st;
            }
            tr->n_forced += (int64_t)(tr->n_merges - before_merges);
        }
        free(seg);
    }
    return VLM_OK;
}

/* Load the document back and check the required strings and specials. */
static vlm_status verify(vlm_bpe_trainer *tr, const char *json, size_t len, const int32_t *special_ids) {
    char err[400], qb[96];
    vlm_tokenizer *tok;
    if (vlm_tokenizer_load_json(json, len, &tok, err, sizeof err))
        return tr_fail(tr, VLM_ERR_FORMAT, "the written tokenizer.json does not load: %s", err);
    vlm_status st = VLM_OK;
    vlm_tokens t = {0};
    for (size_t r = 0; r < tr->n_required && !st; r++) {
        const str_t *q = &tr->required[r];
        int32_t *seg = malloc(q->n * sizeof *seg);
        if (!seg) {
            st = tr_fail(tr, VLM_ERR_OOM, "out of memory");
            break;
        }
        size_t k = bpe_segment(tr, (const uint8_t *)q->s, q->n, seg);
        free(seg);
        if (k != 1) {
            st = tr_fail(tr, VLM_ERR_INVALID_ARG, "required token %s: the merges make %zu tokens of it",
                         quote(qb, sizeof qb, q->s, q->n), k);
        } else if (vlm_tokenizer_encode(tok, q->s, q->n, &t) || t.n != 1) {
            st = tr_fail(tr, VLM_ERR_INVALID_ARG, "required token %s encodes to %zu tokens",
                         quote(qb, sizeof qb, q->s, q->n), t.n);
        }
    }
    for (size_t i = 0; i < tr->n_specials && !st; i++)
        if (vlm_tokenizer_token_to_id(tok, tr->specials[i].s) != special_ids[i] ||
            !vlm_tokenizer_is_special(tok, special_ids[i]))
            st = tr_fail(tr, VLM_ERR_INVALID_ARG, "special token %s did not get id %d",
                         quote(qb, sizeof qb, tr->specials[i].s, tr->specials[i].n), (int)special_ids[i]);
    vlm_tokens_free(&t);
    vlm_tokenizer_free(tok);
    return st;
}

vlm_status vlm_bpe_trainer_finish(vlm_bpe_trainer *tr, char **json, size_t *json_len) {
    if (!tr) return VLM_ERR_INVALID_ARG;
    if (!json) return tr_fail(tr, VLM_ERR_INVALID_ARG, "finish: json is NULL");
    *json = NULL;
    if (json_len) *json_len = 0;
    if (tr->finished) return tr_fail(tr, VLM_ERR_INVALID_ARG, "finish: can only be called once");
    tr->finished = true;
    int64_t target = tr->vocab_size - (int64_t)tr->n_specials; /* BPE ids */
    vlm_status st = setup(tr);
    if (!st) st = force_required(tr, target);
    if (st) return st;
    int64_t planned = target - (int64_t)tr->toks.n, every = planned / 100 > 0 ? planned / 100 : 1, done = 0;
    int64_t minf = tr->min_frequency > 1 ? tr->min_frequency : 1;
    while ((int64_t)tr->toks.n < target && tr->n_heap > 0) {
        int32_t pi = tr->heap[0];
        int64_t cnt = tr->pairs[pi].count;
        if (cnt < minf) break;
        int32_t c;
        size_t n0 = tr->toks.n;
        if ((st = do_merge(tr, pi, &c))) return st;
        tr->last_count = cnt;
        if (tr->toks.n > n0 && tr->progress && ++done % every == 0) tr->progress(tr->progress_user, done, planned);
    }
    /* special tokens: a content spelled like a BPE token takes that id (as HF) */
    int32_t *special_ids = malloc((tr->n_specials + 1) * sizeof *special_ids);
    uint8_t *raw = NULL;
    size_t maxs = 1;
    for (size_t i = 0; i < tr->n_specials; i++)
        if (tr->specials[i].n > maxs) maxs = tr->specials[i].n;
    raw = malloc(maxs);
    if (!special_ids || !raw) {
        free(special_ids);
        free(raw);
        return tr_fail(tr, VLM_ERR_OOM, "out of memory");
    }
    int32_t next = (int32_t)tr->toks.n;
    for (size_t i = 0; i < tr->n_specials; i++) {
        long rl = unspell(tr->specials[i].s, tr->specials[i].n, raw);
        int64_t id = rl >= 0 ? bset_find(&tr->toks, raw, (size_t)rl, tok_hash_bytes(raw, (size_t)rl)) : -1;
        special_ids[i] = id >= 0 ? (int32_t)id : next++;
    }
    free(raw);
    json_t *doc = build_doc(tr, special_ids);
    if (!doc) {
        free(special_ids);
        return tr_fail(tr, VLM_ERR_OOM, "out of memory writing the tokenizer.json");
    }
    char *out = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!out) {
        free(special_ids);
        return tr_fail(tr, VLM_ERR_OOM, "out of memory writing the tokenizer.json");
    }
    size_t len = strlen(out);
    st = verify(tr, out, len, special_ids);
    free(special_ids);
    if (st) {
        free(out);
        return st;
    }
    if (tr->progress) tr->progress(tr->progress_user, planned, planned);
    *json = out;
    if (json_len) *json_len = len;
    return VLM_OK;
}

void vlm_bpe_trainer_stats(const vlm_bpe_trainer *tr, vlm_bpe_train_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!tr) return;
    out->n_texts = tr->n_texts;
    out->n_bytes = tr->n_bytes;
    out->n_pretokens = tr->n_pretokens;
    out->n_words = (int64_t)tr->words.n;
    out->n_merges = (int64_t)tr->n_merges;
    out->n_forced = tr->n_forced;
    out->n_bpe_vocab = (int64_t)tr->toks.n;
    out->last_count = tr->last_count;
}

vlm_status vlm_bpe_train(const char *const *texts, const size_t *lens, size_t n, const vlm_bpe_train_params *p,
                         char **json, size_t *json_len, char *err, size_t err_size) {
    if (json) *json = NULL;
    if (!json || (!texts && n)) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "NULL argument");
    vlm_bpe_trainer *tr;
    vlm_status st = vlm_bpe_trainer_new(p, &tr, err, err_size);
    if (st) return st;
    for (size_t i = 0; i < n && !st; i++) {
        st = vlm_bpe_trainer_add_text(tr, texts[i], lens ? lens[i] : (texts[i] ? strlen(texts[i]) : 0));
        if (st) vlm_set_err(err, err_size, st, "text %zu: %s", i, tr->last_error);
    }
    if (!st && (st = vlm_bpe_trainer_finish(tr, json, json_len))) vlm_set_err(err, err_size, st, "%s", tr->last_error);
    vlm_bpe_trainer_free(tr);
    return st;
}
