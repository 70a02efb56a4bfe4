#!/usr/bin/env bash
# Fetches the JavaScript libraries the centre's pages use from the npm registry (npm pack:
# the published tarball, no install scripts) into centre/vendor/NAME/, with their licence
# and a SOURCE file (package, version, tarball SHA-256). The files are committed, so the
# centre works offline and this runs only to update a library.
set -euo pipefail
cd "$(dirname "$0")/.."
LEAFLET=leaflet@1.9.4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$LEAFLET" >/dev/null && tar xzf leaflet-*.tgz)
dest=centre/vendor/leaflet
rm -rf "$dest"
mkdir -p "$dest/images"
cp "$tmp"/package/dist/leaflet.js "$tmp"/package/dist/leaflet.css "$tmp"/package/LICENSE "$dest/"
cp "$tmp"/package/dist/images/*.png "$dest/images/"
{
    echo "package: $LEAFLET (npm registry)"
    echo "tarball sha256: $(sha256sum "$tmp"/leaflet-*.tgz | cut -d' ' -f1)"
    echo "files: dist/leaflet.js, dist/leaflet.css, dist/images/*.png, LICENSE (BSD-2-Clause)"
} >"$dest/SOURCE"
echo "vendored $LEAFLET into $dest"
