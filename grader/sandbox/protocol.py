"""Wire format between the grader and the student worker.

Only plain data crosses: None, bool, int, float, str, numeric numpy arrays
(no object dtype), and lists/tuples/dicts (string keys) of those.  Anything
else that the worker holds is described by an ``Opaque`` marker and stays in
the worker, where later calls can reach it through a ``Ref``.

A message is ``<u32 header length><JSON header><raw array buffers>``.  The
receiver parses JSON and rebuilds arrays with ``np.frombuffer`` from a
whitelisted dtype: nothing is unpickled or evaluated.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # a hostile worker cannot make the grader allocate more
MAX_DEPTH = 32
_ALLOWED_KINDS = set("biufc")  # bool, int, uint, float, complex


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed message."""


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
        arr = np.ascontiguousarray(obj)
        buffers.append(arr.tobytes())
        return {"$nd": len(buffers) - 1, "dtype": arr.dtype.str, "shape": list(arr.shape)}
    if isinstance(obj, Ref):
        return {"$ref": obj.handle, "path": [_encode(p, buffers, depth + 1) for p in obj.path]}
    if isinstance(obj, Opaque):
        return {"$opaque": obj.type_name, "ref": _encode(obj.ref, buffers, depth + 1)}
    if isinstance(obj, tuple):
        return {"$tuple": [_encode(v, buffers, depth + 1) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, buffers, depth + 1) for v in obj]
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise ProtocolError("dict keys must be strings")
        return {"$dict": {k: _encode(v, buffers, depth + 1) for k, v in obj.items()}}
    raise ProtocolError(f"cannot send a value of type {type(obj).__name__}")


def _decode(obj, buffers, depth=0):
    if depth > MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, list):
        return [_decode(v, buffers, depth + 1) for v in obj]
    if not isinstance(obj, dict) or len(obj) == 0:
        raise ProtocolError("malformed value")
    if "$int" in obj:
        s = obj["$int"]
        if not isinstance(s, str) or len(s) > 400:
            raise ProtocolError("malformed int")
        return int(s)
    if "$float" in obj:
        s = obj["$float"]
        if not isinstance(s, str) or len(s) > 40:
            raise ProtocolError("malformed float")
        return float(s)
    if "$nd" in obj:
        idx, dt, shape = obj.get("$nd"), obj.get("dtype"), obj.get("shape")
        if not (isinstance(idx, int) and 0 <= idx < len(buffers) and isinstance(dt, str)
                and isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)):
            raise ProtocolError("malformed array")
        dtype = np.dtype(dt) if len(dt) <= 4 and dt[0] in "<>|=" else None
        if dtype is None or dtype.kind not in _ALLOWED_KINDS:
            raise ProtocolError(f"array dtype {dt!r} not allowed")
        buf = buffers[idx]
        if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != len(buf):
            raise ProtocolError("array size does not match its shape")
        return np.frombuffer(buf, dtype=dtype).reshape(shape).copy()
    if "$tuple" in obj:
        return tuple(_decode(v, buffers, depth + 1) for v in obj["$tuple"])
    if "$dict" in obj:
        d = obj["$dict"]
        if not isinstance(d, dict):
            raise ProtocolError("malformed dict")
        return {str(k): _decode(v, buffers, depth + 1) for k, v in d.items()}
    if "$ref" in obj:
        path = tuple(_decode(p, buffers, depth + 1) for p in obj.get("path", []))
        return Ref(int(obj["$ref"]), path)
    if "$opaque" in obj:
        ref = obj.get("ref")
        return Opaque(str(obj["$opaque"])[:200], _decode(ref, buffers, depth + 1) if ref is not None else None)
    raise ProtocolError("unknown value tag")


def pack(header: dict, payload=None) -> bytes:
    """Serialise a message: ``header`` is JSON-plain; ``payload`` any sendable value."""
    buffers: list[bytes] = []
    msg = dict(header)
    msg["payload"] = _encode(payload, buffers)
    msg["buffers"] = [len(b) for b in buffers]
    head = json.dumps(msg, allow_nan=False).encode()
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
    """Read one message from a binary stream; returns (header, payload)."""
    (hlen,) = struct.unpack("<I", _read_exact(stream, 4))
    if hlen > MAX_MESSAGE_BYTES:
        raise ProtocolError("header too large")
    try:
        head = json.loads(_read_exact(stream, hlen))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"header is not JSON: {exc}") from None
    if not isinstance(head, dict):
        raise ProtocolError("header is not an object")
    sizes = head.pop("buffers", [])
    if not isinstance(sizes, list) or not all(isinstance(s, int) and s >= 0 for s in sizes) \
            or sum(sizes) > MAX_MESSAGE_BYTES:
        raise ProtocolError("bad buffer table")
    buffers = [_read_exact(stream, s) for s in sizes]
    payload = _decode(head.pop("payload", None), buffers)
    return head, payload
