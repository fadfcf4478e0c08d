"""Local text files as the files platform reads them: the encoding from the byte-order mark, and a file that
cannot be decoded as a ``FileDataError`` naming the file, the line and what to do.

The encoding is decided by the file's first bytes:

- ``EF BB BF``: UTF-8; ``FF FE`` / ``FE FF``: UTF-16 (little / big endian); ``FF FE 00 00`` / ``00 00 FE FF``:
  UTF-32. The mark is not part of the text;
- no mark: UTF-8, unless the first 4 KiB hold a NUL byte — UTF-16 or UTF-32 saved without its mark (or not a
  text file at all), which would otherwise be read as text with a NUL between every two letters: refused.

:func:`open_text` gives the text (``newline=""``, as the ``csv`` module wants: line ends are kept and split on
``\\n``, ``\\r\\n`` or ``\\r``); a byte sequence that is not valid in the encoding, met while the caller reads,
becomes a ``FileDataError`` with its line and byte offset (found by decoding the file again from its start,
which only happens on that error).
"""

from __future__ import annotations

import codecs
import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from migrator.errors import PermanentError

__all__ = ["FileDataError", "open_text"]

#: longest mark first: the UTF-32 LE mark begins with the UTF-16 LE one
_MARKS: tuple[tuple[bytes, str, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)
_SNIFF = 4096
_BLOCK = 1 << 16
_SAVE_AS = "save it as UTF-8 (in Excel: Save As → CSV UTF-8) and run again"


class FileDataError(PermanentError):
    """A source or target file cannot be used as it is: which file, which line, and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message, platform="files")


def _encoding(head: bytes) -> tuple[str, str, int]:
    """(codec, name for a person, length of the mark) for a file that begins with ``head``."""
    for mark, codec, name in _MARKS:
        if head.startswith(mark):
            return codec, name, len(mark)
    return "utf-8", "UTF-8", 0


@contextlib.contextmanager
def open_text(raw: BinaryIO, path: Path) -> Iterator[TextIO]:
    """The text of ``raw`` (the file ``path``, opened in binary at its start), decoded as its first bytes say.
    A decoding error while the block reads it is raised as a ``FileDataError`` with the line and byte."""
    head = raw.read(_SNIFF)
    codec, name, skip = _encoding(head)
    if not skip and b"\x00" in head:
        raise FileDataError(
            f"{path}: NUL bytes in a file without a byte-order mark, so not UTF-8 text: it looks like UTF-16 "
            f"or UTF-32 saved without its mark (or not a text file at all); {_SAVE_AS}"
        )
    raw.seek(skip)
    text = io.TextIOWrapper(raw, encoding=codec, errors="strict", newline="")
    try:
        yield text
    except UnicodeDecodeError:
        line, offset = _undecodable_at(raw, codec, skip)
        raise FileDataError(f"{path} line {line} (byte {offset}): not valid {name} text; {_SAVE_AS}") from None
    finally:
        text.detach()


def _undecodable_at(raw: BinaryIO, codec: str, skip: int) -> tuple[int, int]:
    """(line, byte offset) of the first byte sequence of ``raw`` not valid in ``codec``, read again from its
    start; lines are counted by ``\\n``."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    lines = 1
    offset = skip  # of the first byte of the next block
    raw.seek(skip)
    while True:
        block = raw.read(_BLOCK)
        try:
            lines += decoder.decode(block, final=not block).count("\n")
        except UnicodeDecodeError as error:
            # the decoder read the bytes it kept from the last block, then this block
            kept = len(error.object) - len(block)
            lines += codecs.decode(error.object[: error.start], codec).count("\n")
            return lines, offset - kept + error.start
        if not block:
            return lines, offset
        offset += len(block)
