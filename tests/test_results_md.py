"""experiments.check_results: RESULTS.md's numbers are those of the files under results/."""

import os

from experiments import check_results
from tests.helpers import ROOT


def _numbers():
  return check_results.numbers_in_results(os.path.join(ROOT, 'results'),
                                          (os.path.join(ROOT, 'BENCHMARKS.md'),))


def test_every_number_of_results_md_is_in_the_results_it_cites_and_every_folder_has_its_source():
  with open(os.path.join(ROOT, 'RESULTS.md')) as f:
    text = f.read()
  assert check_results.missing(text, _numbers()) == []
  with open(os.path.join(ROOT, 'scripts', 'results.sh')) as f:
    script = f.read()
  assert check_results.provenance_problems(text, os.path.join(ROOT, 'results'), script, ROOT) == []


def test_a_cited_folder_without_a_source_and_a_wrong_row_are_found(tmp_path):
  for folder in ('fashion_mnist/budget', 'fashion_mnist/old_run'):
    (tmp_path / folder).mkdir(parents=True)
  script = 'if [[ $stage =~ ^(main|train)$ ]]; then :; fi\nif [[ $stage == budget ]]; then :; fi\n'
  text = ('See results/fashion_mnist/budget/table.md, [x](results/fashion_mnist/new_run/a.png), '
          'results/fashion_mnist/*/runs.tsv and results/fashion_mnist/<run>/metrics.json.\n\n'
          '## Where each result comes from\n\n| folder | commit | command |\n|---|---|---|\n'
          '| `fashion_mnist/budget/` | a2e2339 | `bash scripts/results.sh budget` |\n'
          '| `fashion_mnist/old_run/` | 0000000 | `bash scripts/results.sh train` |\n'
          '| `fashion_mnist/gone/` | a2e2339 | `bash scripts/results.sh ablate` |\n\n## Next\n')
  assert check_results.cited_folders(text) == {'results/fashion_mnist/budget/table.md',
                                               'results/fashion_mnist/new_run/a.png'}
  problems = check_results.provenance_problems(text, str(tmp_path), script, ROOT)
  assert 'results/fashion_mnist/new_run/a.png: in no row of the provenance table' in problems
  assert "fashion_mnist/gone: scripts/results.sh has no stage 'ablate'" in problems
  assert any(p.startswith('fashion_mnist/gone: a provenance row, but no such') for p in problems)
  if os.path.isdir(os.path.join(ROOT, '.git')):  # a clone: its history is there to ask
    assert 'fashion_mnist/old_run: commit 0000000 is not in this repository' in problems
  assert not [p for p in problems if p.startswith('fashion_mnist/budget')]
  assert check_results.provenance_problems('no table', str(tmp_path), script) == [
      'no table under "## Where each result comes from"']


def test_a_stale_number_is_found_and_rounding_is_to_the_digits_written():
  numbers = {29.610392648567654, 0.2629004854492223, 17.7}
  text = 'FID 29.61 (29.6, 30), floor 0.26 and 0.263; gap +17.7; 13.8 derived; stale 29.71, 0.27'
  assert check_results.missing(text, numbers) == ['0.27', '29.71']


def test_the_factorial_and_budget_tables_are_what_the_report_writes_from_the_committed_metrics(
    tmp_path):
  """results.sh's factorial and budget stages: the factorial's table.md over every seed and the
  tables of earlier rounds (seeds 0-2, 0-3) that RESULTS.md quotes, and the budget direction's
  tables, regenerate byte for byte from the runs' metrics (the report's commands as results.sh
  runs them)."""
  import subprocess
  import sys
  results = os.path.join('results', 'fashion_mnist')
  factorial, budget, budget16 = (os.path.join(results, name)
                                 for name in ('factorial', 'budget', 'budget16'))
  tables = [(os.path.join(factorial, 'table.md'), [f'--factorial={factorial}']),
            (os.path.join(factorial, 'table_seeds0-2.md'), [f'--factorial={factorial}', '--seeds=0,1,2']),
            (os.path.join(factorial, 'table_seeds0-3.md'), [f'--factorial={factorial}', '--seeds=0,1,2,3']),
            (os.path.join(budget, 'table.md'), [f'--factorial={factorial}', f'--budget={budget}']),
            (os.path.join(budget, 'seeds.md'), [f'--factorial={budget}']),
            (os.path.join(budget16, 'table.md'), [f'--factorial={factorial}', f'--budget={budget16}']),
            (os.path.join(budget16, 'from_8x.md'), [f'--factorial={budget}', f'--budget={budget16}']),
            (os.path.join(results, 'table1', 'table.md'),
             [f'--table1={os.path.join(results, "table1")}'])]
  for number, (table, flags) in enumerate(tables):
    out = tmp_path / f'{number}.md'
    result = subprocess.run([sys.executable, '-m', 'experiments.report', *flags, f'--out={out}'],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    with open(os.path.join(ROOT, table)) as f:
      assert out.read_text() == f.read(), table
