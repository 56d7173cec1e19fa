#!/usr/bin/env bash
# Vendor the site's JavaScript from npm into jupyter-book/_vendor/ (copied to the
# built site's _static/vendor/ by scripts/build_book.py, after Sphinx) so the
# built site works offline and never asks another host for anything:
#   MathJax 3 (tex-chtml component, its fonts and TeX extensions)  -> vendor/mathjax/
#   RequireJS + @jupyter-widgets/html-manager embed-amd.js         -> vendor/widgets/
# `npm pack` fetches each package's tarball (no dependency install) into .cache/npm.
# Safe to re-run: does nothing when the pinned versions are already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

MATHJAX_VERSION=3.2.2
REQUIREJS_VERSION=2.3.7
HTML_MANAGER_VERSION=1.0.15  # embeds ipywidgets 8 state (base 2.x, controls 2.x)

DEST=jupyter-book/_vendor
CACHE=.cache/npm
STAMP="$DEST/.versions"
WANT="layout=3 mathjax=$MATHJAX_VERSION requirejs=$REQUIREJS_VERSION html-manager=$HTML_MANAGER_VERSION"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "==> installing Debian's npm (needed once, to vendor MathJax and the widget scripts)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
  else
    echo "make: npm is needed once to vendor MathJax and the widget scripts; run 'sudo apt-get install npm'." >&2
    exit 1
  fi
fi

mkdir -p "$CACHE"
fetch() {  # fetch NAME@VERSION -> path of the unpacked package/ folder
  local spec=$1 dir
  dir="$CACHE/$(echo "$spec" | tr '/@' '__')"
  if [ ! -d "$dir/package" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    local tgz
    tgz=$(cd "$dir" && npm pack --silent "$spec" 2>/dev/null | tail -n 1)
    tar -xzf "$dir/$tgz" -C "$dir"
  fi
  echo "$dir/package"
}

mj=$(fetch "mathjax@$MATHJAX_VERSION")
rq=$(fetch "requirejs@$REQUIREJS_VERSION")
hm=$(fetch "@jupyter-widgets/html-manager@$HTML_MANAGER_VERSION")
for pkg in "$mj" "$rq" "$hm"; do
  [ -f "$pkg/package.json" ] || { echo "make: npm pack failed for $pkg; is the npm registry reachable?" >&2; exit 1; }
done

rm -rf "$DEST"
mkdir -p "$DEST/mathjax/output/chtml/fonts" "$DEST/mathjax/input/tex" "$DEST/widgets"
# tex-chtml.js loads its fonts and, on demand, TeX extensions relative to itself.
cp "$mj/es5/tex-chtml.js" "$DEST/mathjax/"
cp -r "$mj/es5/output/chtml/fonts/woff-v2" "$DEST/mathjax/output/chtml/fonts/"
cp -r "$mj/es5/input/tex/extensions" "$DEST/mathjax/input/tex/"
cp -r "$mj/es5/a11y" "$mj/es5/ui" "$DEST/mathjax/" 2>/dev/null || true
cp "$mj/LICENSE" "$DEST/mathjax/LICENSE"
cp "$rq/require.js" "$DEST/widgets/require.js"
cp "$hm/dist/embed-amd.js" "$DEST/widgets/embed-amd.js"
# webpack may emit the bundle's fonts/chunks next to embed-amd.js
find "$hm/dist" -maxdepth 1 -type f ! -name '*.map' ! -name '*.d.ts' ! -name 'embed-amd.js' ! -name '*.js.LICENSE.txt' \
  \( -name '*.woff*' -o -name '*.ttf' -o -name '*.eot' -o -name '*.svg' -o -name '[0-9]*.js' \) -exec cp {} "$DEST/widgets/" \;
cp "$hm/LICENSE" "$DEST/widgets/LICENSE.html-manager" 2>/dev/null || true
# embed-amd.js finds its fonts relative to its RequireJS module id, which would
# resolve against the page's folder; point that id at this folder instead.
# (Loaded between require.js and embed-amd.js, see jupyter-book/_config.yml.)
cat > "$DEST/widgets/require-config.js" <<'JS'
// Written by scripts/vendor_assets.sh: map the widget embedder's modules to the
// folder this script is served from. embed-amd.js defines named modules
// (@jupyter-widgets/base, controls, html-manager, ...) and each finds its fonts
// next to the URL RequireJS gives its name; without this map that URL is
// relative to the page, and a page in a subfolder asks for fonts that are not there.
(function () {
  var here = document.currentScript.src.replace(/\/[^/]*$/, "");
  require.config({ paths: { "@jupyter-widgets": here, "@jupyter-widgets/html-manager/dist": here } });
})();
JS
echo "$WANT" > "$STAMP"
echo "==> vendored $WANT into $DEST ($(du -sh "$DEST" | cut -f1))"
