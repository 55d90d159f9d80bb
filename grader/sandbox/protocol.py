"""Wire format between the grader and the student worker (both sides import it).

Only plain data crosses: None, bool, int, float, str, numeric numpy arrays
(no object dtype), and lists/tuples/dicts (string keys) of those.  Anything
else that the worker holds is described by an ``Opaque`` marker and stays in
the worker, where later calls can reach it through a ``Ref``; a ``Handle``
names something the grader holds for the worker (a cache of a correct
building block, see grader/sandbox/client.py) and means nothing to the worker.

A message is ``<u32 header length><JSON header><raw array buffers>``.  The
receiver parses JSON and rebuilds arrays with ``np.frombuffer`` from a
whitelisted dtype: nothing is unpickled or evaluated.  Every message from the
worker is hostile: its cost to parse is bounded (header size, nesting depth,
number of values, bytes of arrays, string lengths) and anything malformed is a
``ProtocolError``, never another exception.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

import numpy as np

MAX_HEADER_BYTES = 4 * 1024 * 1024      # JSON part; arrays travel as raw buffers, so real headers are small
MAX_BUFFER_BYTES = 256 * 1024 * 1024    # all arrays of one message together
MAX_DEPTH = 32                           # nesting of lists/tuples/dicts
MAX_NODES = 200_000                      # values of any kind in one message
MAX_BUFFERS = 100_000
MAX_STR = 1_000_000                      # characters of one string
_ALLOWED_KINDS = set("biufc")            # bool, int, uint, float, complex


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed message (``str()`` says what)."""


@dataclass(frozen=True)
class Ref:
    """Points at a value held by the worker: result ``handle``, then ``path`` (indices/keys/attributes)."""
    handle: int
    path: tuple = ()

    def __getitem__(self, key):
        return Ref(self.handle, self.path + (key,))

    def attr(self, name: str) -> "Ref":
        return Ref(self.handle, self.path + ("." + name,))


@dataclass(frozen=True)
class Opaque:
    """Stands for a worker-side value that is not plain data (a cache object, a model...)."""
    type_name: str
    ref: Ref | None = None


@dataclass(frozen=True)
class Handle:
    """Names a value the grader keeps for the worker (opaque to the worker, checked by the grader)."""
    key: int


def _encode(obj, buffers, depth=0):
    if depth > MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return {"$int": str(int(obj))}  # arbitrary size, exact
    if isinstance(obj, (float, np.floating)):
        return {"$float": repr(float(obj))}  # keeps nan/inf exactly
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in _ALLOWED_KINDS:
            raise ProtocolError(f"array of dtype {obj.dtype} cannot be sent")
        arr = obj if obj.flags.c_contiguous else obj.copy(order="C")  # (ascontiguousarray makes 0-d 1-d)
        buffers.append(arr.tobytes())
        return {"$nd": len(buffers) - 1, "dtype": arr.dtype.str, "shape": list(arr.shape)}
    if isinstance(obj, Ref):
        return {"$ref": obj.handle, "path": [_encode(p, buffers, depth + 1) for p in obj.path]}
    if isinstance(obj, Opaque):
        return {"$opaque": obj.type_name, "ref": _encode(obj.ref, buffers, depth + 1)}
    if isinstance(obj, Handle):
        return {"$handle": int(obj.key)}
    if isinstance(obj, tuple):
        return {"$tuple": [_encode(v, buffers, depth + 1) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, buffers, depth + 1) for v in obj]
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise ProtocolError("dict keys must be strings")
        return {"$dict": {k: _encode(v, buffers, depth + 1) for k, v in obj.items()}}
    raise ProtocolError(f"cannot send a value of type {type(obj).__name__}")


class _Decoder:
    def __init__(self, buffers):
        self.buffers = buffers
        self.nodes = 0

    def int_(self, v, what):
        if not isinstance(v, int) or isinstance(v, bool):
            raise ProtocolError(f"malformed {what}")
        return v

    def __call__(self, obj, depth=0):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ProtocolError(f"more than {MAX_NODES} values in one message")
        if depth > MAX_DEPTH:
            raise ProtocolError("value nested too deeply")
        if obj is None or isinstance(obj, bool):
            return obj
        if isinstance(obj, str):
            if len(obj) > MAX_STR:
                raise ProtocolError("string too long")
            return obj
        if isinstance(obj, list):
            return [self(v, depth + 1) for v in obj]
        if not isinstance(obj, dict) or len(obj) == 0:
            raise ProtocolError("malformed value")
        if "$int" in obj:
            s = obj["$int"]
            if not isinstance(s, str) or len(s) > 400:
                raise ProtocolError("malformed int")
            try:
                return int(s)
            except ValueError:
                raise ProtocolError("malformed int") from None
        if "$float" in obj:
            s = obj["$float"]
            if not isinstance(s, str) or len(s) > 40:
                raise ProtocolError("malformed float")
            try:
                return float(s)
            except ValueError:
                raise ProtocolError("malformed float") from None
        if "$nd" in obj:
            return self.array(obj)
        if "$tuple" in obj:
            items = obj["$tuple"]
            if not isinstance(items, list):
                raise ProtocolError("malformed tuple")
            return tuple(self(v, depth + 1) for v in items)
        if "$dict" in obj:
            d = obj["$dict"]
            if not isinstance(d, dict):
                raise ProtocolError("malformed dict")
            return {k: self(v, depth + 1) for k, v in d.items()}
        if "$ref" in obj:
            path = obj.get("path", [])
            if not isinstance(path, list):
                raise ProtocolError("malformed reference")
            return Ref(self.int_(obj["$ref"], "reference"), tuple(self(p, depth + 1) for p in path))
        if "$opaque" in obj:
            name = obj["$opaque"]
            ref = obj.get("ref")
            ref = self(ref, depth + 1) if ref is not None else None
            if not isinstance(name, str) or not (ref is None or isinstance(ref, Ref)):
                raise ProtocolError("malformed opaque value")
            return Opaque(name[:200], ref)
        if "$handle" in obj:
            return Handle(self.int_(obj["$handle"], "handle"))
        raise ProtocolError("unknown value tag")

    def array(self, obj):
        idx, dt, shape = obj.get("$nd"), obj.get("dtype"), obj.get("shape")
        if not (isinstance(idx, int) and not isinstance(idx, bool) and 0 <= idx < len(self.buffers)
                and isinstance(dt, str) and isinstance(shape, list) and len(shape) <= 32
                and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
            raise ProtocolError("malformed array")
        try:
            dtype = np.dtype(dt) if 2 <= len(dt) <= 4 and dt[0] in "<>|=" else None
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in _ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise ProtocolError(f"array dtype {dt[:20]!r} not allowed")
        buf = self.buffers[idx]
        if math.prod(shape) * dtype.itemsize != len(buf):  # Python ints: no overflow
            raise ProtocolError("array size does not match its shape")
        return np.frombuffer(buf, dtype=dtype).reshape(shape).copy()


def pack(header: dict, payload=None) -> bytes:
    """Serialise a message: ``header`` is JSON-plain; ``payload`` any sendable value."""
    buffers: list[bytes] = []
    msg = dict(header)
    msg["payload"] = _encode(payload, buffers)
    msg["buffers"] = [len(b) for b in buffers]
    head = json.dumps(msg, allow_nan=False).encode()
    if len(head) > MAX_HEADER_BYTES:
        raise ProtocolError(f"message header of {len(head)} bytes is too large (arrays travel as buffers)")
    return struct.pack("<I", len(head)) + head + b"".join(buffers)


def _read_exact(stream, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            raise EOFError("peer closed the channel")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_message(stream) -> tuple[dict, object]:
    """Read one message from a binary stream; returns (header, payload).

    EOFError when the peer closed the channel; ProtocolError for anything malformed (and for nothing
    else: every way a hostile peer can make decoding fail is turned into one)."""
    (hlen,) = struct.unpack("<I", _read_exact(stream, 4))
    if hlen > MAX_HEADER_BYTES:
        raise ProtocolError(f"header of {hlen} bytes is larger than {MAX_HEADER_BYTES}")
    raw = _read_exact(stream, hlen)
    try:
        head = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"header is not JSON ({type(exc).__name__})") from None
    if not isinstance(head, dict):
        raise ProtocolError("header is not an object")
    sizes = head.pop("buffers", [])
    if not (isinstance(sizes, list) and len(sizes) <= MAX_BUFFERS
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sizes)
            and sum(sizes) <= MAX_BUFFER_BYTES):
        raise ProtocolError("bad buffer table")
    buffers = [_read_exact(stream, s) for s in sizes]
    try:
        payload = _Decoder(buffers)(head.pop("payload", None))
    except ProtocolError:
        raise
    except (RecursionError, MemoryError, ValueError, TypeError, OverflowError, KeyError) as exc:
        raise ProtocolError(f"malformed payload ({type(exc).__name__})") from None
    return head, payload
