# The ser-edge commands of the Pi check, run alike on the host and on the emulated Pi (POSIX sh: dash there).
# Run it in an empty folder beside ../models/ and ../clips/, so that both sides print the same paths;
# it writes one folder of outputs per model.
set -eu

# Runs a command with its stderr (progress lines, summaries) kept in $out/stderr.log, shown if it fails.
quiet() { "$@" 2>>"$out/stderr.log" || { cat "$out/stderr.log" >&2; exit 1; }; }

for model in ../models/*.tflite; do
  out=$(basename "$model" .tflite)
  mkdir "$out"
  quiet ser-edge score ../clips/* -o "$out/score.csv" --model "$model" -j 1
  quiet ser-edge predict --json --model "$model" ../clips/* >"$out/predict.jsonl"
  for clip in ../clips/*; do
    quiet ser-edge listen --input "$clip" --fast --json --model "$model" >"$out/listen-$(basename "$clip").jsonl"
  done
done
