#!/usr/bin/env bash
# Does pretraining pay off? From raw Chinese text to a fine-tuned sentiment classifier, on one CPU
# machine in about 45 minutes with the defaults (make pretrain-finetune). The measurements behind
# the defaults (why Adam and not LAMB at this batch size, why this learning rate) are in
# docs/pretraining.md.
#   1. a corpus from ../shared/data: the CLUE sample, CMRC2018's Wikipedia paragraphs and the review
#      texts of ChnSentiCorp's training split (text only: no labels, nothing from dev or test);
#   2. pretraining records with Chinese whole-word masking;
#   3. a small NEZHA (2 layers, hidden 128, the NEZHA vocabulary) pretrained with Adam (the
#      original's AdamWeightDecay) at 1e-3 for 6,000 steps of 32 sequences;
#   4. ChnSentiCorp fine-tuning from that checkpoint and from random initialisation, with the same
#      settings, over several seeds; then the table of dev and test accuracy (mean, spread).
# A rerun resumes: finished stages are kept (pretraining continues from its last checkpoint, a
# fine-tuning run with its test predictions written is not repeated). Start over with rm -rf $OUT.
# Every setting below can be changed from the environment, e.g. SEEDS="1 2 3 4 5".
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
SHARED=${SHARED:-../shared/data}
OUT=${RECIPE_OUTPUT:-recipe_output}
PRETRAIN_STEPS=${PRETRAIN_STEPS:-6000}
PRETRAIN_OPTIMIZER=${PRETRAIN_OPTIMIZER:-adam}  # not lamb at batch 32: docs/pretraining.md
PRETRAIN_LR=${PRETRAIN_LR:-1e-3}        # 2e-3 collapses to the unigram plateau: docs/pretraining.md
PRETRAIN_BATCH=${PRETRAIN_BATCH:-32}
DUPE_FACTOR=${DUPE_FACTOR:-2}
FINETUNE_EPOCHS=${FINETUNE_EPOCHS:-3}
FINETUNE_LR=${FINETUNE_LR:-2e-4}
SEEDS=${SEEDS:-"1 2 3"}
PRETRAIN_FLAGS=${PRETRAIN_FLAGS:-}      # more run_pretraining.py flags, e.g. --lamb_exclude_from_layer_adaptation
MODEL_CONFIG=${MODEL_CONFIG:-}          # a bert_config.json to use instead of the small NEZHA below
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
VOCAB=${VOCAB:-$SHARED/nezha_vocab/vocab.txt}   # with MODEL_CONFIG: a vocabulary of its own (scripts/build_vocab.py)
TASK_DATA=$SHARED/chnsenticorp
START=$SECONDS

for required in "$VOCAB" "$SHARED/zh_corpus/clue_small.txt" "$SHARED/cmrc2018/cmrc2018_train.json" \
                 "$TASK_DATA/train.tsv" "$TASK_DATA/dev.tsv" "$TASK_DATA/test.tsv"; do
  if [ ! -f "$required" ]; then
    echo "pretrain_finetune: $required is missing (set SHARED to the shared data directory)" >&2
    exit 1
  fi
done

elapsed() { echo "   [$(( (SECONDS - START) / 60 )) min $(( (SECONDS - START) % 60 )) s so far]"; }

# Runs a command ($3 onwards: the interpreter, then the script named in errors) with its full log
# appended to $1 (a resumed stage keeps the log of its earlier attempt) and only the lines matching $2
# on the terminal; a failure stops the recipe with the end of the log.
run_logged() {
  local log=$1 pattern=$2 program=$4
  shift 2
  set +e
  "$@" 2>&1 | tee -a "$log" | grep --line-buffered -E "$pattern"
  local status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then
    echo "pretrain_finetune: $program failed (exit $status); the end of $log:" >&2
    tail -n 25 "$log" >&2
    exit "$status"
  fi
}

mkdir -p "$OUT"

echo "== 1/5 corpus"
if [ ! -f "$OUT/corpus.txt" ]; then
  "$PY" scripts/build_zh_corpus.py --corpus_files="$SHARED/zh_corpus/clue_small.txt" \
    --squad_files="$SHARED/cmrc2018/cmrc2018_train.json,$SHARED/cmrc2018/cmrc2018_dev.json" \
    --tsv_files="$TASK_DATA/train.tsv" --output_file="$OUT/corpus.txt"
else
  echo "   $OUT/corpus.txt exists"
fi

echo "== 2/5 pretraining records (seq 128, Chinese whole-word masking, dupe_factor $DUPE_FACTOR)"
if [ ! -f "$OUT/records/zh_1.tfrecord" ]; then
  mkdir -p "$OUT/records"
  "$PY" create_pretraining_data.py --input_file="$OUT/corpus.txt" --vocab_file="$VOCAB" --do_lower_case \
    --chinese_wwm --output_file="$OUT/records/zh_0.tfrecord,$OUT/records/zh_1.tfrecord" --max_seq_length=128 \
    --max_predictions_per_seq=20 --masked_lm_prob=0.15 --dupe_factor="$DUPE_FACTOR" --random_seed=12345 \
    --num_workers=2 --progress=false
else
  echo "   $OUT/records/ exists"
fi
elapsed

if [ -n "$MODEL_CONFIG" ]; then
  echo "== 3/5 the model of $MODEL_CONFIG"
  cp "$MODEL_CONFIG" "$OUT/bert_config.json"
else
  echo "== 3/5 a small NEZHA: 2 layers, hidden 128, 4 heads, functional relative positions"
  cat > "$OUT/bert_config.json" <<JSON
{"vocab_size": 21128, "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
 "intermediate_size": 512, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
 "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
 "initializer_range": 0.02, "use_relative_position": true, "max_relative_position": 64}
JSON
fi

PRETRAINED=$OUT/pretrain/export/model.ckpt-$PRETRAIN_STEPS
echo "== 4/5 pretraining: $PRETRAIN_STEPS steps of $PRETRAIN_BATCH sequences, $PRETRAIN_OPTIMIZER at $PRETRAIN_LR"
if [ ! -f "$PRETRAINED.index" ]; then
  run_logged "$OUT/pretrain.log" "step =|exported|rror" \
    "$PY" run_pretraining.py --input_file="$OUT/records/*.tfrecord" --output_dir="$OUT/pretrain" \
    --bert_config_file="$OUT/bert_config.json" --max_seq_length=128 --max_predictions_per_seq=20 --do_train \
    --train_batch_size="$PRETRAIN_BATCH" --learning_rate="$PRETRAIN_LR" --num_train_steps="$PRETRAIN_STEPS" \
    --num_warmup_steps=$((PRETRAIN_STEPS / 10)) --save_checkpoints_steps=$((PRETRAIN_STEPS >= 5 ? PRETRAIN_STEPS / 5 : 1)) \
    --log_every=100 --report_loss --optimizer="$PRETRAIN_OPTIMIZER" \
    $PRETRAIN_FLAGS  # (unquoted on purpose: a list of flags)
else
  echo "   $PRETRAINED exists"
fi
elapsed

echo "== 5/5 ChnSentiCorp, $FINETUNE_EPOCHS epoch(s) at $FINETUNE_LR: pretrained and random initialisation, seeds $SEEDS"
PRETRAINED_RUNS=() RANDOM_RUNS=()
mkdir -p "$OUT/chnsenti"
for seed in $SEEDS; do
  for start in pretrained random; do
    dir=$OUT/chnsenti/$start-seed$seed
    if [ "$start" = pretrained ]; then PRETRAINED_RUNS+=("$dir"); INIT=(--init_checkpoint="$PRETRAINED")
    else RANDOM_RUNS+=("$dir"); INIT=(); fi
    if [ -f "$dir/test_results.tsv" ]; then echo "   $dir done"; continue; fi
    echo "   $start, seed $seed"
    run_logged "$dir.log" "dev accuracy|collapsed|rror" \
      "$PY" run_clf.py --task_name=chnsenti --data_dir="$TASK_DATA" --vocab_file="$VOCAB" --do_lower_case \
      --bert_config_file="$OUT/bert_config.json" "${INIT[@]}" --max_seq_length=128 --do_train --do_eval \
      --do_predict --train_batch_size=32 --learning_rate="$FINETUNE_LR" --num_train_epochs="$FINETUNE_EPOCHS" \
      --save_checkpoints_steps=100000 --log_every=100 --seed="$seed" --output_dir="$dir"
  done
  elapsed
done

join() { local IFS=,; echo "$*"; }
"$PY" scripts/compare_finetuning.py --task_name=chnsenti --data_dir="$TASK_DATA" \
  --runs="pretrained=$(join "${PRETRAINED_RUNS[@]}")" --runs="random init=$(join "${RANDOM_RUNS[@]}")" \
  --output_json="$OUT/results.json" | tee "$OUT/results.md"
echo
echo "masked-LM accuracy at the end of pretraining: $(grep -o 'masked_lm_accuracy = [0-9.]*' "$OUT/pretrain.log" | tail -1)"
echo "Done in $(( (SECONDS - START) / 60 )) min. Table: $OUT/results.md; logs: $OUT/*.log, $OUT/chnsenti/*.log"
