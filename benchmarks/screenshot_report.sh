#!/usr/bin/env bash
# Render a report in headless Chromium and save a screenshot, to check how it looks.
#
#   benchmarks/screenshot_report.sh [RUN_DIR] [OUT_PNG] [WIDTH]
#
# Without RUN_DIR, a hand-made run (tests/report_fixture.py, 9 gammas) is built in a temporary
# directory. OUT_PNG defaults to docs/report-screenshot.png. The whole page is captured at
# WIDTH css pixels (default 1200), then quantised to 128 colours (Pillow, which matplotlib
# installs) to keep the file small. Needs `chromium` (Debian: apt-get install chromium).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
OUT="${2:-$ROOT/docs/report-screenshot.png}"
WIDTH="${3:-1200}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

if [[ $# -ge 1 && -n "$1" ]]; then
    RUN_DIR="$1"
else
    RUN_DIR="$("$PY" - "$WORK" "$ROOT/tests" <<'EOF'
import sys
from pathlib import Path

sys.path.insert(0, sys.argv[2])
from report_fixture import make_run

gammas = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
print(make_run(Path(sys.argv[1]), gammas=gammas))
EOF
)"
fi

REPORT="$("$PY" -c 'import sys; from pathlib import Path; from valuelocate.reporting import write_report; print(write_report(Path(sys.argv[1])))' "$RUN_DIR")"
echo "report: $REPORT" >&2

shoot() {  # shoot HEIGHT PNG
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --hide-scrollbars --user-data-dir="$WORK/profile" --screenshot="$2" \
        --window-size="$WIDTH,$1" "file://$REPORT" >/dev/null 2>&1
}

# A first tall shot tells the page's height (the white space below it is trimmed).
shoot 20000 "$WORK/tall.png"
"$PY" - "$WORK/tall.png" "$OUT" <<'EOF'
import sys

from PIL import Image, ImageChops

image = Image.open(sys.argv[1]).convert("RGB")
background = Image.new("RGB", image.size, image.getpixel((0, image.height - 1)))
box = ImageChops.difference(image, background).getbbox()
if box is not None:
    image = image.crop((0, 0, image.width, min(image.height, box[3] + 24)))
image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(sys.argv[2], optimize=True)
print(f"screenshot: {sys.argv[2]} ({image.width}x{image.height})", file=sys.stderr)
EOF
