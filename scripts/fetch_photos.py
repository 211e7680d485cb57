"""Fetches real photographs from Debian packages, offline from anything but apt's mirror.

    python3 scripts/fetch_photos.py photos data/photos           # or: make data-photos
    python3 scripts/fetch_photos.py testimages data/testimages   # or: make data-testimages

`photos`: the 27 photographs among the wallpapers of `lomiri-wallpapers-16.04`,
`lomiri-wallpapers-20.04` and `mate-backgrounds` (its nature/ folder), 171 megapixels of JPEG,
1280×1024 to 6028×3391, every one colour. Listed by name below; the packages' artwork (colour
gradients, flat-colour illustrations, a digital painting) is left out. Written as they ship (no
re-encoding) into OUT/train/ and OUT/validation/ (a fixed split of 4 photos), with
OUT/LICENSES.md (per file: package, copyright holder and licence, read from the package's
Debian copyright file: CC-BY-4.0, CC-BY-SA-3.0/4.0, CC0-1.0 or GPL-2+) and the copyright files
themselves, which hold the licence texts, in OUT/copyright/.

`testimages`: the classic test images that `python3-skimage` ships (gray: camera, moon, coins;
colour: astronaut, coffee, chelsea, rocket, motorcycle_left), for the denoising benchmark
(experiments/photo_denoise.py). Never trained on.

The packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x` into a
temporary folder: nothing is installed. Where apt has no package lists yet, `apt-get update`
runs once first (as root). Standard library only; idempotent (a complete OUT is left alone).
Every file is checked before any is written, and each is written under a temporary name and
renamed: a failed run leaves no partial file.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

APT_LISTS = Path("/var/lib/apt/lists")


class FetchError(Exception):
    """One line for the user: what went wrong and what to do."""


@dataclass(frozen=True)
class Package:
    """Files to take from one Debian package. `installed` is the folder the package puts them
    in; `upstream` the same folder as the package's copyright file names it (its patterns are
    paths in the upstream source tree, not where the files are installed)."""

    name: str
    installed: str
    upstream: str
    files: tuple[str, ...]


PHOTOS = (
    Package(
        "lomiri-wallpapers-16.04",
        "usr/share/backgrounds",
        "16.04",
        (
            "Bridge_by_Sander_Klootwijk.jpg",
            "Dragonfly_by_Bolly.jpg",
            "Picture_0B_by_freespace.jpg",
            "Picture_1A_by_freespace.jpg",
            "Wine_by_Jakkub_Mede.jpg",
            "aitzgorri_by_Aitzol_Berasategi.jpg",
            "analogpattern_by_Peter_Nerlich.jpg",  # a textured wall, photographed
            "free_by_Peter_Nerlich.jpg",
            "friends_by_Aitzol_Berasategi.jpg",
            "greentock_by_Peter_Nerlich.jpg",
            "life_by_Aitzol_Berasategi.jpg",
            "picosdeeuropa_by_Aitzol_Berasategi.jpg",
            "seeding_by_Clements_Engelhardt.jpg",
            "sunset_by_Aitzol_Berasategi.jpg",
            # Left out: umang_by_Abhishek_Mudgal.jpg, a colour gradient.
        ),
    ),
    Package(
        "lomiri-wallpapers-20.04",
        "usr/share/backgrounds",
        "20.04",
        (
            "Kleiber_by_Lukas_Baubkus.jpg",
            # Left out: Fossa_by_Jasper_Roks.jpg (vector artwork), Infinite-Sea_by_Aury88.jpg
            # (digital painting), Painting-Colors_by__herobrine7gamer.jpg (flat colour bands).
        ),
    ),
    Package(
        "mate-backgrounds",
        "usr/share/backgrounds/mate/nature",
        "nature",
        (
            "Aqua.jpg",
            "Blinds.jpg",
            "Dune.jpg",
            "FreshFlower.jpg",
            "Garden.jpg",
            "GreenMeadow.jpg",
            "LadyBird.jpg",
            "RainDrops.jpg",
            "Storm.jpg",
            "TwoWings.jpg",
            "Wood.jpg",
            "YellowFlower.jpg",
        ),
    ),
)
# Held out for validation (model selection): a landscape, an indoor scene in portrait
# orientation, a macro of a plant and a sky, from each package.
VALIDATION = frozenset(
    {
        "picosdeeuropa_by_Aitzol_Berasategi.jpg",
        "Wine_by_Jakkub_Mede.jpg",
        "LadyBird.jpg",
        "Storm.jpg",
    }
)

TESTIMAGES = (
    Package(
        "python3-skimage",
        "usr/lib/python3/dist-packages/skimage/data",
        "skimage/data",
        (
            "camera.png",
            "moon.png",
            "coins.png",
            "astronaut.png",
            "coffee.png",
            "chelsea.png",
            "rocket.jpg",
            "motorcycle_left.png",
        ),
    ),
)
# Where each test image comes from, as scikit-image's data module documents it (the package's
# copyright file gives only the package's own BSD-3-Clause licence for them).
TESTIMAGE_NOTES = {
    "camera.png": "CC0 by the photographer (Lav Varshney)",
    "moon.png": "surface of the moon; no known copyright restrictions",
    "coins.png": "Greek coins from Pompeii, Brooklyn Museum; no known copyright restrictions",
    "astronaut.png": "Eileen Collins, NASA; public domain",
    "coffee.png": "CC0 by the photographer (Rachel Michetti)",
    "chelsea.png": "CC0 by the photographer (Stefan van der Walt)",
    "rocket.jpg": "DSCOVR launch, SpaceX; released into the public domain",
    "motorcycle_left.png": "Middlebury 2014 stereo benchmark (Scharstein et al.), downsampled",
}

SETS = {"photos": PHOTOS, "testimages": TESTIMAGES}


@dataclass(frozen=True)
class Entry:
    """One file to write: where it comes from and under what terms."""

    package: str
    name: str
    source: Path
    split: str  # the subfolder of OUT: "train", "validation" or "" (OUT itself)
    copyright: str
    licence: str


# ------------------------------------------------------------------ Debian copyright files
def parse_copyright(text: str) -> list[dict[str, str]]:
    """The paragraphs of a machine-readable Debian copyright file (DEP-5), each as a dict of
    its fields; continuation lines are joined with newlines, the "." of an empty line dropped."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        fields, key = {}, None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key is not None:
                fields[key] += "\n" + ("" if line.strip() == "." else line.strip())
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        paragraphs.append(fields)
    return paragraphs


def licence_of(paragraphs: list[dict[str, str]], path: str) -> tuple[str, str] | None:
    """(copyright, short licence name) of the Files paragraph that governs `path` (a path in
    the upstream tree): as DEP-5 says, the last paragraph whose pattern matches it."""
    found = None
    for fields in paragraphs:
        patterns = fields.get("files", "").split()
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns):
            copyright = " ".join(fields.get("copyright", "").split())
            licence = fields.get("license", "").split("\n")[0].strip()
            found = (copyright, licence)
    return found


def entries_of(package: Package, root: Path, split_of) -> list[Entry]:
    """Every listed file of `package`, unpacked under `root`, with its licence; a FetchError
    naming the first file that is missing or that the copyright file does not cover."""
    copyright_file = root / "usr/share/doc" / package.name / "copyright"
    if not copyright_file.is_file():
        raise FetchError(f"{package.name} holds no copyright file {copyright_file.name}")
    paragraphs = parse_copyright(copyright_file.read_text(encoding="utf-8", errors="replace"))
    entries = []
    for name in package.files:
        source = root / package.installed / name
        if not source.is_file():
            raise FetchError(
                f"{package.name} no longer ships {package.installed}/{name}; "
                "update the file list in scripts/fetch_photos.py"
            )
        terms = licence_of(paragraphs, f"{package.upstream}/{name}")
        if terms is None or not terms[1]:
            raise FetchError(f"the copyright file of {package.name} gives no licence for {name}")
        entries.append(Entry(package.name, name, source, split_of(name), *terms))
    return entries


def split_of_photo(name: str) -> str:
    return "validation" if name in VALIDATION else "train"


def split_of_testimage(name: str) -> str:
    return ""


SPLITS = {"photos": split_of_photo, "testimages": split_of_testimage}


# ------------------------------------------------------------------------------- writing
def copy_file(source: Path, target: Path) -> None:
    """Copy under a temporary name, then rename: no partial file under the final name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    shutil.copyfile(source, part)
    part.replace(target)


def licences_markdown(kind: str, entries: list[Entry]) -> str:
    lines = [
        f"# Sources and licences of the files in this folder ({kind})",
        "",
        "Fetched by scripts/fetch_photos.py from Debian packages; the licence is the one the",
        "package's Debian copyright file gives for the file (full texts in copyright/).",
        "",
        "| file | package | copyright | licence |",
        "| --- | --- | --- | --- |",
    ]
    for entry in entries:
        path = f"{entry.split}/{entry.name}" if entry.split else entry.name
        # E-mail addresses in <...> would read as HTML tags in Markdown.
        holder = re.sub(r"<([^>]*)>", r"(\1)", entry.copyright).replace("|", "/")
        note = f"; image: {TESTIMAGE_NOTES[entry.name]}" if entry.name in TESTIMAGE_NOTES else ""
        lines.append(f"| {path} | {entry.package} | {holder}{note} | {entry.licence} |")
    return "\n".join(lines) + "\n"


def install(kind: str, entries: list[Entry], roots: dict[str, Path], out: Path) -> None:
    """Write every entry into `out`, then the copyright files, then LICENSES.md (written last:
    its presence marks a complete folder)."""
    for entry in entries:
        copy_file(entry.source, out / entry.split / entry.name)
    for package, root in roots.items():
        copy_file(root / "usr/share/doc" / package / "copyright", out / "copyright" / package)
    part = out / "LICENSES.md.part"
    part.write_text(licences_markdown(kind, entries), encoding="utf-8")
    part.replace(out / "LICENSES.md")


def expected_files(kind: str, out: Path) -> list[Path]:
    split_of = SPLITS[kind]
    files = [out / split_of(name) / name for package in SETS[kind] for name in package.files]
    return [*files, out / "LICENSES.md"]


# ------------------------------------------------------------------------------ apt side
def run(command: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


def last_line(result: subprocess.CompletedProcess) -> str:
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def check_apt(packages: list[str]) -> None:
    """apt-get and dpkg-deb present, apt's package lists there (fetched once if not) and every
    package known to them."""
    for tool in ("apt-get", "apt-cache", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise FetchError(
                f"fetching the photos needs Debian's {tool} (apt, dpkg): run this on Debian or "
                "Ubuntu, or copy the folder from a machine that has them"
            )
    if not any(APT_LISTS.glob("*_Packages*")):
        if os.geteuid() != 0:
            raise FetchError("apt has no package lists yet: run `sudo apt-get update` once")
        print("apt has no package lists yet: apt-get update ...", flush=True)
        result = run(["apt-get", "update"])
        if result.returncode != 0:
            raise FetchError(
                f"apt-get update failed ({last_line(result)}); no network, or no Debian "
                "mirror reachable"
            )
    for name in packages:
        if run(["apt-cache", "show", "--no-all-versions", name]).returncode != 0:
            raise FetchError(
                f"Debian package {name} is not in apt's package lists (it is in Debian 12 "
                "bookworm and later); run `apt-get update`, or fetch it on a newer release"
            )


def download(name: str, tmp: Path) -> Path:
    """`apt-get download` the package into `tmp`, `dpkg-deb -x` it; the unpacked root."""
    print(f"fetching {name} with apt-get download ...", flush=True)
    result = run(["apt-get", "download", name], cwd=tmp)
    debs = sorted(tmp.glob(f"{name}_*.deb"))
    if result.returncode != 0 or not debs:
        raise FetchError(
            f"apt-get download {name} failed ({last_line(result)}); check the network and "
            "that apt reaches its mirror"
        )
    root = tmp / name
    result = run(["dpkg-deb", "-x", str(debs[-1]), str(root)])
    if result.returncode != 0:
        raise FetchError(f"dpkg-deb -x {debs[-1].name} failed ({last_line(result)})")
    return root


def fetch(kind: str, out: Path) -> int:
    packages = SETS[kind]
    check_apt([package.name for package in packages])
    with tempfile.TemporaryDirectory() as tmp:
        roots = {package.name: download(package.name, Path(tmp)) for package in packages}
        entries = [
            entry
            for package in packages
            for entry in entries_of(package, roots[package.name], SPLITS[kind])
        ]
        print(f"writing {len(entries)} files into {out} ...", flush=True)
        install(kind, entries, roots, out)
    return len(entries)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in SETS:
        print(f"usage: {argv[0]} photos|testimages [OUT]", file=sys.stderr)
        return 2
    kind = argv[1]
    out = Path(argv[2] if len(argv) > 2 else f"data/{kind}")
    if all(path.is_file() for path in expected_files(kind, out)):
        print(f"{out} already holds the {kind}; nothing to fetch")
        return 0
    try:
        count = fetch(kind, out)
    except FetchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{count} {kind} are in {out} (sources and licences: {out / 'LICENSES.md'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
