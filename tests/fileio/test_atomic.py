"""fileio/atomic.py: a file appears under its name only when complete."""

import pytest

from fileio.atomic import atomic_output


def test_atomic_output_renames_on_success_and_cleans_up_on_failure(tmp_path):
    final = tmp_path / "out.bin"
    with atomic_output(final) as temporary:
        assert not final.exists()
        with open(temporary, "wb") as f:
            f.write(b"done")
    assert final.read_bytes() == b"done"
    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "failed.bin") as temporary:
            with open(temporary, "wb") as f:
                f.write(b"half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
