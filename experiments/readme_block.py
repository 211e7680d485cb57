"""Replace a generated block of README.md, between an HTML-comment pair of markers, so that
the figures the experiment scripts quote are never typed by hand."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def replace(name: str, content: str, readme: Path = README) -> bool:
    """Put `content` between `<!-- name:begin -->` and `<!-- name:end -->`; False when the
    README has no such block (it is then left alone)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = readme.read_text()
    if begin not in text or end not in text:
        return False
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    readme.write_text(f"{head}{begin}\n{content}{end}{tail}")
    return True
