"""Small plugins for tests, named in recipes by import path (``plugin_helpers:Scripted``)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from framework import RunContext, Trainer, hookimpl


class Scripted:
    """Sets ``logs[metric]`` to the next of `values` at every epoch end (list it before the plugins that read it)."""

    def __init__(self, values: list[float], metric: str = "score") -> None:
        self.values, self.metric = values, metric

    @hookimpl
    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        logs[self.metric] = self.values[epoch]


class WeightsRecorder:
    """Keeps a copy of the network's weights at the end of every epoch (as the plugins listed before it left them)."""

    def __init__(self) -> None:
        self.weights: list = []

    @hookimpl
    def on_epoch_end(self, trainer: Trainer) -> None:
        self.weights.append(trainer.network.get_weights())


class Raiser:
    """Raises RuntimeError in on_epoch_end at epoch `epoch` (from 0)."""

    def __init__(self, epoch: int = 1) -> None:
        self.epoch = epoch

    @hookimpl
    def on_epoch_end(self, epoch: int) -> None:
        if epoch == self.epoch:
            raise RuntimeError(f"boom at epoch {epoch}")


class CrashOnce:
    """Raises at the start of epoch `epoch` (from 0) the first time only: it leaves the file `marker` behind."""

    def __init__(self, epoch: int, marker: str) -> None:
        self.epoch, self.marker = epoch, Path(marker)

    @hookimpl
    def on_epoch_begin(self, epoch: int) -> None:
        if epoch == self.epoch and not self.marker.exists():
            self.marker.touch()
            raise RuntimeError(f"crash at epoch {epoch}")


class SaveWeights:
    """Saves the network's final weights as `<folder>/worker<N>.weights.h5` on every worker."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    @hookimpl
    def on_train_end(self, trainer: Trainer, run: RunContext) -> None:
        trainer.network.save_weights(f"{self.folder}/worker{run.worker_index}.weights.h5")


class RaiseAtTrainEnd:
    """Raises RuntimeError in on_train_end the first time only: it leaves the file `marker` behind."""

    def __init__(self, marker: str) -> None:
        self.marker = Path(marker)

    @hookimpl
    def on_train_end(self) -> None:
        if not self.marker.exists():
            self.marker.touch()
            raise RuntimeError("boom at the end")


class Interrupter:
    """Raises KeyboardInterrupt (as Ctrl-C does) at the end of epoch `epoch` (from 0)."""

    def __init__(self, epoch: int = 0) -> None:
        self.epoch = epoch

    @hookimpl
    def on_epoch_end(self, epoch: int) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt


class ExceptionRecorder:
    """Appends a JSON line per on_exception call to `log`: the error's type and text, the run files present; with
    `fail`, then raises."""

    def __init__(self, log: str, fail: bool = False) -> None:
        self.log, self.fail = Path(log), fail

    @hookimpl
    def on_exception(self, run: RunContext, error: BaseException) -> None:
        files = sorted(p.name for p in run.directory.iterdir())
        with open(self.log, "a") as stream:
            stream.write(
                json.dumps({"type": type(error).__name__, "error": str(error), "files": files, "epoch": run.epoch})
                + "\n"
            )
        if self.fail:
            raise ValueError("on_exception itself fails")


class KillAt:
    """SIGKILLs its own process where the environment variable ``KILL_AT`` says: ``"E:B"`` after batch B of epoch E
    (from 0, as ``on_batch_end`` numbers them), or ``"save:N"`` inside the N-th state write of the process (from 1,
    after the network is written and before the write is swapped in). Unset: never (the uninterrupted run)."""

    def __init__(self) -> None:
        self.point, self.saves = os.environ.get("KILL_AT", ""), 0
        if self.point.startswith("save:"):
            import tensorflow as tf

            write = tf.train.Checkpoint.write

            def write_then_maybe_die(checkpoint, *args, **kwargs):
                path = write(checkpoint, *args, **kwargs)
                self.saves += 1
                if self.point == f"save:{self.saves}":
                    os.kill(os.getpid(), signal.SIGKILL)
                return path

            tf.train.Checkpoint.write = write_then_maybe_die

    @hookimpl
    def on_batch_end(self, epoch: int, batch: int) -> None:
        if self.point == f"{epoch}:{batch}":
            os.kill(os.getpid(), signal.SIGKILL)


class CrashAtBatch:
    """Raises RuntimeError after batch `batch` of epoch `epoch` (from 0) the first time only: it leaves the file
    `marker` behind."""

    def __init__(self, epoch: int, batch: int, marker: str) -> None:
        self.epoch, self.batch, self.marker = epoch, batch, Path(marker)

    @hookimpl
    def on_batch_end(self, epoch: int, batch: int) -> None:
        if (epoch, batch) == (self.epoch, self.batch) and not self.marker.exists():
            self.marker.touch()
            raise RuntimeError(f"crash after batch {batch} of epoch {epoch}")


class PoisonAtBatch:
    """Sets the network's first weight to NaN after batch `batch` of the first epoch (from 0), as a diverged step
    would."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    @hookimpl
    def on_batch_end(self, trainer: Trainer, epoch: int, batch: int) -> None:
        if (epoch, batch) == (0, self.batch):
            weight = trainer.network.weights[0]
            weight.assign(weight * float("nan"))


class TerminateAt:
    """Sends its own process SIGTERM where the environment variable ``TERM_AT`` says, ``"E:B"``: after batch B of epoch
    E (from 0); with ``TERM_TWICE`` set, once more from inside the state write that follows. Unset: never."""

    def __init__(self) -> None:
        self.point, self.sent = os.environ.get("TERM_AT", ""), False
        if self.point and os.environ.get("TERM_TWICE"):
            import tensorflow as tf

            write = tf.train.Checkpoint.write

            def write_while_terminated(checkpoint, *args, **kwargs):
                if self.sent:
                    os.kill(os.getpid(), signal.SIGTERM)
                return write(checkpoint, *args, **kwargs)

            tf.train.Checkpoint.write = write_while_terminated
            self.restore = lambda: setattr(tf.train.Checkpoint, "write", write)

    @hookimpl
    def on_batch_end(self, epoch: int, batch: int) -> None:
        if self.point == f"{epoch}:{batch}":
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)

    @hookimpl
    def on_exception(self) -> None:
        getattr(self, "restore", lambda: None)()


class KillWorkerAt:
    """Kills its own process with SIGKILL on worker `worker` after batch `batch` of epoch `epoch` (from 0), once: it
    leaves the file `marker` behind."""

    def __init__(self, worker: int, epoch: int, batch: int, marker: str) -> None:
        self.worker, self.point, self.marker = worker, (epoch, batch), Path(marker)

    @hookimpl
    def on_batch_end(self, epoch: int, batch: int, run: RunContext) -> None:
        if run.worker_index == self.worker and (epoch, batch) == self.point and not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)


class FailOnWorker:
    """Raises RuntimeError at the end of epoch `epoch` (from 0) on worker `worker` only."""

    def __init__(self, worker: int, epoch: int) -> None:
        self.worker, self.epoch = worker, epoch

    @hookimpl
    def on_epoch_end(self, epoch: int, run: RunContext) -> None:
        if (run.worker_index, epoch) == (self.worker, self.epoch):
            raise RuntimeError(f"worker {self.worker} fails")
