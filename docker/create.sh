#!/bin/sh
# The compose file's one-shot `create` step: create the study (idempotent), then build the feature
# cache once (shared volume). Settings come from the environment that compose passes in. They
# describe a NEW study: its search budget, then K paired replicate seeds per arm (both phases are
# served by the same workers). An existing study keeps its own (the line `create` prints shows
# them); data, profile, objective and epochs that contradict it are refused.
set -eu

data=${STUDY_DATA:-synthetic}
profile=${STUDY_PROFILE:-quick}
case "$data" in
    synthetic*)
        if [ -d /data/fma/fma_metadata ]; then
            echo "warning: FMA_DIR is mounted but STUDY_DATA=$data; set STUDY_DATA=fma:/data/fma" \
                "in .env to use FMA" >&2
        fi ;;
    *:/data/fma*)
        if [ -z "$(ls -A /data/fma 2>/dev/null)" ]; then
            echo "error: STUDY_DATA=$data but /data/fma is empty: set FMA_DIR in .env to the host" \
                "folder that holds the data (for FMA: fma_small/ and fma_metadata/)" >&2
            exit 1
        fi ;;
esac

# The study first: it takes seconds and refuses settings that contradict an existing study, before
# hours of feature extraction for the wrong data or profile.
set -- --data "$data" --profile "$profile" --n-trials "${STUDY_N_TRIALS:-100}" \
    --objective "${STUDY_OBJECTIVE:-lstm}"
# Empty: the service's default pruner (one owner: study/defaults.py), the profile's epoch cap and
# replicate seeds per arm in round 1 (quick 3, paper 5).
if [ -n "${STUDY_PRUNER:-}" ]; then
    set -- "$@" --pruner "$STUDY_PRUNER"
fi
if [ -n "${STUDY_MAX_EPOCHS:-}" ]; then
    set -- "$@" --max-epochs "$STUDY_MAX_EPOCHS"
fi
if [ -n "${STUDY_REPLICATE_SEEDS:-}" ]; then
    set -- "$@" --replicate-seeds "$STUDY_REPLICATE_SEEDS"
fi
# Any other `python -m study create` flags, split on spaces (e.g. "--max-seeds 10 --target-ci 3").
# shellcheck disable=SC2086
python -m study create "$@" ${STUDY_CREATE_ARGS:-}

exec python -m objectives.prepare --data "$data" --profile "$profile" \
    --cache-dir "${STUDY_CACHE_DIR:-/cache}" --no-progress
