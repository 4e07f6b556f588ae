#!/usr/bin/env bash
# The main job, end to end on CPU in a few minutes: a vocabulary built from the project's own
# sample corpus, pretraining data from it, then a tiny NEZHA pretrained on it (the loss falls),
# evaluated, and exported in the original TF1 checkpoint layout.
# `scripts/demo.sh --dynamic` (make demo-dynamic): the same with dynamic masking: the records are
# written once, unmasked (dupe_factor 1 instead of 20), and a new mask is drawn at every read.
set -euo pipefail
cd "$(dirname "$0")/.."

DYNAMIC=false
if [[ "${1:-}" == "--dynamic" ]]; then DYNAMIC=true; fi
PY=${PY:-.venv/bin/python}
if $DYNAMIC; then
  OUT=${DEMO_OUTPUT:-demo_output_dynamic}
  DATA_FLAGS="--dynamic_masking --do_whole_word_mask --dupe_factor=1"
  TRAIN_FLAGS="--dynamic_masking --vocab_file=$OUT/vocab.txt --masked_lm_prob=0.15"
else
  OUT=${DEMO_OUTPUT:-demo_output}
  DATA_FLAGS="--dupe_factor=20"
  TRAIN_FLAGS=""
fi
STEPS=${DEMO_STEPS:-2500}
# More run_pretraining.py flags (e.g. DEMO_TRAIN_FLAGS=--use_bf16; benchmarks/bf16_quality.py uses it)
TRAIN_FLAGS="$TRAIN_FLAGS ${DEMO_TRAIN_FLAGS:-}"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
CORPUS=sample_data/corpus_zh.txt,sample_data/corpus_en.txt

rm -rf "$OUT"
mkdir -p "$OUT/data"

echo "== 1/4 vocabulary from $CORPUS"
"$PY" scripts/build_vocab.py --input_file="$CORPUS" --vocab_file="$OUT/vocab.txt"

echo "== 2/4 pretraining records (create_pretraining_data.py $DATA_FLAGS)"
# shellcheck disable=SC2086  # the flag lists are meant to split into words
"$PY" create_pretraining_data.py --input_file="$CORPUS" --vocab_file="$OUT/vocab.txt" --do_lower_case \
  --output_file="$OUT/data/demo_0.tfrecord,$OUT/data/demo_1.tfrecord" --max_seq_length=64 \
  --max_predictions_per_seq=10 --masked_lm_prob=0.15 --random_seed=12345 --progress=false $DATA_FLAGS

echo "== 3/4 a tiny NEZHA config"
VOCAB_SIZE=$(wc -l < "$OUT/vocab.txt")
cat > "$OUT/bert_config.json" <<JSON
{"vocab_size": $VOCAB_SIZE, "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
 "intermediate_size": 256, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
 "attention_probs_dropout_prob": 0.0, "max_position_embeddings": 64, "type_vocab_size": 2,
 "initializer_range": 0.02, "use_relative_position": true, "max_relative_position": 64}
JSON
cat "$OUT/bert_config.json"

echo "== 4/4 pretraining for $STEPS steps (watch total_loss fall), then evaluation"
set +e
# shellcheck disable=SC2086  # TRAIN_FLAGS is a list of flags
"$PY" run_pretraining.py $TRAIN_FLAGS --input_file="$OUT/data/*.tfrecord" --output_dir="$OUT/pretrain" \
  --bert_config_file="$OUT/bert_config.json" --max_seq_length=64 --max_predictions_per_seq=10 \
  --do_train --do_eval --train_batch_size=16 --eval_batch_size=32 --learning_rate=2e-3 \
  --num_train_steps="$STEPS" --num_warmup_steps=100 --save_checkpoints_steps=500 --log_every=50 --report_loss \
  --max_eval_steps=20 --optimizer=lamb 2>&1 | tee "$OUT/pretrain.log" \
  | grep --line-buffered -E "step =|saved checkpoint|exported|error"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  # The filter above shows progress only: a failure must stop the demo here, with its error.
  echo "demo: run_pretraining.py failed (exit $status); the end of $OUT/pretrain.log:" >&2
  tail -n 25 "$OUT/pretrain.log" >&2
  exit "$status"
fi

echo
echo "Evaluation ($OUT/pretrain/eval_results.txt):"
cat "$OUT/pretrain/eval_results.txt"
echo
echo "Outputs:"
echo "  vocabulary         $OUT/vocab.txt"
echo "  pretraining data   $OUT/data/"
echo "  TF2 checkpoints    $OUT/pretrain/ckpt-*   (a rerun resumes from them)"
echo "  TF1 export         $OUT/pretrain/export/  (the original's variable names, + bert_config.json)"
echo "  TensorBoard        tensorboard --logdir $OUT/pretrain/train"
