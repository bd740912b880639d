"""The networks learn: a tiny U-Net overfits one tile, drawn or simulated (the loss, the network and
Adam together, without the training loop)."""

from __future__ import annotations

import numpy as np
import torch

from nucflow.models import build
from nucflow.training.losses import bce
from tests.test_training import simulated_tiles


def test_tiny_unet_overfits_one_tile():
    torch.manual_seed(0)
    images, labels = simulated_tiles(1, seed=4)
    x, y = torch.from_numpy(images), torch.from_numpy((labels[:, None] > 0).astype(np.float32))
    assert overfit_f1(x, y) > 0.95


def overfit_f1(x: torch.Tensor, y: torch.Tensor, steps: int = 200) -> float:
    """Pixel F1 of a tiny U-Net after ``steps`` Adam steps on the one batch (x, y)."""
    net = build("unet", width=0.0625)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        optimiser.zero_grad()
        bce(net(x), y).backward()
        optimiser.step()
    predicted, truth = net(x) > 0, y > 0
    return 2 * (predicted & truth).sum().item() / (predicted.sum().item() + truth.sum().item())


def test_tiny_unet_overfits_one_simulator_tile():
    """The same on a real simulator field (HepG2: dense, touching nuclei), as the protocol sees it."""
    from nucflow.config import validate_config
    from nucflow.data.normalise import percentile_normalise
    from nucflow.simulator.simulate import DatasetSpec, FieldKey, SimulationConfig, simulate_field

    config = SimulationConfig.from_dict(validate_config({})["simulation"])
    spec = DatasetSpec("seven_lines", "A", ("HepG2",), 1, 1, (96, 96))
    field = simulate_field(config, spec, FieldKey("seven_lines", "HepG2", 1, 1))
    assert field.labels.max() >= 3  # a tile with several nuclei
    torch.manual_seed(0)
    x = torch.from_numpy(percentile_normalise(field.fluorescence[None].astype(np.float32))[None])
    y = torch.from_numpy((field.labels[None, None] > 0).astype(np.float32))
    assert overfit_f1(x, y) > 0.95
