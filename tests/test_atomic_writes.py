"""Atomic writes: temporaries of killed writes are removed by the next write; checkpoints are
written beside their target and renamed."""

from __future__ import annotations

import os

import pandas as pd
import torch

from nucflow.io import remove_stale_temporaries, replace_dir, staging_dir, write_csv
from nucflow.training.checkpoints import load_checkpoint, save_checkpoint

EARLIER = 1e9  # an mtime before this process started: the file of a killed, earlier process


def made_earlier(path, content=b"half"):
    if content is None:
        path.mkdir(parents=True)
    else:
        path.write_bytes(content)
    os.utime(path, (EARLIER, EARLIER))
    return path


def test_next_write_removes_the_stale_temporaries_of_its_file(tmp_path):
    """Regression: a job killed mid-write left `.<name>.XXXXXXXX.part` files that nothing removed."""
    folder = tmp_path / "tables"
    folder.mkdir()
    mine = [made_earlier(folder / ".per_run.csv.k2j4_x9q.part"), made_earlier(folder / ".per_run.csv.part")]
    other = made_earlier(folder / ".per_image.csv.abcdefgh.part")   # another file's: its own writer's job
    running = folder / ".per_run.csv.zzzzzzzz.part"                 # written now: a write in progress
    running.write_bytes(b"")
    write_csv(folder / "per_run.csv", pd.DataFrame({"a": [1]}))
    assert not any(p.exists() for p in mine)
    assert other.exists() and running.exists()
    assert sorted(p.name for p in folder.iterdir()) == sorted([".per_image.csv.abcdefgh.part", running.name,
                                                               "per_run.csv"])
    assert remove_stale_temporaries(folder) == [other] and not other.exists()


def test_stale_staging_folders_are_removed_and_a_half_replaced_folder_is_put_back(tmp_path):
    """A killed replace_dir may have moved the old folder into `.<name>.old-XXXXXXXX` before
    the new one was in place: the next staging of that folder puts it back, then cleans up."""
    target = tmp_path / "mydata"
    made_earlier(tmp_path / ".mydata.import-abcd1234", None)
    old = tmp_path / ".mydata.old-efgh5678"
    (old / "mydata").mkdir(parents=True)
    (old / "mydata" / "manifest.csv").write_text("kept\n")
    os.utime(old, (EARLIER, EARLIER))
    unrelated = made_earlier(tmp_path / ".mydata2.import-abcd1234", None)
    staging = staging_dir(target, "import")
    assert (target / "manifest.csv").read_text() == "kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([staging.name, "mydata", unrelated.name])
    (staging / "manifest.csv").write_text("new\n")
    replace_dir(staging, target)
    assert (target / "manifest.csv").read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([unrelated.name, "mydata"])


def test_checkpoints_are_written_beside_the_target_and_renamed(tmp_path, monkeypatch):
    """Regression: Lightning wrote checkpoints through a temporary in the system temp folder that
    was copied (not renamed) over last.ckpt on another file system, so a kill could truncate it."""
    renamed = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (renamed.append((str(src), str(dst))), real_replace(src, dst)))
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    stale = made_earlier(folder / ".last.ckpt.q1w2e3r4.part")
    path = folder / "last.ckpt"
    save_checkpoint({"epoch": 3, "state_dict": {"net.w": torch.ones(2)}}, path)
    assert len(renamed) == 1 and renamed[0][1] == str(path)
    assert os.path.dirname(renamed[0][0]) == str(folder)
    assert [p.name for p in folder.iterdir()] == ["last.ckpt"] and not stale.exists()
    assert load_checkpoint(path)["epoch"] == 3
