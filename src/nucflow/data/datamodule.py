"""Tile sets of a run: targets computed once in memory, seeded epoch sampling, DataLoaders.

Training draws ``steps_per_epoch * batch_size`` tiles per epoch with :class:`EpochSampler`: the
tiles are shuffled, used once each, reshuffled, and so on until the epoch is full. The shuffles of
epoch ``e`` come from a generator seeded with ``(seed, e)``, so the sample stream depends on the
seed and the epoch only -- a resumed run sees exactly the tiles an uninterrupted run would.
Validation goes through every validation tile once, in order.

On several devices (``training.devices``, DDP) the configured batch size is the *global* batch:
each of the ``world_size`` processes takes its own slice of every batch of the single-device
stream (:class:`EpochSampler` with ``rank``), so one optimisation step sees the same tiles on one
device or four, and DDP's gradient average equals the single-device batch mean. Validation tiles
are dealt round-robin to the processes, and the module adds their sums up.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from nucflow.data.targets import binary_target, border_weight_maps, three_class_target
from nucflow.data.tiles import load_tiles
from nucflow.errors import NucflowError


@dataclass(frozen=True)
class TileArrays:
    """Tiles with their training targets, all in memory.

    Attributes:
        images: float32 (N, C, S, S), normalised.
        target: float32 (N, 1, S, S) foreground mask, or int64 (N, S, S) classes for 3-class.
        foreground: bool (N, S, S), nucleus pixels (for the pixel F1).
        weight: float32 (N, 1, S, S) border weights, or ``None`` when the loss needs none.
        image_ids: (N,) str, the field each tile came from.
    """

    images: np.ndarray
    target: np.ndarray
    foreground: np.ndarray
    weight: np.ndarray | None
    image_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def spread(self, max_tiles: int | None) -> "TileArrays":
        """At most ``max_tiles`` tiles, evenly spaced over the set (deterministic; all when None)."""
        if max_tiles is None or len(self) <= max_tiles:
            return self
        keep = np.unique(np.linspace(0, len(self) - 1, max_tiles).round().astype(int))
        weight = None if self.weight is None else self.weight[keep]
        return TileArrays(self.images[keep], self.target[keep], self.foreground[keep], weight, self.image_ids[keep])


def load_tile_arrays(paths: Sequence[str], in_channels: int, target_kind: str,
                     with_weights: bool) -> TileArrays:
    """Load and concatenate tile sets and compute their targets.

    Args:
        paths: ``.npz`` tile sets (see :mod:`nucflow.data.tiles`); all must share C and S.
        in_channels: expected C.
        target_kind: ``"binary"`` or ``"three_class"``.
        with_weights: compute U-Net border weight maps (w0 = 10, sigma = 5 px).
    """
    images, labels, ids = [], [], []
    for path in paths:
        tiles = load_tiles(path)
        im, lab = tiles.images, tiles.labels
        if im.dtype != np.float32 or im.ndim != 4:
            raise NucflowError(f"{path}: images must be float32 (N, C, S, S), got {im.dtype} {im.shape}")
        if im.shape[1] != in_channels:
            raise NucflowError(f"{path}: tiles have {im.shape[1]} channel(s) but the run expects "
                               f"in_channels={in_channels}")
        if lab.ndim != 3 or not np.issubdtype(lab.dtype, np.integer) or lab.shape != (im.shape[0], *im.shape[2:]):
            raise NucflowError(f"{path}: labels must be integer (N, S, S) matching images {im.shape}, "
                               f"got {lab.dtype} {lab.shape}")
        if len(im) == 0:
            raise NucflowError(f"{path}: tile set is empty")
        if images and im.shape[2:] != images[0].shape[2:]:
            raise NucflowError(f"{path}: tile size {im.shape[2:]} differs from {paths[0]} ({images[0].shape[2:]})")
        bad = ~np.isfinite(im).reshape(len(im), -1).all(1)
        if bad.any():
            raise NucflowError(f"{path}: tile {int(np.argmax(bad))} contains NaN or infinite values")
        images.append(im)
        labels.append(lab.astype(np.int32, copy=False))
        ids.append(np.asarray(tiles.image_ids).astype(str))
    image = np.concatenate(images)
    label = np.concatenate(labels)
    if target_kind == "binary":
        target = binary_target(label)[:, None]
    elif target_kind == "three_class":
        target = three_class_target(label)
    else:
        raise NucflowError(f"unknown target kind {target_kind!r}")
    weight = border_weight_maps(label)[:, None] if with_weights else None
    return TileArrays(image, target, label > 0, weight, np.concatenate(ids))


class TileDataset(Dataset):
    """Items ``{"image": (C, S, S) float32, "target": ..., "foreground": (S, S) bool
    [, "weight": (1, S, S) float32]}`` as tensors."""

    def __init__(self, arrays: TileArrays):
        self.arrays = arrays

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        a = self.arrays
        item = {"image": torch.from_numpy(a.images[index]), "target": torch.from_numpy(a.target[index]),
                "foreground": torch.from_numpy(a.foreground[index])}
        if a.weight is not None:
            item["weight"] = torch.from_numpy(a.weight[index])
        return item


class EpochSampler(Sampler[int]):
    """``num_samples`` tile indices per epoch from repeated seeded shuffles of ``range(n_tiles)``.

    The trainer calls :meth:`set_epoch` before each epoch; the indices of epoch ``e`` depend only
    on ``(seed, e)``. With ``world_size > 1`` the stream is cut into global batches of
    ``batch_size`` and process ``rank`` yields its ``batch_size // world_size`` slice of each.
    """

    def __init__(self, n_tiles: int, num_samples: int, seed: int, *, batch_size: int = 1,
                 rank: int = 0, world_size: int = 1):
        if n_tiles < 1 or num_samples < 1:
            raise NucflowError(f"sampler: need at least one tile and one sample, got {n_tiles}, {num_samples}")
        if batch_size % world_size or num_samples % batch_size and world_size > 1:
            raise NucflowError(f"sampler: a batch of {batch_size} cannot be split over {world_size} devices")
        self.n_tiles, self.num_samples, self.seed = n_tiles, num_samples, seed
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def indices(self, epoch: int) -> np.ndarray:
        """The tile indices of ``epoch`` on one device (int64, length ``num_samples``)."""
        rng = np.random.default_rng([self.seed, epoch])
        rounds = -(-self.num_samples // self.n_tiles)
        return np.concatenate([rng.permutation(self.n_tiles) for _ in range(rounds)])[: self.num_samples]

    def rank_indices(self, epoch: int) -> np.ndarray:
        """This process's share of :meth:`indices`: its slice of every global batch."""
        indices = self.indices(epoch)
        if self.world_size == 1:
            return indices
        local = self.batch_size // self.world_size
        batches = indices.reshape(-1, self.batch_size)
        return batches[:, self.rank * local:(self.rank + 1) * local].reshape(-1)

    def __iter__(self) -> Iterator[int]:
        return iter(self.rank_indices(self.epoch).tolist())

    def __len__(self) -> int:
        return self.num_samples // self.world_size


class TileDataModule(pl.LightningDataModule):
    """Training and validation tile sets of one run (a ``LightningDataModule``).

    Args:
        train_tiles, val_tiles: ``.npz`` tile-set paths (several are concatenated).
        in_channels: expected channels per tile.
        target_kind, with_weights: see :func:`load_tile_arrays`.
        batch_size, steps_per_epoch: one epoch = ``steps_per_epoch`` batches of ``batch_size``.
        seed: sampling seed; num_workers: DataLoader workers.
        val_max_tiles: validate on at most this many tiles, evenly spaced over the set (None: all).
    """

    def __init__(self, train_tiles: Sequence[str], val_tiles: Sequence[str], in_channels: int,
                 target_kind: str, with_weights: bool, batch_size: int, steps_per_epoch: int,
                 seed: int, num_workers: int = 0, val_max_tiles: int | None = None):
        super().__init__()
        self.val_max_tiles = val_max_tiles
        self.train_tiles, self.val_tiles = list(train_tiles), list(val_tiles)
        self.in_channels, self.target_kind, self.with_weights = in_channels, target_kind, with_weights
        self.batch_size, self.steps_per_epoch = batch_size, steps_per_epoch
        self.seed, self.num_workers = seed, num_workers
        self.train_arrays: TileArrays | None = None
        self.val_arrays: TileArrays | None = None

    @classmethod
    def from_config(cls, config, target_kind: str, with_weights: bool) -> "TileDataModule":
        return cls(config.train_tiles, config.val_tiles, config.in_channels, target_kind, with_weights,
                   config.batch_size, config.effective_steps_per_epoch, config.seed, config.num_workers,
                   config.val_max_tiles)

    def _train(self) -> TileArrays:
        if self.train_arrays is None:
            self.train_arrays = load_tile_arrays(self.train_tiles, self.in_channels, self.target_kind,
                                                 self.with_weights)
        return self.train_arrays

    def _val(self) -> TileArrays:
        if self.val_arrays is None:
            self.val_arrays = load_tile_arrays(self.val_tiles, self.in_channels, self.target_kind,
                                               self.with_weights).spread(self.val_max_tiles)
        return self.val_arrays

    def _world(self) -> tuple[int, int]:
        """(rank, world size) of this process: from the trainer when attached, else (0, 1)."""
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> DataLoader:
        """``steps_per_epoch`` batches per epoch from :class:`EpochSampler` (the trainer calls its
        ``set_epoch``); on several devices this process's slice of each batch."""
        arrays = self._train()
        rank, world = self._world()
        sampler = EpochSampler(len(arrays), self.steps_per_epoch * self.batch_size, self.seed,
                               batch_size=self.batch_size, rank=rank, world_size=world)
        return DataLoader(TileDataset(arrays), batch_size=self.batch_size // world, sampler=sampler,
                          drop_last=True, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def val_dataloader(self) -> DataLoader:
        """Every validation tile once, in order (on several devices, every ``world``-th from ``rank``)."""
        rank, world = self._world()
        dataset = TileDataset(self._val())
        if world > 1:
            dataset = torch.utils.data.Subset(dataset, range(rank, len(dataset), world))
        return DataLoader(dataset, batch_size=max(1, self.batch_size // world), shuffle=False,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)
