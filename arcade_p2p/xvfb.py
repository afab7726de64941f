"""A private X server (Xvfb) for real, non-headless windows on a machine without a screen.

How this works: :func:`virtual_display` starts ``Xvfb -displayfd``, which picks a free
display number itself and writes it to a pipe, so parallel runs never collide; it yields
the ``DISPLAY`` value to give child processes and stops the server afterwards. Used by the
real-window test and by ``scripts/gallery.py``, which makes the gallery's screenshots.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import subprocess
from collections.abc import Iterator

__all__ = ["XVFB_TOOLS", "missing_tools", "virtual_display"]

XVFB_TOOLS = ("Xvfb", "xdotool")
"""Programs the real-window runs need (Debian/Ubuntu: ``apt-get install xvfb xdotool``)."""
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
COLOUR_DEPTH_BITS = 24


def missing_tools() -> list[str]:
    """Which of :data:`XVFB_TOOLS` are not on ``PATH``."""
    return [tool for tool in XVFB_TOOLS if shutil.which(tool) is None]


@contextlib.contextmanager
def virtual_display(size: tuple[int, int]) -> Iterator[str]:
    """Run an Xvfb server with one screen of ``size`` pixels; yields its ``DISPLAY``.

    Raises:
        RuntimeError: Xvfb did not start or gave no display number.
    """
    read_end, write_end = os.pipe()
    width, height = size
    screen = f"{width}x{height}x{COLOUR_DEPTH_BITS}"
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-nolisten", "tcp", "-screen", "0", screen],
        pass_fds=(write_end,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as numbers, selectors.DefaultSelector() as selector:
            selector.register(numbers, selectors.EVENT_READ)
            number = numbers.readline().strip() if selector.select(START_TIMEOUT_S) else ""
        if not number.isdigit():
            raise RuntimeError(f"Xvfb gave no display number (exit code {server.poll()})")
        yield f":{number}"
    finally:
        server.terminate()
        try:
            server.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
