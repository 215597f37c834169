#!/usr/bin/env bash
# A short libFuzzer run of every harness in $BUILD/fuzz on its committed seed
# corpus (copied, so the repo is not modified). Long runs: see docs/testing.md.
set -euo pipefail
secs="${VLM_FUZZ_SECONDS:-8}"
# The harnesses are already ASan/UBSan builds: nothing to add in the sanitizer pass.
if [ -n "${VLM_SANITIZED:-}" ]; then echo "skipped in the sanitizer pass (fuzzers are sanitized builds)"; exit 77; fi
shopt -s nullglob
harnesses=("$BUILD"/fuzz/fuzz_*)
if [ ${#harnesses[@]} -eq 0 ]; then echo "no fuzz harnesses built in $BUILD/fuzz"; exit 1; fi
for h in "${harnesses[@]}"; do
  name=$(basename "$h")
  work="$VLM_TMP/fuzz-$name"; mkdir -p "$work/corpus"
  [ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$work/corpus/"
  echo "== $name (${secs}s)"
  (cd "$work" && "$OLDPWD/$h" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 corpus 2>&1 | grep -E "stat::number_of_executed_units|ERROR|SUMMARY|Done" || true)
  found=("$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*)   # nullglob: only real files
  if [ ${#found[@]} -gt 0 ]; then
    echo "FAIL: $name found a crashing input: ${found[*]}"; exit 1
  fi
done
echo "fuzz: all harnesses ran clean"
