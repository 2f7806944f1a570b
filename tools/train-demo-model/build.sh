#!/bin/sh
# Turns a finished training run into models/demo: the HF folder (f16 safetensors), the q8_0
# GGUF made by radixlm's own converter, the held-out text, the perplexity our engine measures
# on it (both formats), and the loss curve. Run from anywhere after `npm ci`:
#   tools/train-demo-model/build.sh /tmp/demo-train
set -eu
TRAIN=${1:?usage: build.sh TRAIN_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$ROOT/models/demo"
CLI="node $ROOT/bin/radixlm.js"
mkdir -p "$OUT"
rm -rf "$OUT/hf"
/usr/bin/python3 "$HERE/export.py" --train "$TRAIN" --out "$OUT/hf"
$CLI convert --model "$OUT/hf" --out "$OUT/radixlm-demo-q8_0.gguf" --dtype q8_0 --name radixlm-demo
cp "$TRAIN/heldout.txt" "$OUT/heldout.txt"
HF=$($CLI perplexity --model "$OUT/hf" --file "$OUT/heldout.txt" --window 256 --json)
GG=$($CLI perplexity --model "$OUT/radixlm-demo-q8_0.gguf" --file "$OUT/heldout.txt" --window 256 --json)
# PyTorch's own measure of the same windows, at the end of training (f32 weights).
PT=$(/usr/bin/python3 -c "import csv, math, sys; r = [x for x in csv.DictReader(open(sys.argv[1])) if x['heldout_loss']][-1]; print(math.exp(float(r['heldout_loss'])))" "$TRAIN/loss.csv")
cat > "$OUT/perplexity.json" <<JSON
{
  "file": "heldout.txt",
  "window": 256,
  "hf_f16": $HF,
  "gguf_q8_0": $GG,
  "pytorch_f32": { "perplexity": $PT }
}
JSON
/usr/bin/python3 "$HERE/plot_loss.py" "$TRAIN/loss.csv" "$HERE/loss.svg"
cp "$TRAIN/loss.csv" "$HERE/loss.csv"
cat "$OUT/perplexity.json"
