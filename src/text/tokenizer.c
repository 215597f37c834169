/* tokenizer.c - Hugging Face tokenizer.json (byte-level BPE, e.g. Llama-3):
 * loading and validation, added/special tokens, encode with code-point
 * offsets, decode, and tokenizer_config.json.
 *
 * Encode follows HF tokenizers (add_special_tokens=False):
 *   1. added tokens are split out (non-normalized ones first, then normalized
 *      ones in what is left; leftmost-longest matching; single_word, lstrip,
 *      rstrip as HF's AddedVocabulary::find_matches),
 *   2. every remaining piece goes through the Split pre-tokenizer stages
 *      (pretok.c) and then byte-level BPE (bpe.c),
 *   3. byte offsets become code-point offsets; a token covering part of a code
 *      point gets the whole code point's range (HF return_offsets_mapping),
 *   4. a ByteLevel post-processor with trim_offsets trims leading/trailing
 *      spaces from the offsets, as HF does.
 * The loader accepts exactly the configuration it implements and answers
 * anything else with VLM_ERR_UNSUPPORTED naming the field, and malformed
 * documents with VLM_ERR_FORMAT naming the JSON path. */
#include <jansson.h>

#include "core/util.h"
#include "text/tokenizer_internal.h"

/* ------------------------------------------------------------------------- */
/* Small helpers                                                              */
/* ------------------------------------------------------------------------- */
typedef struct {
    const char *src; /* file name (or "tokenizer.json") for messages */
    char *err;
    size_t err_size;
} ld_ctx;

static vlm_status ld_err(ld_ctx *L, vlm_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static vlm_status ld_err(ld_ctx *L, vlm_status st, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vlm_set_err(L->err, L->err_size, st, "%s: %s", L->src, msg);
}

/* A printable, quoted, truncated rendering of s[0..n) for messages. */
static const char *qstr(char *buf, size_t cap, const char *s, size_t n) {
    size_t o = 0;
    buf[o++] = '"';
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { buf[o++] = '\\'; buf[o++] = (char)c; }
        else if (c < 0x20 || c == 0x7F) o += (size_t)snprintf(buf + o, cap - o, "\\x%02X", c);
        else buf[o++] = (char)c;
        if (i + 1 < n && o + 8 >= cap) { memcpy(buf + o, "...", 3); o += 3; break; }
    }
    buf[o++] = '"';
    buf[o] = 0;
    return buf;
}

static void set_last(const vlm_tokenizer *tok, const char *msg) {
    /* The handle is never const in memory: only the message is written. */
    vlm_tokenizer *t = (vlm_tokenizer *)tok;
    snprintf(t->last_error, sizeof t->last_error, "%s", msg);
}

static vlm_status tok_fail(const vlm_tokenizer *tok, vlm_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static vlm_status tok_fail(const vlm_tokenizer *tok, vlm_status st, const char *fmt, ...) {
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (tok) set_last(tok, msg);
    return st;
}

static const char *type_name(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* Optional boolean field: absent or null -> def. */
static vlm_status get_bool(ld_ctx *L, const json_t *obj, const char *key, const char *path, bool def, bool *out) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) { *out = def; return VLM_OK; }
    if (!json_is_boolean(v))
        return ld_err(L, VLM_ERR_FORMAT, "%s.%s: expected a boolean, got %s", path, key, type_name(v));
    *out = json_is_true(v);
    return VLM_OK;
}

/* ------------------------------------------------------------------------- */
/* Vocabulary storage                                                         */
/* ------------------------------------------------------------------------- */
static int ensure_ids(vlm_tokenizer *t, int32_t need) {
    if (need <= t->cap_ids) return 1;
    if (need > INT32_MAX / 2) return 0;
    int32_t cap = t->cap_ids ? t->cap_ids : 64;
    while (cap < need) cap *= 2;
    size_t c = (size_t)cap;
    void *p;
#define GROW(field)                                                                  \
    do {                                                                             \
        p = realloc((void *)t->field, c * sizeof *t->field);                         \
        if (!p) return 0;                                                            \
        t->field = p;                                                                \
    } while (0)
    GROW(spell);
    GROW(spell_len);
    GROW(dec);
    GROW(dec_len);
    GROW(flags);
    if (t->trim_lead) {
        GROW(trim_lead);
        GROW(trim_trail);
    }
#undef GROW
    t->cap_ids = cap;
    return 1;
}

/* Leading/trailing characters HF's ByteLevel post-processor counts as spaces
 * in a token string: the byte-level space U+0120 or any White_Space. */
static void trim_counts(const vlm_tokenizer *t, int32_t id) {
    const uint8_t *s = t->spell[id];
    size_t n = t->spell_len[id], p = 0, lead = 0, trail = 0, run = 0;
    int leading = 1;
    while (p < n) {
        size_t q;
        uint32_t c = tok_utf8_next(s, p, &q);
        int sp = c == 0x120 || (tok_class(t, c) & TOK_C_WS);
        if (sp) {
            run++;
            if (leading) lead++;
        } else {
            run = 0;
            leading = 0;
        }
        p = q;
    }
    trail = run;
    t->trim_lead[id] = (uint16_t)(lead > 65535 ? 65535 : lead);
    t->trim_trail[id] = (uint16_t)(trail > 65535 ? 65535 : trail);
}

/* Decode bytes of a byte-level string: every character must belong to the
 * byte-level alphabet. Returns the raw length, or -1 if it does not. */
static long spelling_to_raw(const uint8_t *s, size_t n, uint8_t *out) {
    size_t p = 0, o = 0;
    while (p < n) {
        size_t q;
        uint32_t c = tok_utf8_next(s, p, &q);
        int b = tok_cp_to_byte(c);
        if (b < 0) return -1;
        out[o++] = (uint8_t)b;
        p = q;
    }
    return (long)o;
}

/* ------------------------------------------------------------------------- */
/* Added tokens                                                               */
/* ------------------------------------------------------------------------- */
static void trie_free(tok_trie *tr) {
    free(tr->nodes);
    memset(tr, 0, sizeof *tr);
}

static int32_t trie_node(tok_trie *tr, uint8_t byte) {
    if (tr->n == tr->cap) {
        size_t cap = tr->cap ? tr->cap * 2 : 64;
        tok_trie_node *p = realloc(tr->nodes, cap * sizeof *p);
        if (!p) return -1;
        tr->nodes = p;
        tr->cap = cap;
    }
    tok_trie_node *nd = &tr->nodes[tr->n];
    nd->child = nd->sibling = nd->term = -1;
    nd->byte = byte;
    return (int32_t)tr->n++;
}

static int trie_build(tok_trie *tr, const tok_added *added, size_t n_added, bool normalized) {
    trie_free(tr);
    tr->empty = true;
    if (trie_node(tr, 0) < 0) return 0;
    for (size_t i = 0; i < n_added; i++) {
        const tok_added *a = &added[i];
        if (a->normalized != normalized) continue;
        int32_t cur = 0;
        for (size_t k = 0; k < a->len; k++) {
            uint8_t b = (uint8_t)a->content[k];
            int32_t c = tr->nodes[cur].child;
            while (c >= 0 && tr->nodes[c].byte != b) c = tr->nodes[c].sibling;
            if (c < 0) {
                c = trie_node(tr, b);
                if (c < 0) return 0;
                tr->nodes[c].sibling = tr->nodes[cur].child;
                tr->nodes[cur].child = c;
            }
            cur = c;
        }
        tr->nodes[cur].term = (int32_t)i;
        tr->first[(uint8_t)a->content[0]] = true;
        tr->empty = false;
    }
    return 1;
}

static int rebuild_tries(vlm_tokenizer *t) {
    return trie_build(&t->trie_plain, t->added, t->n_added, false) &&
           trie_build(&t->trie_norm, t->added, t->n_added, true);
}

/* Register an added token with the given id (either a base id whose spelling
 * equals content, or t->n_vocab for a new one). */
static vlm_status add_token(vlm_tokenizer *t, const char *content, size_t len, int32_t id, bool special,
                            bool lstrip, bool rstrip, bool single_word, bool normalized) {
    if (t->n_added == t->cap_added) {
        size_t cap = t->cap_added ? t->cap_added * 2 : 16;
        tok_added *p = realloc(t->added, cap * sizeof *p);
        if (!p) return VLM_ERR_OOM;
        t->added = p;
        t->cap_added = cap;
    }
    bool is_new = id == t->n_vocab;
    if (is_new && !ensure_ids(t, id + 1)) return VLM_ERR_OOM;
    /* content + NUL, then the decode bytes */
    uint8_t *mem = malloc(2 * len + 2);
    if (!mem) return VLM_ERR_OOM;
    memcpy(mem, content, len);
    mem[len] = 0;
    uint8_t *dec = mem + len + 1;
    long dl = spelling_to_raw(mem, len, dec);
    if (dl < 0) { /* HF's ByteLevel decoder keeps such a token's own bytes */
        memcpy(dec, mem, len);
        dl = (long)len;
    }
    tok_added *a = &t->added[t->n_added++];
    a->id = id;
    a->content = (char *)mem;
    a->len = len;
    a->special = special;
    a->lstrip = lstrip;
    a->rstrip = rstrip;
    a->single_word = single_word;
    a->normalized = normalized;
    if (is_new) {
        t->spell[id] = mem;
        t->spell_len[id] = (uint32_t)len;
        t->flags[id] = 0;
        t->n_vocab++;
        if (!tok_strmap_put(&t->spell_map, tok_hash_bytes(mem, len), id, t->spell, t->spell_len)) {
            t->n_vocab--;
            t->n_added--;
            free(mem);
            return VLM_ERR_OOM;
        }
        if (t->trim_lead) trim_counts(t, id);
    }
    /* decode through the added vocabulary's content, as HF does */
    t->dec[id] = dec;
    t->dec_len[id] = (uint32_t)dl;
    t->flags[id] |= TOK_F_ADDED;
    if (special) t->flags[id] |= TOK_F_SPECIAL;
    return VLM_OK;
}

static tok_added *find_added(vlm_tokenizer *t, const char *content, size_t len) {
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].len == len && memcmp(t->added[i].content, content, len) == 0) return &t->added[i];
    return NULL;
}

/* Id of a vocabulary spelling or added-token content, -1 if unknown. */
static int32_t lookup_spelling(const vlm_tokenizer *t, const char *s, size_t n) {
    return tok_strmap_get(&t->spell_map, (const uint8_t *)s, n, tok_hash_bytes(s, n), t->spell, t->spell_len);
}

/* ------------------------------------------------------------------------- */
/* Loading                                                                    */
/* ------------------------------------------------------------------------- */
static vlm_status load_vocab(ld_ctx *L, vlm_tokenizer *t, json_t *vocab) {
    char qb[96];
    if (!vocab) return ld_err(L, VLM_ERR_FORMAT, "model.vocab: missing");
    if (!json_is_object(vocab)) return ld_err(L, VLM_ERR_FORMAT, "model.vocab: expected an object, got %s", type_name(vocab));
    size_t n = json_object_size(vocab);
    if (n > (size_t)INT32_MAX / 4) return ld_err(L, VLM_ERR_FORMAT, "model.vocab: too many entries (%zu)", n);
    if (!ensure_ids(t, (int32_t)n + 16)) return ld_err(L, VLM_ERR_OOM, "out of memory (vocabulary of %zu)", n);
    for (size_t i = 0; i < n; i++) t->spell[i] = NULL;
    const char *key;
    size_t klen, pool = 0;
    json_t *val;
    json_object_keylen_foreach(vocab, key, klen, val) {
        if (!json_is_integer(val))
            return ld_err(L, VLM_ERR_FORMAT, "model.vocab[%s]: expected an integer id, got %s",
                          qstr(qb, sizeof qb, key, klen), type_name(val));
        json_int_t id = json_integer_value(val);
        if (id < 0 || (uint64_t)id >= n)
            return ld_err(L, VLM_ERR_FORMAT, "model.vocab[%s]: id %lld out of range [0, %zu)",
                          qstr(qb, sizeof qb, key, klen), (long long)id, n);
        if (t->spell[id]) {
            char qb2[96];
            return ld_err(L, VLM_ERR_FORMAT, "model.vocab: id %lld is used by both %s and %s", (long long)id,
                          qstr(qb2, sizeof qb2, (const char *)t->spell[id], t->spell_len[id]),
                          qstr(qb, sizeof qb, key, klen));
        }
        if (klen > UINT32_MAX / 2) return ld_err(L, VLM_ERR_FORMAT, "model.vocab: key too long");
        t->spell[id] = (const uint8_t *)key; /* temporarily points into the JSON */
        t->spell_len[id] = (uint32_t)klen;
        if (!vlm_add_ok(pool, klen + 1, &pool)) return ld_err(L, VLM_ERR_FORMAT, "model.vocab: too large");
    }
    t->spell_pool = malloc(pool ? pool : 1);
    t->raw_pool = malloc(pool ? pool : 1);
    if (!t->spell_pool || !t->raw_pool) return ld_err(L, VLM_ERR_OOM, "out of memory (vocabulary)");
    if (!tok_strmap_init(&t->spell_map, n + 300) || !tok_strmap_init(&t->raw_map, n))
        return ld_err(L, VLM_ERR_OOM, "out of memory (vocabulary hash)");
    size_t po = 0, ro = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t len = t->spell_len[i];
        memcpy(t->spell_pool + po, t->spell[i], len);
        t->spell_pool[po + len] = 0;
        t->spell[i] = (const uint8_t *)t->spell_pool + po;
        po += len + 1;
        long rl = spelling_to_raw(t->spell[i], len, t->raw_pool + ro);
        t->flags[i] = 0;
        if (rl >= 0) {
            t->dec[i] = t->raw_pool + ro;
            t->dec_len[i] = (uint32_t)rl;
            t->flags[i] = TOK_F_RAW;
            ro += (size_t)rl;
        } else { /* not byte-level: never produced by encode, decodes to its own bytes */
            t->dec[i] = t->spell[i];
            t->dec_len[i] = len;
        }
    }
    t->n_base = t->n_vocab = (int32_t)n;
    for (int32_t i = 0; i < t->n_base; i++) {
        if (!tok_strmap_put(&t->spell_map, tok_hash_bytes(t->spell[i], t->spell_len[i]), i, t->spell, t->spell_len))
            return ld_err(L, VLM_ERR_OOM, "out of memory (vocabulary hash)");
        if ((t->flags[i] & TOK_F_RAW) &&
            !tok_strmap_put(&t->raw_map, tok_hash_bytes(t->dec[i], t->dec_len[i]), i, t->dec, t->dec_len))
            return ld_err(L, VLM_ERR_OOM, "out of memory (vocabulary hash)");
    }
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        t->byte_id[b] = tok_strmap_get(&t->raw_map, &c, 1, tok_hash_bytes(&c, 1), t->dec, t->dec_len);
    }
    return VLM_OK;
}

static vlm_status add_merge(ld_ctx *L, vlm_tokenizer *t, size_t idx, uint32_t rank, const char *a, size_t al,
                            const char *b, size_t bl, char *buf) {
    char qb[96];
    int32_t ia = lookup_spelling(t, a, al), ib = lookup_spelling(t, b, bl);
    if (ia < 0)
        return ld_err(L, VLM_ERR_FORMAT, "model.merges[%zu]: token %s is not in model.vocab", idx,
                      qstr(qb, sizeof qb, a, al));
    if (ib < 0)
        return ld_err(L, VLM_ERR_FORMAT, "model.merges[%zu]: token %s is not in model.vocab", idx,
                      qstr(qb, sizeof qb, b, bl));
    memcpy(buf, a, al);
    memcpy(buf + al, b, bl);
    int32_t im = lookup_spelling(t, buf, al + bl);
    if (im < 0)
        return ld_err(L, VLM_ERR_FORMAT, "model.merges[%zu]: merged token %s is not in model.vocab", idx,
                      qstr(qb, sizeof qb, buf, al + bl));
    tok_mergemap_put(&t->merges, ia, ib, rank, im);
    return VLM_OK;
}

static vlm_status load_merges(ld_ctx *L, vlm_tokenizer *t, json_t *merges) {
    if (!merges) return ld_err(L, VLM_ERR_FORMAT, "model.merges: missing");
    if (!json_is_array(merges))
        return ld_err(L, VLM_ERR_FORMAT, "model.merges: expected an array, got %s", type_name(merges));
    size_t n = json_array_size(merges);
    if (n > UINT32_MAX / 4) return ld_err(L, VLM_ERR_FORMAT, "model.merges: too many entries");
    if (!tok_mergemap_init(&t->merges, n)) return ld_err(L, VLM_ERR_OOM, "out of memory (merges)");
    size_t maxlen = 0;
    for (int32_t i = 0; i < t->n_base; i++)
        if (t->spell_len[i] > maxlen) maxlen = t->spell_len[i];
    char *buf = malloc(2 * maxlen + 2);
    if (!buf) return ld_err(L, VLM_ERR_OOM, "out of memory (merges)");
    vlm_status st = VLM_OK;
    bool pairs = n && json_is_array(json_array_get(merges, 0));
    uint32_t rank = 0;
    char qb[96];
    for (size_t i = 0; i < n && st == VLM_OK; i++) {
        json_t *m = json_array_get(merges, i);
        const char *a, *b;
        size_t al, bl;
        if (pairs) {
            if (!json_is_array(m) || json_array_size(m) != 2 || !json_is_string(json_array_get(m, 0)) ||
                !json_is_string(json_array_get(m, 1))) {
                st = ld_err(L, VLM_ERR_FORMAT, "model.merges[%zu]: expected a pair of strings like model.merges[0]", i);
                break;
            }
            a = json_string_value(json_array_get(m, 0));
            al = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1));
            bl = json_string_length(json_array_get(m, 1));
        } else {
            if (!json_is_string(m)) {
                st = ld_err(L, VLM_ERR_FORMAT, "model.merges[%zu]: expected a string \"a b\" like model.merges[0], got %s",
                            i, type_name(m));
                break;
            }
            const char *s = json_string_value(m);
            size_t sl = json_string_length(m);
            if (sl >= 8 && memcmp(s, "#version", 8) == 0) continue; /* HF skips these lines */
            const char *sp = memchr(s, ' ', sl);
            if (!sp || memchr(sp + 1, ' ', sl - (size_t)(sp - s) - 1)) {
                st = ld_err(L, VLM_ERR_FORMAT, "model.merges[%zu]: %s is not two tokens separated by one space", i,
                            qstr(qb, sizeof qb, s, sl));
                break;
            }
            a = s;
            al = (size_t)(sp - s);
            b = sp + 1;
            bl = sl - al - 1;
        }
        if (al > maxlen || bl > maxlen) { /* cannot be in the vocabulary */
            st = ld_err(L, VLM_ERR_FORMAT, "model.merges[%zu]: token %s is not in model.vocab", i,
                        al > maxlen ? qstr(qb, sizeof qb, a, al) : qstr(qb, sizeof qb, b, bl));
            break;
        }
        st = add_merge(L, t, i, rank++, a, al, b, bl, buf);
    }
    free(buf);
    return st;
}

static vlm_status load_model(ld_ctx *L, vlm_tokenizer *t, json_t *model) {
    char qb[96];
    if (!model) return ld_err(L, VLM_ERR_FORMAT, "model: missing");
    if (!json_is_object(model)) return ld_err(L, VLM_ERR_FORMAT, "model: expected an object, got %s", type_name(model));
    json_t *type = json_object_get(model, "type");
    if (type && !json_is_string(type)) return ld_err(L, VLM_ERR_FORMAT, "model.type: expected a string");
    if (!type || strcmp(json_string_value(type), "BPE") != 0)
        return ld_err(L, VLM_ERR_UNSUPPORTED, "model.type: %s is not supported (only \"BPE\")",
                      type ? qstr(qb, sizeof qb, json_string_value(type), json_string_length(type)) : "missing");
    static const char *const must_null[] = {"dropout", "unk_token"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(model, must_null[i]);
        if (v && !json_is_null(v))
            return ld_err(L, VLM_ERR_UNSUPPORTED, "model.%s: only null is supported, got %s", must_null[i],
                          type_name(v));
    }
    static const char *const empty_ok[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(model, empty_ok[i]);
        if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0))
            return ld_err(L, VLM_ERR_UNSUPPORTED, "model.%s: only null is supported", empty_ok[i]);
    }
    bool b;
    vlm_status st;
    if ((st = get_bool(L, model, "byte_fallback", "model", false, &b))) return st;
    if (b) return ld_err(L, VLM_ERR_UNSUPPORTED, "model.byte_fallback: true is not supported");
    if ((st = get_bool(L, model, "fuse_unk", "model", false, &b))) return st;
    if ((st = get_bool(L, model, "ignore_merges", "model", false, &t->ignore_merges))) return st;
    if ((st = load_vocab(L, t, json_object_get(model, "vocab")))) return st;
    return load_merges(L, t, json_object_get(model, "merges"));
}

static vlm_status load_added(ld_ctx *L, vlm_tokenizer *t, json_t *arr) {
    char qb[96], path[48];
    if (!arr || json_is_null(arr)) return VLM_OK;
    if (!json_is_array(arr)) return ld_err(L, VLM_ERR_FORMAT, "added_tokens: expected an array, got %s", type_name(arr));
    size_t n = json_array_size(arr);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        snprintf(path, sizeof path, "added_tokens[%zu]", i);
        if (!json_is_object(o)) return ld_err(L, VLM_ERR_FORMAT, "%s: expected an object, got %s", path, type_name(o));
        json_t *jid = json_object_get(o, "id"), *jc = json_object_get(o, "content");
        if (!jid || !json_is_integer(jid))
            return ld_err(L, VLM_ERR_FORMAT, "%s.id: expected an integer, got %s", path, jid ? type_name(jid) : "nothing");
        if (!jc || !json_is_string(jc))
            return ld_err(L, VLM_ERR_FORMAT, "%s.content: expected a string, got %s", path,
                          jc ? type_name(jc) : "nothing");
        const char *c = json_string_value(jc);
        size_t cl = json_string_length(jc);
        if (cl == 0) return ld_err(L, VLM_ERR_FORMAT, "%s.content: empty", path);
        if (cl > UINT32_MAX / 4) return ld_err(L, VLM_ERR_FORMAT, "%s.content: too long", path);
        bool special, lstrip, rstrip, single_word, normalized;
        vlm_status st;
        if ((st = get_bool(L, o, "special", path, false, &special)) ||
            (st = get_bool(L, o, "lstrip", path, false, &lstrip)) ||
            (st = get_bool(L, o, "rstrip", path, false, &rstrip)) ||
            (st = get_bool(L, o, "single_word", path, false, &single_word)) ||
            (st = get_bool(L, o, "normalized", path, true, &normalized)))
            return st;
        json_int_t id = json_integer_value(jid);
        int32_t base = lookup_spelling(t, c, cl);
        if (base >= 0 && (t->flags[base] & TOK_F_ADDED))
            return ld_err(L, VLM_ERR_FORMAT, "%s.content: %s appears twice in added_tokens", path, qstr(qb, sizeof qb, c, cl));
        int32_t want = base >= 0 ? base : t->n_vocab;
        if (id != want) {
            if (base >= 0)
                return ld_err(L, VLM_ERR_FORMAT, "%s.id: %lld, but its content %s has id %d in model.vocab", path,
                              (long long)id, qstr(qb, sizeof qb, c, cl), (int)base);
            return ld_err(L, VLM_ERR_FORMAT,
                          "%s.id: %lld, but the next free id is %d (added token ids must follow the vocabulary "
                          "without gaps or duplicates)",
                          path, (long long)id, (int)want);
        }
        if ((st = add_token(t, c, cl, want, special, lstrip, rstrip, single_word, normalized)))
            return ld_err(L, st, "%s: out of memory", path);
    }
    return VLM_OK;
}

static vlm_status load_bytelevel(ld_ctx *L, vlm_tokenizer *t, json_t *o, const char *path) {
    json_t *aps = json_object_get(o, "add_prefix_space");
    if (!aps) return ld_err(L, VLM_ERR_FORMAT, "%s.add_prefix_space: missing", path);
    if (!json_is_boolean(aps))
        return ld_err(L, VLM_ERR_FORMAT, "%s.add_prefix_space: expected a boolean, got %s", path, type_name(aps));
    if (json_is_true(aps)) return ld_err(L, VLM_ERR_UNSUPPORTED, "%s.add_prefix_space: true is not supported", path);
    bool use_regex, trim;
    vlm_status st;
    if ((st = get_bool(L, o, "use_regex", path, true, &use_regex))) return st;
    if ((st = get_bool(L, o, "trim_offsets", path, true, &trim))) return st;
    if (use_regex) {
        if (t->n_splits >= TOK_MAX_SPLITS) return ld_err(L, VLM_ERR_UNSUPPORTED, "%s: too many pre-tokenizers", path);
        t->splits[t->n_splits++].kind = TOK_SPLIT_GPT2;
    }
    return VLM_OK;
}

static vlm_status load_split(ld_ctx *L, vlm_tokenizer *t, json_t *o, const char *path) {
    char qb[96];
    json_t *pat = json_object_get(o, "pattern"), *beh = json_object_get(o, "behavior");
    bool invert;
    vlm_status st;
    if ((st = get_bool(L, o, "invert", path, false, &invert))) return st;
    if (invert) return ld_err(L, VLM_ERR_UNSUPPORTED, "%s.invert: true is not supported", path);
    if (!beh || !json_is_string(beh))
        return ld_err(L, VLM_ERR_FORMAT, "%s.behavior: expected a string, got %s", path, beh ? type_name(beh) : "nothing");
    if (strcmp(json_string_value(beh), "Isolated") != 0)
        return ld_err(L, VLM_ERR_UNSUPPORTED, "%s.behavior: %s is not supported (only \"Isolated\")", path,
                      qstr(qb, sizeof qb, json_string_value(beh), json_string_length(beh)));
    if (!pat || !json_is_object(pat))
        return ld_err(L, VLM_ERR_FORMAT, "%s.pattern: expected an object, got %s", path, pat ? type_name(pat) : "nothing");
    json_t *re = json_object_get(pat, "Regex");
    if (!re) {
        if (json_object_get(pat, "String"))
            return ld_err(L, VLM_ERR_UNSUPPORTED, "%s.pattern.String: literal split patterns are not supported", path);
        return ld_err(L, VLM_ERR_FORMAT, "%s.pattern: expected {\"Regex\": ...}", path);
    }
    if (!json_is_string(re)) return ld_err(L, VLM_ERR_FORMAT, "%s.pattern.Regex: expected a string, got %s", path, type_name(re));
    if (t->n_splits >= TOK_MAX_SPLITS) return ld_err(L, VLM_ERR_UNSUPPORTED, "%s: too many pre-tokenizers", path);
    const char *rs = json_string_value(re);
    size_t rl = json_string_length(re);
    tok_split *sp = &t->splits[t->n_splits];
    if (rl == strlen(tok_llama3_regex) && memcmp(rs, tok_llama3_regex, rl) == 0) sp->kind = TOK_SPLIT_LLAMA3;
    else if (rl == strlen(tok_gpt2_regex) && memcmp(rs, tok_gpt2_regex, rl) == 0) sp->kind = TOK_SPLIT_GPT2;
    else {
        char msg[200];
        sp->re = tok_pcre2_compile(rs, rl, msg, sizeof msg);
        if (!sp->re) return ld_err(L, VLM_ERR_UNSUPPORTED, "%s.pattern.Regex: %s", path, msg);
        sp->kind = TOK_SPLIT_PCRE2;
    }
    t->n_splits++;
    return VLM_OK;
}

static vlm_status load_pretok(ld_ctx *L, vlm_tokenizer *t, json_t *pt) {
    char qb[96], path[64];
    if (!pt || json_is_null(pt))
        return ld_err(L, VLM_ERR_UNSUPPORTED, "pre_tokenizer: null is not supported (byte-level BPE needs ByteLevel)");
    if (!json_is_object(pt)) return ld_err(L, VLM_ERR_FORMAT, "pre_tokenizer: expected an object, got %s", type_name(pt));
    json_t *type = json_object_get(pt, "type");
    if (!type || !json_is_string(type)) return ld_err(L, VLM_ERR_FORMAT, "pre_tokenizer.type: expected a string");
    const char *ty = json_string_value(type);
    if (!strcmp(ty, "ByteLevel")) return load_bytelevel(L, t, pt, "pre_tokenizer");
    if (strcmp(ty, "Sequence") != 0)
        return ld_err(L, VLM_ERR_UNSUPPORTED, "pre_tokenizer.type: %s is not supported (ByteLevel or Sequence[Split..., ByteLevel])",
                      qstr(qb, sizeof qb, ty, json_string_length(type)));
    json_t *arr = json_object_get(pt, "pretokenizers");
    if (!arr || !json_is_array(arr))
        return ld_err(L, VLM_ERR_FORMAT, "pre_tokenizer.pretokenizers: expected an array, got %s", arr ? type_name(arr) : "nothing");
    size_t n = json_array_size(arr);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        snprintf(path, sizeof path, "pre_tokenizer.pretokenizers[%zu]", i);
        if (!json_is_object(o)) return ld_err(L, VLM_ERR_FORMAT, "%s: expected an object, got %s", path, type_name(o));
        json_t *ty2 = json_object_get(o, "type");
        if (!ty2 || !json_is_string(ty2)) return ld_err(L, VLM_ERR_FORMAT, "%s.type: expected a string", path);
        const char *s = json_string_value(ty2);
        vlm_status st;
        if (!strcmp(s, "Split")) {
            if ((st = load_split(L, t, o, path))) return st;
        } else if (!strcmp(s, "ByteLevel")) {
            if (i + 1 != n)
                return ld_err(L, VLM_ERR_UNSUPPORTED, "%s: ByteLevel must be the last pre-tokenizer of the sequence", path);
            return load_bytelevel(L, t, o, path);
        } else {
            return ld_err(L, VLM_ERR_UNSUPPORTED, "%s.type: %s is not supported (Split or ByteLevel)", path,
                          qstr(qb, sizeof qb, s, json_string_length(ty2)));
        }
    }
    return ld_err(L, VLM_ERR_UNSUPPORTED, "pre_tokenizer: a Sequence must end with ByteLevel");
}

static vlm_status load_postproc(ld_ctx *L, vlm_tokenizer *t, json_t *pp, const char *path, int depth) {
    char qb[96], sub[96];
    if (!pp || json_is_null(pp)) return VLM_OK;
    if (!json_is_object(pp)) return ld_err(L, VLM_ERR_FORMAT, "%s: expected an object, got %s", path, type_name(pp));
    json_t *type = json_object_get(pp, "type");
    if (!type || !json_is_string(type)) return ld_err(L, VLM_ERR_FORMAT, "%s.type: expected a string", path);
    const char *ty = json_string_value(type);
    if (!strcmp(ty, "TemplateProcessing")) return VLM_OK; /* adds nothing with add_special_tokens=False */
    if (!strcmp(ty, "ByteLevel")) {
        bool trim, aps;
        vlm_status st;
        if ((st = get_bool(L, pp, "trim_offsets", path, true, &trim)) ||
            (st = get_bool(L, pp, "add_prefix_space", path, true, &aps)))
            return st;
        if (trim) {
            if (t->trim_offsets) return ld_err(L, VLM_ERR_UNSUPPORTED, "%s: offsets trimmed twice", path);
            t->trim_offsets = true;
            t->trim_prefix = aps;
        }
        return VLM_OK;
    }
    if (!strcmp(ty, "Sequence") && depth < 4) {
        json_t *arr = json_object_get(pp, "processors");
        if (!arr || !json_is_array(arr)) return ld_err(L, VLM_ERR_FORMAT, "%s.processors: expected an array", path);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            snprintf(sub, sizeof sub, "%s.processors[%zu]", path, i);
            vlm_status st = load_postproc(L, t, json_array_get(arr, i), sub, depth + 1);
            if (st) return st;
        }
        return VLM_OK;
    }
    return ld_err(L, VLM_ERR_UNSUPPORTED, "%s.type: %s is not supported", path,
                  qstr(qb, sizeof qb, ty, json_string_length(type)));
}

static vlm_status load_doc(ld_ctx *L, vlm_tokenizer *t, json_t *root) {
    char qb[96];
    if (!json_is_object(root)) return ld_err(L, VLM_ERR_FORMAT, "expected a JSON object at the top, got %s", type_name(root));
    json_t *v = json_object_get(root, "version");
    if (v && !(json_is_string(v) && !strcmp(json_string_value(v), "1.0")))
        return ld_err(L, VLM_ERR_UNSUPPORTED, "version: %s is not supported (only \"1.0\")",
                      json_is_string(v) ? qstr(qb, sizeof qb, json_string_value(v), json_string_length(v)) : type_name(v));
    static const char *const must_null[] = {"truncation", "padding", "normalizer"};
    for (size_t i = 0; i < 3; i++) {
        json_t *x = json_object_get(root, must_null[i]);
        if (x && !json_is_null(x)) {
            json_t *ty = json_is_object(x) ? json_object_get(x, "type") : NULL;
            if (ty && json_is_string(ty))
                return ld_err(L, VLM_ERR_UNSUPPORTED, "%s: type %s is not supported (only null)", must_null[i],
                              qstr(qb, sizeof qb, json_string_value(ty), json_string_length(ty)));
            return ld_err(L, VLM_ERR_UNSUPPORTED, "%s: only null is supported, got %s", must_null[i], type_name(x));
        }
    }
    vlm_status st;
    if ((st = load_model(L, t, json_object_get(root, "model")))) return st;
    if ((st = load_pretok(L, t, json_object_get(root, "pre_tokenizer")))) return st;
    json_t *dec = json_object_get(root, "decoder");
    if (!dec || json_is_null(dec))
        return ld_err(L, VLM_ERR_UNSUPPORTED, "decoder: null is not supported (only ByteLevel)");
    json_t *dty = json_is_object(dec) ? json_object_get(dec, "type") : NULL;
    if (!dty || !json_is_string(dty))
        return ld_err(L, VLM_ERR_FORMAT, "decoder: expected an object with a string \"type\"");
    if (strcmp(json_string_value(dty), "ByteLevel") != 0)
        return ld_err(L, VLM_ERR_UNSUPPORTED, "decoder.type: %s is not supported (only \"ByteLevel\")",
                      qstr(qb, sizeof qb, json_string_value(dty), json_string_length(dty)));
    if ((st = load_postproc(L, t, json_object_get(root, "post_processor"), "post_processor", 0))) return st;
    t->cls = malloc(0x10000);
    if (!t->cls) return ld_err(L, VLM_ERR_OOM, "out of memory");
    tok_class_fill_bmp(t->cls);
    if (t->trim_offsets) {
        t->trim_lead = malloc((size_t)t->cap_ids * sizeof *t->trim_lead);
        t->trim_trail = malloc((size_t)t->cap_ids * sizeof *t->trim_trail);
        if (!t->trim_lead || !t->trim_trail) return ld_err(L, VLM_ERR_OOM, "out of memory");
        for (int32_t i = 0; i < t->n_base; i++) trim_counts(t, i);
    }
    if ((st = load_added(L, t, json_object_get(root, "added_tokens")))) return st;
    if (!rebuild_tries(t)) return ld_err(L, VLM_ERR_OOM, "out of memory (added tokens)");
    return VLM_OK;
}

void vlm_tokenizer_free(vlm_tokenizer *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    trie_free(&t->trie_plain);
    trie_free(&t->trie_norm);
    for (int i = 0; i < t->n_splits; i++)
        if (t->splits[i].re) tok_pcre2_free(t->splits[i].re);
    tok_strmap_free(&t->raw_map);
    tok_strmap_free(&t->spell_map);
    tok_mergemap_free(&t->merges);
    free((void *)t->spell);
    free(t->spell_len);
    free((void *)t->dec);
    free(t->dec_len);
    free(t->flags);
    free(t->trim_lead);
    free(t->trim_trail);
    free(t->spell_pool);
    free(t->raw_pool);
    free(t->cls);
    free(t);
}

static vlm_status load_common(const char *src, const char *json, size_t len, vlm_tokenizer **out, char *err,
                              size_t err_size) {
    ld_ctx L = {src, err, err_size};
    if (!out) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "out is NULL");
    *out = NULL;
    if (!json && len) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "json is NULL");
    json_error_t je;
    json_t *root = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!root)
        return ld_err(&L, VLM_ERR_FORMAT, "not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
    vlm_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        json_decref(root);
        return ld_err(&L, VLM_ERR_OOM, "out of memory");
    }
    t->eos_id = -1;
    vlm_status st = load_doc(&L, t, root);
    json_decref(root);
    if (st != VLM_OK) {
        vlm_tokenizer_free(t);
        return st;
    }
    *out = t;
    return VLM_OK;
}

vlm_status vlm_tokenizer_load_json(const char *json, size_t len, vlm_tokenizer **out, char *err, size_t err_size) {
    return load_common("tokenizer.json", json, len, out, err, err_size);
}

vlm_status vlm_tokenizer_load(const char *path, vlm_tokenizer **out, char *err, size_t err_size) {
    if (out) *out = NULL;
    if (!path || !out) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "path or out is NULL");
    size_t len;
    char *buf = vlm_read_file(path, &len, err, err_size);
    if (!buf) return errno == ENOMEM ? VLM_ERR_OOM : VLM_ERR_IO;
    vlm_status st = load_common(path, buf, len, out, err, err_size);
    free(buf);
    return st;
}

/* ------------------------------------------------------------------------- */
/* Queries                                                                    */
/* ------------------------------------------------------------------------- */
const char *vlm_tokenizer_last_error(const vlm_tokenizer *tok) { return tok ? tok->last_error : ""; }
int32_t vlm_tokenizer_n_vocab(const vlm_tokenizer *tok) { return tok ? tok->n_vocab : 0; }

int32_t vlm_tokenizer_token_to_id(const vlm_tokenizer *tok, const char *token) {
    if (!tok || !token) return -1;
    return lookup_spelling(tok, token, strlen(token));
}

const char *vlm_tokenizer_id_to_token(const vlm_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->n_vocab) return NULL;
    return (const char *)tok->spell[id];
}

bool vlm_tokenizer_is_special(const vlm_tokenizer *tok, int32_t id) {
    return tok && id >= 0 && id < tok->n_vocab && (tok->flags[id] & TOK_F_SPECIAL);
}

vlm_status vlm_tokenizer_add_special(vlm_tokenizer *tok, const char *content, int32_t *id) {
    if (!tok) return VLM_ERR_INVALID_ARG;
    if (!content || !*content) return tok_fail(tok, VLM_ERR_INVALID_ARG, "add_special: empty token");
    size_t len = strlen(content), bad;
    if (!tok_utf8_valid((const uint8_t *)content, len, &bad))
        return tok_fail(tok, VLM_ERR_INVALID_ARG, "add_special: invalid UTF-8 at byte offset %zu", bad);
    tok_added *a = find_added(tok, content, len);
    if (a) { /* HF replaces its properties with those of a plain special token */
        a->special = true;
        a->lstrip = a->rstrip = a->single_word = a->normalized = false;
        tok->flags[a->id] |= TOK_F_SPECIAL;
        if (!rebuild_tries(tok)) return tok_fail(tok, VLM_ERR_OOM, "add_special: out of memory");
        if (id) *id = a->id;
        return VLM_OK;
    }
    int32_t base = lookup_spelling(tok, content, len);
    int32_t nid = base >= 0 ? base : tok->n_vocab;
    if (nid == INT32_MAX) return tok_fail(tok, VLM_ERR_INVALID_ARG, "add_special: vocabulary full");
    vlm_status st = add_token(tok, content, len, nid, true, false, false, false, false);
    if (st) return tok_fail(tok, st, "add_special: out of memory");
    if (!rebuild_tries(tok)) return tok_fail(tok, VLM_ERR_OOM, "add_special: out of memory");
    if (id) *id = nid;
    return VLM_OK;
}

vlm_status vlm_tokenizer_set_eos(vlm_tokenizer *tok, const char *eos_token) {
    if (!tok) return VLM_ERR_INVALID_ARG;
    if (!eos_token) return tok_fail(tok, VLM_ERR_INVALID_ARG, "set_eos: NULL token");
    int32_t id = vlm_tokenizer_token_to_id(tok, eos_token);
    if (id < 0) {
        char qb[96];
        return tok_fail(tok, VLM_ERR_INVALID_ARG, "eos token %s is not in the vocabulary",
                        qstr(qb, sizeof qb, eos_token, strlen(eos_token)));
    }
    tok->eos_id = id;
    return VLM_OK;
}

int32_t vlm_tokenizer_eos_id(const vlm_tokenizer *tok) { return tok ? tok->eos_id : -1; }

/* ------------------------------------------------------------------------- */
/* Encode                                                                     */
/* ------------------------------------------------------------------------- */
/* Leftmost-longest match of the trie at or after pos, within [pos, end). */
static int trie_find(const tok_trie *tr, const uint8_t *s, size_t pos, size_t end, size_t *ms, size_t *me,
                     int32_t *term) {
    const tok_trie_node *nd = tr->nodes;
    for (size_t i = pos; i < end; i++) {
        if (!tr->first[s[i]]) continue;
        int32_t cur = 0, best = -1;
        size_t best_end = 0;
        for (size_t j = i; j < end; j++) {
            int32_t c = nd[cur].child;
            while (c >= 0 && nd[c].byte != s[j]) c = nd[c].sibling;
            if (c < 0) break;
            cur = c;
            if (nd[c].term >= 0) {
                best = nd[c].term;
                best_end = j + 1;
            }
        }
        if (best >= 0) {
            *ms = i;
            *me = best_end;
            *term = best;
            return 1;
        }
    }
    return 0;
}

/* Start of the character that ends at p (p > lo). */
static size_t prev_char(const uint8_t *s, size_t lo, size_t p) {
    do p--;
    while (p > lo && (s[p] & 0xC0) == 0x80);
    return p;
}

static int split_added(tok_enc *e, int pass, size_t bs, size_t be) {
    const vlm_tokenizer *t = e->tok;
    const tok_trie *tr = pass == 0 ? &t->trie_plain : &t->trie_norm;
    if (bs >= be) return 1;
    if (tr->empty) return pass == 0 ? split_added(e, 1, bs, be) : tok_pretokenize(e, 0, bs, be);
    const uint8_t *s = e->text;
    size_t start_offset = bs, pos = bs, ms, me;
    int32_t ti;
    while (pos < be && trie_find(tr, s, pos, be, &ms, &me, &ti)) {
        pos = me;
        const tok_added *a = &t->added[ti];
        size_t start = ms, stop = me, q;
        if (a->single_word) {
            int start_space = start == bs || !(tok_class(t, tok_utf8_next(s, prev_char(s, bs, start), &q)) & TOK_C_WORD);
            int stop_space = stop == be || !(tok_class(t, tok_utf8_next(s, stop, &q)) & TOK_C_WORD);
            if (!start_space || !stop_space) continue;
        }
        if (a->lstrip) {
            size_t ns = start;
            while (ns > bs) {
                size_t pc = prev_char(s, bs, ns);
                if (!(tok_class(t, tok_utf8_next(s, pc, &q)) & TOK_C_WS)) break;
                ns = pc;
            }
            start = ns > start_offset ? ns : start_offset;
        }
        if (a->rstrip) {
            while (stop < be) {
                uint32_t c = tok_utf8_next(s, stop, &q);
                if (!(tok_class(t, c) & TOK_C_WS)) break;
                stop = q;
            }
        }
        if (start_offset < start) {
            if (pass == 0 ? !split_added(e, 1, start_offset, start) : !tok_pretokenize(e, 0, start_offset, start))
                return 0;
        }
        if (e->piece_cb ? !e->piece_cb(e->user, a->id, start, stop) : !tok_emit(e, a->id, start, stop)) return 0;
        start_offset = stop;
    }
    if (start_offset < be)
        return pass == 0 ? split_added(e, 1, start_offset, be) : tok_pretokenize(e, 0, start_offset, be);
    return 1;
}

/* Byte offsets -> code-point offsets, in place. A token [bs, be) covers the
 * code points containing bytes bs .. be-1. The cursor (b, c) keeps c = number
 * of code points starting before byte b. */
static void offsets_to_cp(const uint8_t *s, int32_t *off, size_t n) {
    size_t b = 0, c = 0;
#define CP_AT(x, res)                                                                  \
    do {                                                                               \
        size_t x_ = (x);                                                               \
        while (b < x_) { c += (s[b] & 0xC0) != 0x80; b++; }                             \
        while (b > x_) { b--; c -= (s[b] & 0xC0) != 0x80; }                             \
        (res) = c;                                                                     \
    } while (0)
    for (size_t i = 0; i < n; i++) {
        size_t bs = (size_t)off[2 * i], be = (size_t)off[2 * i + 1], cs, ce;
        CP_AT(bs + 1, cs);
        CP_AT(be, ce);
        off[2 * i] = (int32_t)(cs - 1);
        off[2 * i + 1] = (int32_t)ce;
    }
#undef CP_AT
}

static void trim_offsets(const vlm_tokenizer *t, vlm_tokens *o) {
    for (size_t i = 0; i < o->n; i++) {
        int32_t id = o->ids[i];
        int32_t lead = t->trim_lead[id], trail = t->trim_trail[id];
        int32_t *s = &o->offsets[2 * i], *e = s + 1;
        if (lead > 0) {
            if ((i == 0 || *s == 0) && t->trim_prefix && lead == 1) lead = 0;
            int32_t ns = *s + lead;
            *s = ns < *e ? ns : *e;
        }
        if (trail > 0 && *e >= trail) {
            int32_t ne = *e - trail;
            *e = ne > *s ? ne : *s;
        }
    }
}

vlm_status vlm_tokenizer_encode(const vlm_tokenizer *tok, const char *text, size_t len, vlm_tokens *out) {
    if (!tok) return VLM_ERR_INVALID_ARG;
    if (!out) return tok_fail(tok, VLM_ERR_INVALID_ARG, "encode: out is NULL");
    out->n = 0;
    if (!text && len) return tok_fail(tok, VLM_ERR_INVALID_ARG, "encode: text is NULL");
    if (len >= (size_t)INT32_MAX) return tok_fail(tok, VLM_ERR_INVALID_ARG, "encode: text longer than 2 GiB");
    size_t bad;
    if (!tok_utf8_valid((const uint8_t *)text, len, &bad))
        return tok_fail(tok, VLM_ERR_INVALID_ARG, "encode: invalid UTF-8 at byte offset %zu (byte 0x%02X)", bad,
                        (unsigned)(unsigned char)text[bad]);
    char msg[256] = "";
    tok_enc e = {0};
    e.tok = tok;
    e.text = (const uint8_t *)text;
    e.len = len;
    e.out = out;
    e.st = VLM_OK;
    e.err = msg;
    e.err_size = sizeof msg;
    int ok = split_added(&e, 0, 0, len);
    tok_enc_release(&e);
    if (!ok) {
        out->n = 0;
        return tok_fail(tok, e.st ? e.st : VLM_ERR_OOM, "encode: %s", msg);
    }
    offsets_to_cp((const uint8_t *)text, out->offsets, out->n);
    if (tok->trim_offsets) trim_offsets(tok, out);
    return VLM_OK;
}

vlm_status tok_pretokenize_text(const vlm_tokenizer *t, const char *text, size_t len,
                                int (*cb)(void *user, int32_t added, size_t bs, size_t be), void *user) {
    size_t bad;
    if (!t || !cb || (!text && len)) return VLM_ERR_INVALID_ARG;
    if (!tok_utf8_valid((const uint8_t *)text, len, &bad)) return VLM_ERR_INVALID_ARG;
    char msg[256] = "";
    vlm_tokens dummy = {0};
    tok_enc e = {0};
    e.tok = t;
    e.text = (const uint8_t *)text;
    e.len = len;
    e.out = &dummy;
    e.err = msg;
    e.err_size = sizeof msg;
    e.piece_cb = cb;
    e.user = user;
    int ok = split_added(&e, 0, 0, len);
    tok_enc_release(&e);
    vlm_tokens_free(&dummy);
    return ok ? VLM_OK : (e.st ? e.st : VLM_ERR_ABORTED);
}

void vlm_tokens_free(vlm_tokens *t) {
    if (!t) return;
    free(t->ids);
    free(t->offsets);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------------- */
/* Decode                                                                     */
/* ------------------------------------------------------------------------- */
static void put_fffd(char *o, size_t *k) {
    o[(*k)++] = (char)0xEF;
    o[(*k)++] = (char)0xBF;
    o[(*k)++] = (char)0xBD;
}

/* Rust String::from_utf8_lossy: each maximal invalid subpart becomes U+FFFD. */
static size_t utf8_lossy(const uint8_t *s, size_t n, char *o) {
    size_t i = 0, k = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) { o[k++] = (char)c; i++; continue; }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c == 0xE0) { need = 2; lo = 0xA0; }
        else if (c == 0xED) { need = 2; hi = 0x9F; }
        else if (c >= 0xE1 && c <= 0xEF) need = 2;
        else if (c == 0xF0) { need = 3; lo = 0x90; }
        else if (c == 0xF4) { need = 3; hi = 0x8F; }
        else if (c >= 0xF1 && c <= 0xF3) need = 3;
        else { put_fffd(o, &k); i++; continue; }
        size_t got = 1;
        if (i + 1 < n && s[i + 1] >= lo && s[i + 1] <= hi) {
            got = 2;
            while (got <= need && i + got < n && (s[i + got] & 0xC0) == 0x80) got++;
        }
        if (got == need + 1) {
            memcpy(o + k, s + i, got);
            k += got;
        } else {
            put_fffd(o, &k);
        }
        i += got;
    }
    return k;
}

/* In-place str.replace(from, to) with len(to) <= len(from), left to right. */
static size_t replace_all(char *s, size_t n, const char *from, const char *to) {
    size_t fl = strlen(from), tl = strlen(to), i = 0, k = 0;
    while (i < n) {
        if (i + fl <= n && memcmp(s + i, from, fl) == 0) {
            memmove(s + k, to, tl);
            k += tl;
            i += fl;
        } else {
            s[k++] = s[i++];
        }
    }
    return k;
}

vlm_status vlm_tokenizer_decode(const vlm_tokenizer *tok, const int32_t *ids, size_t n, const vlm_decode_params *p,
                                char **out, size_t *out_len) {
    if (!tok) return VLM_ERR_INVALID_ARG;
    if (!out || (!ids && n)) return tok_fail(tok, VLM_ERR_INVALID_ARG, "decode: NULL argument");
    *out = NULL;
    bool skip = p && p->skip_special_tokens, clean = p && p->clean_up_tokenization_spaces;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= tok->n_vocab)
            return tok_fail(tok, VLM_ERR_INVALID_ARG, "decode: ids[%zu] = %d is not in [0, %d)", i, (int)id,
                            (int)tok->n_vocab);
        if (skip && (tok->flags[id] & TOK_F_SPECIAL)) continue;
        if (!vlm_add_ok(total, tok->dec_len[id], &total)) return tok_fail(tok, VLM_ERR_OOM, "decode: too long");
    }
    size_t cap;
    if (!vlm_mul_ok(total, 3, &cap) || !vlm_add_ok(cap, total + 1, &cap))
        return tok_fail(tok, VLM_ERR_OOM, "decode: too long");
    uint8_t *raw = malloc(total + 1);
    char *o = malloc(cap);
    if (!raw || !o) {
        free(raw);
        free(o);
        return tok_fail(tok, VLM_ERR_OOM, "decode: out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (skip && (tok->flags[id] & TOK_F_SPECIAL)) continue;
        memcpy(raw + k, tok->dec[id], tok->dec_len[id]);
        k += tok->dec_len[id];
    }
    size_t ol = utf8_lossy(raw, k, o);
    free(raw);
    if (clean) {
        static const char *const rep[][2] = {{" .", "."},     {" ?", "?"},     {" !", "!"},     {" ,", ","},
                                             {" ' ", "'"},    {" n't", "n't"}, {" 'm", "'m"},   {" 's", "'s"},
                                             {" 've", "'ve"}, {" 're", "'re"}};
        for (size_t r = 0; r < sizeof rep / sizeof rep[0]; r++) ol = replace_all(o, ol, rep[r][0], rep[r][1]);
    }
    o[ol] = 0;
    *out = o;
    if (out_len) *out_len = ol;
    return VLM_OK;
}

/* ------------------------------------------------------------------------- */
/* tokenizer_config.json                                                      */
/* ------------------------------------------------------------------------- */
static vlm_status config_token(const char *path, json_t *root, const char *key, char **out, char *err,
                               size_t err_size) {
    *out = NULL;
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return VLM_OK;
    if (json_is_object(v)) {
        json_t *c = json_object_get(v, "content");
        if (!c || !json_is_string(c))
            return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s.content: expected a string", path, key);
        v = c;
    }
    if (!json_is_string(v))
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s: expected a string or an object with \"content\", got %s",
                           path, key, type_name(v));
    size_t n = json_string_length(v);
    if (memchr(json_string_value(v), 0, n))
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s: contains a NUL character", path, key);
    *out = malloc(n + 1);
    if (!*out) return vlm_set_err(err, err_size, VLM_ERR_OOM, "%s: out of memory", path);
    memcpy(*out, json_string_value(v), n + 1);
    return VLM_OK;
}

vlm_status vlm_read_tokenizer_config(const char *path, char **bos, char **eos, char *err, size_t err_size) {
    if (bos) *bos = NULL;
    if (eos) *eos = NULL;
    if (!path) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "path is NULL");
    size_t len;
    char *buf = vlm_read_file(path, &len, err, err_size);
    if (!buf) return VLM_ERR_IO;
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
    free(buf);
    if (!root)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: not valid JSON: %s (line %d, column %d)", path, je.text,
                           je.line, je.column);
    vlm_status st = VLM_OK;
    char *b = NULL, *e = NULL;
    if (!json_is_object(root))
        st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: expected a JSON object at the top", path);
    if (!st) st = config_token(path, root, "bos_token", &b, err, err_size);
    if (!st) st = config_token(path, root, "eos_token", &e, err, err_size);
    json_decref(root);
    if (st) {
        free(b);
        free(e);
        return st;
    }
    if (bos) *bos = b;
    else free(b);
    if (eos) *eos = e;
    else free(e);
    return VLM_OK;
}
