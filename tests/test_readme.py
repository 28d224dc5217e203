"""The README's library example runs as written, so it never rots."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _section_code(title: str) -> list[str]:
  with open(os.path.join(ROOT, 'README.md')) as f:
    text = f.read()
  section = text.split(f'## {title}\n', 1)[1].split('\n## ', 1)[0]
  return re.findall(r'```python\n(.*?)```', section, flags=re.S)


def test_use_as_a_library_example_runs():
  blocks = _section_code('Use as a library')
  assert blocks, 'the README lost its "Use as a library" example'
  for code in blocks:
    exec(compile(code, 'README.md', 'exec'), {'__name__': 'readme_example'})  # noqa: S102
