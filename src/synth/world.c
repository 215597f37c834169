/* world.c - the synthetic world: a seeded simulation of flat shapes that
 * appear, move, change colour, touch and disappear, stored as a per-tick
 * object table plus the event list, and a pixel-exact renderer.
 *
 * Rules (docs/synth.md): time advances in ticks of 1/10 s. At tick 0 one or
 * two objects appear. Spontaneous events follow every 1.0-3.0 s (drawn in
 * whole half seconds), each event_offset ticks (default 1) after a whole
 * half second, so that the 2 fps frame its reply follows shows it well (a
 * move five steps in, not one). At most one object moves at a time, 6 px per tick in
 * one of four directions, for 1-3 s or until a wall; when it touches another
 * object it stops exactly in contact ("collides with"). Present objects
 * always have distinct (colour, shape) pairs, so "the red square" is unique.
 * All geometry is integer: identical output on every machine. */
#include <math.h>
#include <stdio.h>

#include "core/util.h"
#include "synth/synth.h"

#define SPEED 6        /* pixels per tick */
#define SMALL_R 24
#define LARGE_R 44
#define MARGIN 4       /* minimum distance from the frame edge */
#define APPEAR_GAP 8   /* minimum free space around a new object */
#define MAX_EVENTS_PER_TICK (2 + VLM_SYNTH_MAX_OBJECTS)

static const uint8_t PALETTE[VLM_SYNTH_N_COLOURS][3] = {
    {230, 40, 40}, {40, 200, 60}, {50, 90, 235}, {240, 220, 40}, {245, 245, 245}, {160, 60, 210},
};
static const uint8_t BACKGROUND[3] = {40, 40, 40};
static const char *const COLOUR_NAMES[VLM_SYNTH_N_COLOURS] = {"red", "green", "blue", "yellow", "white", "purple"};
static const char *const SHAPE_NAMES[VLM_SYNTH_N_SHAPES] = {"square", "circle", "triangle"};
static const char *const DIR_NAMES[4] = {"left", "right", "up", "down"};
static const char *const ACTION_NAMES[5] = {"appears", "moves", "turns", "collides", "disappears"};
static const int DX[4] = {-1, 1, 0, 0}, DY[4] = {0, 0, -1, 1};

/* ---------------------------------------------------------------------- */
/* PRNG: splitmix64 seeding, xoshiro256**                                  */
/* ---------------------------------------------------------------------- */
void vlm_synth_rng_seed(vlm_synth_rng *r, uint64_t seed) {
    uint64_t z = seed;
    for (int i = 0; i < 4; i++) {
        z += 0x9e3779b97f4a7c15ULL;
        uint64_t x = z;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        r->s[i] = x ^ (x >> 31);
    }
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t vlm_synth_rng_next(vlm_synth_rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

uint64_t vlm_synth_rng_below(vlm_synth_rng *r, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = vlm_synth_rng_next(r);
    while (x >= limit);
    return x % n;
}

static int64_t rng_range(vlm_synth_rng *r, int64_t lo, int64_t hi) { /* [lo, hi] */
    return lo + (int64_t)vlm_synth_rng_below(r, (uint64_t)(hi - lo + 1));
}

/* ---------------------------------------------------------------------- */
/* Names                                                                   */
/* ---------------------------------------------------------------------- */
const char *vlm_synth_colour_name(int32_t c) { return c >= 0 && c < VLM_SYNTH_N_COLOURS ? COLOUR_NAMES[c] : "?"; }
const char *vlm_synth_shape_name(int32_t s) { return s >= 0 && s < VLM_SYNTH_N_SHAPES ? SHAPE_NAMES[s] : "?"; }
void vlm_synth_colour_rgb(int32_t c, uint8_t rgb[3]) {
    const uint8_t *p = c >= 0 && c < VLM_SYNTH_N_COLOURS ? PALETTE[c] : BACKGROUND;
    rgb[0] = p[0];
    rgb[1] = p[1];
    rgb[2] = p[2];
}

vlm_synth_params vlm_synth_default_params(void) {
    return (vlm_synth_params){.seed = 0, .seconds = 30, .size = 384, .max_present = 4, .event_offset = 1};
}

/* ---------------------------------------------------------------------- */
/* Simulation                                                              */
/* ---------------------------------------------------------------------- */
typedef struct {
    vlm_synth_scene *s;
    vlm_synth_rng rng;
    vlm_synth_cell *cur; /* the row of the tick being built */
    int32_t mover;       /* object moving, -1 if none */
    int32_t mover_dir;
    int64_t mover_left;  /* ticks of motion left */
} sim;

static vlm_status add_event(vlm_synth_scene *s, vlm_synth_event e) {
    if (s->n_events == s->cap_events) {
        size_t cap = s->cap_events ? s->cap_events * 2 : 64;
        vlm_synth_event *ne = realloc(s->events, cap * sizeof *ne);
        if (!ne) return VLM_ERR_OOM;
        s->events = ne;
        s->cap_events = cap;
    }
    s->events[s->n_events++] = e;
    return VLM_OK;
}

static vlm_synth_event make_event(int64_t tick, int32_t obj, vlm_synth_action a, int32_t colour) {
    return (vlm_synth_event){.tick = tick, .object = obj, .action = a, .dir = -1, .colour = colour,
                             .new_colour = -1, .other = -1, .other_colour = -1};
}

static int64_t iabs64(int64_t v) { return v < 0 ? -v : v; }

/* Contact of the bounding squares of a and b (touching counts). */
static int in_contact(const sim *m, size_t a, size_t b, int64_t gap) {
    const vlm_synth_cell *ca = &m->cur[a], *cb = &m->cur[b];
    int64_t R = m->s->objects[a].radius + m->s->objects[b].radius + gap;
    return iabs64(ca->x - cb->x) <= R && iabs64(ca->y - cb->y) <= R;
}

/* One step of the moving object: advance, stop at walls, stop in contact
 * with the first object hit (events for every object touched). */
static vlm_status step_mover(sim *m, int64_t tick) {
    if (m->mover < 0) return VLM_OK;
    vlm_synth_scene *s = m->s;
    size_t o = (size_t)m->mover;
    vlm_synth_cell *c = &m->cur[o];
    if (!c->present) { m->mover = -1; return VLM_OK; }
    int32_t r = s->objects[o].radius, d = m->mover_dir;
    int64_t lo = r + MARGIN, hi = s->p.size - 1 - r - MARGIN;
    int64_t px = c->x, py = c->y;
    int64_t nx = px + DX[d] * SPEED, ny = py + DY[d] * SPEED;
    if (nx < lo) nx = lo;
    if (nx > hi) nx = hi;
    if (ny < lo) ny = lo;
    if (ny > hi) ny = hi;
    c->x = (int16_t)nx;
    c->y = (int16_t)ny;
    /* the smallest approach that touches another object */
    int64_t best = -1;
    for (size_t b = 0; b < s->n_objects; b++) {
        if (b == o || !m->cur[b].present || !in_contact(m, o, b, 0)) continue;
        int64_t R = r + s->objects[b].radius;
        int64_t gap = DX[d] ? iabs64(px - m->cur[b].x) - R : iabs64(py - m->cur[b].y) - R;
        if (gap <= 0) continue; /* was already in contact: sliding along */
        if (best < 0 || gap < best) best = gap;
    }
    if (best >= 0) {
        c->x = (int16_t)(px + DX[d] * best);
        c->y = (int16_t)(py + DY[d] * best);
        for (size_t b = 0; b < s->n_objects; b++) {
            if (b == o || !m->cur[b].present || !in_contact(m, o, b, 0)) continue;
            int64_t R = r + s->objects[b].radius;
            int64_t before = DX[d] ? iabs64(px - m->cur[b].x) : iabs64(py - m->cur[b].y);
            if (before <= R) continue; /* was touching before this step */
            vlm_synth_event e = make_event(tick, (int32_t)o, VLM_SYNTH_COLLIDES, c->colour);
            e.other = (int32_t)b;
            e.other_colour = m->cur[b].colour;
            if (add_event(s, e)) return VLM_ERR_OOM;
        }
        m->mover_left = 0;
    } else if (--m->mover_left <= 0 || (nx == px && ny == py)) {
        m->mover_left = 0;
    }
    if (m->mover_left == 0) {
        c->moving = 0;
        m->mover = -1;
    }
    return VLM_OK;
}

static int pair_taken(const sim *m, int32_t colour, int32_t shape, size_t except) {
    for (size_t b = 0; b < m->s->n_objects; b++)
        if (b != except && m->cur[b].present && m->cur[b].colour == colour && m->s->objects[b].shape == shape)
            return 1;
    return 0;
}

static size_t count_present(const sim *m) {
    size_t n = 0;
    for (size_t b = 0; b < m->s->n_objects; b++) n += m->cur[b].present;
    return n;
}

/* The k-th present object (k < count_present). */
static size_t nth_present(const sim *m, size_t k) {
    for (size_t b = 0; b < m->s->n_objects; b++)
        if (m->cur[b].present && k-- == 0) return b;
    return 0;
}

static vlm_status do_appear(sim *m, int64_t tick) {
    vlm_synth_scene *s = m->s;
    if (s->n_objects >= VLM_SYNTH_MAX_OBJECTS) return VLM_OK;
    size_t o = s->n_objects;
    int32_t shape = (int32_t)vlm_synth_rng_below(&m->rng, VLM_SYNTH_N_SHAPES);
    int large = (int)vlm_synth_rng_below(&m->rng, 2);
    int32_t r = large ? LARGE_R : SMALL_R;
    int32_t colour = (int32_t)vlm_synth_rng_below(&m->rng, VLM_SYNTH_N_COLOURS);
    for (int k = 0; k < VLM_SYNTH_N_COLOURS && pair_taken(m, colour, shape, (size_t)-1); k++)
        colour = (colour + 1) % VLM_SYNTH_N_COLOURS;
    if (pair_taken(m, colour, shape, (size_t)-1)) return VLM_OK;
    s->objects[o] = (vlm_synth_obj_info){.shape = (uint8_t)shape, .large = (uint8_t)large, .radius = (int16_t)r};
    int64_t lo = r + MARGIN, hi = s->p.size - 1 - r - MARGIN;
    for (int attempt = 0; attempt < 50; attempt++) {
        m->cur[o] = (vlm_synth_cell){.present = 1, .colour = (uint8_t)colour,
                                     .x = (int16_t)rng_range(&m->rng, lo, hi),
                                     .y = (int16_t)rng_range(&m->rng, lo, hi)};
        int free_spot = 1;
        for (size_t b = 0; b < o && free_spot; b++)
            if (m->cur[b].present && in_contact(m, o, b, APPEAR_GAP)) free_spot = 0;
        if (free_spot) {
            s->n_objects++;
            return add_event(s, make_event(tick, (int32_t)o, VLM_SYNTH_APPEARS, colour));
        }
    }
    m->cur[o] = (vlm_synth_cell){0};
    return VLM_OK; /* no room: nothing happens */
}

static vlm_status do_move(sim *m, int64_t tick) {
    vlm_synth_scene *s = m->s;
    size_t o = nth_present(m, (size_t)vlm_synth_rng_below(&m->rng, count_present(m)));
    int32_t r = s->objects[o].radius;
    int64_t lo = r + MARGIN, hi = s->p.size - 1 - r - MARGIN;
    const vlm_synth_cell *c = &m->cur[o];
    int dirs[4], nd = 0;
    for (int d = 0; d < 4; d++) {
        int64_t room = d == VLM_SYNTH_LEFT ? c->x - lo : d == VLM_SYNTH_RIGHT ? hi - c->x
                       : d == VLM_SYNTH_UP ? c->y - lo : hi - c->y;
        if (room < 2 * SPEED) continue;
        int blocked = 0; /* do not push into an object it already touches */
        for (size_t b = 0; b < s->n_objects && !blocked; b++) {
            if (b == o || !m->cur[b].present || !in_contact(m, o, b, 0)) continue;
            int64_t toward = DX[d] * (m->cur[b].x - c->x) + DY[d] * (m->cur[b].y - c->y);
            if (toward > 0) blocked = 1;
        }
        if (!blocked) dirs[nd++] = d;
    }
    if (!nd) return VLM_OK;
    int d = dirs[vlm_synth_rng_below(&m->rng, (uint64_t)nd)];
    vlm_synth_event e = make_event(tick, (int32_t)o, VLM_SYNTH_MOVES, c->colour);
    e.dir = d;
    if (add_event(s, e)) return VLM_ERR_OOM;
    m->mover = (int32_t)o;
    m->mover_dir = d;
    m->mover_left = rng_range(&m->rng, 10, 30);
    m->cur[o].moving = 1;
    return step_mover(m, tick); /* the first step is taken at once */
}

static vlm_status do_turn(sim *m, int64_t tick) {
    size_t o = nth_present(m, (size_t)vlm_synth_rng_below(&m->rng, count_present(m)));
    int32_t old = m->cur[o].colour, shape = m->s->objects[o].shape;
    int32_t c = (int32_t)vlm_synth_rng_below(&m->rng, VLM_SYNTH_N_COLOURS);
    for (int k = 0; k < VLM_SYNTH_N_COLOURS && (c == old || pair_taken(m, c, shape, o)); k++)
        c = (c + 1) % VLM_SYNTH_N_COLOURS;
    if (c == old || pair_taken(m, c, shape, o)) return VLM_OK;
    vlm_synth_event e = make_event(tick, (int32_t)o, VLM_SYNTH_TURNS, old);
    e.new_colour = c;
    m->cur[o].colour = (uint8_t)c;
    return add_event(m->s, e);
}

static vlm_status do_disappear(sim *m, int64_t tick) {
    size_t o = nth_present(m, (size_t)vlm_synth_rng_below(&m->rng, count_present(m)));
    vlm_synth_event e = make_event(tick, (int32_t)o, VLM_SYNTH_DISAPPEARS, m->cur[o].colour);
    m->cur[o].present = 0;
    m->cur[o].moving = 0;
    if (m->mover == (int32_t)o) m->mover = -1;
    return add_event(m->s, e);
}

static vlm_status spontaneous(sim *m, int64_t tick) {
    size_t n = count_present(m);
    int w[4] = {0}; /* appear, move, turn, disappear */
    if ((int64_t)n < m->s->p.max_present && m->s->n_objects < VLM_SYNTH_MAX_OBJECTS) w[0] = n == 0 ? 10 : 3;
    if (n >= 1 && m->mover < 0) w[1] = 4;
    if (n >= 1) w[2] = 3;
    if (n >= 2) w[3] = 2;
    int total = w[0] + w[1] + w[2] + w[3];
    if (!total) return VLM_OK;
    int pick = (int)vlm_synth_rng_below(&m->rng, (uint64_t)total), a = 0;
    while (pick >= w[a]) pick -= w[a++];
    switch (a) {
    case 0: return do_appear(m, tick);
    case 1: return do_move(m, tick);
    case 2: return do_turn(m, tick);
    default: return do_disappear(m, tick);
    }
}

vlm_status vlm_synth_generate(const vlm_synth_params *p, vlm_synth_scene **out, char *err, size_t err_size) {
    if (!out) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: out is NULL");
    *out = NULL;
    if (!p) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: params are NULL");
    if (!(p->seconds > 0 && p->seconds <= VLM_SYNTH_MAX_SECONDS))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: seconds must be in (0, %d], got %g",
                           VLM_SYNTH_MAX_SECONDS, p->seconds);
    if (p->size < 128 || p->size > 1024)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: size must be in [128, 1024], got %d", p->size);
    if (p->max_present < 1 || p->max_present > 8)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: max_present must be in [1, 8], got %d",
                           p->max_present);
    if (p->event_offset < 0 || p->event_offset > 4)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: event_offset must be in [0, 4] ticks, got %d",
                           p->event_offset);
    int64_t n_ticks = (int64_t)(p->seconds * VLM_SYNTH_TICK_HZ + 1e-9);
    if (n_ticks < 1) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: clip shorter than one tick");
    vlm_synth_scene *s = calloc(1, sizeof *s);
    if (s) {
        s->p = *p;
        s->n_ticks = n_ticks;
        s->objects = calloc(VLM_SYNTH_MAX_OBJECTS, sizeof *s->objects);
        s->cells = calloc((size_t)n_ticks * VLM_SYNTH_MAX_OBJECTS, sizeof *s->cells);
    }
    if (!s || !s->objects || !s->cells) {
        vlm_synth_free(s);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "synth: out of memory (%lld ticks)", (long long)n_ticks);
    }
    sim m = {.s = s, .mover = -1};
    vlm_synth_rng_seed(&m.rng, p->seed);
    int64_t next = 0;
    vlm_status st = VLM_OK;
    for (int64_t t = 0; t < n_ticks && !st; t++) {
        m.cur = &s->cells[(size_t)t * VLM_SYNTH_MAX_OBJECTS];
        if (t > 0) memcpy(m.cur, m.cur - VLM_SYNTH_MAX_OBJECTS, VLM_SYNTH_MAX_OBJECTS * sizeof *m.cur);
        st = step_mover(&m, t);
        if (st) break;
        if (t == 0) {
            int64_t first = rng_range(&m.rng, 1, 2);
            for (int64_t k = 0; k < first && !st; k++) st = do_appear(&m, 0);
            next = 5 * rng_range(&m.rng, 2, 6) + p->event_offset;
        } else if (t == next) {
            /* none where no 2 fps frame of the clip would show it */
            if (vlm_synth_ceil_frame(t, 2) * (VLM_SYNTH_TICK_HZ / 2) < n_ticks) st = spontaneous(&m, t);
            next = t + 5 * rng_range(&m.rng, 2, 6);
        }
    }
    if (st) {
        vlm_synth_free(s);
        return vlm_set_err(err, err_size, st, "synth: out of memory (events)");
    }
    *out = s;
    return VLM_OK;
}

void vlm_synth_free(vlm_synth_scene *s) {
    if (!s) return;
    free(s->objects);
    free(s->cells);
    free(s->events);
    free(s);
}

int64_t vlm_synth_n_ticks(const vlm_synth_scene *s) { return s ? s->n_ticks : 0; }
size_t vlm_synth_n_events(const vlm_synth_scene *s) { return s ? s->n_events : 0; }
const vlm_synth_event *vlm_synth_events(const vlm_synth_scene *s) { return s ? s->events : NULL; }
size_t vlm_synth_n_objects(const vlm_synth_scene *s) { return s ? s->n_objects : 0; }

vlm_status vlm_synth_object_info_at(const vlm_synth_scene *s, size_t obj, vlm_synth_object_info *out) {
    if (!s || !out || obj >= s->n_objects) return VLM_ERR_INVALID_ARG;
    out->shape = (vlm_synth_shape)s->objects[obj].shape;
    out->large = s->objects[obj].large;
    out->radius = s->objects[obj].radius;
    return VLM_OK;
}

vlm_status vlm_synth_object_at(const vlm_synth_scene *s, int64_t tick, size_t obj, vlm_synth_object_state *out) {
    if (!s || !out || obj >= s->n_objects || tick < 0 || tick >= s->n_ticks) return VLM_ERR_INVALID_ARG;
    const vlm_synth_cell *c = vlm_synth_cell_at(s, tick, obj);
    *out = (vlm_synth_object_state){.present = c->present, .moving = c->moving, .colour = c->colour,
                                    .x = c->x, .y = c->y};
    return VLM_OK;
}

/* ---------------------------------------------------------------------- */
/* Rendering: coverage tested at pixel centres in doubled integer units     */
/* ---------------------------------------------------------------------- */
static int covers(int shape, int64_t r, int64_t u, int64_t v) { /* u, v = 2*(centre offset) */
    switch (shape) {
    case VLM_SYNTH_SQUARE: return iabs64(u) < 2 * r && iabs64(v) < 2 * r;
    case VLM_SYNTH_CIRCLE: return u * u + v * v < 4 * r * r;
    default: return v > -2 * r && v < 2 * r && 2 * iabs64(u) < v + 2 * r; /* apex up, base down */
    }
}

int64_t vlm_synth_shape_area(int32_t shape, bool large) {
    if (shape < 0 || shape >= VLM_SYNTH_N_SHAPES) return 0;
    int64_t r = large ? LARGE_R : SMALL_R, n = 0;
    for (int64_t y = -r - 1; y <= r + 1; y++)
        for (int64_t x = -r - 1; x <= r + 1; x++) n += covers(shape, r, 2 * x + 1, 2 * y + 1);
    return n;
}

vlm_status vlm_synth_render(const vlm_synth_scene *s, int64_t tick, uint8_t *rgb) {
    if (!s || !rgb || tick < 0 || tick >= s->n_ticks) return VLM_ERR_INVALID_ARG;
    int64_t size = s->p.size;
    for (int64_t i = 0; i < size * size; i++) memcpy(rgb + i * 3, BACKGROUND, 3);
    for (size_t o = 0; o < s->n_objects; o++) {
        const vlm_synth_cell *c = vlm_synth_cell_at(s, tick, o);
        if (!c->present) continue;
        int64_t r = s->objects[o].radius;
        const uint8_t *col = PALETTE[c->colour % VLM_SYNTH_N_COLOURS];
        int64_t y0 = c->y - r - 1 < 0 ? 0 : c->y - r - 1, y1 = c->y + r + 1 >= size ? size - 1 : c->y + r + 1;
        int64_t x0 = c->x - r - 1 < 0 ? 0 : c->x - r - 1, x1 = c->x + r + 1 >= size ? size - 1 : c->x + r + 1;
        for (int64_t y = y0; y <= y1; y++)
            for (int64_t x = x0; x <= x1; x++)
                if (covers(s->objects[o].shape, r, 2 * x + 1 - 2 * c->x, 2 * y + 1 - 2 * c->y))
                    memcpy(rgb + (y * size + x) * 3, col, 3);
    }
    return VLM_OK;
}

/* ---------------------------------------------------------------------- */
/* Text                                                                    */
/* ---------------------------------------------------------------------- */
vlm_status vlm_synth_event_text(const vlm_synth_scene *s, size_t i, char *buf, size_t n) {
    if (!s || !buf || !n || i >= s->n_events) return VLM_ERR_INVALID_ARG;
    const vlm_synth_event *e = &s->events[i];
    const char *shape = vlm_synth_shape_name(s->objects[e->object].shape);
    const char *col = vlm_synth_colour_name(e->colour);
    int k;
    switch (e->action) {
    case VLM_SYNTH_APPEARS:
        k = snprintf(buf, n, "A %s %s %s appears.", s->objects[e->object].large ? "large" : "small", col, shape);
        break;
    case VLM_SYNTH_MOVES: k = snprintf(buf, n, "The %s %s moves %s.", col, shape, DIR_NAMES[e->dir & 3]); break;
    case VLM_SYNTH_TURNS:
        k = snprintf(buf, n, "The %s %s turns %s.", col, shape, vlm_synth_colour_name(e->new_colour));
        break;
    case VLM_SYNTH_COLLIDES:
        k = snprintf(buf, n, "The %s %s collides with the %s %s.", col, shape, vlm_synth_colour_name(e->other_colour),
                     vlm_synth_shape_name(s->objects[e->other].shape));
        break;
    default: k = snprintf(buf, n, "The %s %s disappears.", col, shape); break;
    }
    return k < 0 || (size_t)k >= n ? VLM_ERR_INVALID_ARG : VLM_OK;
}

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) { b->oom = 1; return; }
        if (b->p && b->n + (size_t)k < b->cap) { b->n += (size_t)k; return; }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)k;
        char *np = realloc(b->p, cap);
        if (!np) { b->oom = 1; return; }
        b->p = np;
        b->cap = cap;
    }
}

vlm_status vlm_synth_events_json(const vlm_synth_scene *s, char **out, size_t *out_len) {
    if (!s || !out) return VLM_ERR_INVALID_ARG;
    *out = NULL;
    sbuf b = {0};
    sb_printf(&b, "{\"seed\": %llu, \"seconds\": %.17g, \"size\": %d, \"tick_hz\": %d, \"objects\": [",
              (unsigned long long)s->p.seed, s->p.seconds, s->p.size, VLM_SYNTH_TICK_HZ);
    for (size_t o = 0; o < s->n_objects; o++)
        sb_printf(&b, "%s\n  {\"id\": %zu, \"shape\": \"%s\", \"size\": \"%s\", \"radius\": %d}", o ? "," : "", o,
                  vlm_synth_shape_name(s->objects[o].shape), s->objects[o].large ? "large" : "small",
                  s->objects[o].radius);
    sb_printf(&b, "],\n \"events\": [");
    for (size_t i = 0; i < s->n_events; i++) {
        const vlm_synth_event *e = &s->events[i];
        const vlm_synth_cell *c = vlm_synth_cell_at(s, e->tick, (size_t)e->object);
        char text[160];
        vlm_synth_event_text(s, i, text, sizeof text);
        sb_printf(&b, "%s\n  {\"time\": %.1f, \"tick\": %lld, \"object\": %d, \"action\": \"%s\", \"colour\": \"%s\"",
                  i ? "," : "", (double)e->tick / VLM_SYNTH_TICK_HZ, (long long)e->tick, e->object,
                  ACTION_NAMES[e->action], vlm_synth_colour_name(e->colour));
        if (e->action == VLM_SYNTH_MOVES) sb_printf(&b, ", \"direction\": \"%s\"", DIR_NAMES[e->dir & 3]);
        if (e->action == VLM_SYNTH_TURNS) sb_printf(&b, ", \"new_colour\": \"%s\"", vlm_synth_colour_name(e->new_colour));
        if (e->action == VLM_SYNTH_COLLIDES) sb_printf(&b, ", \"other\": %d", e->other);
        sb_printf(&b, ", \"x\": %d, \"y\": %d, \"text\": \"%s\"}", c->x, c->y, text);
    }
    sb_printf(&b, "]}\n");
    if (b.oom) { free(b.p); return VLM_ERR_OOM; }
    *out = b.p;
    if (out_len) *out_len = b.n;
    return VLM_OK;
}

/* ---------------------------------------------------------------------- */
/* Time grid                                                               */
/* ---------------------------------------------------------------------- */
double vlm_synth_ceil_time(double t, double fps, double lo, double hi) {
    double v = ceil(t * fps) / fps;
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    return v;
}

int64_t vlm_synth_ceil_frame(int64_t tick, int32_t fps) {
    if (tick <= 0 || fps <= 0) return 0;
    return (tick * fps + VLM_SYNTH_TICK_HZ - 1) / VLM_SYNTH_TICK_HZ;
}
