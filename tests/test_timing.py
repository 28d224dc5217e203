"""timing.progress: the progress line of long evaluation and sampling jobs."""

from vaeglow_jax import timing


def test_progress_reports_the_rate_so_far_as_the_time_left():
  assert timing.progress(2560, 10_000, 45.0, 'images') == (
      '2,560/10,000 images, 45 s, ETA 2 min 11 s')  # 45 / 2,560 * 7,440 = 130.8 s
  assert timing.progress(1, 4, 10.0, 'temperatures') == '1/4 temperatures, 10 s, ETA 30 s'
  # Nothing done yet, or done: no estimate.
  assert timing.progress(0, 4, 3.0, 'temperatures') == '0/4 temperatures, 3 s'
  assert timing.progress(4, 4, 40.0, 'temperatures') == '4/4 temperatures, 40 s'
