# Sourced by the results scripts: the one way a run's results leave its (ignored) work directory
# for results/ (committed; RESULTS.md links the files by these names).
#
# copy_run WORKDIR OUT LAYOUT "PHASE..." "NAME/FILE..."
#   WORKDIR/eval/metrics.json     -> OUT/metrics.json
#   WORKDIR/<PHASE>/config.json   -> OUT/config.json (one phase) or OUT/config_<PHASE>.json (several)
#   WORKDIR/eval/<NAME>/<FILE>    -> by LAYOUT: flat OUT/<FILE>; prefixed OUT/<NAME>_<FILE>;
#                                    folders OUT/<NAME>/<FILE>. FILE may be a glob (*.png), NAME
#                                    may be * (every evaluated chain); a figure an evaluation did
#                                    not write is skipped, a missing metrics or config file is an error.
copy_run() {
  local workdir=$1 out=$2 layout=$3 phases figures
  read -r -a phases <<< "$4"
  read -r -a figures <<< "$5"  # not ($5): the globs expand under WORKDIR/eval, not here
  case $layout in flat|prefixed|folders) ;; *) echo "copy_run: unknown layout '$layout'" >&2; return 2;; esac
  mkdir -p "$out"
  cp "$workdir/eval/metrics.json" "$out/metrics.json" || return 1
  local phase figure path name
  for phase in "${phases[@]}"; do
    if [ ${#phases[@]} -eq 1 ]; then cp "$workdir/$phase/config.json" "$out/config.json" || return 1
    else cp "$workdir/$phase/config.json" "$out/config_$phase.json" || return 1; fi
  done
  for figure in "${figures[@]}"; do
    for path in "$workdir"/eval/$figure; do
      [ -f "$path" ] || continue
      name=$(basename "$(dirname "$path")")
      case $layout in
        flat) cp "$path" "$out/";;
        prefixed) cp "$path" "$out/${name}_$(basename "$path")";;
        folders) mkdir -p "$out/$name"; cp "$path" "$out/$name/";;
      esac
    done
  done
}
