"""Precision chosen by the hardware (nucflow.precision) and what training and predict record of it."""

from __future__ import annotations

import json

import pytest
import torch

from nucflow import cli, precision
from nucflow.errors import NucflowError
from nucflow.precision import cpu_bf16_flags, resolve
from nucflow.training.train import train

from test_training import assert_same_weights, network_state, one_thread, run_config, tile_sets  # noqa: F401


def fake_cpu(monkeypatch, flags: tuple[str, ...]) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda cpuinfo="/proc/cpuinfo": flags)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 avx2\nbugs\t: none\n")
    assert cpu_bf16_flags(info) == ("avx512_bf16",)
    info.write_text("flags\t\t: fpu amx_bf16 avx512_bf16\n")
    assert cpu_bf16_flags(info) == ("amx_bf16", "avx512_bf16")
    info.write_text("flags\t\t: fpu sse avx2\n")
    assert cpu_bf16_flags(info) == ()
    assert cpu_bf16_flags(tmp_path / "missing") == ()


def test_auto_picks_bf16_and_channels_last_only_where_the_cpu_has_it(monkeypatch):
    fake_cpu(monkeypatch, ("avx512_bf16",))
    chosen = resolve("auto", None, "cpu")
    assert (chosen.name, chosen.channels_last, chosen.device) == ("bf16-mixed", True, "cpu")
    assert "avx512_bf16" in chosen.reason
    assert resolve("auto", False, "cpu").channels_last is False  # an explicit value wins
    fake_cpu(monkeypatch, ())
    chosen = resolve("auto", None, "cpu")
    assert (chosen.name, chosen.channels_last) == ("32-true", False)
    assert resolve("32-true", None, "cpu").name == "32-true"
    assert resolve("auto", True, "cpu").channels_last is True


def test_explicit_bf16_without_support_is_one_line_naming_key_and_device(monkeypatch):
    fake_cpu(monkeypatch, ())
    with pytest.raises(NucflowError, match=r"^training\.precision: bf16-mixed is not supported well on this "
                                           r"device, cpu \(no amx_bf16/avx512_bf16\)"):
        resolve("bf16-mixed", None, "cpu", key="training.precision")
    with pytest.raises(NucflowError, match="unknown precision 'bf17'"):
        resolve("bf17", None, "cpu")


def test_train_refuses_bf16_on_a_cpu_without_it_before_any_step(monkeypatch, tmp_path, tile_sets, capsys):
    fake_cpu(monkeypatch, ())
    config = run_config(tile_sets, tmp_path / "run", precision="bf16-mixed", run_id="bf")
    config.to_json(tmp_path / "run.json")
    assert cli.main(["train", "--run", str(tmp_path / "run.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nucflow train: error: run bf: training.precision: bf16-mixed is not supported well on this "
                   "device, cpu (no amx_bf16/avx512_bf16); use auto or 32-true"]
    assert not (tmp_path / "run" / "checkpoints" / "last.ckpt").exists()


def test_train_records_the_precision_it_used(monkeypatch, tmp_path, tile_sets):
    fake_cpu(monkeypatch, ())
    done = train(run_config(tile_sets, tmp_path / "fp32", max_epochs=1), echo=False)
    assert (done.precision, done.channels_last, done.device) == ("32-true", False, "cpu")
    fake_cpu(monkeypatch, ("amx_bf16",))
    done = train(run_config(tile_sets, tmp_path / "bf16", max_epochs=1), echo=False)
    assert (done.precision, done.channels_last, done.device) == ("bf16-mixed", True, "cpu")
    saved = json.loads((tmp_path / "bf16" / "train_done.json").read_text())
    assert (saved["precision"], saved["channels_last"]) == ("bf16-mixed", True)
    assert json.loads((tmp_path / "bf16" / "run.json").read_text())["precision"] == "auto"
    ckpt = torch.load(tmp_path / "bf16" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["nucflow"]["precision"] == "bf16-mixed" and ckpt["nucflow"]["channels_last"] is True


@pytest.mark.skipif(not cpu_bf16_flags(), reason="this CPU computes no native bf16")
def test_bf16_runs_are_bit_identical_and_differ_from_fp32(tmp_path, tile_sets):
    for name, value in (("b1", "bf16-mixed"), ("b2", "bf16-mixed"), ("f1", "32-true"), ("f2", "32-true")):
        train(run_config(tile_sets, tmp_path / name, precision=value, max_epochs=2), echo=False)
    assert_same_weights(network_state(tmp_path / "b1"), network_state(tmp_path / "b2"))
    assert_same_weights(network_state(tmp_path / "f1"), network_state(tmp_path / "f2"))
    bf16, fp32 = network_state(tmp_path / "b1"), network_state(tmp_path / "f1")
    assert any(not torch.equal(bf16[k], fp32[k]) for k in bf16 if bf16[k].is_floating_point())
