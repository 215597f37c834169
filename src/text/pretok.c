/* pretok.c - pre-tokenization: splitting text into the pieces BPE runs on.
 *
 * Hugging Face runs the Split pre-tokenizer's regex through Oniguruma. The
 * Llama-3 pattern
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * and the GPT-2 pattern of ByteLevel(use_regex=true) are recognised by string
 * equality and matched by hand-written code below that reproduces Oniguruma's
 * leftmost-first alternation and backtracking alternative by alternative:
 *   - \p{L} / \p{N} are the general categories L* / N* (utf8proc).
 *   - \s is Unicode White_Space: U+0009-000D, 0020, 0085, 00A0, 1680,
 *     2000-200A, 2028, 2029, 202F, 205F, 3000 (not U+001C-001F, not U+180E).
 *   - (?i:'s ...) folds case with Unicode simple folding: 'S matches, and so
 *     does U+017F LATIN SMALL LETTER LONG S (it folds to s).
 *   - \s*[\r\n]+ ends right after the last CR/LF of the whitespace run;
 *     \s+(?!\S) gives back the last whitespace character when a non-space follows.
 * Any other Split regex goes through PCRE2 (UTF|UCP, JIT when available).
 * PCRE2's \s in UCP mode also matches U+180E MONGOLIAN VOWEL SEPARATOR, which
 * Oniguruma's does not, so \s (anywhere) and \S (outside a character class)
 * are rewritten to explicit White_Space classes before compiling. Remaining
 * known differences of the fallback: \S inside a character class, \h, \v and
 * POSIX classes keep PCRE2's meaning, and syntax only one engine knows is
 * rejected or read differently, and PCRE2's Unicode tables may be older than
 * utf8proc's and the reference's (Debian 12: PCRE2 10.42 has Unicode 14, while
 * utf8proc 2.8 and the Oniguruma inside tokenizers 0.23 have Unicode 15, e.g.
 * CJK Extension H letters).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include "core/util.h"
#include "text/tokenizer_internal.h"

const char tok_llama3_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char tok_gpt2_regex[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* ------------------------------------------------------------------------- */
/* Character classes                                                          */
/* ------------------------------------------------------------------------- */
static int is_white_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* Rust regex \w is Alphabetic + M + Nd + Pc + Join_Control. Alphabetic is
 * approximated by L*, Nl, M* (most of Other_Alphabetic) and the circled and
 * squared Latin letters (So with Other_Alphabetic). Only added tokens with
 * single_word=true look at it. */
static int is_word_extra(uint32_t c) {
    return c == 0x200C || c == 0x200D || (c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) ||
           (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189);
}

unsigned tok_class_slow(uint32_t cp) {
    unsigned k = 0;
    if (cp > 0x10FFFF) return 0;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: k |= TOK_C_L | TOK_C_WORD; break;
    case UTF8PROC_CATEGORY_ND: k |= TOK_C_N | TOK_C_WORD; break;
    case UTF8PROC_CATEGORY_NL: k |= TOK_C_N | TOK_C_WORD; break;
    case UTF8PROC_CATEGORY_NO: k |= TOK_C_N; break;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_PC: k |= TOK_C_WORD; break;
    default: break;
    }
    if (is_word_extra(cp)) k |= TOK_C_WORD;
    if (is_white_space(cp)) k |= TOK_C_WS;
    if (cp == '\r' || cp == '\n') k |= TOK_C_CRLF;
    return k;
}

void tok_class_fill_bmp(uint8_t *cls) {
    for (uint32_t c = 0; c < 0x10000; c++) cls[c] = (uint8_t)tok_class_slow(c);
}

/* ------------------------------------------------------------------------- */
/* UTF-8 validation (strict: no overlongs, no surrogates, <= U+10FFFF)        */
/* ------------------------------------------------------------------------- */
int tok_utf8_valid(const uint8_t *s, size_t n, size_t *bad) {
    size_t i = 0;
    while (i < n) {
        /* ASCII fast path, 8 bytes at a time */
        while (i + 8 <= n) {
            uint64_t v;
            memcpy(&v, s + i, 8);
            if (v & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c == 0xE0) { need = 2; lo = 0xA0; }
        else if (c == 0xED) { need = 2; hi = 0x9F; }
        else if (c >= 0xE1 && c <= 0xEF) need = 2;
        else if (c == 0xF0) { need = 3; lo = 0x90; }
        else if (c == 0xF4) { need = 3; hi = 0x8F; }
        else if (c >= 0xF1 && c <= 0xF3) need = 3;
        else { *bad = i; return 0; }
        if (n - i - 1 < need || s[i + 1] < lo || s[i + 1] > hi) { *bad = i; return 0; }
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80) { *bad = i; return 0; }
        i += need + 1;
    }
    return 1;
}

/* ------------------------------------------------------------------------- */
/* Hand-written matchers                                                      */
/* ------------------------------------------------------------------------- */
#define P_MASK (TOK_C_L | TOK_C_N | TOK_C_WS) /* [^\s\p{L}\p{N}] has none of these */

/* Class of the character at p (p < end) and the offset after it. */
static inline unsigned cls_at(const vlm_tokenizer *t, const uint8_t *s, size_t p, size_t *q, uint32_t *cp) {
    uint8_t b = s[p];
    if (b < 0x80) {
        *q = p + 1;
        *cp = b;
        return t->cls[b];
    }
    uint32_t c = tok_utf8_next(s, p, q);
    *cp = c;
    return tok_class(t, c);
}

/* Advance over characters whose class has any bit of want (want_none=0) or
 * none of the bits of mask (want_none=1). */
static inline size_t run_with(const vlm_tokenizer *t, const uint8_t *s, size_t p, size_t end, unsigned want) {
    while (p < end) {
        uint8_t b = s[p];
        if (b < 0x80) {
            if (!(t->cls[b] & want)) break;
            p++;
            continue;
        }
        size_t q;
        uint32_t c = tok_utf8_next(s, p, &q);
        if (!(tok_class(t, c) & want)) break;
        p = q;
    }
    return p;
}

static inline size_t run_punct(const vlm_tokenizer *t, const uint8_t *s, size_t p, size_t end) {
    while (p < end) {
        uint8_t b = s[p];
        if (b < 0x80) {
            if (t->cls[b] & P_MASK) break;
            p++;
            continue;
        }
        size_t q;
        uint32_t c = tok_utf8_next(s, p, &q);
        if (tok_class(t, c) & P_MASK) break;
        p = q;
    }
    return p;
}

/* The whitespace alternatives shared by both patterns. c0 at p is \s.
 * crlf_alt: Llama-3's \s*[\r\n]+ comes first. */
static size_t ws_tail(const vlm_tokenizer *t, const uint8_t *s, size_t p, size_t end, int crlf_alt) {
    size_t last_crlf_end = 0, last_start = p, i = p;
    while (i < end) {
        size_t q;
        uint32_t c;
        unsigned k = cls_at(t, s, i, &q, &c);
        if (!(k & TOK_C_WS)) break;
        if (k & TOK_C_CRLF) last_crlf_end = q;
        last_start = i;
        i = q;
    }
    /* \s*[\r\n]+ : ends after the last CR/LF of the run */
    if (crlf_alt && last_crlf_end) return last_crlf_end;
    /* \s+(?!\S) : the whole run at the end, else give back one character */
    if (i == end) return i;
    if (last_start > p) return last_start;
    /* \s+ */
    return i;
}

size_t tok_pretok_llama3(const vlm_tokenizer *t, const uint8_t *s, size_t p, size_t end) {
    size_t q, r = 0;
    uint32_t c0, c1 = 0;
    unsigned k0 = cls_at(t, s, p, &q, &c0), k1 = 0;
    int has1 = q < end;
    if (has1) k1 = cls_at(t, s, q, &r, &c1);
    /* (?i:'s|'t|'re|'ve|'m|'ll|'d) */
    if (c0 == '\'' && has1) {
        switch (c1) {
        case 's': case 'S': case 0x17F:
        case 't': case 'T':
        case 'm': case 'M':
        case 'd': case 'D': return r;
        case 'r': case 'R':
        case 'v': case 'V':
            if (r < end && (s[r] | 0x20) == 'e') return r + 1;
            break;
        case 'l': case 'L':
            if (r < end && (s[r] | 0x20) == 'l') return r + 1;
            break;
        default: break;
        }
    }
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (k0 & TOK_C_L) return run_with(t, s, q, end, TOK_C_L);
    if (!(k0 & (TOK_C_N | TOK_C_CRLF)) && has1 && (k1 & TOK_C_L)) return run_with(t, s, r, end, TOK_C_L);
    /* \p{N}{1,3} */
    if (k0 & TOK_C_N) {
        if (has1 && (k1 & TOK_C_N)) {
            size_t u;
            uint32_t c2;
            if (r < end && (cls_at(t, s, r, &u, &c2) & TOK_C_N)) return u;
            return r;
        }
        return q;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    size_t pe = 0;
    if (c0 == ' ') {
        if (has1 && !(k1 & P_MASK)) pe = run_punct(t, s, r, end);
    } else if (!(k0 & P_MASK)) {
        pe = run_punct(t, s, q, end);
    }
    if (pe) {
        while (pe < end && (s[pe] == '\r' || s[pe] == '\n')) pe++;
        return pe;
    }
    /* c0 is whitespace: \s*[\r\n]+ | \s+(?!\S) | \s+ */
    return ws_tail(t, s, p, end, 1);
}

size_t tok_pretok_gpt2(const vlm_tokenizer *t, const uint8_t *s, size_t p, size_t end) {
    size_t q, r = 0;
    uint32_t c0, c1 = 0;
    unsigned k0 = cls_at(t, s, p, &q, &c0), k1 = 0;
    int has1 = q < end;
    if (has1) k1 = cls_at(t, s, q, &r, &c1);
    /* 's|'t|'re|'ve|'m|'ll|'d (case-sensitive) */
    if (c0 == '\'' && has1) {
        switch (c1) {
        case 's': case 't': case 'm': case 'd': return r;
        case 'r': case 'v':
            if (r < end && s[r] == 'e') return r + 1;
            break;
        case 'l':
            if (r < end && s[r] == 'l') return r + 1;
            break;
        default: break;
        }
    }
    /*  ?\p{L}+ |  ?\p{N}+ */
    if (c0 == ' ' && has1 && (k1 & TOK_C_L)) return run_with(t, s, r, end, TOK_C_L);
    if (k0 & TOK_C_L) return run_with(t, s, q, end, TOK_C_L);
    if (c0 == ' ' && has1 && (k1 & TOK_C_N)) return run_with(t, s, r, end, TOK_C_N);
    if (k0 & TOK_C_N) return run_with(t, s, q, end, TOK_C_N);
    /*  ?[^\s\p{L}\p{N}]+ */
    if (c0 == ' ' && has1 && !(k1 & P_MASK)) return run_punct(t, s, r, end);
    if (!(k0 & P_MASK)) return run_punct(t, s, q, end);
    /* \s+(?!\S) | \s+ */
    return ws_tail(t, s, p, end, 0);
}

/* ------------------------------------------------------------------------- */
/* PCRE2 fallback                                                             */
/* ------------------------------------------------------------------------- */
/* Body of a character class holding exactly Unicode White_Space. */
static const char ws_body[] = "\\t-\\r\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}"
                              "\\x{202f}\\x{205f}\\x{3000}";

/* Copy pattern to a malloc'd string with \s -> White_Space class (inside or
 * outside classes) and \S -> its complement (outside classes only). */
static char *rewrite_ws(const char *p, size_t n, size_t *out_len) {
    size_t wl = strlen(ws_body), cap = n * (wl + 4) + 1, o = 0;
    char *r = malloc(cap);
    if (!r) return NULL;
    int in_class = 0;
    for (size_t i = 0; i < n;) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char d = p[i + 1];
            if (d == 'Q') { /* \Q...\E: literal text */
                size_t j = i + 2;
                while (j < n && !(p[j] == '\\' && j + 1 < n && p[j + 1] == 'E')) j++;
                j = j < n ? j + 2 : n;
                memcpy(r + o, p + i, j - i);
                o += j - i;
                i = j;
                continue;
            }
            if (d == 's' || (d == 'S' && !in_class)) {
                if (!in_class) r[o++] = '[';
                if (d == 'S') r[o++] = '^';
                memcpy(r + o, ws_body, wl);
                o += wl;
                if (!in_class) r[o++] = ']';
                i += 2;
                continue;
            }
            r[o++] = c;
            r[o++] = d;
            i += 2;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = 1;
            r[o++] = c;
            i++;
            if (i < n && p[i] == '^') r[o++] = p[i++];
            if (i < n && p[i] == ']') r[o++] = p[i++]; /* a leading ] is literal */
            continue;
        }
        if (in_class && c == '[' && i + 1 < n && p[i + 1] == ':') { /* [:name:] */
            const char *e = NULL;
            for (size_t j = i + 2; j + 1 < n; j++)
                if (p[j] == ':' && p[j + 1] == ']') { e = p + j + 2; break; }
            if (e) {
                size_t l = (size_t)(e - (p + i));
                memcpy(r + o, p + i, l);
                o += l;
                i += l;
                continue;
            }
        }
        if (in_class && c == ']') in_class = 0;
        r[o++] = c;
        i++;
    }
    r[o] = 0;
    *out_len = o;
    return r;
}

void *tok_pcre2_compile(const char *pattern, size_t len, char *err, size_t err_size) {
    int ec;
    PCRE2_SIZE eo;
    size_t rl;
    char *rw = rewrite_ws(pattern, len, &rl);
    if (!rw) {
        vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory compiling the regex");
        return NULL;
    }
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)rw, rl, PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C, &ec, &eo, NULL);
    free(rw);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED, "regex not supported by PCRE2: %s", (const char *)msg);
        return NULL;
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    return re;
}

void tok_pcre2_free(void *re) { pcre2_code_free((pcre2_code *)re); }

void tok_enc_release(tok_enc *e) {
    if (e->md) pcre2_match_data_free((pcre2_match_data *)e->md);
    if (e->mctx) pcre2_match_context_free((pcre2_match_context *)e->mctx);
    if (e->jit) pcre2_jit_stack_free((pcre2_jit_stack *)e->jit);
    free(e->sym);
    free(e->heap);
    e->md = e->mctx = e->jit = NULL;
    e->sym = NULL;
    e->heap = NULL;
}

static int pcre2_setup(tok_enc *e) {
    if (e->md) return 1;
    e->md = pcre2_match_data_create(1, NULL);
    e->mctx = pcre2_match_context_create(NULL);
    e->jit = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    if (!e->md || !e->mctx) {
        e->st = vlm_set_err(e->err, e->err_size, VLM_ERR_OOM, "out of memory (regex match data)");
        return 0;
    }
    if (e->jit) pcre2_jit_stack_assign((pcre2_match_context *)e->mctx, NULL, e->jit);
    pcre2_set_match_limit((pcre2_match_context *)e->mctx, 10u * 1000 * 1000); /* like Oniguruma's retry limit */
    pcre2_set_heap_limit((pcre2_match_context *)e->mctx, 64u * 1024); /* KiB */
    return 1;
}

/* Oniguruma's find_iter as used by HF's Split(Isolated): matches and the gaps
 * between them become pieces; an empty match right after the previous match is
 * skipped by advancing one character; empty pieces vanish. */
static int split_pcre2(tok_enc *e, int stage, size_t bs, size_t be) {
    const pcre2_code *re = (const pcre2_code *)e->tok->splits[stage].re;
    if (!pcre2_setup(e)) return 0;
    PCRE2_SPTR sub = (PCRE2_SPTR)(e->text + bs);
    size_t n = be - bs, last_end = 0, prev = 0, lme = 0;
    int have_lme = 0;
    while (last_end <= n) {
        int rc = pcre2_match(re, sub, n, last_end, PCRE2_NO_UTF_CHECK, (pcre2_match_data *)e->md,
                             (pcre2_match_context *)e->mctx);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            e->st = vlm_set_err(e->err, e->err_size, VLM_ERR_UNSUPPORTED,
                                "pre-tokenizer regex failed at byte %zu: %s", bs + last_end, (const char *)msg);
            return 0;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer((pcre2_match_data *)e->md);
        size_t ms = ov[0], me = ov[1];
        if (me < ms) me = ms; /* \K tricks: treat as empty */
        if (me == ms && have_lme && lme == me) {
            if (last_end >= n) break;
            size_t q;
            (void)tok_utf8_next(e->text + bs, last_end, &q);
            last_end = q;
            continue;
        }
        last_end = me;
        lme = me;
        have_lme = 1;
        if (ms > prev && !tok_pretokenize(e, stage + 1, bs + prev, bs + ms)) return 0;
        if (me > ms && !tok_pretokenize(e, stage + 1, bs + ms, bs + me)) return 0;
        if (me > prev) prev = me;
    }
    if (prev < n && !tok_pretokenize(e, stage + 1, bs + prev, be)) return 0;
    return 1;
}

int tok_pretokenize(tok_enc *e, int stage, size_t bs, size_t be) {
    const vlm_tokenizer *t = e->tok;
    if (bs >= be) return 1;
    if (stage >= t->n_splits) return e->piece_cb ? e->piece_cb(e->user, -1, bs, be) : tok_bpe_word(e, bs, be);
    const uint8_t *s = e->text;
    switch (t->splits[stage].kind) {
    case TOK_SPLIT_LLAMA3:
        if (stage + 1 == t->n_splits && !e->piece_cb) {
            for (size_t p = bs; p < be;) {
                size_t q = tok_pretok_llama3(t, s, p, be);
                if (!tok_bpe_word(e, p, q)) return 0;
                p = q;
            }
            return 1;
        }
        for (size_t p = bs; p < be;) {
            size_t q = tok_pretok_llama3(t, s, p, be);
            if (!tok_pretokenize(e, stage + 1, p, q)) return 0;
            p = q;
        }
        return 1;
    case TOK_SPLIT_GPT2:
        for (size_t p = bs; p < be;) {
            size_t q = tok_pretok_gpt2(t, s, p, be);
            if (!tok_pretokenize(e, stage + 1, p, q)) return 0;
            p = q;
        }
        return 1;
    case TOK_SPLIT_PCRE2: return split_pcre2(e, stage, bs, be);
    }
    return 1;
}
