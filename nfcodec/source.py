"""Where .nfc bytes come from: bytes as given, or a path (read by `container.reader`).

`naming(source)` prefixes any NfcError raised inside it with the file's name, so every decode or
info error says which file it is about.
"""

from __future__ import annotations

import os
from types import TracebackType

from nfcodec.errors import NfcError

Source = bytes | bytearray | memoryview | str | os.PathLike


def is_path(source: Source) -> bool:
    return not isinstance(source, (bytes, bytearray, memoryview))


class naming:
    """Prefix an NfcError's message with the file it came from (when the source is a path)."""

    def __init__(self, source: Source) -> None:
        self.name = str(source) if is_path(source) else None

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if self.name is None or not isinstance(exc, NfcError):
            return False
        message = str(exc)
        if message.startswith(self.name):
            return False
        raise type(exc)(f"{self.name}: {message}") from None
