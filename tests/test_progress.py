"""Progress lines of long steps (utils/progress.py): in a log (pytest's stdout is not a terminal)
a counted step writes at most a line per tenth, a minute apart at least, and a short one none."""

from convae_tf.utils import progress


def counted_lines(capsys, total, interval, monkeypatch):
    monkeypatch.setattr(progress, "LOG_INTERVAL", interval)
    counter = progress.Counter(total, "evaluate: VAE bounds, k=1000")
    for done in range(1, total + 1):
        counter.update(done)
    return capsys.readouterr().out.splitlines()


def test_a_long_step_writes_a_line_per_tenth_in_a_log(capsys, monkeypatch):
    lines = counted_lines(capsys, 250, 0.0, monkeypatch)
    assert len(lines) == progress.LOG_LINES, lines
    assert lines[0].startswith("[convae_tf] evaluate: VAE bounds, k=1000: 25/250 images, ")
    assert "left" in lines[0] and "left" not in lines[-1]
    assert lines[-1].startswith("[convae_tf] evaluate: VAE bounds, k=1000: 250/250 images, ")


def test_a_short_step_stays_silent(capsys, monkeypatch):
    assert counted_lines(capsys, 250, 60.0, monkeypatch) == []
