#!/bin/sh
# Fails when a module of the core crate imports from a higher layer (ARCHITECTURE.md).
#
# Layers, lowest first; a module may use its own layer and lower ones:
#   base < wire < {store, crypto, direct, auth} < document < replica < net < node
# A file's layer is the first component of its path under core/src (`replica/ingest.rs`
# is in `replica`). lib.rs and internals.rs sit above every layer. Every `crate::<module>`
# path outside comments is checked, in `use` lines and in code; the offending lines are
# printed as file:line: text.
#
# Usage: scripts/check-layers.sh [core/src]
set -eu
src="${1:-$(dirname "$0")/../core/src}"

find "$src" -name '*.rs' | sort | awk -v src="$src" '
BEGIN {
  rank["base"] = 0; rank["wire"] = 1
  rank["store"] = 2; rank["crypto"] = 2; rank["direct"] = 2; rank["auth"] = 2
  rank["document"] = 3; rank["replica"] = 4; rank["net"] = 5; rank["node"] = 6
  bad = 0
}
{
  file = $0
  rel = substr(file, length(src) + 2)
  layer = rel; sub(/\/.*/, "", layer); sub(/\.rs$/, "", layer)
  if (layer == "lib" || layer == "internals") next
  if (!(layer in rank)) {
    printf "%s: file outside every layer (add it to scripts/check-layers.sh)\n", rel
    bad = 1; next
  }
  n = 0
  while ((getline line < file) > 0) {
    n++
    code = line; sub(/^[ \t]+/, "", code)
    if (code ~ /^\/\//) continue
    rest = line
    while (match(rest, /crate::[a-z_]+/)) {
      target = substr(rest, RSTART + 7, RLENGTH - 7)
      rest = substr(rest, RSTART + RLENGTH)
      if (!(target in rank)) {
        if (target == "internals") { printf "%s:%d: %s\n", rel, n, line; bad = 1 }
        continue
      }
      if (rank[target] > rank[layer]) {
        printf "%s:%d: %s imports %s (a higher layer): %s\n", rel, n, layer, target, line
        bad = 1
      }
    }
    if (line ~ /use crate::\{/) {
      printf "%s:%d: grouped `use crate::{...}`: import each layer on its own line: %s\n", rel, n, line
      bad = 1
    }
  }
  close(file)
}
END {
  fflush()
  if (bad) { print "check-layers: a lower layer imports a higher one (see ARCHITECTURE.md)" > "/dev/stderr"; exit 1 }
  print "check-layers: every module imports only its own layer or lower ones"
}'
