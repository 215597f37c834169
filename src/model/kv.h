/* kv.h - KV-cache editing used by the streaming session's bounded-context
 * policy (internal). */
#ifndef VLM_MODEL_KV_H
#define VLM_MODEL_KV_H
#include "videollm.h"

/* Remove positions [start, start+count) from the cache. Later positions move
 * down by count; their keys are re-rotated by -count positions (RoPE is a
 * rotation, so rotating by the difference gives exactly the keys they would
 * have had at their new positions). VLM_ERR_INVALID_ARG for a bad range. */
vlm_status vlm_lm_kv_evict(vlm_lm_context *ctx, int32_t start, int32_t count);
#endif
