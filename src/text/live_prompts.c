/* live_prompts.c - see live_prompts.h. */
#include "text/live_prompts.h"

const char *const vlm_live_system_prompt =
    "A multimodal AI assistant is helping users with some activities. Below is their conversation, interleaved "
    "with the list of video frames received by the assistant.";

const char *const vlm_live_narration_instruction =
    "Please concisely narrate the video in real time. Use the tag 'C' to denote the camera wearer, and other letter "
    "tags, such as 'X', to denote other individuals in the scene.";

const char *const vlm_live_refined_instructions[VLM_LIVE_N_REFINED_INSTRUCTIONS] = {
    "Please concisely narrate the video in real time.",
    "Help me to illustrate my view in short.",
    "Please simply describe what do you see.",
    "Continuously answer what you observed with simple text.",
    "Do concise real-time narration.",
    "Hey assistant, do you know the current video content? Reply me concisely.",
    "Simply interpret the scene for me.",
    "What can you tell me about? Be concise.",
    "Use simple text to explain what is shown in front of me.",
    "What is the action now? Please response in short.",
};
