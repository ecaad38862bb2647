#!/usr/bin/env bash
# The installed package works from anywhere: build the wheel, install it into a clean venv, build Monaco
# from a temporary folder (no repository files on hand) and check that `mapgen serve` answers a search.
#   scripts/wheel-check.sh            (make wheel-check; .ci/run)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
osm="$root/../shared/data/osm/monaco.osm.pbf"
[ -f "$osm" ] || { echo "wheel-check: $osm not found (../shared/data beside the project)" >&2; exit 1; }

tmp="$(mktemp -d)"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

echo "wheel-check: building the wheel"
mkdir "$tmp/src"  # a copy of the working tree, so the build leaves nothing in it
tar -C "$root" --exclude=./.git --exclude=./.venv --exclude=./out --exclude=./build --exclude='*.egg-info' -cf - . \
  | tar -C "$tmp/src" -xf -
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$tmp/dist" "$tmp/src"
wheel="$(ls "$tmp"/dist/mapgen-*.whl)"
echo "wheel-check: $(basename "$wheel"): $("$python" -m zipfile -l "$wheel" | grep -cE 'categories.toml|templates/|static/') data files"

"$python" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --upgrade pip
constraints=()
[ -f "$root/constraints.txt" ] && constraints=(-c "$root/constraints.txt")
echo "wheel-check: installing it with the pdf extra into a clean venv"
"$tmp/venv/bin/python" -m pip install --quiet "${constraints[@]}" "${wheel}[pdf]"  # what `make demo` needs

mkdir "$tmp/work" && cd "$tmp/work"  # not the repository: every file the build reads comes from the wheel
export MAPGEN_CACHE_DIR="$tmp/cache"
"$tmp/venv/bin/mapgen" --version
"$tmp/venv/bin/mapgen" build --osm "$osm" --out monaco --quiet
echo "wheel-check: built $(ls monaco/schools/*.pdf 2>/dev/null | wc -l) PDF sheet(s), $(ls monaco/schools/*.html | wc -l) school page(s), site.db $(du -k monaco/site.db | cut -f1) KB"

port="$("$tmp/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$tmp/venv/bin/mapgen" serve --data monaco --port "$port" >"$tmp/serve.log" 2>&1 &
server=$!
"$tmp/venv/bin/python" - "$port" <<'PY'
"""Ask the served site for the first venue of the build by name; wait at most 60 s for it to start."""
import json
import sys
import time
import urllib.parse
import urllib.request

port = sys.argv[1]
features = json.load(open("monaco/venues.geojson", encoding="utf-8"))["features"]
venue = next(f["properties"] for f in features if f["properties"].get("name"))
url = f"http://127.0.0.1:{port}/api/venues?" + urllib.parse.urlencode({"q": venue["name"]})
deadline = time.monotonic() + 60
while True:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            found = json.load(answer)
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"wheel-check: no answer from {url} within 60 s")
        time.sleep(0.5)
ids = [r["venue_id"] for r in found["results"]]
if venue["venue_id"] not in ids:
    sys.exit(f"wheel-check: searching {venue['name']!r} did not find {venue['venue_id']} (got {ids})")
print(f"wheel-check: ok, GET {url} -> {found['total']} result(s), {venue['venue_id']} among them")
PY
