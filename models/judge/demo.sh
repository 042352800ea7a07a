#!/bin/sh
# `make demo`: the Activation RM end to end on the bundled judge model.
# Converts models/judge to GGUF, then for every criterion: extract -> select
# (REINFORCE, and SAV) -> eval with the four methods on that criterion's
# pairs, and prints pairwise accuracy per criterion with the mean.
# Usage: models/judge/demo.sh BUILD_DIR
# Settings (environment): DEMO_SHOTS (k, also ICL's shots) [4], DEMO_PROMPTS
# (M) [100], DEMO_STEPS [600], DEMO_SEED [0], DEMO_THREADS [1].
set -eu
build=${1:-build}
actrm=$build/actrm
dir=models/judge
out=$build/demo
k=${DEMO_SHOTS:-4}
m=${DEMO_PROMPTS:-100}
steps=${DEMO_STEPS:-600}
seed=${DEMO_SEED:-0}
threads=${DEMO_THREADS:-1}
mkdir -p "$out"

model=$out/judge.gguf
if [ ! -f "$model" ] || [ "$dir/model.safetensors" -nt "$model" ]; then
  "$actrm" convert "$dir" "$model"
fi
common="--template $dir/template.json -t $threads"

# The criteria, in file order, from the few-shot set.
criteria=$(sed -n 's/.*"criterion": *"\([^"]*\)".*/\1/p' "$dir/fewshot.jsonl" | awk '!seen[$0]++')

accuracy() { # method criterion [extra eval options] -> accuracy of the "all" row
  meth=$1; crit=$2; shift 2
  "$actrm" eval "$model" "$dir/eval_pairs.jsonl" --method "$meth" --criterion "$crit" \
    --json "$out/$crit-$meth.json" -t "$threads" "$@" | awk '$1 == "all" { print $3 }'
}

echo "actrm demo: judge model, k=$k shots, M=$m prompts, $steps REINFORCE steps, seed $seed"
start=$(date +%s)
table=$out/table.txt
: > "$table"
for c in $criteria; do
  steer=$out/$c.gguf
  "$actrm" extract "$model" "$dir/fewshot.jsonl" -o "$steer" --criterion "$c" \
    -k "$k" -M "$m" --seed "$seed" $common 2> "$out/$c.log"
  "$actrm" select "$model" "$steer" "$dir/fewshot.jsonl" -o "$steer" --criterion "$c" \
    --method sav -t "$threads" 2>> "$out/$c.log"
  "$actrm" select "$model" "$steer" "$dir/fewshot.jsonl" -o "$steer" --criterion "$c" \
    --method reinforce --steps "$steps" -t "$threads" 2>> "$out/$c.log"
  heads=$(sed -n 's/.*reinforce kept \([0-9]*\) heads.*/\1/p' "$out/$c.log")
  zs=$(accuracy zeroshot "$c" --steer "$steer")
  icl=$(accuracy icl "$c" --steer "$steer" --fewshot "$dir/fewshot.jsonl" -k "$k" --seed "$seed")
  sav=$(accuracy sav "$c" --steer "$steer")
  act=$(accuracy activation "$c" --steer "$steer")
  echo "$c $zs $icl $sav $act $heads" >> "$table"
  printf '  %-10s done\n' "$c"
done
awk -v k="$k" '
  BEGIN { printf "\n%-10s %9s %9s %9s %13s %6s\n", "criterion", "zero-shot", "ICL(k=" k ")", "SAV", "Activation RM", "heads" }
  { printf "%-10s %9.3f %9.3f %9.3f %13.3f %6d\n", $1, $2, $3, $4, $5, $6
    for (i = 2; i <= 5; i++) s[i] += $i; h += $6; n++ }
  END { printf "%-10s %9.3f %9.3f %9.3f %13.3f %6.1f\n", "mean", s[2]/n, s[3]/n, s[4]/n, s[5]/n, h/n }
' "$table"
echo "($(( $(date +%s) - start )) s; steering files, logs and JSON tables in $out/)"
