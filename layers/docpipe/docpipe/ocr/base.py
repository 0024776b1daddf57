"""The one interface every OCR engine implements, and the bounded pool that runs pages through it."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image


@dataclass(frozen=True)
class OcrPage:
    """What an engine read on one page image.

    ``confidence`` is the mean of the engine's per-line confidences, 0..1 (None: no line found).
    """

    text: str
    confidence: float | None = None
    lines: int = 0


class OcrEngine(ABC):
    """Reads the text of one page image; ``submit_page`` runs pages on a pool of ``concurrency``.

    ``concurrency`` is how many pages are recognised at once: Textract pages are network calls
    (several in flight), an offline engine's are CPU-bound and already use every core (one).
    """

    provider: str
    concurrency: int = 1

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._slots: threading.BoundedSemaphore | None = None
        self._pool_lock = threading.Lock()

    @abstractmethod
    def recognize(self, image: Image) -> OcrPage:
        """The text of one page image, lines in reading order joined by newlines.

        Raises:
            CorruptDocumentError: the engine cannot read this image (a permanent skip).
            TransientError: throttling, timeouts (the record is retried).
        """

    def submit_page(self, render: Callable[[], Image]) -> Future[OcrPage]:
        """Recognise ``render()``'s image on the engine's pool; blocks while ``concurrency`` pages
        are in flight, so a long scanned document never holds more than that many page images.

        ``render`` is called on the caller's thread (rendering a PDF page needs pdfium, which
        is single-threaded); only the recognition runs on the pool.
        """
        pool, slots = self._executor()
        slots.acquire()
        try:
            image = render()
            future = pool.submit(self.recognize, image)
        except BaseException:
            slots.release()
            raise
        future.add_done_callback(lambda _: slots.release())
        return future

    def _executor(self) -> tuple[ThreadPoolExecutor, threading.BoundedSemaphore]:
        if self._pool is None or self._slots is None:
            with self._pool_lock:
                if self._pool is None or self._slots is None:
                    workers = max(1, self.concurrency)
                    self._slots = threading.BoundedSemaphore(workers)
                    self._pool = ThreadPoolExecutor(workers, thread_name_prefix=f"ocr-{self.provider}")
        return self._pool, self._slots
