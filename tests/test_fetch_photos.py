"""scripts/fetch_photos.py: the listed files of unpacked Debian packages -> a train/validation
folder with each file's licence. Built on fake unpacked packages and fake apt tools: no
network, no apt."""

import importlib.util
import os
import re
import stat
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fetch_photos.py"
spec = importlib.util.spec_from_file_location("fetch_photos", SCRIPT)
fetch = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = fetch  # dataclasses look their module up there
spec.loader.exec_module(fetch)

# A DEP-5 file shaped like the packages' own: a catch-all first, paragraphs per file after it
# (the last match governs), a multi-line Files and Copyright, and licence texts at the end.
COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fake-wallpapers

Files: *
Copyright: 2020, The Packagers
License: GPL-2+

Files: pics/a.jpg
       pics/b*.jpg
Copyright: 2018, Ann Author <ann@example.org>
           2019, Bob Builder
License: CC-BY-4.0

Files: pics/c.jpg
Copyright: Cee, 2018
License: CC0-1.0

Files: debian/*
Copyright: 2022, Debian Person
License: Expat

License: CC-BY-4.0
 Attribution 4.0 International
 .
 (the licence text)
"""
FAKE = fetch.Package(
    "fake-wallpapers", "usr/share/backgrounds", "pics", ("a.jpg", "b1.jpg", "c.jpg")
)


def unpacked(tmp_path: Path, copyright: str = COPYRIGHT, files=FAKE.files) -> Path:
    root = tmp_path / "root"
    doc = root / "usr/share/doc" / FAKE.name
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(copyright)
    pics = root / FAKE.installed
    pics.mkdir(parents=True)
    for name in files:
        (pics / name).write_bytes(f"photo {name}".encode())
    return root


def split_b1(name):
    return "validation" if name == "b1.jpg" else "train"


def test_each_file_gets_the_licence_of_the_last_paragraph_that_matches(tmp_path):
    entries = fetch.entries_of(FAKE, unpacked(tmp_path), split_b1)
    got = {e.name: (e.split, e.copyright, e.licence) for e in entries}
    assert got == {
        "a.jpg": ("train", "2018, Ann Author <ann@example.org> 2019, Bob Builder", "CC-BY-4.0"),
        "b1.jpg": (
            "validation",
            "2018, Ann Author <ann@example.org> 2019, Bob Builder",
            "CC-BY-4.0",
        ),
        "c.jpg": ("train", "Cee, 2018", "CC0-1.0"),
    }


def test_installs_the_split_the_copyright_file_and_the_licence_table(tmp_path):
    root = unpacked(tmp_path)
    entries = fetch.entries_of(FAKE, root, split_b1)
    out = tmp_path / "out"
    fetch.install("photos", entries, {FAKE.name: root}, out)
    assert sorted(p.name for p in (out / "train").iterdir()) == ["a.jpg", "c.jpg"]
    assert [p.name for p in (out / "validation").iterdir()] == ["b1.jpg"]
    assert (out / "validation/b1.jpg").read_bytes() == b"photo b1.jpg"  # as shipped
    assert (out / "copyright" / FAKE.name).read_text() == COPYRIGHT
    table = (out / "LICENSES.md").read_text()
    assert "| validation/b1.jpg | fake-wallpapers | 2018, Ann Author (ann@example.org)" in table
    assert "| train/c.jpg | fake-wallpapers | Cee, 2018 | CC0-1.0 |" in table
    assert not list(out.rglob("*.part"))


@pytest.mark.parametrize(
    "copyright, files, message",
    [
        (COPYRIGHT, ("a.jpg", "c.jpg"), "no longer ships usr/share/backgrounds/b1.jpg"),
        (COPYRIGHT.split("Files: *")[0], FAKE.files, "gives no licence for a.jpg"),
    ],
    ids=["file_missing", "no_licence"],
)
def test_a_missing_file_or_licence_is_named(tmp_path, copyright, files, message):
    with pytest.raises(fetch.FetchError, match=message):
        fetch.entries_of(FAKE, unpacked(tmp_path, copyright, files), split_b1)


def test_the_selection_is_consistent():
    names = [name for package in fetch.PHOTOS for name in package.files]
    assert len(names) == len(set(names))  # one name, one file: the split folders are flat
    assert fetch.VALIDATION.issubset(names)
    assert 0 < len(fetch.VALIDATION) < len(names) / 4
    assert set(fetch.TESTIMAGE_NOTES) == set(fetch.TESTIMAGES[0].files)


def test_a_complete_folder_is_left_alone(tmp_path, capsys, monkeypatch):
    out = tmp_path / "testimages"
    for path in fetch.expected_files("testimages", out):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("kept")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))  # no apt: it must not be needed
    assert fetch.main(["fetch", "testimages", str(out)]) == 0
    assert "already holds the testimages" in capsys.readouterr().out
    assert all(p.read_text() == "kept" for p in fetch.expected_files("testimages", out))


def fake_tools(folder: Path, apt_cache_status: int, apt_get: str) -> None:
    """apt-get, apt-cache and dpkg-deb stand-ins: apt-cache exits with `apt_cache_status`,
    apt-get runs the shell line `apt_get`."""
    folder.mkdir()
    for name, body in (
        ("apt-cache", f"exit {apt_cache_status}"),
        ("apt-get", apt_get),
        ("dpkg-deb", "exit 0"),
    ):
        path = folder / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize(
    "apt_cache_status, apt_get, message",
    [
        (100, "exit 0", "python3-skimage is not in apt's package lists"),
        (
            0,
            "echo 'E: Failed to fetch http://mirror/x.deb  Could not resolve host' >&2; exit 100",
            "apt-get download python3-skimage failed .*Could not resolve host.*check the network",
        ),
    ],
    ids=["package_unknown", "no_network"],
)
def test_apt_failures_are_one_line_and_nothing_is_written(
    tmp_path, capsys, monkeypatch, apt_cache_status, apt_get, message
):
    fake_tools(tmp_path / "bin", apt_cache_status, apt_get)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "mirror_dists_stable_main_binary-amd64_Packages").write_text("")
    monkeypatch.setattr(fetch, "APT_LISTS", lists)
    out = tmp_path / "out"
    assert fetch.main(["fetch", "testimages", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert re.search(message, err)
    assert not out.exists()


def test_missing_apt_tools_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(fetch.FetchError, match="needs Debian's apt-get"):
        fetch.check_apt(["python3-skimage"])
