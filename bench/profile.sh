#!/usr/bin/env bash
# Where actrm's prefill time goes.
#
#   bench/profile.sh MODEL.gguf [--prompt-len 512] [--threads 2] [--reps 3] [--no-perf]
#                    [--committed]
#
# Builds a copy of actrm in $WORK/build (default /tmp/actrm-profile; frame
# pointers on) whose actrm_matmul() calls are timed by a shim linked in with
# `ld --wrap` (the library itself is unchanged), runs `actrm bench --gen 0`
# under it (one untimed warm-up prefill, then --reps timed ones) and prints:
#   1. wall time per projection (q+k+v, o, gate+up, down, lm_head) summed
#      over layers and reps (q+k+v and gate+up are one call each), with
#      GFLOP/s, and the share of the prefill time;
#      the rest of the prefill (attention, norms, RoPE, residuals, embedding)
#      is the remainder;
#   2. `perf report` of the same run by symbol (self time), which splits that
#      remainder and shows the OpenMP runtime's spinning at barriers (libgomp)
#      and the time spent in each kernel.
# --committed builds the last commit (git archive HEAD) instead of the
# working tree, e.g. while someone's half-edited file does not compile.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
WORK="${WORK:-/tmp/actrm-profile}"
MODEL="" PP=512 THREADS=2 REPS=3 PERF=1 COMMITTED=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prompt-len) PP="$2"; shift ;;
    --threads) THREADS="$2"; shift ;;
    --reps) REPS="$2"; shift ;;
    --no-perf) PERF=0 ;;
    --committed) COMMITTED=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "profile.sh: unknown argument '$1'" >&2; exit 2 ;;
    *) MODEL="$1" ;;
  esac
  shift
done
[ -n "$MODEL" ] || { echo "profile.sh: missing MODEL.gguf (see --help)" >&2; exit 2; }
MODEL="$(realpath "$MODEL")"
mkdir -p "$WORK"
if [ "$COMMITTED" = 1 ]; then
  rm -rf "$WORK/src" && mkdir -p "$WORK/src"
  git archive HEAD | tar -x -C "$WORK/src"
  cd "$WORK/src"
fi

# The shim: times every top-level matmul call of the forward pass, keyed by
# what it computes: per layer actrm_matmul_shared(q, k, v), actrm_matmul(o),
# actrm_matmul_shared(gate, up), actrm_matmul(down); a plain actrm_matmul
# that follows neither o's nor down's predecessor is the LM head.
cat >"$WORK/mm_shim.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "matmul.h"

void __real_actrm_matmul(const actrm_kernels *k, const actrm_weight *W, const float *x, int T,
                         float *y, int ldy, void *scratch, int n_threads);
void __real_actrm_matmul_shared(const actrm_kernels *k, const actrm_weight *const *W, float *const *y,
                                const int *ldy, int n_w, const float *x, int T, void *scratch,
                                int n_threads);

enum { QKV, O, GATE_UP, DOWN, LM_HEAD, N_SLOTS };
static const char *const slot_names[N_SLOTS] = {"q+k+v", "o", "gate+up", "down", "lm_head"};
/* Process-wide tallies: this shim exists only in the profiling build. */
static struct { double sec, flop; long calls; int rows, cols; } tally[N_SLOTS];
static int last = -1; /* slot of the previous call */
static int warm;      /* the warm-up prefill (up to its LM head) is not counted */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void count(int slot, double dt, const actrm_weight *const *W, int n_w, int T)
{
    last = slot;
    if (!warm) {
        warm = slot == LM_HEAD;
        return;
    }
    tally[slot].sec += dt;
    tally[slot].calls++;
    tally[slot].rows = 0;
    for (int i = 0; i < n_w; i++) {
        tally[slot].flop += 2.0 * W[i]->rows * W[i]->cols * T;
        tally[slot].rows += W[i]->rows;
    }
    tally[slot].cols = W[0]->cols;
}

void __wrap_actrm_matmul(const actrm_kernels *k, const actrm_weight *W, const float *x, int T,
                         float *y, int ldy, void *scratch, int n_threads)
{
    double t0 = now();
    __real_actrm_matmul(k, W, x, T, y, ldy, scratch, n_threads);
    count(last == QKV ? O : last == GATE_UP ? DOWN : LM_HEAD, now() - t0, &W, 1, T);
}

void __wrap_actrm_matmul_shared(const actrm_kernels *k, const actrm_weight *const *W, float *const *y,
                                const int *ldy, int n_w, const float *x, int T, void *scratch,
                                int n_threads)
{
    double t0 = now();
    __real_actrm_matmul_shared(k, W, y, ldy, n_w, x, T, scratch, n_threads);
    count(n_w == 3 ? QKV : GATE_UP, now() - t0, W, n_w, T);
}

__attribute__((destructor)) static void report(void)
{
    FILE *f = fopen(getenv("PROF_OUT") ? getenv("PROF_OUT") : "/dev/stderr", "w");
    if (!f)
        return;
    for (int i = 0; i < N_SLOTS; i++)
        if (tally[i].calls)
            fprintf(f, "%s %d %d %ld %.6f %.0f\n", slot_names[i], tally[i].rows, tally[i].cols,
                    tally[i].calls, tally[i].sec, tally[i].flop);
    fclose(f);
}
EOF

B="$WORK/build"
CFLAGS="-O2 -g -fno-omit-frame-pointer" make --no-print-directory BUILD="$B" -j2 all >"$WORK/make.log" 2>&1 ||
  { tail -20 "$WORK/make.log" >&2; exit 1; }
gcc -O2 -g -fno-omit-frame-pointer -std=c11 -D_GNU_SOURCE -fopenmp -Iinclude -Isrc -Isimd \
  -o "$B/actrm-prof" "$B"/obj/tools/*.o "$WORK/mm_shim.c" "$B/libactrm-internal.a" \
  -Wl,--wrap=actrm_matmul -Wl,--wrap=actrm_matmul_shared -fopenmp -lcjson -lpcre2-8 -lutf8proc -lz -lm

RUN=("$B/actrm-prof" bench "$MODEL" --prompt-len "$PP" --gen 0 --threads "$THREADS" --reps "$REPS" --warmup 1 --json)
if [ "$PERF" = 1 ]; then
  PROF_OUT="$WORK/matmul.txt" perf record -q -g -o "$WORK/perf.data" -- "${RUN[@]}" >"$WORK/bench.json"
else
  PROF_OUT="$WORK/matmul.txt" "${RUN[@]}" >"$WORK/bench.json"
fi

/usr/bin/python3 - "$WORK/bench.json" "$WORK/matmul.txt" "$PP" "$REPS" <<'EOF'
import json, sys
bench = json.load(open(sys.argv[1])); pp, reps = int(sys.argv[3]), int(sys.argv[4])
total = sum(pp / x for x in bench["pp_tok_s"])
rows = [l.split() for l in open(sys.argv[2])]
print(f"prefill pp{pp}: {total / reps * 1000:.1f} ms per call, "
      f"{sorted(bench['pp_tok_s'])[len(bench['pp_tok_s']) // 2]:.1f} tok/s median, "
      f"{bench['threads']} threads, {bench['weight_type']}, kernels {bench['isa']}")
print(f"{'matmul':8s} {'out x in':>14s} {'ms/pp':>9s} {'GFLOP/s':>8s} {'share':>6s}   (ms/pp: per prefill call, all layers)")
mm = 0.0
for name, r, c, calls, sec, flop in rows:
    sec, flop = float(sec), float(flop); mm += sec
    print(f"{name:8s} {r + ' x ' + c:>14s} {sec / reps * 1000:9.2f} {flop / sec / 1e9:8.1f} {sec / total:6.1%}")
print(f"{'all matmuls':23s} {mm / reps * 1000:9.2f} {'':8s} {mm / total:6.1%}")
print(f"{'rest (attention, norms, rope, ...)':34s} {(total - mm) / reps * 1000:9.2f} ms  {(total - mm) / total:6.1%}")
EOF

if [ "$PERF" = 1 ]; then
  echo
  echo "perf, self time by symbol (all threads; libgomp = OpenMP waiting/spinning):"
  perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --percent-limit 0.5 2>/dev/null |
    grep -v '^#' | grep '%' | grep -v -- '--' | sed 's/ *- *- *$//' | head -30
fi
