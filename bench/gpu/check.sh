#!/usr/bin/env bash
# The GPU session's checks, in one call of a lent GPU host (see bench/gpu/prepare.py for the kit it carries).
# Every step is bounded so the whole ends within LIMIT seconds (default 480) and returns what it measured;
# the most needed first: the CUDA paths end to end, the pieces of an epoch, then the throughput table.
#   device: bash bench/gpu/check.sh            (carry .gpu; output in $OUT)
#   here, on the CPU, a dry run:  OUT=/tmp/o DEV=cpu W=8 NTRAIN=40 NVAL=10 PY=.venv/bin/python bash bench/gpu/check.sh
set -u
T0=$(date +%s)
DEV=${DEV:-cuda}; W=${W:-64}; NTRAIN=${NTRAIN:-1024}; NVAL=${NVAL:-128}; LIMIT=${LIMIT:-480}; PY=${PY:-python3}
NETWORKS=${NETWORKS:-unet,fcn8s,resunet,attunet,unetpp,unet3p,denseunet,transunet,deeplabv3plus,linknet,pspnet,fpn}
KIT=.gpu; LOG=$OUT/log.txt
step() { echo "=== $1 (t=$(( $(date +%s) - T0 )) s)" | tee -a "$LOG"; }
left() { echo $(( LIMIT - $(date +%s) + T0 )); }
if [ -d $KIT/wheels ] && [ "$DEV" = cuda ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $KIT/wheels/*.whl \
    >>"$LOG" 2>&1 || echo "pip install of the wheels failed" >>"$LOG"
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONPATH=${PYTHONPATH:-$PWD} PYTHONUNBUFFERED=1

step probe
nvidia-smi -L >>"$LOG" 2>&1
$PY -c "
import torch, onnxruntime, rasterio
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-')
print('onnxruntime', onnxruntime.__version__, onnxruntime.get_available_providers(), 'rasterio', rasterio.__version__, rasterio.__gdal_version__)
" >>"$LOG" 2>&1

step "a DSM with trees, ground surface, then extended with --resume"
timeout 120 $PY -m lmhld_qgis train --data $KIT/data/dsm64 --device "$DEV" --width 16 --epochs 4 \
  --relative-surface ground --out /tmp/r_dsm >"$OUT/dsm.txt" 2>&1; echo "rc=$?" >>"$LOG"
timeout 90 $PY -m lmhld_qgis train --out /tmp/r_dsm --resume --epochs 7 >>"$OUT/dsm.txt" 2>&1; echo "resume rc=$?" >>"$LOG"
tail -2 /tmp/r_dsm/metrics.csv >>"$LOG" 2>&1
timeout 60 $PY bench/gpu/compare.py /tmp/r_dsm $KIT/data/dsm64 "$DEV" >>"$LOG" 2>&1

step "SIGTERM mid-run, then resume"
$PY -m lmhld_qgis train --data $KIT/data/dsm64 --device "$DEV" --width 32 --epochs 400 --early-stopping 0 \
  --out /tmp/r_stop >"$OUT/stop.txt" 2>&1 &
P=$!; sleep 20; kill -TERM $P; wait $P; echo "stopped rc=$?" >>"$LOG"; tail -1 "$OUT/stop.txt" >>"$LOG"
$PY -m lmhld_qgis train --out /tmp/r_stop --resume --epochs 400 >>"$OUT/stop.txt" 2>&1 &
P=$!; sleep 12; kill -TERM $P; wait $P; echo "resumed rc=$?" >>"$LOG"; grep "^resuming at\|training stopped at" "$OUT/stop.txt" >>"$LOG"
tail -1 /tmp/r_stop/metrics.csv >>"$LOG"

step "part mode (64 px, then 32 px)"
timeout 120 $PY -m lmhld_qgis train --mode part --data $KIT/data/dsm64 --data $KIT/data/dsm32 --device "$DEV" --width 16 \
  --epochs 2 --out /tmp/r_part >"$OUT/part.txt" 2>&1; echo "rc=$?" >>"$LOG"; tail -2 "$OUT/part.txt" >>"$LOG"

step "an epoch's pieces"
$PY bench/gpu/replicate.py $KIT/data/bench /tmp/bds "$NTRAIN" "$NVAL" >>"$LOG" 2>&1
timeout 90 $PY bench/gpu/parts.py /tmp/bds "$DEV" "$W" 2>&1 | grep -v Warning >>"$LOG"

step "throughput, width $W"
[ "$(left)" -gt 40 ] && timeout "$(left)" $PY bench/bench_train.py --device "$DEV" --dataset /tmp/bds --width "$W" \
  --networks "$NETWORKS" 2>&1 | tee "$OUT/bench_train.txt" | grep "^|" >>"$LOG"
step end
