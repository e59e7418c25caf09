"""The ``.dae`` file format (version 2): a header, chunks of image records, an end record.

All integers are unsigned LEB128 varints unless a width is given; CRC32 values are big-endian and
*running*: each one covers every byte of the file from offset 0 up to the CRC itself, so a reader
that has checked a chunk's CRC knows the header and every earlier chunk are intact too.

    header   magic b"\\x89DAE" | version u8 (=2) | name_len u8 | model name (UTF-8)
             | model digest (first 8 bytes of its SHA-256) | quality u8 (1..8) | CRC32
    chunk    b"C" | image count (varint) | body length (varint) | body | CRC32
             body = records: 2 name_len + same | name (UTF-8)
                             | [mode u8 (0: L, 1: RGB) | width | height]  (absent when same = 1)
                             | payload length | payload (range-coded latents)
    end      b"E" | total image count (varint) | CRC32

``same`` = 1 says the image has the mode, width and height of the record before it in the same chunk
(never the first of a chunk, so each chunk parses on its own): a file of many equal-sized images pays
2 bytes per image around its payload instead of 5. Version 1 (still read) has no ``same`` bit and
always stores mode, width and height.

A writer emits a chunk every 256 images or 1 MiB of payload, so a reader holds one chunk at a time:
memory stays flat however many images a file holds.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator

from ._coding import CodecError

MAGIC = b"\x89DAE"
VERSION = 2
READABLE = (1, 2)  # the format versions this module reads
DIGEST_BYTES = 8
MODE_CODES = {"L": 0, "RGB": 1}
MODE_NAMES = {v: k for k, v in MODE_CODES.items()}
MAX_NAME = 1024
MAX_BODY = 1 << 31
CHUNK_IMAGES = 256
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Header:
    version: int
    model: str
    digest: bytes
    quality: int
    size: int  # bytes, CRC included


@dataclass(frozen=True)
class Record:
    name: str
    mode: str
    width: int
    height: int
    payload: bytes


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(next_byte: Callable[[], int], what: str, limit: int) -> int:
    """The unsigned LEB128 number whose bytes ``next_byte`` returns (at most 10 of them), up to ``limit``."""
    n = 0
    for shift in range(0, 70, 7):
        byte = next_byte()
        n |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if n > limit:
                raise CodecError(f"{what} is {n}, more than {limit}: the file is damaged")
            return n
    raise CodecError(f"{what} is not a valid number: the file is damaged")


def header_bytes(model: str, digest: bytes, quality: int) -> bytes:
    name = model.encode()[:255]
    head = MAGIC + bytes([VERSION, len(name)]) + name + digest[:DIGEST_BYTES] + bytes([quality])
    return head + zlib.crc32(head).to_bytes(4, "big")


def record_bytes(rec: Record, previous: Record | None = None) -> bytes:
    """A version-2 record; its mode and size are left out when ``previous`` (the record before it in the
    chunk, or None) has the same."""
    name = rec.name.encode()
    if len(name) > MAX_NAME:
        raise CodecError(f"image name {rec.name[:40]!r}... is longer than {MAX_NAME} bytes")
    same = previous is not None and (previous.mode, previous.width, previous.height) == (rec.mode, rec.width, rec.height)
    shape = b"" if same else bytes([MODE_CODES[rec.mode]]) + varint(rec.width) + varint(rec.height)
    return varint(2 * len(name) + same) + name + shape + varint(len(rec.payload)) + rec.payload


class _Reader:
    """Reads a stream and keeps the running CRC; every failure is a CodecError."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.crc = 0
        self.offset = 0

    def take(self, n: int, what: str) -> bytes:
        data = bytearray()
        while len(data) < n:  # read in pieces: a forged length never allocates more than the file holds
            piece = self.stream.read(min(n - len(data), 1 << 22))
            if not piece:
                raise CodecError(f"the file ends inside the {what} (offset {self.offset + len(data)}): it is truncated")
            data += piece
        data = bytes(data)
        self.crc = zlib.crc32(data, self.crc)
        self.offset += n
        return data

    def varint(self, what: str, limit: int) -> int:
        return _read_varint(lambda: self.take(1, what)[0], what, limit)

    def check_crc(self, what: str) -> None:
        expected = self.crc
        stored = int.from_bytes(self.take(4, f"checksum of the {what}"), "big")
        if stored != expected:
            raise CodecError(f"checksum mismatch in the {what} at offset {self.offset - 4}: the file was edited or damaged")


def read_header(reader: _Reader) -> Header:
    magic = reader.stream.read(len(MAGIC))
    reader.crc, reader.offset = zlib.crc32(magic), len(magic)
    if magic != MAGIC:
        raise CodecError("not a .dae file (no DAE magic bytes at the start)")
    version = reader.take(1, "header")[0]
    if version not in READABLE:
        raise CodecError(f"this .dae file is format version {version}; this deepae reads versions "
                         f"{', '.join(map(str, READABLE))}")
    name_len = reader.take(1, "header")[0]
    try:
        name = reader.take(name_len, "header").decode()
    except UnicodeDecodeError:
        raise CodecError("the model name in the header is not UTF-8: the file is damaged") from None
    digest = reader.take(DIGEST_BYTES, "header")
    quality = reader.take(1, "header")[0]
    reader.check_crc("header")
    return Header(version, name, digest, quality, reader.offset)


def read_chunks(reader: _Reader, version: int = VERSION) -> Iterator[list[Record]]:
    """The records of each chunk, after its checksum passed; checks the end record."""
    total = 0
    while True:
        tag = reader.take(1, "chunk tag")
        if tag == b"E":
            count = reader.varint("image count", 1 << 62)
            reader.check_crc("end record")
            if count != total:
                raise CodecError(f"the end record counts {count} images but the file holds {total}: the file is damaged")
            if reader.stream.read(1):
                raise CodecError("bytes follow the end record: the file is damaged")
            return
        if tag != b"C":
            raise CodecError(f"unknown record tag {tag!r} at offset {reader.offset - 1}: the file is damaged")
        count = reader.varint("chunk image count", 1 << 24)
        size = reader.varint("chunk length", MAX_BODY)
        body = reader.take(size, "chunk")
        reader.check_crc("chunk")
        records = _parse_body(body, count, version)
        total += count
        yield records


def _parse_body(body: bytes, count: int, version: int) -> list[Record]:
    pos = 0

    def num(what: str, limit: int) -> int:
        def next_byte() -> int:
            nonlocal pos
            if pos >= len(body):
                raise CodecError(f"chunk record {what} runs past the chunk: the file is damaged")
            pos += 1
            return body[pos - 1]

        return _read_varint(next_byte, f"image {what}", limit)

    def raw(n: int, what: str) -> bytes:
        nonlocal pos
        if pos + n > len(body):
            raise CodecError(f"image {what} runs past the chunk: the file is damaged")
        pos += n
        return body[pos - n:pos]

    records: list[Record] = []
    for _ in range(count):
        # version 2: 2 x name length + the 'same' bit; version 1: the name length alone
        key = num("name length", 2 * MAX_NAME + 1) if version >= 2 else 2 * num("name length", MAX_NAME)
        try:
            name = raw(key // 2, "name").decode()
        except UnicodeDecodeError:
            raise CodecError("an image name is not UTF-8: the file is damaged") from None
        if key % 2:  # the mode and size of the record before
            if not records:
                raise CodecError("a chunk's first image refers to an image before it: the file is damaged")
            mode, width, height = records[-1].mode, records[-1].width, records[-1].height
        else:
            mode = MODE_NAMES.get(raw(1, "mode")[0])
            if mode is None:
                raise CodecError("an image has an unknown mode (expected L or RGB): the file is damaged")
            width, height = num("width", 65535), num("height", 65535)
            if width < 1 or height < 1:
                raise CodecError(f"an image is {width}x{height} pixels: the file is damaged")
        payload = raw(num("payload length", MAX_BODY), "payload")
        records.append(Record(name, mode, width, height, payload))
    if pos != len(body):
        raise CodecError("a chunk holds bytes after its last image: the file is damaged")
    return records


class ChunkWriter:
    """Writes the header, then chunks of records as they fill, then the end record, keeping the running CRC."""

    def __init__(self, stream: BinaryIO, header: bytes):
        self.stream = stream
        self.crc = 0
        self.count = 0
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.previous: Record | None = None  # the chunk's last record
        self._write(header)

    def _write(self, data: bytes) -> None:
        self.stream.write(data)
        self.crc = zlib.crc32(data, self.crc)

    def add(self, record: Record) -> None:
        data = record_bytes(record, self.previous)
        self.previous = record
        self.pending.append(data)
        self.pending_bytes += len(data)
        if len(self.pending) >= CHUNK_IMAGES or self.pending_bytes >= CHUNK_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        body = b"".join(self.pending)
        self._write(b"C" + varint(len(self.pending)) + varint(len(body)) + body)
        self._write(self.crc.to_bytes(4, "big"))
        self.count += len(self.pending)
        self.pending, self.pending_bytes, self.previous = [], 0, None

    def close(self) -> None:
        self.flush()
        self._write(b"E" + varint(self.count))
        self.stream.write(self.crc.to_bytes(4, "big"))
