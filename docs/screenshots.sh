#!/usr/bin/env bash
# Regenerates docs/screenshots/: the main pages of the demo federation at 360 px (a phone) and
# 1280 px, in Estonian, taken by the accessibility test in headless Chromium (which also fails
# on any axe-core violation, sideways scrolling or small target). Needs Node.js, Chromium and
# `npm ci --prefix tests/interop`.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf docs/screenshots
mkdir -p docs/screenshots
SCREENSHOTS="$PWD/docs/screenshots" cargo test -p federation-tests --test e2e pages::every -- --include-ignored
ls docs/screenshots
