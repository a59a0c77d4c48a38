#!/usr/bin/env bash
# Runs every test: formatting, lints, unit tests, flow tests and the end-to-end tests against
# real SIP peers on loopback. Installs the peers (sipp from Debian's sip-tester, baresip as an
# employee's softphone) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_packages=()
command -v sipp >/dev/null || need_packages+=(sip-tester)
# baresip-core: the softphone without its GUI and video plugins.
command -v baresip >/dev/null || need_packages+=(baresip-core)
# espeak-ng: `tts:` prompts.
command -v espeak-ng >/dev/null || need_packages+=(espeak-ng)
# The web console's tests drive Debian's chromium over WebDriver (tests/e2e/console.rs).
command -v chromedriver >/dev/null || need_packages+=(chromium chromium-driver)
# The cluster's tests put Kamailio in front of the nodes (tests/cluster/).
command -v kamailio >/dev/null || need_packages+=(kamailio)
if ((${#need_packages[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "installing ${need_packages[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}" >/dev/null
  else
    echo "error: the end-to-end tests need: ${need_packages[*]} (e.g. sudo apt-get install ${need_packages[*]})" >&2
    exit 1
  fi
fi
# schemathesis checks the API against its OpenAPI document (tests/e2e/openapi.rs).
if ! command -v st >/dev/null; then
  echo "installing schemathesis"
  python3 -m pip install --quiet 'schemathesis==4.32.5'
fi
# aiosmtpd is the mail server the mail tests send to (tests/e2e/mail.rs).
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  echo "installing aiosmtpd"
  python3 -m pip install --quiet 'aiosmtpd==1.4.6'
fi
# The built-in flows are WebAssembly components; rustup adds the target from rust-toolchain.toml
# on first use, but an already-installed toolchain needs it added explicitly.
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
