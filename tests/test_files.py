"""Atomic writes: a reader, or a run killed mid-write, sees the old file or the new one."""

import json

import pytest

from convae_tf.utils import files


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    files.save_json({"b": (1, 2), "a": 0}, target)
    assert target.read_text() == json.dumps({"a": 0, "b": [1, 2]}, indent=2) + "\n"
    with pytest.raises(RuntimeError), files.atomic_path(target) as tmp:
        tmp.write_text("half a fi")
        raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"a": 0, "b": [1, 2]}
    assert [f.name for f in tmp_path.iterdir()] == ["metrics.json"]


def test_the_temporary_keeps_the_suffix_and_missing_folders_are_made(tmp_path):
    target = tmp_path / "new" / "folder" / "codes.npz"
    with files.atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".npz"  # numpy, Keras read it
        assert not target.exists()  # nothing visible until the block ends
        tmp.write_bytes(b"done")
    assert target.read_bytes() == b"done"
