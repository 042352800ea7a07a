#!/usr/bin/env bash
# actrm against llama.cpp on the same GGUF files, on this machine, in one run.
#
#   bench/vs-llamacpp.sh [--llama1b] [--threads N] [--reps N] [--rounds N]
#                        [--tests pp512,pp128,tg32] [--types q8_0,f16]
#                        [--wait-idle S] [--boost] [--skip-logits] [--skip-speed]
#
# 1. Logits check: converts the fixture models (../shared/fixtures/models) to
#    F32 GGUF with `actrm convert` and compares the last-position logits of
#    `actrm forward` with llama.cpp's (`llref logits`) on the golden prompts:
#    PASS when max|actrm - llama| <= 1e-4 * max|llama| for every prompt.
# 2. Speed: writes random-weight models with Qwen2.5-0.5B shapes (and with
#    Llama-3.2-1B shapes under --llama1b), converts them to each --types, and
#    for every (file, test) runs `actrm bench` then llama.cpp in its default
#    mode and in its plain mode (--no-extra-bufts), one fresh process each,
#    --rounds times in alternation. The table gives the median tok/s over all
#    timed reps of all rounds and the ratio actrm / llama.cpp; every sample
#    is kept in $WORK/results/table.json.
#
# llama.cpp comes from ../shared/tools/llamacpp (setup.sh, run once, into
# $LLREF_DIR). --boost (root) runs every timed process, actrm's and
# llama.cpp's alike, in its own scheduler autogroup at nice -20, so that
# other work on the machine barely disturbs prefill timings (bench.py's
# --boost; generation still suffers). Everything big goes to $WORK (default /tmp/actrm-vs-llamacpp);
# generated random models are reused on the next run (conversions are not). Keep the machine otherwise
# idle: on 2 cores any other load spoils both engines' timings.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BUILD="${BUILD:-build}"
WORK="${WORK:-/tmp/actrm-vs-llamacpp}"
LLAMA_TOOLS="../shared/tools/llamacpp"
FIXTURES="../shared/fixtures/models"
export LLREF_DIR="${LLREF_DIR:-/tmp/llref}"
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3

THREADS=2 REPS=5 ROUNDS=1 TESTS=pp512,pp128,tg32 TYPES=q8_0,f16 WAIT_IDLE=0 BOOST=()
SHAPES="qwen2.5-0.5b" DO_LOGITS=1 DO_SPEED=1
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --llama1b) SHAPES="qwen2.5-0.5b llama3.2-1b" ;;
    --threads) THREADS="$2"; shift ;;
    --reps) REPS="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    --tests) TESTS="$2"; shift ;;
    --types) TYPES="$2"; shift ;;
    --wait-idle) WAIT_IDLE="$2"; shift ;;
    --boost) BOOST=(--boost) ;;
    --skip-logits) DO_LOGITS=0 ;;
    --skip-speed) DO_SPEED=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "vs-llamacpp.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

ACTRM="$BUILD/actrm"
GEN="$BUILD/bench/gen_random_hf"
LLREF="$LLREF_DIR/llref"
RES="$WORK/results"
mkdir -p "$WORK" "$RES"

log() { printf '== %s\n' "$*" >&2; }

build_tools() {
  log "building actrm in $BUILD"
  make --no-print-directory BUILD="$BUILD" -j2 all "$GEN" >"$WORK/make.log" 2>&1 ||
    { tail -20 "$WORK/make.log" >&2; exit 1; }
  if [ ! -x "$LLREF" ]; then
    log "setting up llama.cpp in $LLREF_DIR"
    bash "$LLAMA_TOOLS/setup.sh" >"$WORK/llref-setup.log" 2>&1 ||
      { tail -20 "$WORK/llref-setup.log" >&2; exit 1; }
  fi
}

# convert HF_DIR OUT.gguf TYPE, every run, so the files are the current
# converter's (seconds, next to the benchmarks).
convert() {
  local src="$1" out="$2" type="$3"
  log "actrm convert $src -> $out ($type)"
  "$ACTRM" convert "$src" "$out" --type "$type" >"$WORK/convert.log" 2>&1 ||
    { cat "$WORK/convert.log" >&2; return 1; }
}

# ---- 1. logits check on the fixture models --------------------------------

# Writes one line of space-separated ids per golden prompt.
prompt_ids() {
  "$PY" -c 'import json,sys
for p in json.load(open(sys.argv[1])): print(" ".join(map(str, p["ids"])))' "$1"
}

# compare_logits LLREF.bin ACTRM0.npy ACTRM1.npy ...: PASS/FAIL line per model.
compare_logits() {
  "$PY" - "$@" <<'EOF'
import ast, struct, sys
def npy_f32(path):
    b = open(path, "rb").read()
    assert b[:6] == b"\x93NUMPY", path
    hl = struct.unpack("<H", b[8:10])[0] if b[6] == 1 else struct.unpack("<I", b[8:12])[0]
    off = 10 if b[6] == 1 else 12
    hdr = ast.literal_eval(b[off:off + hl].decode())
    assert hdr["descr"] == "<f4", f"{path}: dtype {hdr['descr']}"
    n = (len(b) - off - hl) // 4
    return struct.unpack(f"<{n}f", b[off + hl:off + hl + 4 * n])
ref, f = [], open(sys.argv[1], "rb")
while head := f.read(12):
    T, rows, V = struct.unpack("<3i", head)
    ref.append(struct.unpack(f"<{rows * V}f", f.read(4 * rows * V))[-V:])
worst = 0.0
for i, (r, path) in enumerate(zip(ref, sys.argv[2:])):
    a = npy_f32(path)
    if len(a) != len(r): sys.exit(f"prompt {i}: actrm gave {len(a)} logits, llama.cpp {len(r)}")
    scale = max(abs(x) for x in r)
    worst = max(worst, max(abs(x - y) for x, y in zip(a, r)) / scale)
print(f"{'PASS' if worst <= 1e-4 else 'FAIL'}  max|actrm-llama|/max|llama| = {worst:.2e} over {len(ref)} prompts")
EOF
}

logits_check() {
  local status=0 m dir gguf ids n line
  for m in qwen2-tiny qwen3-tiny llama3-tiny spm-tiny; do
    dir="$FIXTURES/$m"
    gguf="$WORK/fixtures/$m-f32.gguf"
    mkdir -p "$WORK/fixtures/$m"
    convert "$dir" "$gguf" f32 || { echo "logits $m: FAIL (convert)"; status=1; continue; }
    ids="$WORK/fixtures/$m/ids.txt"
    prompt_ids "$dir/golden/prompts.json" >"$ids"
    "$LLREF" logits "$gguf" "$ids" "$WORK/fixtures/$m/llama.bin" 2>"$WORK/fixtures/$m/llref.log" ||
      { echo "logits $m: FAIL (llama.cpp could not run the file, see $WORK/fixtures/$m/llref.log)"; status=1; continue; }
    n=0
    local npys=()
    while read -r line; do
      "$ACTRM" forward "$gguf" --ids "${line// /,}" --threads "$THREADS" \
        --logits-last "$WORK/fixtures/$m/actrm$n.npy" >/dev/null 2>"$WORK/fixtures/$m/actrm.log" ||
        { echo "logits $m: FAIL (actrm forward, see $WORK/fixtures/$m/actrm.log)"; status=1; continue 2; }
      npys+=("$WORK/fixtures/$m/actrm$n.npy")
      n=$((n + 1))
    done <"$ids"
    printf 'logits %-12s ' "$m"
    compare_logits "$WORK/fixtures/$m/llama.bin" "${npys[@]}" | tee "$WORK/fixtures/$m/result.txt"
    grep -q '^PASS' "$WORK/fixtures/$m/result.txt" || status=1
  done
  return $status
}

# ---- 2. speed ---------------------------------------------------------------

wait_idle() {
  [ "$WAIT_IDLE" = 0 ] && return 0
  "$PY" - "$WAIT_IDLE" <<'EOF'
import sys, time
def busy(dt=1.0):
    def snap():
        v = list(map(int, open("/proc/stat").readline().split()[1:]))
        return sum(v[:8]), v[3] + v[4]
    t0, i0 = snap(); time.sleep(dt); t1, i1 = snap()
    return 1 - (i1 - i0) / max(1, t1 - t0)
need, ok, t0 = float(sys.argv[1]), 0.0, time.time()
while ok < need and time.time() - t0 < 1800:
    ok = ok + 1 if busy() < 0.05 else 0
EOF
}

# boosted CMD...: runs CMD in a new session (autogroup) at the highest
# priority under --boost, as bench.py --boost does for llama.cpp.
boosted() {
  if [ ${#BOOST[@]} -eq 0 ]; then "$@"; return; fi
  setsid -w sh -c 'echo -20 > /proc/self/autogroup; exec nice -n -20 "$@"' sh "$@"
}

# bench_pair GGUF TEST ROUND: actrm then llama.cpp (default, plain) on one test.
bench_pair() {
  local gguf="$1" test="$2" round="$3" name pp=0 tg=0
  name="$(basename "$gguf" .gguf).$test.$round"
  case "$test" in pp*) pp="${test#pp}" ;; tg*) tg="${test#tg}" ;; esac
  wait_idle
  boosted "$ACTRM" bench "$gguf" --prompt-len "$pp" --gen "$tg" --threads "$THREADS" \
    --reps "$REPS" --json >"$RES/actrm.$name.json"
  wait_idle
  "$PY" "$LLAMA_TOOLS/bench.py" "$gguf" --llref "$LLREF" --threads "$THREADS" --reps "$REPS" \
    --modes default,plain --tests "$test" "${BOOST[@]}" --json "$RES/llama.$name.json" \
    --logdir "$WORK/llref-logs" >"$RES/llama.$name.txt" 2>&1 ||
    { cat "$RES/llama.$name.txt" >&2; return 1; }
  grep WARNING "$RES/llama.$name.txt" >&2 || true
}

speed() {
  local shape type test round ggufs=()
  for shape in $SHAPES; do
    if [ ! -f "$WORK/$shape/model.safetensors" ]; then
      log "generating $shape"
      "$GEN" "$shape" "$WORK/$shape" --fixtures "$FIXTURES" >&2
    fi
    for type in ${TYPES//,/ }; do
      convert "$WORK/$shape" "$WORK/$shape-$type.gguf" "$type"
      ggufs+=("$WORK/$shape-$type.gguf")
    done
  done
  rm -f "$RES"/actrm.*.json "$RES"/llama.*.json
  for round in $(seq 1 "$ROUNDS"); do
    for gguf in "${ggufs[@]}"; do
      for test in ${TESTS//,/ }; do
        log "round $round: $(basename "$gguf") $test"
        bench_pair "$gguf" "$test" "$round"
      done
    done
  done
  table | tee "$RES/table.txt"
}

# Median tok/s of each engine over all rounds, and the ratios.
table() {
  "$PY" - "$RES" "$THREADS" <<'EOF'
import glob, json, os, statistics, sys
res, threads = sys.argv[1], sys.argv[2]
rows = {}
for p in sorted(glob.glob(f"{res}/actrm.*.json")):
    j = json.load(open(p))
    model = os.path.basename(j["model"])[:-5]
    test = f"pp{j['prompt_len']}" if j["prompt_len"] else f"tg{j['gen']}"
    r = rows.setdefault((model, test), {"actrm": [], "default": [], "plain": [], "rss": {}})
    r["actrm"] += j["pp_tok_s"] or j["tg_tok_s"]
    r["rss"]["actrm"] = max(r["rss"].get("actrm", 0), j["peak_rss_bytes"] / 2**20)
for p in sorted(glob.glob(f"{res}/llama.*.json")):
    for row in json.load(open(p))["rows"]:
        r = rows.setdefault((row["model"][:-5], row["test"]), {"actrm": [], "default": [], "plain": [], "rss": {}})
        r[row["mode"]] += row["samples"]
        r["rss"][row["mode"]] = max(r["rss"].get(row["mode"], 0), row["peak_rss_mib"])
med = lambda v: statistics.median(v) if v else float("nan")
json.dump([dict(model=m, test=t, **{k: r[k] for k in ("actrm", "default", "plain", "rss")})
           for (m, t), r in sorted(rows.items())], open(f"{res}/table.json", "w"), indent=1)
print(f"\nactrm vs llama.cpp, {threads} threads, tok/s median over all timed reps (ratio = actrm / llama.cpp)")
hdr = f"{'model':22s} {'test':6s} {'actrm':>9s} {'llama':>9s} {'ratio':>6s} {'plain':>9s} {'ratio':>6s}   peak RSS MiB actrm/llama/plain"
print(hdr); print("-" * len(hdr))
for (model, test), r in sorted(rows.items()):
    a, d, p = med(r["actrm"]), med(r["default"]), med(r["plain"])
    rss = "/".join(f"{r['rss'].get(k, float('nan')):.0f}" for k in ("actrm", "default", "plain"))
    print(f"{model:22s} {test:6s} {a:9.2f} {d:9.2f} {a / d:6.2f} {p:9.2f} {a / p:6.2f}   {rss}")
print("llama = llama.cpp default mode (extra buffer types / repacked weights), plain = --no-extra-bufts")
EOF
}

build_tools
status=0
if [ "$DO_LOGITS" = 1 ]; then
  log "logits check: actrm forward vs llama.cpp on F32 fixture conversions"
  logits_check || status=1
fi
[ "$DO_SPEED" = 1 ] && speed
exit $status
