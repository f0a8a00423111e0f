"""A progress bar for the bulk commands, drawn only when their output is a terminal."""

from django.core.management.base import OutputWrapper

BAR_WIDTH = 30


class TerminalProgress:
    """Redraws one line, `<stage> [#####-----]  50% 500/1000`, as a bulk service reports.

    Pass it as the service's `progress`; call `finish()` before printing anything else.
    """

    def __init__(self, stream: OutputWrapper) -> None:
        self.stream = stream
        self.width = 0

    def __call__(self, *, stage: str, done: int, total: int) -> None:
        share = done / total if total else 1
        filled = round(BAR_WIDTH * min(share, 1))
        line = f"{stage} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {share:4.0%} {done}/{total}"
        self.stream.write(f"\r{line.ljust(self.width)}", ending="")
        self.stream.flush()
        self.width = max(self.width, len(line))

    def finish(self) -> None:
        if self.width:
            self.stream.write("")
            self.width = 0


def progress_for(stream: OutputWrapper) -> TerminalProgress | None:
    """A bar on a terminal; None (no bar, no escape codes) when the output is a file or pipe."""
    return TerminalProgress(stream) if stream.isatty() else None
