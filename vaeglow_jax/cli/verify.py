r"""Checks every checkpoint of a work directory (local or gs://) against the fingerprints saved
with it, and prints one line each: ok, damaged (and why), or no checksums (saved before they
existed).

  vaeglow-verify --workdir=DIR

(In a clone: python -m experiments.verify with the same flags.)

Exit codes: 0 every checkpoint ok or without checksums; 1 one or more damaged; 2 bad input.
"""

from absl import flags

from vaeglow_jax.cli import common as cli

_FLAGS = {}  # name -> absl FlagHolder, filled by _define_flags


def _define_flags() -> None:
  """The command's flags, defined when it runs (so that importing it defines none: the
  commands share flag names)."""
  _FLAGS['workdir'] = flags.DEFINE_string('workdir', None, 'The work directory to check.')
  flags.mark_flags_as_required(['workdir'])


def main(argv):
  del argv
  from vaeglow_jax.io import checkpoints
  from vaeglow_jax.io import files as files_lib
  workdir = cli.expand_home(flags.FLAGS.workdir)
  if not files_lib.is_dir(workdir):
    cli.fail(f'--workdir={workdir} is not a folder; give a work directory of vaeglow-train.')
  folders = checkpoints.checkpoint_dirs(workdir)
  if not folders:
    cli.fail(f'{workdir} holds no checkpoints folder (<phase>/checkpoints); give the work '
             'directory a training wrote.')
  damaged = 0
  for folder in folders:
    for step, status, detail in checkpoints.verify_directory(folder):
      damaged += status == 'damaged'
      print(f'{files_lib.join(folder, str(step))}: {status}' + (f' ({detail})' if detail else ''),
            flush=True)
  if damaged:
    print(f'{damaged} damaged checkpoint(s): restore them from a copy; a training rerun moves '
          'them aside and resumes from the newest one that verifies.', flush=True)
    raise SystemExit(1)


def run():
  _define_flags()
  cli.run(main)


if __name__ == '__main__':
  run()
