#!/usr/bin/env bash
# Vendor MathJax 3 for an offline book: copy from the npm package's es5/ folder only what
# the pages load — the tex-chtml.js bundle and the CHTML web fonts it fetches, at their
# paths relative to it — into <repo>/_vendor/mathjax/ (1.6 MB instead of the package's
# 24 MB). `_config.yml` serves _vendor/ with `html_extra_path` and points `mathjax_path`
# at mathjax/tex-chtml.js. A formula that needs a TeX extension outside the bundle (e.g.
# \boldsymbol, loaded on demand) would fetch input/tex/extensions/<name>.js: the browser
# test fails on that request, and the file is then added to KEEP below.
#
# Idempotent: does nothing when the wanted version is already vendored. Third-party
# files are never committed (_vendor/ and node_modules/ are gitignored).
#
#   MATHJAX_VERSION   npm version to vendor (default 3.2.2, the last MathJax 3 release)
#   TAI_NPM_CACHE     where npm installs the package (default ~/.cache/trustworthy-ai/npm)
set -euo pipefail

MATHJAX_VERSION="${MATHJAX_VERSION:-3.2.2}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dest="$repo/_vendor/mathjax"
stamp="$dest/.vendored-version"
# What the pages load, relative to es5/ (the stamp names the version and this list, so a
# change of either re-vendors).
KEEP=(tex-chtml.js output/chtml/fonts/woff-v2)
wanted="$MATHJAX_VERSION ${KEEP[*]}"

if [[ -f "$dest/tex-chtml.js" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    echo "MathJax $MATHJAX_VERSION already vendored in $dest"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is not installed, and the book needs it once to vendor MathJax" >&2
    echo "       (the HTML book serves MathJax itself so that it works offline)." >&2
    echo "       Install Node.js/npm (Debian/Ubuntu: sudo apt-get install -y npm;" >&2
    echo "       conda: conda install -c conda-forge nodejs), then run this again." >&2
    exit 1
fi

cache="${TAI_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trustworthy-ai/npm}"
mkdir -p "$cache"
src="$cache/node_modules/mathjax/es5"
if [[ ! -f "$src/tex-chtml.js" ]] || \
   ! grep -q "\"version\": \"$MATHJAX_VERSION\"" "$cache/node_modules/mathjax/package.json"; then
    echo "Fetching mathjax@$MATHJAX_VERSION from the npm registry into $cache"
    # Bounded waits: without a registry this fails within about two minutes, not hangs.
    if ! npm install --prefix "$cache" --no-save --no-audit --no-fund --loglevel=error \
            --fetch-timeout=60000 --fetch-retries=1 "mathjax@$MATHJAX_VERSION"; then
        echo "error: npm could not install mathjax@$MATHJAX_VERSION (no access to the npm" >&2
        echo "       registry?). Retry when online, or copy MathJax 3's es5/ folder to $dest." >&2
        exit 1
    fi
fi

# Copy next to the destination, then swap in: never a half-copied folder.
mkdir -p "$repo/_vendor"
tmp="$(mktemp -d "$repo/_vendor/.incoming.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
for path in "${KEEP[@]}"; do
    mkdir -p "$tmp/mathjax/$(dirname "$path")"
    cp -R "$src/$path" "$tmp/mathjax/$path"
done
echo "$wanted" > "$tmp/mathjax/.vendored-version"
rm -rf "$dest"
mv "$tmp/mathjax" "$dest"
echo "Vendored MathJax $MATHJAX_VERSION into $dest"
