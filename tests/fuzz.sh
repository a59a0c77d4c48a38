#!/usr/bin/env bash
# Bounded coverage-guided fuzzing (libFuzzer via cargo-fuzz) of the SIP entry point (datagram ->
# guard -> parser) and the SDP offer parser. Needs a nightly toolchain (`rustup toolchain install
# nightly`); installs cargo-fuzz when missing. Usage: tests/fuzz.sh [seconds per target, default 60]
# Crashes land in host/fuzz/artifacts/<target>/; fix them and keep the input as a regression test.
set -euo pipefail
cd "$(dirname "$0")/../host"
seconds=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
# RFC 4475's torture messages (tests/data) seed the SIP target.
cp ../tests/data/rfc4475/*.dat "$seeds/"
for target in sip_datagram sdp_offer; do
  mkdir -p "fuzz/corpus/$target"
  corpora=("fuzz/corpus/$target")
  [[ $target == sip_datagram ]] && corpora+=("$seeds")
  cargo +nightly fuzz run -O "$target" "${corpora[@]}" -- -max_total_time="$seconds" -max_len=8192
done
