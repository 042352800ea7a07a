#!/bin/sh
# Runs every Criterion test binary in BUILD/tests whose name matches FILTER and
# prints one closing line with the totals. Usage: run-tests.sh BUILD FILTER [criterion args]
set -u
build=$1; filter=$2; shift 2
runner=${TEST_RUNNER:-}
pass=0; fail=0; failed_bins=""
for t in "$build"/tests/*; do
  [ -x "$t" ] || continue
  case "$(basename "$t")" in *"$filter"*) ;; *) continue ;; esac
  out=$($runner "$t" --jobs=1 "$@" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -v '^\[----\]' | grep -E 'FAIL|Synthesis|Assertion|failed|crash' | sed "s|^|$(basename "$t"): |"
  line=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -1)
  p=$(printf '%s' "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
  f=$(printf '%s' "$line" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
  c=$(printf '%s' "$line" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
  pass=$((pass + ${p:-0})); f=$(( ${f:-0} + ${c:-0} ))
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
  fail=$((fail + f))
  [ "$f" = 0 ] || failed_bins="$failed_bins $(basename "$t")"
done
[ -z "$failed_bins" ] || echo "failing:$failed_bins"
echo "tests: $pass passed, $fail failed"
[ "$fail" = 0 ]
