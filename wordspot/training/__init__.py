"""Training: the run folder and resume (run.py), the loop (trainer.py), one module per stage, schedules by name,
losses and pairs, ensembles, calibration."""

from wordspot._lazy import forward

__getattr__ = forward(__name__, {
    "train": "run", "STAGES": "run", "TrainingInterrupted": "run", "calibrate_model": "calibrate",
    "train_ensemble": "ensemble", "Trainer": "trainer", "Stage": "trainer", "seed_everything": "trainer",
    "lr_at": "schedules", "TrainConfig": "run",
})
