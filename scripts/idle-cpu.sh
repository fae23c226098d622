#!/usr/bin/env bash
# The CPU an idle `spoolq daemon` uses over a span: starts one on SPOOL (made with
# `spoolq init` through CREATE_THROUGH, by default SPOOL itself), lets it settle, reads
# utime + stime from /proc/<pid>/stat before and after SECONDS, and prints the share of
# one core. For the idle cost on a shared mount: create through one mount, run on another.
#
#   scripts/idle-cpu.sh SPOOLQ_BINARY SPOOL [SECONDS] [CREATE_THROUGH]
set -euo pipefail
bin=$1 spool=$2 seconds=${3:-60} create=${4:-$2}
"$bin" init "$create" >/dev/null
"$bin" daemon --spool "$spool" --workers 2 2>"$spool.idle.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
sleep 5
before=$(ticks)
sleep "$seconds"
after=$(ticks)
hz=$(getconf CLK_TCK)
awk -v t=$((after - before)) -v hz="$hz" -v s="$seconds" \
    'BEGIN { printf "idle daemon: %d ticks in %d s = %.3f %% of one core\n", t, s, 100 * t / hz / s }'
