# The ser-edge commands of the Pi check, run alike on the host and on the emulated Pi (POSIX sh: dash there).
# Run it in an empty folder beside ../models/ and ../clips/, so that both sides print the same paths;
# it writes one folder of outputs per model. LISTEN=1 also replays each clip through `ser-edge listen`.
set -eu
for model in ../models/*.tflite; do
  out=$(basename "$model" .tflite)
  mkdir "$out"
  # score's summary (stderr) is only wanted when it fails
  ser-edge score ../clips/* -o "$out/score.csv" --model "$model" -j 1 2>"$out/score.log" || { cat "$out/score.log" >&2; exit 1; }
  ser-edge predict --json --model "$model" ../clips/* >"$out/predict.jsonl"
  if [ "$LISTEN" = 1 ]; then
    for clip in ../clips/*; do
      ser-edge listen --input "$clip" --fast --json --model "$model" >"$out/listen-$(basename "$clip").jsonl"
    done
  fi
done
