#!/bin/sh
# Runs every Criterion test binary in BUILD/tests whose name matches FILTER and
# prints one closing line with the totals. Usage: run-tests.sh BUILD FILTER [criterion args]
#
# Environment:
#   TEST_RUNNER  command prefix for each binary (e.g. "env QEMU_CPU=max")
#   TEST_ONLY    if set, only these binaries (space-separated names)
#   TEST_SKIP    binaries not to run
#   ISA_TESTS    binaries re-run once per other kernel path this CPU has, with
#                ACTRM_ISA forcing it (default: test_forward); "" disables
#   ISA_FILTER   criterion --filter pattern for those re-runs (default: the
#                golden-model suites of test_forward; "" runs every test)
set -u
build=$1; filter=$2; shift 2
runner=${TEST_RUNNER:-}
isa_tests=${ISA_TESTS-test_forward}
isa_filter=${ISA_FILTER-forward_*/*}
pass=0; fail=0; failed_bins=""

# selected NAME: matches FILTER, TEST_ONLY and TEST_SKIP.
selected() {
  case "$1" in *"$filter"*) ;; *) return 1 ;; esac
  case " ${TEST_SKIP:-} " in *" $1 "*) return 1 ;; esac
  [ -z "${TEST_ONLY:-}" ] && return 0
  case " $TEST_ONLY " in *" $1 "*) return 0 ;; esac
  return 1
}

# run_one LABEL BINARY [args]: runs a binary, adds its counts to the totals.
run_one() {
  label=$1; bin=$2; shift 2
  start=$(date +%s)
  out=$($runner "$bin" --jobs=1 "$@" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -v '^\[----\]' | grep -E 'FAIL|Synthesis|Assertion|failed|crash' |
    sed "s|^|$label: |; s|\$| ($(( $(date +%s) - start ))s)|"
  line=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -1)
  p=$(printf '%s' "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
  f=$(printf '%s' "$line" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
  c=$(printf '%s' "$line" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
  pass=$((pass + ${p:-0})); f=$(( ${f:-0} + ${c:-0} ))
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
  fail=$((fail + f))
  [ "$f" = 0 ] || failed_bins="$failed_bins $label"
}

for t in "$build"/tests/*; do
  [ -x "$t" ] || continue
  selected "$(basename "$t")" || continue
  run_one "$(basename "$t")" "$t" "$@"
done

# The kernel paths other than the default one, by ISA name (from actrm info:
# "kernel paths: ref avx2 avx512 avx512+vnni", "kernel path: avx512+vnni").
other_isas() {
  info=$($runner "$build/actrm" info 2>/dev/null) || return 0
  default=$(printf '%s\n' "$info" | sed -n 's/^kernel path: *\([^+ ]*\).*/\1/p')
  printf '%s\n' "$info" | sed -n 's/^kernel paths: *//p' | tr ' ' '\n' | sed 's/+.*//' |
    awk -v d="$default" 'NF && $0 != d && !seen[$0]++'
}

if [ -n "$isa_tests" ] && [ -z "${ACTRM_ISA:-}" ] && [ -x "$build/actrm" ]; then
  for isa in $(other_isas); do
    for name in $isa_tests; do
      t="$build/tests/$name"
      [ -x "$t" ] || continue
      selected "$name" || continue
      export ACTRM_ISA="$isa"
      if [ -n "$isa_filter" ]; then
        run_one "$name[ACTRM_ISA=$isa]" "$t" --filter "$isa_filter" "$@"
      else
        run_one "$name[ACTRM_ISA=$isa]" "$t" "$@"
      fi
      unset ACTRM_ISA
    done
  done
fi
[ -z "$failed_bins" ] || echo "failing:$failed_bins"
echo "tests: $pass passed, $fail failed"
[ "$fail" = 0 ]
