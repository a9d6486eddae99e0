#!/usr/bin/env bash
# Resumable end-to-end training of the default (small) BrainGen3D bundle on CPU:
#   cohort -> autoencoder (+ held-out check, latent encoding, scale_factor) -> quality gate
#   -> diffusion U-Net -> anatomical-prior refinement (configs with a prior) -> inpainting U-Net fine-tune
#   -> structure regressor -> bundle export to a staging folder.
#
# Every stage skips itself when its output is complete and resumes from its last checkpoint
# otherwise, so the script can be re-run after a stop, a crash or a reboot. If another process
# is already training a stage (e.g. started by hand), the script waits for it to finish.
#
#   nohup training/run_default_training.sh > runs/default/pipeline.out 2>&1 &
#
# Stop it with SIGTERM to the trainer (kill <pid in runs/default/*.pid>): the trainer saves a
# checkpoint and exits, and the script stops without starting the next stage.
#
# Environment overrides: PYTHON, CONFIG (small), COHORT (cache/cohort), RUN (runs/default),
# STAGING ($RUN/bundle), THREADS (2; also the cohort's worker processes), BUNDLE_VERSION (0.5.0),
# WEIGHTS_DTYPE (float16), SKIP_QUALITY_GATE (0), PRIOR_REFINE_STEPS (400; 0 skips the refinement),
# MIN_SSIM (0.95), MIN_PSNR (30), AE_MAX_STEPS, DIFFUSION_MAX_STEPS and INPAINT_MAX_STEPS (default:
# the config's; raising one later continues that stage from its checkpoint to the new step count),
# DECODER_CONFIG (none; a block-PCA config whose decoder is trained after the U-Net on the same fixed
# encoder, in $RUN/decoder, and shipped instead of the first one).
#
# PYTHON defaults to ./.venv/bin/python (made by scripts/setup_env.sh --test) when it exists.
#
# Budget on 2 CPU cores, CONFIG=small (cohort reused): autoencoder 500 steps 10.2 min with its check and
# encoding, diffusion 3000 steps 57.1 min, prior refinement 400 steps 8.5 min, inpainting 2000 steps 49.3 min,
# structure regressor 2500 steps 17.6 min: 2.40 h to the exported bundle (+ 2.3 min for the cohort with 2
# workers). CONFIG=small_kl takes about 3.1 h.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
fi
CONFIG="${CONFIG:-small}"
COHORT="${COHORT:-cache/cohort}"
RUN="${RUN:-runs/default}"
STAGING="${STAGING:-$RUN/bundle}"
THREADS="${THREADS:-2}"
BUNDLE_VERSION="${BUNDLE_VERSION:-0.5.0}"
WEIGHTS_DTYPE="${WEIGHTS_DTYPE:-float16}"
MIN_SSIM="${MIN_SSIM:-0.95}"
MIN_PSNR="${MIN_PSNR:-30}"
mkdir -p "$RUN"
AE_SET=()
[[ -n "${AE_MAX_STEPS:-}" ]] && AE_SET=(--set "autoencoder.max_steps=$AE_MAX_STEPS")
DIFFUSION_SET=()
[[ -n "${DIFFUSION_MAX_STEPS:-}" ]] && DIFFUSION_SET=(--set "diffusion.max_steps=$DIFFUSION_MAX_STEPS")
PRIOR_REFINE_STEPS="${PRIOR_REFINE_STEPS:-400}"
INPAINT_SET=()
[[ -n "${INPAINT_MAX_STEPS:-}" ]] && INPAINT_SET=(--set "inpainting.max_steps=$INPAINT_MAX_STEPS")

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $*" | tee -a "$RUN/pipeline.log"; }

if ! "$PYTHON" -c "import torch, monai, training.trainers" 2>/dev/null; then
    log "$PYTHON cannot import torch, monai and training.trainers. Set PYTHON to the environment made by" \
        "'bash scripts/setup_env.sh --test' (e.g. PYTHON=.venv/bin/python)."
    exit 2
fi

# Wait while another process holds a stage's run-folder lock (the trainers flock <run>/.lock).
wait_for_stage() {
    local lock="$1/.lock"
    if [[ -f "$lock" ]] && ! flock -n "$lock" true; then
        log "$(basename "$1"): another process (pid $(cat "$lock")) is training it; waiting for it to finish"
        flock "$lock" true
    fi
}

# A stage is complete when its final record exists (and reached the requested step count, if any).
stage_complete() {
    [[ -f "$1" ]] || return 1
    [[ -z "$2" ]] && return 0
    "$PYTHON" -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))["steps"] >= int(sys.argv[2]) else 1)' "$1" "$2"
}

# Run a trainer in the background so this script can record its pid and forward SIGTERM/SIGINT.
run_stage() {
    local name="$1"; shift
    "$PYTHON" "$@" >> "$RUN/$name.log" 2>&1 &
    local pid=$!
    echo "$pid" > "$RUN/$name.pid"
    trap 'kill -TERM '"$pid"' 2>/dev/null || true' TERM INT
    local status=0
    wait "$pid" || status=$?
    # wait returns early when a trapped signal arrives; wait again for the trainer's checkpoint.
    while kill -0 "$pid" 2>/dev/null; do wait "$pid" || status=$?; done
    trap - TERM INT
    rm -f "$RUN/$name.pid"
    if [[ $status -ne 0 ]]; then
        log "$name: stopped with status $status (see $RUN/$name.log); re-run this script to resume"
        exit "$status"
    fi
}

# 1. Cohort (its manifest.csv is written last and marks it complete).
if [[ -f "$COHORT/manifest.csv" ]]; then
    log "cohort: complete ($COHORT/manifest.csv)"
else
    log "cohort: generating in $COHORT"
    run_stage cohort -m training.cohort.generate --out "$COHORT" --workers "$THREADS" --no-progress
fi

# 2. Autoencoder; when it reaches max_steps it evaluates, encodes the cohort and writes final/autoencoder.json.
wait_for_stage "$RUN/autoencoder"
if stage_complete "$RUN/autoencoder/final/autoencoder.json" "${AE_MAX_STEPS:-}"; then
    log "autoencoder: complete"
else
    log "autoencoder: training (resuming if a checkpoint exists)"
    run_stage autoencoder -m training.train_autoencoder --config "$CONFIG" ${AE_SET[@]+"${AE_SET[@]}"} \
        --manifest "$COHORT/manifest.csv" --out "$RUN/autoencoder" --resume --threads "$THREADS"
fi

# 3. Quality gate: the autoencoder must reconstruct held-out subjects well before diffusion training.
if [[ "${SKIP_QUALITY_GATE:-0}" != "1" ]]; then
    if ! "$PYTHON" - "$RUN/autoencoder/final/autoencoder.json" "$MIN_SSIM" "$MIN_PSNR" <<'EOF'
import json, sys
held = json.load(open(sys.argv[1]))["held_out"]
ok = held["ssim"] >= float(sys.argv[2]) and held["psnr"] >= float(sys.argv[3])
print(f"held-out SSIM {held['ssim']:.4f} (min {held['ssim_min']:.4f}), PSNR {held['psnr']:.2f} dB: {'pass' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
EOF
    then
        log "autoencoder: below the quality targets (SSIM >= $MIN_SSIM, PSNR >= $MIN_PSNR dB). Train longer by" \
            "re-running with AE_MAX_STEPS=<more steps>, or set SKIP_QUALITY_GATE=1."
        exit 1
    fi
    log "autoencoder: passes the quality gate"
else
    log "autoencoder: quality gate skipped (SKIP_QUALITY_GATE=1)"
fi

# 4. Diffusion U-Net, then the bundle export. A diffusion run made on an older autoencoder is moved
#    aside (never deleted): its latents no longer match.
wait_for_stage "$RUN/diffusion"
# The check exits 0 (same autoencoder), 3 (changed) or anything else (it could not tell: stop, never move).
ae_check=0
if [[ -f "$RUN/diffusion/checkpoints/checkpoint_last.pt" ]]; then
    "$PYTHON" - "$RUN/diffusion" "$RUN/autoencoder" <<'EOF' || ae_check=$?
import json, sys, torch
meta = json.loads(torch.load(sys.argv[1] + "/checkpoints/checkpoint_last.pt", weights_only=True)["meta"])
current = json.load(open(sys.argv[2] + "/latents/index.json"))["autoencoder_sha256"]
sys.exit(0 if meta.get("autoencoder_sha256") == current else 3)
EOF
fi
if [[ $ae_check -ne 0 && $ae_check -ne 3 ]]; then
    log "diffusion: could not compare the run's autoencoder with $RUN/autoencoder (status $ae_check); nothing moved"
    exit 1
fi
if [[ $ae_check -eq 3 ]]; then
    stale="$RUN/diffusion.stale-$(date -u +%Y%m%dT%H%M%SZ)"
    log "diffusion: the autoencoder changed since this run started; moving it to $stale and starting afresh"
    mv "$RUN/diffusion" "$stale"
    if [[ -d "$RUN/diffusion_prior" ]]; then mv "$RUN/diffusion_prior" "$stale-prior"; fi
fi
if stage_complete "$RUN/diffusion/final/diffusion.json" "${DIFFUSION_MAX_STEPS:-}"; then
    log "diffusion: complete"
else
    log "diffusion: training (resuming if a checkpoint exists)"
    run_stage diffusion -m training.train_diffusion --config "$CONFIG" ${DIFFUSION_SET[@]+"${DIFFUSION_SET[@]}"} \
        --autoencoder "$RUN/autoencoder" --out "$RUN/diffusion" --resume --threads "$THREADS"
fi

# 4b. Anatomical-prior refinement (configs whose U-Net takes an anatomical prior): a short fine-tune of the
#     finished diffusion run with a fresh warm-up, its prior trained from the first step. The prior's
#     projection starts at zero and, trained only late in the main run at a decayed learning rate, does not
#     learn the age trend there (Spearman 0.45 before, 0.59 after these 400 steps). Later stages use it.
DIFFUSION_FINAL="$RUN/diffusion"
has_prior=0
"$PYTHON" - "$CONFIG" <<'EOF' || has_prior=$?
import sys
from training.trainers.configs import load_config
sys.exit(0 if load_config(sys.argv[1]).bundle_config().unet.get("anatomical_prior") else 4)
EOF
if [[ $has_prior -ne 0 && $has_prior -ne 4 ]]; then
    log "diffusion_prior: could not read config $CONFIG (status $has_prior)"
    exit 1
fi
if [[ $has_prior -eq 0 && "$PRIOR_REFINE_STEPS" -gt 0 ]]; then
    DIFFUSION_FINAL="$RUN/diffusion_prior"
    wait_for_stage "$DIFFUSION_FINAL"
    if stage_complete "$DIFFUSION_FINAL/final/diffusion.json" "$PRIOR_REFINE_STEPS"; then
        log "diffusion_prior: complete"
    else
        log "diffusion_prior: refining the anatomical prior for $PRIOR_REFINE_STEPS steps (resuming if a checkpoint exists)"
        run_stage diffusion_prior -m training.train_diffusion --config "$CONFIG" --autoencoder "$RUN/autoencoder" \
            --init-from "$RUN/diffusion" --out "$DIFFUSION_FINAL" --resume --threads "$THREADS" \
            --set "diffusion.max_steps=$PRIOR_REFINE_STEPS" --set diffusion.warmup_steps=50 --set diffusion.lr=1e-4 \
            --set diffusion.anatomical_prior_start_step=0
    fi
fi

# 5. Inpainting U-Net fine-tune from the (refined) diffusion U-Net.
#    An inpainting run started from an older diffusion run refuses to resume (see its log); move it aside.
wait_for_stage "$RUN/inpainting"
if stage_complete "$RUN/inpainting/final/inpainting.json" "${INPAINT_MAX_STEPS:-}"; then
    log "inpainting: complete"
else
    log "inpainting: training (resuming if a checkpoint exists)"
    run_stage inpainting -m training.train_inpainting --config "$CONFIG" ${INPAINT_SET[@]+"${INPAINT_SET[@]}"} \
        --autoencoder "$RUN/autoencoder" --diffusion "$DIFFUSION_FINAL" --out "$RUN/inpainting" --resume \
        --threads "$THREADS"
fi

# 5b. Optional decoder stage (DECODER_CONFIG): a block-PCA decoder trained longer or wider on the same fixed
#     encoder, so the U-Net's latents stay valid; the export checks that the encoders are equal.
DECODER_ARGS=()
DECODER_RECORD=""
if [[ -n "${DECODER_CONFIG:-}" ]]; then
    DECODER_RECORD="$RUN/decoder/final/autoencoder.json"
    DECODER_ARGS=(--decoder "$RUN/decoder")
    wait_for_stage "$RUN/decoder"
    if stage_complete "$DECODER_RECORD" ""; then
        log "decoder: complete"
    else
        log "decoder: training $DECODER_CONFIG (resuming if a checkpoint exists)"
        run_stage decoder -m training.train_autoencoder --config "$DECODER_CONFIG" \
            --manifest "$COHORT/manifest.csv" --out "$RUN/decoder" --resume --threads "$THREADS"
    fi
fi

# 6. Structure regressor (structure guidance), then the bundle export with both U-Nets and the regressor.
wait_for_stage "$RUN/structure_regressor"
EXPORT_ARGS=(--config "$CONFIG" --autoencoder "$RUN/autoencoder" --diffusion "$DIFFUSION_FINAL" --inpainting "$RUN/inpainting"
    --out "$RUN/structure_regressor" --threads "$THREADS" --export-bundle "$STAGING" --overwrite-bundle
    --bundle-version "$BUNDLE_VERSION" --weights-dtype "$WEIGHTS_DTYPE" ${DECODER_ARGS[@]+"${DECODER_ARGS[@]}"})
# The staged bundle is current when it is newer than every stage it holds (an extended stage re-exports).
bundle_current() {
    local weights="$STAGING/structure_regressor.safetensors" record
    [[ -f "$weights" ]] || return 1
    for record in "$RUN/autoencoder/final/autoencoder.json" "$DIFFUSION_FINAL/final/diffusion.json" \
            "$RUN/inpainting/final/inpainting.json" "$RUN/structure_regressor/final/structure_regressor.json" \
            $DECODER_RECORD; do
        [[ "$weights" -nt "$record" ]] || return 1
    done
}
if bundle_current; then
    log "bundle: complete ($STAGING)"
elif stage_complete "$RUN/structure_regressor/final/structure_regressor.json" ""; then
    log "structure regressor: complete; exporting to $STAGING (no bundle there yet, or an older one)"
    run_stage export -m training.train_structure_regressor "${EXPORT_ARGS[@]}" --export-only
    log "bundle: exported to $STAGING"
else
    log "structure regressor: training (resuming if a checkpoint exists), then exporting to $STAGING"
    run_stage structure_regressor -m training.train_structure_regressor "${EXPORT_ARGS[@]}" --resume
    log "bundle: exported to $STAGING"
fi
log "done"
