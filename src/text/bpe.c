/* bpe.c - byte-level BPE on raw bytes: the GPT-2 byte<->character alphabet,
 * the open-addressing hash tables (byte strings -> id, merge pairs -> rank),
 * and the merge loop with Hugging Face's semantics (Word::merge_all: lowest
 * rank first, leftmost on ties; with ignore_merges a pre-token that is itself
 * in the vocabulary is emitted as one token).
 *
 * Nothing here allocates per token: symbols live in a scratch array owned by
 * the encode call, grown only for unusually long pre-tokens. */
#include "core/util.h"
#include "text/tokenizer_internal.h"

/* ------------------------------------------------------------------------- */
/* Byte-level alphabet (GPT-2 bytes_to_unicode)                               */
/* ------------------------------------------------------------------------- */
static int byte_is_printable(unsigned b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* The 68 non-printable bytes map, in byte order, to U+0100..U+0143:
 * 0x00-0x20 -> 256 + b, 0x7F-0xA0 -> 162 + b, 0xAD -> 323. */
uint32_t tok_byte_to_cp(uint8_t b) {
    if (byte_is_printable(b)) return b;
    if (b <= 0x20) return 256u + b;
    if (b >= 0x7F && b <= 0xA0) return 162u + b;
    return 323; /* 0xAD */
}

int tok_cp_to_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp <= 288) return (int)(cp - 256);
    if (cp <= 322) return (int)(cp - 162);
    if (cp == 323) return 0xAD;
    return -1;
}

/* ------------------------------------------------------------------------- */
/* Hashing                                                                    */
/* ------------------------------------------------------------------------- */
uint64_t tok_hash_bytes(const void *p, size_t n) {
    const uint8_t *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xFF51AFD7ED558CCDull);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t v = 0;
    switch (n) { /* little-endian tail load */
    case 7: v |= (uint64_t)s[6] << 48; /* fall through */
    case 6: v |= (uint64_t)s[5] << 40; /* fall through */
    case 5: v |= (uint64_t)s[4] << 32; /* fall through */
    case 4: v |= (uint64_t)s[3] << 24; /* fall through */
    case 3: v |= (uint64_t)s[2] << 16; /* fall through */
    case 2: v |= (uint64_t)s[1] << 8;  /* fall through */
    case 1: v |= (uint64_t)s[0]; break;
    default: break;
    }
    h = (h ^ v) * 0x94D049BB133111EBull;
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h;
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n && c < ((size_t)1 << 40)) c <<= 1;
    return c;
}

int tok_strmap_init(tok_strmap *m, size_t n_expected) {
    size_t cap = pow2_at_least(n_expected * 2 + 1);
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots) return 0;
    m->mask = cap - 1;
    m->n = 0;
    return 1;
}

void tok_strmap_free(tok_strmap *m) {
    free(m->slots);
    m->slots = NULL;
    m->n = 0;
}

static inline uint32_t tag_of(uint64_t h) {
    uint32_t t = (uint32_t)(h >> 32);
    return t ? t : 1;
}

static void strmap_insert(tok_strmap *m, uint64_t h, int32_t id) {
    size_t i = (size_t)h & m->mask;
    while (m->slots[i].tag) i = (i + 1) & m->mask;
    m->slots[i].tag = tag_of(h);
    m->slots[i].id = id;
    m->n++;
}

int tok_strmap_put(tok_strmap *m, uint64_t h, int32_t id, const uint8_t *const *keys, const uint32_t *key_lens) {
    if ((m->n + 1) * 2 > m->mask + 1) { /* keep the load factor <= 1/2 */
        size_t cap = (m->mask + 1) * 2;
        tok_slot *old = m->slots, *ns = calloc(cap, sizeof *ns);
        if (!ns) return 0;
        size_t oldcap = m->mask + 1;
        m->slots = ns;
        m->mask = cap - 1;
        m->n = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].tag) {
                int32_t oid = old[i].id;
                strmap_insert(m, tok_hash_bytes(keys[oid], key_lens[oid]), oid);
            }
        free(old);
    }
    strmap_insert(m, h, id);
    return 1;
}

int32_t tok_strmap_get(const tok_strmap *m, const uint8_t *s, size_t n, uint64_t h, const uint8_t *const *keys,
                       const uint32_t *key_lens) {
    if (!m->slots) return -1;
    uint32_t tag = tag_of(h);
    size_t i = (size_t)h & m->mask;
    for (;;) {
        const tok_slot *sl = &m->slots[i];
        if (!sl->tag) return -1;
        if (sl->tag == tag) {
            int32_t id = sl->id;
            if (key_lens[id] == n && memcmp(keys[id], s, n) == 0) return id;
        }
        i = (i + 1) & m->mask;
    }
}

int tok_mergemap_init(tok_mergemap *m, size_t n_expected) {
    size_t cap = pow2_at_least(n_expected + n_expected / 2 + 1);
    m->slots = malloc(cap * sizeof *m->slots);
    if (!m->slots) return 0;
    for (size_t i = 0; i < cap; i++) m->slots[i].key = UINT64_MAX;
    m->mask = cap - 1;
    m->n = 0;
    return 1;
}

void tok_mergemap_free(tok_mergemap *m) {
    free(m->slots);
    m->slots = NULL;
}

void tok_mergemap_put(tok_mergemap *m, int32_t a, int32_t b, uint32_t rank, int32_t id) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 32) & m->mask;
    for (;;) {
        tok_merge_slot *s = &m->slots[i];
        if (s->key == key) { /* a later duplicate wins, as in HF's HashMap collect */
            s->rank = rank;
            s->id = id;
            return;
        }
        if (s->key == UINT64_MAX) {
            s->key = key;
            s->rank = rank;
            s->id = id;
            m->n++;
            return;
        }
        i = (i + 1) & m->mask;
    }
}

/* ------------------------------------------------------------------------- */
/* Merging                                                                    */
/* ------------------------------------------------------------------------- */
static inline void set_rank(const tok_mergemap *m, tok_sym *sym, int32_t i) {
    int32_t j = sym[i].next;
    const tok_merge_slot *ms = j >= 0 ? tok_mergemap_get(m, sym[i].id, sym[j].id) : NULL;
    sym[i].rank = ms ? ms->rank : UINT32_MAX;
    sym[i].merged = ms ? ms->id : -1;
}

static inline void merge_at(tok_sym *sym, int32_t i, int32_t new_id) {
    int32_t j = sym[i].next;
    sym[i].id = new_id;
    sym[i].len += sym[j].len;
    sym[i].next = sym[j].next;
    if (sym[j].next >= 0) sym[sym[j].next].prev = i;
    sym[j].len = 0; /* dead */
}

/* min-heap of (rank << 32 | pos): smallest rank, then leftmost position */
static inline void heap_push(uint64_t *h, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static inline uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], v = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (v <= h[c]) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = v;
    return top;
}

#define TOK_SMALL_WORD 48

int32_t tok_bpe_merge(const tok_mergemap *m, tok_sym *sym, int32_t n, uint64_t *heap, bool force_heap) {
    if (n <= 0) return -1;
    for (int32_t i = 0; i < n; i++) {
        sym[i].prev = i - 1;
        sym[i].next = i + 1 < n ? i + 1 : -1;
    }
    if (n == 1) return 0;
    if (n <= TOK_SMALL_WORD && !force_heap) {
        for (int32_t i = 0; i < n; i++) set_rank(m, sym, i);
        for (;;) {
            int32_t best = -1;
            uint32_t br = UINT32_MAX;
            for (int32_t i = 0; i >= 0; i = sym[i].next)
                if (sym[i].rank < br) {
                    br = sym[i].rank;
                    best = i;
                }
            if (best < 0) break;
            merge_at(sym, best, sym[best].merged);
            set_rank(m, sym, best);
            if (sym[best].prev >= 0) set_rank(m, sym, sym[best].prev);
        }
        return 0;
    }
    size_t hn = 0;
    for (int32_t i = 0; i + 1 < n; i++) {
        const tok_merge_slot *ms = tok_mergemap_get(m, sym[i].id, sym[i + 1].id);
        if (ms) heap_push(heap, &hn, ((uint64_t)ms->rank << 32) | (uint32_t)i);
    }
    while (hn) {
        uint64_t top = heap_pop(heap, &hn);
        int32_t pos = (int32_t)(uint32_t)top;
        uint32_t rank = (uint32_t)(top >> 32);
        if (sym[pos].len == 0) continue;
        int32_t nx = sym[pos].next;
        if (nx < 0) continue;
        const tok_merge_slot *ms = tok_mergemap_get(m, sym[pos].id, sym[nx].id);
        if (!ms || ms->rank != rank) continue; /* stale entry */
        merge_at(sym, pos, ms->id);
        int32_t pv = sym[pos].prev;
        if (pv >= 0 && (ms = tok_mergemap_get(m, sym[pv].id, sym[pos].id)))
            heap_push(heap, &hn, ((uint64_t)ms->rank << 32) | (uint32_t)pv);
        nx = sym[pos].next;
        if (nx >= 0 && (ms = tok_mergemap_get(m, sym[pos].id, sym[nx].id)))
            heap_push(heap, &hn, ((uint64_t)ms->rank << 32) | (uint32_t)pos);
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Emitting tokens                                                            */
/* ------------------------------------------------------------------------- */
int tok_emit(tok_enc *e, int32_t id, size_t bs, size_t be) {
    vlm_tokens *o = e->out;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256, b1, b2;
        if (!vlm_mul_ok(cap, sizeof(int32_t), &b1) || !vlm_mul_ok(cap, 2 * sizeof(int32_t), &b2)) {
            e->st = vlm_set_err(e->err, e->err_size, VLM_ERR_OOM, "too many tokens");
            return 0;
        }
        int32_t *ids = realloc(o->ids, b1);
        if (!ids) {
            e->st = vlm_set_err(e->err, e->err_size, VLM_ERR_OOM, "out of memory (%zu tokens)", cap);
            return 0;
        }
        o->ids = ids;
        int32_t *off = realloc(o->offsets, b2);
        if (!off) {
            e->st = vlm_set_err(e->err, e->err_size, VLM_ERR_OOM, "out of memory (%zu tokens)", cap);
            return 0;
        }
        o->offsets = off;
        o->cap = cap;
    }
    o->ids[o->n] = id;
    o->offsets[2 * o->n] = (int32_t)bs;
    o->offsets[2 * o->n + 1] = (int32_t)be;
    o->n++;
    return 1;
}

static int grow_scratch(tok_enc *e, size_t n) {
    if (n <= e->sym_cap) return 1;
    size_t cap = e->sym_cap ? e->sym_cap : 256, b1, b2;
    while (cap < n) cap *= 2;
    if (!vlm_mul_ok(cap, sizeof(tok_sym), &b1) || !vlm_mul_ok(cap, 3 * sizeof(uint64_t), &b2)) {
        e->st = vlm_set_err(e->err, e->err_size, VLM_ERR_OOM, "pre-token too long");
        return 0;
    }
    tok_sym *s = realloc(e->sym, b1);
    if (!s) {
        e->st = vlm_set_err(e->err, e->err_size, VLM_ERR_OOM, "out of memory (pre-token of %zu bytes)", n);
        return 0;
    }
    e->sym = s;
    uint64_t *h = realloc(e->heap, b2);
    if (!h) {
        e->st = vlm_set_err(e->err, e->err_size, VLM_ERR_OOM, "out of memory (pre-token of %zu bytes)", n);
        return 0;
    }
    e->heap = h;
    e->sym_cap = cap;
    return 1;
}

/* UTF-8 length of the byte-level character that stands for byte b. */
static inline uint32_t bl_len(uint8_t b) { return (b >= '!' && b <= '~') ? 1 : 2; }

int tok_bpe_word(tok_enc *e, size_t bs, size_t be) {
    const vlm_tokenizer *t = e->tok;
    const uint8_t *w = e->text + bs;
    size_t n = be - bs;
    if (n == 1) {
        int32_t id = t->byte_id[w[0]];
        return id >= 0 ? tok_emit(e, id, bs, be) : 1;
    }
    if (t->ignore_merges) {
        int32_t id = tok_strmap_get(&t->raw_map, w, n, tok_hash_bytes(w, n), t->dec, t->dec_len);
        if (id >= 0) return tok_emit(e, id, bs, be);
    }
    if (n > (size_t)INT32_MAX / 4) {
        e->st = vlm_set_err(e->err, e->err_size, VLM_ERR_INVALID_ARG, "pre-token too long (%zu bytes)", n);
        return 0;
    }
    tok_sym small[64];
    uint64_t small_heap[3 * 64];
    tok_sym *sym = small;
    uint64_t *heap = small_heap;
    if (n > 64) {
        if (!grow_scratch(e, n)) return 0;
        sym = e->sym;
        heap = e->heap;
    }
    int32_t k = 0;
    size_t dropped = 0;
    uint32_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[w[i]];
        if (id < 0) { /* no symbol for this byte and no unk token: HF drops it */
            dropped++;
            continue;
        }
        sym[k].id = id;
        sym[k].start = pos;
        sym[k].len = 1;
        k++;
        pos++;
    }
    if (dropped) {
        /* HF's Word counts offsets in bytes of the byte-level string over the
         * kept characters only; map those positions back to input bytes. */
        pos = 0;
        for (int32_t i = 0, j = 0; i < k; i++, j++) {
            while (t->byte_id[w[j]] < 0) j++;
            sym[i].start = pos;
            sym[i].len = bl_len(w[j]);
            pos += sym[i].len;
        }
    }
    int32_t head = tok_bpe_merge(&t->merges, sym, k, heap, false);
    for (int32_t i = head; i >= 0; i = sym[i].next) {
        size_t a = sym[i].start, b = sym[i].start + sym[i].len;
        if (dropped) {
            /* byte-level offsets a, b-1 -> indices of the input bytes holding them */
            size_t acc = 0, ia = n - 1, ib = n - 1, j;
            int fa = 0;
            for (j = 0; j < n; j++) {
                size_t l = bl_len(w[j]);
                if (!fa && a < acc + l) { ia = j; fa = 1; }
                if (b - 1 < acc + l) { ib = j; break; }
                acc += l;
            }
            a = ia;
            b = ib + 1;
        }
        if (!tok_emit(e, sym[i].id, bs + a, bs + b)) return 0;
    }
    return 1;
}
