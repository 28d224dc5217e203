r"""Checks that every decimal number in RESULTS.md and README.md comes from the results files its
own passage cites, with its sign, and that every results folder RESULTS.md cites says where it
comes from.

  python -m experiments.check_results [--results_md=RESULTS.md] [--readme=README.md] \
      [--script=scripts/results.sh]

Numbers. Each document is cut into passages at blank lines and headings (a paragraph, a list or a
table). A passage's sources are the files it cites (links or paths under results/, BENCHMARKS.md,
and the files named in a `<!-- numbers: PATH ... -->` comment), a cited folder standing for the
.json/.md/.tsv files directly in it; a passage that cites none takes those of its section (the
passages under the same heading). A number written with d decimals passes when a number of its
sources (every JSON leaf; every number of the Markdown and TSV text) rounds to it at d decimals
with the same sign where the text writes one (+ or -), or when DERIVED lists it with how it
follows from numbers that are. Numbers without decimals (step counts, seeds) are not checked. In
README.md only the passages that cite sources themselves are checked (its timings, versions and
settings are not results); its results passages carry a `<!-- numbers: ... -->` comment.

Provenance: every path under results/ that RESULTS.md names must lie in a folder of its table
"Where each result comes from" (| folder | commit | command |, folders relative to results/), whose
commit is one of this repository's and whose `results.sh STAGE` commands name stages that
scripts/results.sh has; and each folder of the table must exist. Exit 1 with what is missing.
"""

import glob
import json
import os
import re
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal

# Numbers the documents compute from others in their sources (or keep from files that are gone),
# each with how it follows: {number: [(a phrase of the passages it may appear in, the reason)]}.
DERIVED = {
    '2.776': [('', "the verdict's cut: the 97.5% quantile of Student's t with 4 degrees of freedom")],
    '12.7': [('', "the verdict's cut with two seeds: Student's t, 1 degree of freedom")],
    '4.30': [('', "the verdict's cut with three seeds: Student's t, 2 degrees of freedom")],
    '8.66': [('learned gamma', 'round 1: the learned-gamma VAE that motivated the fix; not kept')],
    '8.0': [('uniform density', 'log2(256): 8 bits per 8-bit pixel')],
    '0.25': [('dequantisation-bin optimum', 'round 2: the cost of an always-0 pixel at the floor'),
             ('The budget curve', 'ablation.md: 4.955 (base) - 4.703 (steps8000) bits/dim (IW)')],
    '13.8': [('', 'glow_layer_seeds: 59.4 (decoder means) - 45.6 (x at T=0.5)')],
    '14.5': [('', 'glow_layer_seeds seed 0: 57.5 (decoder means) - 43.0 (x at T=0.5)')],
    '18.5': [('', 'glow_layer_ablation steps8000: 57.5 (decoder means) - 39.0 (x at T=0.5)')],
    '6.5': [('criterion by FID', 'ablation.md width32: 57.5 (decoder means) - 51.0 (x at T=0.5)')],
    '0.12': [('Mixing matters', 'ablation.md: 5.078 (mixing_none) - 4.955 (base) bits/dim (IW)')],
    '3.9': [('Mixing matters', 'ablation.md: 46.9 (mixing_none) - 43.0 (base), FID at T=0.5')],
    '5.7': [('Mixing matters', 'ablation.md: 40.5 (mixing_none) - 34.8 (base), FID at T=0')],
    '0.05': [('Width 128 is enough', 'ablation.md: 5.004 (width32) - 4.955 (base) bits/dim (IW)'),
             ('mean intensity <', "decoder_variance's background threshold, a setting")],
    '0.40': [('higher learning rate', 'ablation.md: 5.357 (lr2e-3) - 4.955 (base) bits/dim (IW)')],
    '9.3': [('8,000 steps are', '8,000 steps x 64 images / 55,000 training images')],
    '1.4': [('epochs', '1,200 steps x 64 images / 55,000 training images')],
    '3.7': [('equal_time', '3,145 steps x 64 / 55,000 training images')],
    '4.5': [('equal_time', '3,833 steps x 64 / 55,000 training images'),
            ('false verdicts', '5% of 90 tests (experiments.factorial; the report prints it)')],
    '0.626': [('equal_time', 'benchmarks.equal_time at a2e2339 (workdirs/results/equal_time.json, '
                             'not kept): s per VAE step')],
    '0.598': [('equal_time', 'the same file: s per Glow-layer step')],
    '0.334': [('equal_time', 'the same file: s per affine Glow baseline step')],
    '0.274': [('equal_time', 'the same file: s per additive Glow baseline step')],
    '0.55': [('ratio Glow / full model', '287 / 526 s per epoch (the table above)')],
    '0.45': [('ratio Glow / full model', '236 / 526 s per epoch (the table above)')],
    '0.6': [('false verdict', '5% of the 12 families (Holm: at most 5% each)')],
    '29.3': [('Dai & Wipf', "Dai & Wipf's Fashion-MNIST FID of the two-stage VAE (shared/REFERENCE.md)")],
    '60.0': [('Dai & Wipf', "Dai & Wipf's Fashion-MNIST FID of the VAE with a learned gamma")],
}


def _derived(number: str, passage: str) -> bool:
  return any(phrase in passage for phrase, _ in DERIVED.get(number.lstrip('+-'), ()))


_NUMBER = re.compile(r'(?<![\w.])[+-]?\d+\.\d+(?![\w.])')
_SIGNED = re.compile(r'(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.])')
_CITED = re.compile(r'(?:\]\(|`|\s|^)((?:results/|BENCHMARKS\.md)[^)\s`,;]*)', re.M)
_ANNOTATION = re.compile(r'<!--\s*numbers:([^>]*)-->')
_HEADING = re.compile(r'^#{1,6} ', re.M)
# Settings, not results: sampling temperatures ('T=0 / 0.5 / 1', 'T=0 and 0.5', 'T in {0, 0.5}')
# and blur widths ('blur sigma 0.5 px').
_PARAMETERS = re.compile(r'\bT\s*=\s*[\d.]+(?:\s*(?:/|and|or|,)\s*[\d.]+)*|\bT in \{[^}]*\}'
                         r'|\bsigma [\d.]+ px')


def file_numbers(path: str) -> list[float]:
  """Every number of one results file, signed: the JSON leaves, or the numbers of the text."""
  found = []

  def walk(x):
    if isinstance(x, dict):
      for v in x.values():
        walk(v)
    elif isinstance(x, list):
      for v in x:
        walk(v)
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
      found.append(float(x))

  with open(path) as f:
    text = f.read()
  if path.endswith('.json'):
    walk(json.loads(text))
  else:
    found += [float(n) for n in _SIGNED.findall(text)]
  return found


def passages(text: str) -> list[tuple[str, str]]:
  """(section heading, passage) pairs: the text cut at blank lines and headings; fenced code is
  left out (commands, not results), and a `<!-- numbers: ... -->` comment standing alone joins
  the passage after it (so that it need not sit inside a table)."""
  text = re.sub(r'```.*?```', '', text, flags=re.S)
  out, heading, pending = [], '', ''
  for chunk in re.split(r'\n\s*\n', text):
    lines = chunk.strip('\n').splitlines()
    while lines and _HEADING.match(lines[0]):
      heading = lines.pop(0)
    passage = '\n'.join(lines)
    if _ANNOTATION.fullmatch(passage.strip()):
      pending += passage + '\n'  # a comment alone names the sources of the passage after it
    elif lines:
      out.append((heading, pending + passage))
      pending = ''
  return out


def cited_files(passage: str, root: str) -> list[str]:
  """The number-bearing files a passage cites (results paths, BENCHMARKS.md, annotations), a
  folder standing for the .json/.md/.tsv files directly in it; paths relative to root."""
  paths = [m.rstrip('.') for m in _CITED.findall(passage)]
  for note in _ANNOTATION.findall(passage):
    paths += note.split()
  files = []
  for path in paths:
    full = os.path.join(root, path)
    if os.path.isdir(full):
      files += sorted(p for p in glob.glob(os.path.join(full, '*'))
                      if p.endswith(('.json', '.md', '.tsv')))
    elif os.path.isfile(full) and full.endswith(('.json', '.md', '.tsv')):
      files.append(full)
  return list(dict.fromkeys(files))


def _matches(text_number: str, values: list[float]) -> bool:
  digits = len(text_number.split('.')[1])
  quantum = Decimal(1).scaleb(-digits)
  target = Decimal(text_number.lstrip('+'))
  for v in values:
    # Half-up on the decimal the file shows, or Python's own formatting of the binary value.
    for rounded in (Decimal(repr(v)).quantize(quantum, rounding=ROUND_HALF_UP),
                    Decimal(f'{v:.{digits}f}')):
      if rounded == target:
        return True
  return False


def unsourced(text: str, root: str, require_sources: bool = False) -> list[str]:
  """'NUMBER (section: sources)' for each decimal number of the text that no number of its
  passage's sources gives (with its sign), nor DERIVED lists. With require_sources only the
  passages that cite sources themselves are checked."""
  items = passages(text)
  by_section = {}
  for heading, passage in items:
    by_section.setdefault(heading, []).extend(cited_files(passage, root))
  cache, out = {}, []
  for heading, passage in items:
    own = cited_files(passage, root)
    if require_sources and not own:
      continue
    files = own or by_section[heading]
    values = []
    for path in files:
      if path not in cache:
        cache[path] = file_numbers(path)
      values += cache[path]
    for number in _NUMBER.findall(_PARAMETERS.sub('', re.sub(r'<!--.*?-->', '', passage, flags=re.S))):
      if not _derived(number, passage) and not _matches(number, values):
        names = ', '.join(os.path.relpath(f, root) for f in files) or 'no sources'
        out.append(f'{number} ({heading.lstrip("# ") or "top"}: {names})')
  return out


PROVENANCE_HEADING = '## Where each result comes from'
_RESULTS_PATH = re.compile(r'results/[\w./+*<>-]+')
_ROW = re.compile(r'^\|\s*`([^`]+)`\s*\|\s*([0-9a-f]{7,40})\b[^|]*\|(.*)\|\s*$')
_STAGE = re.compile(r'results\.sh (\w+)')


def cited_folders(text: str) -> set[str]:
  """The results/... paths the text names, each cut before its first pattern part ('*', '<run>');
  paths that are only a pattern under a dataset's folder (results/fashion_mnist/*/x) are left out."""
  out = set()
  for path in _RESULTS_PATH.findall(text):
    parts = []
    for part in path.rstrip('.').split('/'):
      if '*' in part or '<' in part:
        break
      parts.append(part)
    if len([p for p in parts if p]) >= 3:
      out.add('/'.join(p for p in parts if p))
  return out


def provenance_rows(text: str) -> list[tuple[str, str, str]]:
  """(folder under results/, commit, command) of each row of the provenance table."""
  if PROVENANCE_HEADING not in text:
    return []
  section = text.split(PROVENANCE_HEADING, 1)[1].split('\n## ', 1)[0]
  rows = []
  for line in section.splitlines():
    match = _ROW.match(line)
    if match:
      rows.append((match.group(1).strip('/'), match.group(2), match.group(3).strip()))
  return rows


def _known_commit(commit: str, repo: str) -> bool | None:
  """Whether `commit` is in the git repository at `repo`; None where there is no git history."""
  try:
    result = subprocess.run(['git', '-C', repo, 'cat-file', '-e', f'{commit}^{{commit}}'],
                            capture_output=True, timeout=30, check=False)
  except (OSError, subprocess.TimeoutExpired):
    return None
  if result.returncode and b'not a git repository' in result.stderr:
    return None
  return result.returncode == 0


def provenance_problems(text: str, results_dir: str, script_text: str, repo: str = '.') -> list[str]:
  """What RESULTS.md's provenance table leaves out or gets wrong (empty: nothing)."""
  rows = provenance_rows(text)
  if not rows:
    return [f'no table under "{PROVENANCE_HEADING}"']
  folders = {folder for folder, _, _ in rows}
  problems = []
  for cited in sorted(cited_folders(text)):
    relative = cited.split('/', 1)[1]
    if not any(relative == f or relative.startswith(f + '/') for f in folders):
      problems.append(f'{cited}: in no row of the provenance table')
  # The stages results.sh takes: `$stage == NAME` and the names of `$stage =~ ^(A|B)$`.
  stages = set(re.findall(r'\$stage == (\w+)', script_text))
  for names in re.findall(r'\$stage =~ \^\(([\w|]+)\)\$', script_text):
    stages.update(names.split('|'))
  for folder, commit, command in rows:
    if not os.path.exists(os.path.join(results_dir, folder)):
      problems.append(f'{folder}: a provenance row, but no such file or folder under {results_dir}/')
    if _known_commit(commit, repo) is False:
      problems.append(f'{folder}: commit {commit} is not in this repository')
    for stage in _STAGE.findall(command):
      if stage not in stages:
        problems.append(f'{folder}: scripts/results.sh has no stage {stage!r}')
  return problems


def main(argv: list[str]) -> int:
  args = dict(a.lstrip('-').split('=', 1) for a in argv[1:])
  root = args.get('root', '.')
  with open(args.get('results_md', 'RESULTS.md')) as f:
    text = f.read()
  with open(args.get('readme', 'README.md')) as f:
    readme = f.read()
  not_found = [f'RESULTS.md {n}' for n in unsourced(text, root)]
  not_found += [f'README.md {n}' for n in unsourced(readme, root, require_sources=True)]
  with open(args.get('script', 'scripts/results.sh')) as f:
    script_text = f.read()
  problems = provenance_problems(text, args.get('results_dir', 'results'), script_text)
  for number in not_found:
    print(f'not in its sources: {number}')
  for problem in problems:
    print(f'provenance: {problem}')
  if not_found or problems:
    return 1
  print(f'every decimal number of RESULTS.md ({len(_NUMBER.findall(text))}) and of README.md\'s '
        f'passages that cite results is in the files its passage cites, or listed as derived '
        f'({len(DERIVED)}); every results folder RESULTS.md cites ({len(cited_folders(text))} '
        f'paths) is in its provenance table ({len(provenance_rows(text))} rows)')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
