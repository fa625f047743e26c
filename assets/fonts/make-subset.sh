#!/usr/bin/env bash
# Regenerates assets/fonts/NotoSansCJKsc-Bold-lane-subset.otf: the glyphs the
# simulator's cameras draw (plates and container codes), cut from Noto Sans
# CJK SC Bold (SIL OFL 1.1, see OFL.txt beside this script).
#
# Needs: fonts-noto-cjk (Debian) and fonttools (`pip install fonttools`).
# Usage: assets/fonts/make-subset.sh [path/to/NotoSansCJK-Bold.ttc]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
src="${1:-/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc}"
out="$here/NotoSansCJKsc-Bold-lane-subset.otf"

if ! command -v pyftsubset >/dev/null 2>&1; then
    echo "pyftsubset not found: pip install fonttools" >&2
    exit 1
fi
if [ ! -f "$src" ]; then
    echo "source font $src not found: apt-get install fonts-noto-cjk" >&2
    exit 1
fi

# The 31 mainland province abbreviations used as the first plate character (GA 36).
provinces="京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Special last characters of plates (trailer, learner, police, Hong Kong, Macau,
# embassy, consulate).
specials="挂学警港澳使领"
latin="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
symbols=" .:-_/[]()#%+·"

# Font number 2 of the collection is "Noto Sans CJK SC Bold" (0 JP, 1 KR, 2 SC, 3 TC, 4 HK).
pyftsubset "$src" \
    --font-number=2 \
    --text="${provinces}${specials}${latin}${symbols}" \
    --layout-features='' \
    --no-hinting \
    --desubroutinize \
    --name-IDs='*' \
    --name-languages='*' \
    --output-file="$out"

echo "wrote $out ($(wc -c <"$out") bytes)"
