"""experiments.check_results: every number of RESULTS.md and README.md is in the files its passage
cites (planted stale numbers are caught), and the tables regenerate from the committed metrics."""

import os

import pytest

from experiments import check_results
from tests.helpers import ROOT


def _read(name):
  with open(os.path.join(ROOT, name)) as f:
    return f.read()


def test_every_number_of_results_md_and_readme_is_in_its_passages_sources_and_every_folder_has_one():
  assert check_results.unsourced(_read('RESULTS.md'), ROOT) == []
  assert check_results.unsourced(_read('README.md'), ROOT, require_sources=True) == []
  assert check_results.provenance_problems(_read('RESULTS.md'), os.path.join(ROOT, 'results'),
                                           _read(os.path.join('scripts', 'results.sh')), ROOT) == []


@pytest.mark.parametrize('document, stale, planted', [
    ('RESULTS.md', '24.5 +- 1.9 (A)', '26.5 +- 1.9 (A)'),  # the best chain's FID
    ('README.md', '| 11.2 +- 1.0 (3 seeds', '| 12.2 +- 1.0 (3 seeds'),  # the headline's
    ('RESULTS.md', '+17.7 +- 1.5 (A)', '-17.7 +- 1.5 (A)'),  # a sign flipped
])
def test_a_planted_stale_number_is_caught(document, stale, planted):
  text = _read(document)
  assert text.count(stale) >= 1
  found = check_results.unsourced(text.replace(stale, planted), ROOT,
                                  require_sources=document == 'README.md')
  assert [f for f in found if f.startswith(planted.split()[0].lstrip('| '))], found


def test_a_number_is_checked_against_its_own_passages_sources_only(tmp_path):
  (tmp_path / 'results' / 'a').mkdir(parents=True)
  (tmp_path / 'results' / 'a' / 'metrics.json').write_text('{"fid": 29.61039, "gap": -17.7}')
  (tmp_path / 'results' / 'b.md').write_text('| x | 41.26 | +3.0 |')
  text = ('# A\n\nFID 29.6 and 29.61, gap -17.7 ([run](results/a/)).\n\n'
          'Stale: 41.3 here, and -17.7 again.\n\n'  # no sources: the section's (results/a/)
          '## C\n\n<!-- numbers: results/b.md -->\n\n| 41.3 | 3.0 | +3.0 | -3.0 | 29.6 |\n\n'
          '## B\n\nFID 1.2 with T=0.5 and a blur sigma 0.5 px, 2.776 SE.\n')
  found = check_results.unsourced(text, str(tmp_path))
  # 41.3 is in b.md but not in section A's sources; -3.0 has the wrong sign; 29.6 is not in
  # b.md (the table's sources); section B cites nothing, and T and sigma are settings.
  assert [f.split(' ')[0] for f in found] == ['41.3', '-3.0', '29.6', '1.2']
  # README's rule: only passages that cite sources themselves (the stale 41.3 goes unchecked).
  assert check_results.unsourced(text, str(tmp_path), require_sources=True) == found[1:3]


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


def test_the_factorial_budget_table1_and_mechanism_tables_are_what_the_commands_write(monkeypatch):
  """results.sh's factorial, budget and table1 stages: the factorial's table.md over every seed
  and the tables of earlier rounds (seeds 0-2, 0-3) that RESULTS.md quotes, the budget
  direction's tables, Table 1, the two mechanism tables and the Glow-layer criterion over seeds
  regenerate byte for byte from the
  runs' metrics (the functions behind experiments.report and experiments.glow_mechanism, in
  this process)."""
  from experiments import factorial as factorial_study, glow_criterion, mechanism as mechanism_study, table1
  from vaeglow_jax.io import files as files_lib
  monkeypatch.chdir(ROOT)  # the tables name their folders as results.sh gives them
  results = os.path.join('results', 'fashion_mnist')
  factorial, budget, budget16, t1 = (os.path.join(results, name)
                                     for name in ('factorial', 'budget', 'budget16', 'table1'))
  runs = [os.path.join(factorial, f'{v}_{p}', f'seed{s}') for v in ('gamma', 'diagonal')
          for p in ('standard', 'flow') for s in range(5)]
  runs_8x = [os.path.join(budget, cell, f'seed{s}') for cell in ('gamma_standard', 'diagonal_flow')
             for s in range(3)]

  def mechanism(folders):
    return mechanism_study.markdown([mechanism_study.row_from_metrics(
        f, files_lib.read_json(os.path.join(f, 'metrics.json'))) for f in folders])

  tables = {os.path.join(factorial, 'table.md'): lambda: factorial_study.report(factorial),
            os.path.join(factorial, 'table_seeds0-2.md'): lambda: factorial_study.report(factorial, {0, 1, 2}),
            os.path.join(factorial, 'table_seeds0-3.md'): lambda: factorial_study.report(factorial, {0, 1, 2, 3}),
            os.path.join(budget, 'table.md'): lambda: factorial_study.budget_report(factorial, budget, 0),
            os.path.join(budget, 'seeds.md'): lambda: factorial_study.report(budget),
            os.path.join(budget16, 'table.md'): lambda: factorial_study.budget_report(factorial, budget16, 0),
            os.path.join(budget16, 'from_8x.md'): lambda: factorial_study.budget_report(budget, budget16, 0),
            os.path.join(t1, 'table.md'): lambda: table1.markdown(table1.load(t1)),
            os.path.join(factorial, 'mechanism.md'): lambda: mechanism(runs),
            os.path.join(budget, 'mechanism.md'): lambda: mechanism(runs_8x)}
  for seeds in ('glow_layer_seeds', 'glow_layer_seeds_today'):
    folder = os.path.join(results, seeds)
    tables[os.path.join(folder, 'criterion.md')] = (
        lambda folder=folder: glow_criterion.markdown(glow_criterion.load(folder)))
  for table, make in tables.items():
    with open(table) as f:
      assert make() == f.read(), table
