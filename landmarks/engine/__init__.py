"""The small training engine: devices, seeds, checkpoints, DDP and one ``fit`` loop."""

from landmarks.engine.checkpoint import CorruptCheckpoint, load_checkpoint, save_checkpoint
from landmarks.engine.devices import DeviceUnavailable, pick_device
from landmarks.engine.run import Run
from landmarks.engine.seeding import derive_seed, seed_everything
from landmarks.engine.train import History, TrainingDiverged, decay_groups, fit, top1_accuracy, warmup_cosine

__all__ = [
    "CorruptCheckpoint",
    "DeviceUnavailable",
    "History",
    "Run",
    "TrainingDiverged",
    "decay_groups",
    "derive_seed",
    "fit",
    "load_checkpoint",
    "pick_device",
    "save_checkpoint",
    "seed_everything",
    "top1_accuracy",
    "warmup_cosine",
]
