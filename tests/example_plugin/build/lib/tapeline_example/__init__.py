"""An example third-party Tapeline plugin, installed by the tests through its entry point."""

from framework import hookimpl


class EpochCounter:
    """Counts epochs and adds the count to the epoch logs as `epochs_seen`."""

    def __init__(self, start: int = 0) -> None:
        self.count = start

    @hookimpl
    def on_epoch_end(self, logs: dict) -> None:
        self.count += 1
        logs["epochs_seen"] = float(self.count)
