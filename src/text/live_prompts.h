/* live_prompts.h - the fixed strings of VideoLLM-online that several parts
 * share: the default system prompt (written into converted models, used by
 * data preparation and the synthetic dataset) and the narration instructions
 * of the Ego4D narration-stream data. Internal. */
#ifndef VLM_TEXT_LIVE_PROMPTS_H
#define VLM_TEXT_LIVE_PROMPTS_H

/* LiveTrainingArguments.system_prompt (two sentences joined by one space). */
extern const char *const vlm_live_system_prompt;
/* The instruction of the raw Ego4D narration stream. */
extern const char *const vlm_live_narration_instruction;
/* The 10 instructions of the refined narration stream (one drawn per sample). */
#define VLM_LIVE_N_REFINED_INSTRUCTIONS 10
extern const char *const vlm_live_refined_instructions[VLM_LIVE_N_REFINED_INSTRUCTIONS];
#endif
