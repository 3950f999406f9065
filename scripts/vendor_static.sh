#!/usr/bin/env bash
# Copy the front-end packages installed from the npm registry (package-lock.json) into static/vendor.
# Nothing minified is committed; nothing is loaded from another host at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=static/vendor
rm -rf "$dest"
mkdir -p "$dest/bootstrap/css" "$dest/bootstrap/js" "$dest/bootstrap-icons/fonts" "$dest/htmx" "$dest/chartjs"
cp node_modules/bootstrap/dist/css/bootstrap.min.css "$dest/bootstrap/css/"
cp node_modules/bootstrap/dist/js/bootstrap.bundle.min.js "$dest/bootstrap/js/"
cp node_modules/bootstrap-icons/font/bootstrap-icons.min.css "$dest/bootstrap-icons/"
cp node_modules/bootstrap-icons/font/fonts/bootstrap-icons.woff2 node_modules/bootstrap-icons/font/fonts/bootstrap-icons.woff \
   "$dest/bootstrap-icons/fonts/"
cp node_modules/htmx.org/dist/htmx.min.js "$dest/htmx/"
cp node_modules/chart.js/dist/chart.umd.min.js "$dest/chartjs/"
# Redoc (from the drf-spectacular-sidecar Python package) draws its maker's logo in the sidebar from
# their CDN, which the Content-Security-Policy blocks: the copy served at /api/redoc/ drops the image
# (the "API docs by Redocly" credit stays) so the page asks no other host for anything.
redoc=$(.venv/bin/python -c "import drf_spectacular_sidecar as s, pathlib; print(pathlib.Path(s.__file__).parent / 'static/drf_spectacular_sidecar/redoc/bundles')")
mkdir -p "$dest/redoc"
sed 's#https://cdn\.redoc\.ly/redoc/logo-mini\.svg##g' "$redoc/redoc.standalone.js" > "$dest/redoc/redoc.standalone.js"
if grep -q "cdn.redoc.ly" "$dest/redoc/redoc.standalone.js"; then echo "redoc: the logo URL is still in the bundle" >&2; exit 1; fi
echo "static/vendor: $(find "$dest" -type f | wc -l) files copied from node_modules"
