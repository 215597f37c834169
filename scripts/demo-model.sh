#!/usr/bin/env bash
# demo-model.sh - the recipe of the default model (make demo-model): a small
# model of the VideoLLM-online architecture trained from scratch by videollm on
# the synthetic world, evaluated on held-out scenes against two baselines.
#
#   scripts/demo-model.sh [WORK_DIR]
#
#   1. training conversations (`videollm synth --no-video`, seeds SEED..SEED+TRAIN-1);
#   2. a byte-level BPE tokenizer trained on them (`videollm tokenizer-train`);
#   3. a freshly initialised model (`videollm init`, seeded): SigLIP-style tower
#      at 384 px (frozen: see docs/demo-model.md), connector, Llama-style LM;
#      every tower weight written by construction (`videollm calibrate --design-tower`, DESIGN_TOWER=1)
#      and standardised on the first CAL_SCENES training scenes (DESIGN_TOWER=0: the random tower,
#      calibrated on them),
#      with layer 0's frame-difference heads designed when DIFF_HEADS=1 (and with REPLY_HEAD=1 the
#      head of layer 1 that hands a frame's change to the reply's first token);
#   4. frame features of the training scenes (that tower) and 200 held-out
#      scenes written as real 2 fps videos (seeds HELDOUT_SEED...);
#   5. `videollm train --full` in chunks of EVAL_EVERY steps, each followed by
#      `videollm eval` on the first CURVE_SCENES held-out scenes (the curve);
#   6. the final model on all held-out scenes: `videollm eval` (LM-PPL,
#      LM-Correctness, TimeDiff, Fluency), `videollm stream` on every held-out
#      video + `videollm score` (events narrated within 1 s), and the same for
#      the baselines (always silent, speaking every K frames);
#   7. the report (WORK_DIR/report.md) and, with INSTALL=1, the model copied to
#      models/default/ with its report and training log.
# Settings (environment, defaults in brackets): SEED [1] (scenes, tokenizer data, initial model, calibration)
#   TRAIN_SEED [4] (the order of the training conversations: train --seed) TRAIN [3200] SECONDS_PER_SCENE [20]
#   EVENT_OFFSET [1] (synth --event-offset) RECAP [0] (synth --recap for the training scenes) SORT_JOINED [0] (synth --sort-joined, training and held-out) HELDOUT [200] HELDOUT_SEED [1000000] VOCAB [512] HIDDEN [256] LAYERS [4] HEADS [4]
#   FFN [768] V_HIDDEN [160] V_LAYERS [2] V_HEADS [2] V_FFN [512] PATCH [32] V_BASIS [2]
#   V_RES [0.1] CAL_SCENES [100] DESIGN_TOWER [1] MOMENT_GAIN [1] (calibrate --head-moment-gain) MOMENT_WAVE [6] (calibrate --moment-wave; 0: none; needs V_HIDDEN >= 142) DIFF_HEADS [1] REPLY_HEAD [1] EPOCHS [3] LR [5e-4] WARMUP [0.03] ACCUM [2] EVAL_EVERY [200] CURVE_SCENES [40] THREADS [2]
#   FREEZE [] (train --freeze patterns: tensors held fixed) FREEZE_STEPS [0] (0: the whole run)
#   WORD_HEAD [moves] (with REPLY_HEAD=1: calibrate --word-head words; empty: none) WORD_POS [3] (--word-pos)
#   PREV_HEAD [1] (with REPLY_HEAD=1: calibrate --prev-change-head)
#   MOVE_READOUT [150] (with REPLY_HEAD=1: calibrate --move-readout G; 0: none)
#   READOUT_WORD_ONLY [1] (with MOVE_READOUT and WORD_HEAD: calibrate --readout-word-only)
#   READOUT_REPLY [0.25] (with READOUT_WORD_ONLY=1: calibrate --readout-reply F)
#   READOUT_COLOURS [30] (with MOVE_READOUT: calibrate --readout-colours G_Z, each colour's moments too; 0: none)
#   READOUT_COLOUR_REPLY [0.01] (with READOUT_COLOURS: calibrate --readout-colour-reply A, the reply head's factor on it)
#   SUBJECT_HEAD [The] (with READOUT_COLOURS: calibrate --subject-head WORDS, e.g. The: head 3 of layer 1 copies
#   the colours' change alone to those words where a reply's first token stands; empty: none)
#   SUBJECT_COLOUR [3] (with SUBJECT_HEAD: calibrate --subject-colour A, that copy's factor)
#   HEAD_MOMENTS [1] (with DESIGN_TOWER=1: calibrate --head-moments, the head token's own copy of its moments,
#   where READOUT_COLOURS then reads; needs V_HIDDEN >= 154 with the waves)
#   AREA_SUMS [1] (with DESIGN_TOWER=1: calibrate --area-sums, the head's bins also read two objects of one
#   colour, docs/demo-model-experiments.md "Two objects of one colour")
#   HOLD_READOUT [1] (with MOVE_READOUT: add to FREEZE the slices that keep the readout's path,
#   docs/demo-model-experiments.md "Holding only the readout's path")
#   BIND_ROUTE [1] (with SUBJECT_HEAD and DESIGN_TOWER=1: calibrate --bind-route, the shape of the colour just
#   named, held fixed with the readout's path; docs/demo-model-experiments.md "The shape of the colour just named")
#   BASELINE_K [6] INSTALL [0] REUSE_DATA [0] (keep WORK_DIR's data) RESUME [0] (also continue
#   WORK_DIR's training from its checkpoint, keeping the curve so far)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD="${BUILD:-build}"
BIN="$ROOT/$BUILD/videollm"
W="${1:-$ROOT/$BUILD/demo-model}"
SEED="${SEED:-1}" TRAIN_SEED="${TRAIN_SEED:-4}" TRAIN="${TRAIN:-3200}" SECS="${SECONDS_PER_SCENE:-20}" EVOFF="${EVENT_OFFSET:-1}" HELDOUT="${HELDOUT:-200}"
HELDOUT_SEED="${HELDOUT_SEED:-1000000}" VOCAB="${VOCAB:-512}"
HIDDEN="${HIDDEN:-256}" LAYERS="${LAYERS:-4}" HEADS="${HEADS:-4}" FFN="${FFN:-768}"
V_HIDDEN="${V_HIDDEN:-160}" V_LAYERS="${V_LAYERS:-2}" V_HEADS="${V_HEADS:-2}" V_FFN="${V_FFN:-512}" PATCH="${PATCH:-32}"
V_BASIS="${V_BASIS:-2}" V_RES="${V_RES:-0.1}" CAL_SCENES="${CAL_SCENES:-100}" DESIGN_TOWER="${DESIGN_TOWER:-1}" DIFF_HEADS="${DIFF_HEADS:-1}" REPLY_HEAD="${REPLY_HEAD:-1}"
PREV_HEAD="${PREV_HEAD:-1}" WORD_POS="${WORD_POS:-3}" MOVE_READOUT="${MOVE_READOUT:-150}" HOLD_READOUT="${HOLD_READOUT:-1}"
READOUT_WORD_ONLY="${READOUT_WORD_ONLY:-1}" READOUT_REPLY="${READOUT_REPLY:-0.25}" READOUT_COLOURS="${READOUT_COLOURS:-30}"
READOUT_COLOUR_REPLY="${READOUT_COLOUR_REPLY:-0.01}" SUBJECT_HEAD="${SUBJECT_HEAD-The}" SUBJECT_COLOUR="${SUBJECT_COLOUR:-3}"
EPOCHS="${EPOCHS:-3}" LR="${LR:-5e-4}" WARMUP="${WARMUP:-0.03}" ACCUM="${ACCUM:-2}" EVAL_EVERY="${EVAL_EVERY:-200}"
CURVE_SCENES="${CURVE_SCENES:-40}" THREADS="${THREADS:-2}" BASELINE_K="${BASELINE_K:-6}" INSTALL="${INSTALL:-0}"
REUSE_DATA="${REUSE_DATA:-0}" RESUME="${RESUME:-0}" FREEZE="${FREEZE:-}" FREEZE_STEPS="${FREEZE_STEPS:-0}" WORD_HEAD="${WORD_HEAD-moves}"
RECAP="${RECAP:-0}" RECAP_ARG=() MOMENT_GAIN="${MOMENT_GAIN:-1}" MOMENT_WAVE="${MOMENT_WAVE:-6}" HEAD_MOMENTS="${HEAD_MOMENTS:-1}"
AREA_SUMS="${AREA_SUMS:-1}" BIND_ROUTE="${BIND_ROUTE:-1}"
[ "$RECAP" = 1 ] && RECAP_ARG=(--recap)
SORT_JOINED="${SORT_JOINED:-0}" SORT_ARG=()
[ "$SORT_JOINED" = 1 ] && SORT_ARG=(--sort-joined)
# the move readout is designed (and its path can be held) only with the difference and reply heads
READOUT=0; [ "$DIFF_HEADS" = 1 ] && [ "$REPLY_HEAD" = 1 ] && [ "$MOVE_READOUT" != 0 ] && READOUT=1
SUBJ=0; [ "$READOUT" = 1 ] && [ "$READOUT_COLOURS" != 0 ] && [ -n "$SUBJECT_HEAD" ] && SUBJ=1
BIND=0; [ "$SUBJ" = 1 ] && [ "$DESIGN_TOWER" = 1 ] && [ "$BIND_ROUTE" = 1 ] && BIND=1
PY=/usr/bin/python3
[ -x "$BIN" ] || { echo "demo-model: missing $BIN (run make first)" >&2; exit 1; }
mkdir -p "$W"
t0=$(date +%s)
say() { echo "demo-model: $* ($(($(date +%s) - t0)) s)"; }
say "working in $W"

if [ "$REUSE_DATA" = 1 ] && [ -f "$W/base.gguf" ] && [ -f "$W/heldout/curve.jsonl" ] && [ -f "$W/train/train.jsonl" ]; then
  say "REUSE_DATA=1: keeping the tokenizer, initial model and features in $W"
else
# 1. training conversations (text only: the tokenizer comes first)
rm -rf "$W/train" "$W/heldout" "$W/init" "$W/init.gguf" "$W/init.vision.gguf" "$W/base.gguf" "$W/base.vision.gguf"
"$BIN" synth --seed "$SEED" --scenes "$TRAIN" --seconds "$SECS" --event-offset "$EVOFF" --no-video --out "$W/train" ${SORT_ARG[@]+"${SORT_ARG[@]}"} 2>"$W/synth_train.log"
say "$TRAIN training scenes of $SECS s"

# 2. tokenizer
"$BIN" tokenizer-train --vocab-size "$VOCAB" --out "$W/tokenizer.json" "$W/train/train.jsonl" 2>"$W/tokenizer.log"
say "tokenizer: $(tail -n 1 "$W/tokenizer.log")"

# 3. the initial model
"$BIN" init --tokenizer "$W/tokenizer.json" --out "$W/init" --seed "$SEED" --hidden "$HIDDEN" --layers "$LAYERS" \
  --heads "$HEADS" --kv-heads "$HEADS" --ffn "$FFN" --v-hidden "$V_HIDDEN" --v-layers "$V_LAYERS" --v-heads "$V_HEADS" \
  --v-ffn "$V_FFN" --patch "$PATCH" --image 384 --v-patch-basis "$V_BASIS" --v-residual-scale "$V_RES" --gguf "$W/init.gguf" --type f32 2>"$W/init.log"
say "initial model: $(du -h "$W/init.gguf" | cut -f1) + $(du -h "$W/init.vision.gguf" | cut -f1)"

# 3b. calibrate the frozen tower on the first CAL_SCENES training scenes (frame tokens standardised),
#     and with DIFF_HEADS=1 design layer 0's frame-difference heads
CAL_ARGS=()
[ "$DESIGN_TOWER" = 1 ] && CAL_ARGS=(--design-tower)
[ "$DESIGN_TOWER" = 1 ] && [ "$MOMENT_GAIN" != 1 ] && CAL_ARGS+=(--head-moment-gain "$MOMENT_GAIN")
[ "$DESIGN_TOWER" = 1 ] && [ "$MOMENT_WAVE" != 0 ] && CAL_ARGS+=(--moment-wave "$MOMENT_WAVE")
[ "$DESIGN_TOWER" = 1 ] && [ "$HEAD_MOMENTS" = 1 ] && CAL_ARGS+=(--head-moments)
[ "$DESIGN_TOWER" = 1 ] && [ "$AREA_SUMS" = 1 ] && CAL_ARGS+=(--area-sums)
[ "$DIFF_HEADS" = 1 ] && CAL_ARGS+=(--frame-diff-heads)
[ "$DIFF_HEADS" = 1 ] && [ "$REPLY_HEAD" = 1 ] && CAL_ARGS+=(--reply-head)
[ "$DIFF_HEADS" = 1 ] && [ "$REPLY_HEAD" = 1 ] && [ -n "$WORD_HEAD" ] && CAL_ARGS+=(--word-head "$WORD_HEAD" --word-pos "$WORD_POS")
[ "$DIFF_HEADS" = 1 ] && [ "$REPLY_HEAD" = 1 ] && [ "$PREV_HEAD" = 1 ] && CAL_ARGS+=(--prev-change-head)
[ "$READOUT" = 1 ] && CAL_ARGS+=(--move-readout "$MOVE_READOUT")
[ "$READOUT" = 1 ] && [ "$READOUT_COLOURS" != 0 ] && CAL_ARGS+=(--readout-colours "$READOUT_COLOURS")
[ "$READOUT" = 1 ] && [ "$READOUT_COLOURS" != 0 ] && [ "$READOUT_COLOUR_REPLY" != 1 ] \
  && CAL_ARGS+=(--readout-colour-reply "$READOUT_COLOUR_REPLY")
[ "$SUBJ" = 1 ] && CAL_ARGS+=(--subject-head "$SUBJECT_HEAD")
[ "$SUBJ" = 1 ] && [ "$SUBJECT_COLOUR" != 1 ] && CAL_ARGS+=(--subject-colour "$SUBJECT_COLOUR")
[ "$READOUT" = 1 ] && [ -n "$WORD_HEAD" ] && [ "$READOUT_WORD_ONLY" = 1 ] && CAL_ARGS+=(--readout-word-only) \
  && [ "$READOUT_REPLY" != 0 ] && CAL_ARGS+=(--readout-reply "$READOUT_REPLY")
[ "$BIND" = 1 ] && CAL_ARGS+=(--bind-route)
"$BIN" calibrate --model "$W/init.gguf" --out "$W/base.gguf" --seed "$SEED" --scenes "$CAL_SCENES" --seconds "$SECS" --event-offset "$EVOFF" \
  --threads "$THREADS" "${CAL_ARGS[@]}" 2>"$W/calibrate.log"
while read -r line; do say "$line"; done < "$W/calibrate.log"

# 4. features of the training scenes; held-out scenes as 2 fps videos with features
#    (with RECAP=1 the training conversations end with a recap; the tokenizer was trained without it)
"$BIN" synth --seed "$SEED" --scenes "$TRAIN" --seconds "$SECS" --event-offset "$EVOFF" --no-video --out "$W/train" \
  --model "$W/base.gguf" --features ${RECAP_ARG[@]+"${RECAP_ARG[@]}"} ${SORT_ARG[@]+"${SORT_ARG[@]}"} 2>"$W/synth_train.log"
"$BIN" synth --seed "$HELDOUT_SEED" --scenes "$HELDOUT" --seconds "$SECS" --event-offset "$EVOFF" --fps-video 2 --out "$W/heldout" \
  --model "$W/base.gguf" --features ${SORT_ARG[@]+"${SORT_ARG[@]}"} 2>"$W/synth_heldout.log"
head -n "$CURVE_SCENES" "$W/heldout/train.jsonl" > "$W/heldout/curve.jsonl"
say "features: $TRAIN training scenes, $HELDOUT held-out scenes"
fi

# 5. training in chunks, with the learning curve on CURVE_SCENES held-out scenes
curve_eval() { # model step
  "$BIN" eval --model "$1" --data "$W/heldout/curve.jsonl" --threads "$THREADS" --json > "$W/curve_$2.json"
  "$PY" - "$W/curve_$2.json" "$2" "$3" >> "$W/curve.txt" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["average"]
f = lambda k: "nan" if a.get(k) is None else "%.4f" % a[k]
print(sys.argv[2], sys.argv[3], f("lm_ppl"), f("lm_correctness"), f("time_diff"), f("fluency"))
PY
  say "curve: step $2: $(tail -n 1 "$W/curve.txt")"
}
if [ "$RESUME" = 1 ] && [ -f "$W/run/checkpoint.safetensors" ] && [ -f "$W/curve.txt" ]; then
  say "RESUME=1: continuing from $W/run/checkpoint.safetensors"
else
  rm -f "$W/curve.txt" "$W/train.log"
  rm -rf "$W/run"
  curve_eval "$W/base.gguf" 0 -
fi
TRAIN_ARGS=(--full --model "$W/base.gguf" --data "$W/train/train.jsonl" --out "$W/run" --lr "$LR" --epochs "$EPOCHS"
            --batch 1 --grad-accum "$ACCUM" --warmup-ratio "$WARMUP" --threads "$THREADS" --seed "$TRAIN_SEED"
            --model-name videollm-demo)
if [ "$HOLD_READOUT" = 1 ] && [ "$READOUT" = 1 ]; then
  # the readout's path (docs/demo-model.md): residual dimensions 0..R-1 (the constants, X, Y and their
  # change) written only as designed, the four connector units, where layer 0's heads 0-1 and layer 1's
  # reply head (and, with WORD_HEAD, its word head) attend, and the value rows and output columns
  # that carry X and Y (layer 0) and their change (layer 1); the rest of those heads trains.
  # With READOUT_COLOURS, each colour's Z and its change too (NZ more of each, NZ = 6 colours,
  # 2 NZ more connector units, NZ more value rows of heads 0-1 of layer 0 and of the reply head).
  # With SUBJECT_HEAD, one more residual dimension (the subject words' constant, after the rest) and
  # head 3 of layer 1: its attention and the value rows and output columns of the colours' change.
  # Without the readout (MOVE_READOUT=0) there is no path to hold.
  WH=0; [ -n "$WORD_HEAD" ] && WH=1
  NZ=0; [ "$READOUT_COLOURS" != 0 ] && NZ=6
  SH=$SUBJ
  R=$(( 6 + WH + 2 * NZ + SH )) DH=$(( HIDDEN / HEADS )) H4=$(( HIDDEN - 4 - 2 * NZ )) L1=$(( (1 + WH) * HIDDEN / HEADS ))
  RV=$(( 2 + NZ ))
  HOLD="connector.0.weight[$H4:$HIDDEN],connector.0.bias[$H4:$HIDDEN],connector.2.weight[0:$R],connector.2.bias[0:$R]"
  HOLD+=",connector.2.weight[:,$H4:$HIDDEN],model.embed_tokens.weight[:,0:$R]"
  HOLD+=",model.layers.*.self_attn.o_proj.weight[0:$R],model.layers.*.mlp.down_proj.weight[0:$R]"
  HOLD+=",model.layers.0.input_layernorm.weight[0:$R],model.layers.1.input_layernorm.weight[0:$R]"
  HOLD+=",model.layers.0.self_attn.q_proj.weight[0:$((2 * DH))],model.layers.0.self_attn.k_proj.weight[0:$((2 * DH))]"
  HOLD+=",model.layers.0.self_attn.v_proj.weight[0:$RV],model.layers.0.self_attn.v_proj.weight[$DH:$((DH + RV))]"
  HOLD+=",model.layers.0.self_attn.o_proj.weight[:,0:$RV],model.layers.0.self_attn.o_proj.weight[:,$DH:$((DH + RV))]"
  HOLD+=",model.layers.1.self_attn.q_proj.weight[0:$L1],model.layers.1.self_attn.k_proj.weight[0:$L1]"
  HOLD+=",model.layers.1.self_attn.v_proj.weight[0:$RV],model.layers.1.self_attn.o_proj.weight[:,0:$RV]"
  [ "$WH" = 1 ] && HOLD+=",model.layers.1.self_attn.v_proj.weight[$DH:$((DH + 2))],model.layers.1.self_attn.o_proj.weight[:,$DH:$((DH + 2))]"
  [ "$SH" = 1 ] && HOLD+=",model.layers.1.self_attn.q_proj.weight[$((3 * DH)):$((4 * DH))],model.layers.1.self_attn.k_proj.weight[$((3 * DH)):$((4 * DH))]" \
    && HOLD+=",model.layers.1.self_attn.v_proj.weight[$((3 * DH + 2)):$((3 * DH + RV))],model.layers.1.self_attn.o_proj.weight[:,$((3 * DH + 2)):$((3 * DH + RV))]"
  # With BIND_ROUTE, the binding route (docs/model-format.md, "The binding route"): its 18 residual
  # dimensions after the R (written only as designed), its 13 connector units before the readout's,
  # unit 0 of layer 1's MLP, both norms of layer 2 on dimensions 0..R+17, heads 0-1 of layer 2 and
  # units 0-11 of its MLP.
  if [ "$BIND" = 1 ]; then
    B0=$(( H4 - 13 )) BE=$(( R + 18 ))
    HOLD+=",connector.0.weight[$B0:$H4],connector.0.bias[$B0:$H4],connector.2.weight[$R:$BE],connector.2.bias[$R:$BE]"
    HOLD+=",connector.2.weight[:,$B0:$H4],model.embed_tokens.weight[:,$R:$BE]"
    HOLD+=",model.layers.*.self_attn.o_proj.weight[$R:$BE],model.layers.*.mlp.down_proj.weight[$R:$BE]"
    HOLD+=",model.layers.1.mlp.gate_proj.weight[0:1],model.layers.1.mlp.up_proj.weight[0:1],model.layers.1.mlp.down_proj.weight[:,0:1]"
    HOLD+=",model.layers.1.post_attention_layernorm.weight[$(( BE - 1 )):$BE]"
    HOLD+=",model.layers.2.input_layernorm.weight[0:$BE],model.layers.2.post_attention_layernorm.weight[0:$BE]"
    HOLD+=",model.layers.2.self_attn.q_proj.weight[0:$((2 * DH))],model.layers.2.self_attn.k_proj.weight[0:$((2 * DH))]"
    HOLD+=",model.layers.2.self_attn.v_proj.weight[0:$((2 * DH))],model.layers.2.self_attn.o_proj.weight[:,0:$((2 * DH))]"
    HOLD+=",model.layers.2.mlp.gate_proj.weight[0:12],model.layers.2.mlp.up_proj.weight[0:12],model.layers.2.mlp.down_proj.weight[:,0:12]"
  fi
  FREEZE="${FREEZE:+$FREEZE,}$HOLD"
fi
[ -n "$FREEZE" ] && TRAIN_ARGS+=(--freeze "$FREEZE")
[ -n "$FREEZE" ] && [ "$FREEZE_STEPS" != 0 ] && TRAIN_ARGS+=(--freeze-steps "$FREEZE_STEPS")
total=$(( (TRAIN + ACCUM - 1) / ACCUM * EPOCHS ))
step=$(tail -n 1 "$W/curve.txt" | cut -d' ' -f1) # 0, or where a resumed run's curve ends
while [ "$step" -lt "$total" ]; do
  "$BIN" train "${TRAIN_ARGS[@]}" --max-steps "$EVAL_EVERY" 2>"$W/train_chunk.log" \
    || { cat "$W/train_chunk.log" >&2; exit 1; }
  cat "$W/train_chunk.log" >> "$W/train.log"
  line=$(grep "^train: step " "$W/train_chunk.log" | tail -n 1)
  step=$(echo "$line" | sed 's/^train: step \([0-9]*\)\/.*/\1/')
  loss=$(echo "$line" | sed 's/.* loss \([0-9.naif-]*\) .*/\1/')
  curve_eval "$W/run/videollm-demo.gguf" "$step" "$loss"
done
say "trained: $step steps"

# 6. final evaluation on every held-out scene, model and baselines
M="$W/run/videollm-demo.gguf"
"$BIN" eval --model "$M" --data "$W/heldout/train.jsonl" --threads "$THREADS" --json > "$W/eval_model.json"
"$BIN" eval --baseline silent --model "$M" --data "$W/heldout/train.jsonl" --json > "$W/eval_silent.json"
"$BIN" eval --baseline "every:$BASELINE_K" --model "$M" --data "$W/heldout/train.jsonl" --json > "$W/eval_every.json"
say "eval done"
mkdir -p "$W/streams"
for v in "$W"/heldout/scene_*.mkv; do
  b=$(basename "$v" .mkv)
  "$BIN" stream --model "$M" --video "$v" --query "0:Please concisely narrate the video in real time." \
    --threads "$THREADS" --json > "$W/streams/$b.stream.jsonl" 2>/dev/null
  cp "$W/heldout/$b.events.json" "$W/streams/"
done
"$BIN" score --dir "$W/streams" --json > "$W/score_model.json"
say "streamed and scored $HELDOUT held-out videos"
"$BIN" score --dir "$W/streams" --baseline silent --json > "$W/score_silent.json"
"$BIN" score --dir "$W/streams" --baseline "every:$BASELINE_K" --text-from "$W/train/train.jsonl" --json \
  > "$W/score_every.json"

# 7. the report
"$PY" - "$W" "$BASELINE_K" > "$W/report.md" <<'PY'
import json, sys
w, k = sys.argv[1], sys.argv[2]
def avg(name):
    return json.load(open(f"{w}/eval_{name}.json"))["average"]
def score(name):
    return json.load(open(f"{w}/score_{name}.json"))
def pct(x):
    return "n/a" if x is None else "%.1f%%" % (100 * x)
def num(x, f="%.3f"):
    return "n/a" if x is None else f % x
rows = [("model (greedy streaming, threshold 0.725)", "model", "model"), ("always silent", "silent", "silent"),
        (f"speak every {k} frames (most frequent reply)", "every", "every")]
print("| | LM-PPL | LM-Correctness | TimeDiff (s) | Fluency | events narrated within 1 s | precision |")
print("|---|---|---|---|---|---|---|")
for label, e, s in rows:
    a, sc = avg(e), score(s)
    tot = sc["overall"]
    ev = tot.get("events", 0) or 0
    nar = tot.get("narrated", 0) or 0
    sent = tot.get("sentences", 0) or 0
    print(f"| {label} | {num(a.get('lm_ppl'), '%.2f')} | {pct(a.get('lm_correctness'))} | {num(a.get('time_diff'))} |"
          f" {pct(a.get('fluency'))} | {nar}/{ev} = {pct(nar / ev if ev else None)} |"
          f" {pct(nar / sent if sent else None)} |")
print()
print("Events narrated within 1 s by action (model): " + ", ".join(
    f"{act} {v['narrated']}/{v['events']}" for act, v in score("model")["overall"]["by_action"].items()))
o = score("model")["overall"]
print(f"Model replies: {o['replies']} replies, {o['sentences']} sentences, {o['unparsable']} unparsable, "
      f"{o['false']} narrating no event, {o['wrong_detail']} events with the right object and action but a wrong detail.")
f = o["fields"]
def frac(a, b):
    return f"{a}/{b} = {pct(a / b if b else None)}"
print(f"Where a reply in the window names the event's action ({f['events']} events), it names the right colour "
      f"{frac(f['colour'], f['events'])}, shape {frac(f['shape'], f['events'])}, size {frac(f['size'], f['size_events'])}"
      f" (appears), direction or new colour {frac(f['detail'], f['detail_events'])} (moves, turns).")
PY
{
  echo "# Default model: held-out report"
  echo
  echo "$HELDOUT held-out scenes of $SECS s (seeds $HELDOUT_SEED...), 2 fps FFV1 videos. Metrics of \`videollm eval\`"
  echo "(teacher-forced, the original's definitions) and of \`videollm score\` (\`videollm stream\` on each video,"
  echo "replies parsed against the ground-truth events)."
  echo
  cat "$W/report.md"
  echo
  echo "## Learning curve (first $CURVE_SCENES held-out scenes)"
  echo
  echo "| step | training loss | LM-PPL | LM-Correctness | TimeDiff (s) | Fluency |"
  echo "|---|---|---|---|---|---|"
  awk '{printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6}' "$W/curve.txt"
  echo
  echo "## Recipe"
  echo
  echo "SEED=$SEED TRAIN_SEED=$TRAIN_SEED TRAIN=$TRAIN SECONDS_PER_SCENE=$SECS EVENT_OFFSET=$EVOFF RECAP=$RECAP$( [ "$SORT_JOINED" = 1 ] && echo " SORT_JOINED=1") VOCAB=$VOCAB HIDDEN=$HIDDEN LAYERS=$LAYERS HEADS=$HEADS FFN=$FFN"
  echo "V_HIDDEN=$V_HIDDEN V_LAYERS=$V_LAYERS V_HEADS=$V_HEADS V_FFN=$V_FFN PATCH=$PATCH V_BASIS=$V_BASIS V_RES=$V_RES CAL_SCENES=$CAL_SCENES DESIGN_TOWER=$DESIGN_TOWER MOMENT_GAIN=$MOMENT_GAIN MOMENT_WAVE=$MOMENT_WAVE$( [ "$HEAD_MOMENTS" = 1 ] && echo " HEAD_MOMENTS=1")$( [ "$AREA_SUMS" = 1 ] && echo " AREA_SUMS=1") DIFF_HEADS=$DIFF_HEADS REPLY_HEAD=$REPLY_HEAD${WORD_HEAD:+ WORD_HEAD=$WORD_HEAD WORD_POS=$WORD_POS} PREV_HEAD=$PREV_HEAD MOVE_READOUT=$MOVE_READOUT READOUT_WORD_ONLY=$READOUT_WORD_ONLY$( [ "$READOUT_REPLY" != 0 ] && echo " READOUT_REPLY=$READOUT_REPLY")$( [ "$READOUT_COLOURS" != 0 ] && echo " READOUT_COLOURS=$READOUT_COLOURS")$( [ "$READOUT_COLOURS" != 0 ] && [ "$READOUT_COLOUR_REPLY" != 1 ] && echo " READOUT_COLOUR_REPLY=$READOUT_COLOUR_REPLY")$( [ "$SUBJ" = 1 ] && echo " SUBJECT_HEAD=$SUBJECT_HEAD SUBJECT_COLOUR=$SUBJECT_COLOUR") HOLD_READOUT=$HOLD_READOUT$( [ "$BIND" = 1 ] && echo " BIND_ROUTE=1")"
  echo "EPOCHS=$EPOCHS LR=$LR WARMUP=$WARMUP ACCUM=$ACCUM THREADS=$THREADS${FREEZE:+ FREEZE='$FREEZE' FREEZE_STEPS=$FREEZE_STEPS}; $(($(date +%s) - t0)) s in all."
} > "$W/REPORT.md"
cat "$W/REPORT.md"

if [ "$INSTALL" = 1 ]; then
  mkdir -p models/default
  cp "$W/run/videollm-demo.gguf" "$W/run/videollm-demo.vision.gguf" models/default/
  cp "$W/REPORT.md" models/default/REPORT.md
  grep -v "^$" "$W/train.log" > models/default/train.log
  say "installed into models/default/"
fi
say "done"
