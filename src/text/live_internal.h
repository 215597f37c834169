/* live_internal.h - helpers shared by the live chat template modules
 * (conversation.c, template.c, labels.c). Not part of the public API. */
#ifndef VLM_TEXT_LIVE_INTERNAL_H
#define VLM_TEXT_LIVE_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include "videollm.h"

/* Python len() of a UTF-8 string: the number of code points. Counts the bytes
 * that are not continuation bytes, which is exact for valid UTF-8 (jansson
 * only hands out valid UTF-8). */
static inline int64_t vlm__utf8_len(const char *s, size_t n) {
    int64_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* Role name for messages ("system", ..., "unknown"). */
const char *vlm__role_name(vlm_role r);

/* The checks the original's learn-range code performs (role transition table,
 * stream frame counts and learn types), without producing ranges. Used by
 * vlm_template_render when p->strict is set. */
vlm_status vlm__validate_conversation(const vlm_message *msgs, size_t n, const vlm_template_params *p, char *err,
                                      size_t err_size);
#endif
