"""RenderThread: an OffscreenRenderer that lives in its own worker thread.

The EGL context must never be current on the Qt GUI thread (stack-notes.md,
pitfall 1), and a moderngl context belongs to the thread that made it. This
wrapper creates the renderer inside a dedicated daemon thread and runs every
request there, in order; callers on any thread (GUI, workers, tests) get numpy
results back through ``concurrent.futures.Future``. It is safe to share one
RenderThread between several calling threads.

    with RenderThread() as rt:
        rt.set_mesh(triangles, n, nmfc_mean=mean)
        out = rt.render(screen_vertices, (512, 512), "nmfc", buffers=True)
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from core.render.renderer import OffscreenRenderer, RenderOutput


class RenderThread:
    """Owns an :class:`OffscreenRenderer` in a worker thread and serves requests from a queue."""

    def __init__(self, name: str = "offscreen-render"):
        self._queue: queue.Queue = queue.Queue()
        ready: Future = Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name=name, daemon=True)
        self._thread.start()
        self.gl_renderer: str = ready.result()  # re-raises if the context could not be made
        self._closed = False

    def _run(self, ready: Future) -> None:
        try:
            renderer = OffscreenRenderer()
        except BaseException as e:  # noqa: BLE001 - handed to the creating thread
            ready.set_exception(e)
            return
        ready.set_result(renderer.gl_renderer)
        while True:
            item = self._queue.get()
            if item is None:
                break
            fn, args, kwargs, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(renderer, *args, **kwargs))
            except BaseException as e:  # noqa: BLE001 - delivered through the future
                fut.set_exception(e)
        renderer.release()

    def submit(self, fn: Callable[..., Any], *args, **kwargs) -> Future:
        """Run ``fn(renderer, *args, **kwargs)`` on the render thread; returns a Future."""
        if self._closed:
            raise RuntimeError("RenderThread is closed")
        fut: Future = Future()
        self._queue.put((fn, args, kwargs, fut))
        return fut

    def call(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """Like :meth:`submit` but waits for the result (exceptions re-raised here)."""
        return self.submit(fn, *args, **kwargs).result()

    def set_mesh(self, triangles: np.ndarray, num_vertices: int, nmfc_mean: np.ndarray | None = None) -> None:
        """See :meth:`OffscreenRenderer.set_mesh`."""
        self.call(OffscreenRenderer.set_mesh, triangles, num_vertices, nmfc_mean)

    def render(self, vertices: np.ndarray, size: tuple[int, int], mode: str = "nmfc", **kwargs) -> RenderOutput:
        """See :meth:`OffscreenRenderer.render`."""
        return self.call(OffscreenRenderer.render, vertices, size, mode, **kwargs)

    def render_frames(self, frames: Iterable[np.ndarray], size: tuple[int, int], mode: str = "nmfc",
                      ahead: int = 2, **kwargs) -> Iterator[RenderOutput]:
        """Stream a clip (one (N, 3) vertex array per frame), keeping ``ahead`` frames queued
        so the caller's work on frame i overlaps rendering of frame i+1."""
        pending: list[Future] = []
        for v in frames:
            pending.append(self.submit(OffscreenRenderer.render, v, size, mode, **kwargs))
            if len(pending) > ahead:
                yield pending.pop(0).result()
        for fut in pending:
            yield fut.result()

    def close(self, timeout: float | None = 10.0) -> None:
        """Finish queued requests, release the context and stop the thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join(timeout)

    def __enter__(self) -> "RenderThread":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
