#!/usr/bin/env bash
# A newcomer's first answer: clones this checkout's HEAD into a fresh folder (../shared linked beside it), runs
# `make demo` with pip's cache off, and prints the seconds from the command's start to the first printed answer.
# Usage: bench/first_answer.sh [WORKDIR] (default /tmp/gridworker-first-answer). Needs a free port 8799.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/gridworker-first-answer}
rm -rf "$work" && mkdir -p "$work"
git clone -q "$here" "$work/main" && ln -sfn "$(cd "$here/../shared" && pwd)" "$work/shared"
cd "$work/main"
log="$work/demo.log"
start=$(date +%s.%N)
PIP_NO_CACHE_DIR=1 make demo PORT=8799 > "$log" 2>&1 &
pid=$!
result="no answer: see $log"
seen=0
while kill -0 "$pid" 2>/dev/null; do
  steps=$(grep -c "^== " "$log")
  if [ "$steps" -gt "$seen" ]; then
    seen=$steps
    echo "$(printf '%4.0f' "$(echo "$(date +%s.%N) - $start" | bc)") s  $(grep "^== " "$log" | tail -1)"
  fi
  if grep -q "^问 低保怎么申请" "$log"; then
    end=$(date +%s.%N)
    result="first answer after $(printf '%.0f' "$(echo "$end - $start" | bc)") s"
    break
  fi
  sleep 0.5
done
pkill -f "serve --host 127.0.0.1 --port 8799"; sleep 1
echo "$result (commit $(git rev-parse --short HEAD), $(date -u +%F), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
