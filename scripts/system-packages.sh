#!/usr/bin/env bash
# The one list of Debian packages mapgen needs besides Python; `make demo`, `make test` and `.ci/run` call this.
#
#   scripts/system-packages.sh pdf    # what a build needs for its PDF sheets (make demo)
#   scripts/system-packages.sh test   # that, plus what the tests need (make test, .ci/run)
#
# As root it installs whatever is missing (apt-get update once, non-interactive). As another user,
# or with MAPGEN_SKIP_SYSTEM=1, it prints the one `sudo apt-get install ...` line and goes on
# (exit 0): a build without a CJK font still writes everything but the PDF sheets.
set -euo pipefail

# PDF sheets: a font with Chinese glyphs, fontconfig to find it, pango for WeasyPrint.
PDF_PACKAGES="fonts-noto-cjk fontconfig libpango-1.0-0 libpangoft2-1.0-0"
# Tests: Chromium opens the map pages and the site offline; poppler-utils (pdffonts, pdftotext) reads the sheets.
TEST_PACKAGES="chromium poppler-utils"

case "${1:-test}" in
  pdf) wanted="$PDF_PACKAGES" ;;
  test) wanted="$PDF_PACKAGES $TEST_PACKAGES" ;;
  *) echo "usage: $0 [pdf|test]" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "system packages: not a Debian/Ubuntu system; install the equivalents of: $wanted" >&2
  exit 0
fi

missing=""
for p in $wanted; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

line="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" = 0 ] && [ "${MAPGEN_SKIP_SYSTEM:-0}" != 1 ]; then
  echo "system packages: installing$missing" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $line -qq
else
  echo "system packages missing:$missing; install them with:  sudo $line" >&2
fi
