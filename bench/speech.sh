#!/usr/bin/env bash
# Speech benchmark. First, for each supported model (MODELS, default all): RTF and CER on the
# held-out telephone set (tests/fixtures/speech-heldout), language detection, and the share
# of a core a normal-priority thread (a call) keeps while the message workers transcribe,
# with the shipped [speech] settings (hot words, languages; BEAM=5 for beam search,
# NO_HOT_WORDS=1 without them). HELDOUT_ONLY=1 stops there. Then, for the default model:
# RTF for 5/30/60 s messages, CER at 16 kHz and after G.711 telephone coding on the tuning
# set, routing accuracy, speech-menu latency, RTP send lateness idle vs whisper saturated.
# Release build. The model is fetched (and verified) into target/speech-test-data on first use.
# Figures are only meaningful on an otherwise idle machine (the load average is printed).
# Optional: NICE=0 to time whisper at normal priority (default 10, as the server runs it).
# Optional: QUICK=1 (telephone CER and routing only), PROMPT="…" (another initial prompt).
# Optional: SET16=DIR with clean 16 kHz WAVs from tests/fixtures/speech/generate.py --out16 DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
[ -n "${SET16:-}" ] && args+=(--set16 "$SET16")
[ -n "${MODEL:-}" ] && args+=(--model "$MODEL")
[ -n "${PROMPT:-}" ] && args+=(--prompt "$PROMPT")
[ -n "${QUICK:-}" ] && args+=(--quick)
args+=(--models "${MODELS:-base,base-q8_0,base-q5_1}")
[ -n "${BEAM:-}" ] && args+=(--beam "$BEAM")
[ -n "${NO_HOT_WORDS:-}" ] && args+=(--no-hot-words)
[ -n "${HELDOUT_ONLY:-}" ] && args+=(--heldout-only)
args+=(--rtp-secs "${RTP_SECS:-10}" --nice "${NICE:-10}")
exec cargo bench --bench speech_bench -- "${args[@]}"
