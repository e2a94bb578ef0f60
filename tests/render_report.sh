#!/usr/bin/env bash
# Renders the district report in headless Chromium: the page must load, keep its charts in the
# DOM, log no console errors, and paint a screenshot (left in target/, not in the repository).
# Usage: tests/render_report.sh [path/to/tillflow]
set -euo pipefail
bin=${1:-target/debug/tillflow}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" generate --out "$work/chain" --stores 5 --days 10 --seed 1 >/dev/null
"$bin" run --input "$work/chain" --out "$work/views" >/dev/null
"$bin" report --out "$work/views" --district D01 --to "$work/report.html" >/dev/null

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
  --disable-component-update --disable-sync --enable-logging=stderr --v=0 --user-data-dir="$work/profile")
chromium "${flags[@]}" --dump-dom "file://$work/report.html" >"$work/dom.html" 2>"$work/chromium.log"
grep -q "District D01 — morning report" "$work/dom.html" || { echo "the report did not load"; exit 1; }
charts=$(grep -o "<svg" "$work/dom.html" | wc -l)
[ "$charts" -eq 7 ] || { echo "expected 7 charts in the rendered page, found $charts"; exit 1; }
if grep -E "CONSOLE|Uncaught|Failed to load" "$work/chromium.log"; then
  echo "the page logged errors"; exit 1
fi
mkdir -p target
chromium "${flags[@]}" --window-size=1100,3000 --screenshot="$PWD/target/report.png" "file://$work/report.html" 2>>"$work/chromium.log"
[ -s target/report.png ] || { echo "no screenshot was painted"; exit 1; }
echo "the report renders in Chromium: $charts charts; screenshot in target/report.png"
