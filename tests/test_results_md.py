"""experiments.check_results: RESULTS.md's numbers are those of the files under results/."""

import os

from experiments import check_results
from tests.helpers import ROOT


def _numbers():
  return check_results.numbers_in_results(os.path.join(ROOT, 'results'),
                                          (os.path.join(ROOT, 'BENCHMARKS.md'),))


def test_every_number_of_results_md_is_in_the_results_it_cites():
  with open(os.path.join(ROOT, 'RESULTS.md')) as f:
    assert check_results.missing(f.read(), _numbers()) == []


def test_a_stale_number_is_found_and_rounding_is_to_the_digits_written():
  numbers = {29.610392648567654, 0.2629004854492223, 17.7}
  text = 'FID 29.61 (29.6, 30), floor 0.26 and 0.263; gap +17.7; 13.8 derived; stale 29.71, 0.27'
  assert check_results.missing(text, numbers) == ['0.27', '29.71']


def test_the_factorial_tables_are_what_the_report_writes_from_the_committed_metrics(tmp_path):
  """results.sh's factorial stage: table.md over every seed, and the tables of earlier rounds
  (seeds 0-2, 0-3) that RESULTS.md quotes, regenerate byte for byte from the runs' metrics."""
  import subprocess
  import sys
  folder = os.path.join(ROOT, 'results', 'fashion_mnist', 'factorial')
  for name, seeds in (('table.md', ()), ('table_seeds0-2.md', ('--seeds=0,1,2',)),
                      ('table_seeds0-3.md', ('--seeds=0,1,2,3',))):
    out = tmp_path / name
    result = subprocess.run([sys.executable, '-m', 'experiments.report', f'--factorial={folder}',
                             *seeds, f'--out={out}'], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    with open(os.path.join(folder, name)) as f:
      assert out.read_text() == f.read(), name
