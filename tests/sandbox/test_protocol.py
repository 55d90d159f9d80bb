"""grader/sandbox/protocol.py: the wire format between the grader and the (hostile) worker.

Every value kind the protocol carries survives a round trip unchanged; every malformed message a
worker could send (bad header length, a header that is not JSON or not an object, a bad buffer
table, buffers over the limit, unknown tags, malformed ints / floats / arrays / containers /
references, disallowed dtypes, a shape that does not match its buffer, nesting too deep) raises
ProtocolError and nothing else; a stream that ends early is a closed channel (EOFError).
"""
import io
import json
import math
import random
import struct

import numpy as np
import pytest

from grader.sandbox import protocol
from grader.sandbox.protocol import Opaque, ProtocolError, Ref, pack, read_message

HANDLE = getattr(protocol, "Handle", None)  # grader-held values (newer protocol versions)
# The most bytes a header may have: whatever the limit is called, 2**32 - 1 is above it.
HEADER_LIMIT = getattr(protocol, "MAX_HEADER_BYTES", getattr(protocol, "MAX_MESSAGE_BYTES", None))
BUFFER_LIMIT = getattr(protocol, "MAX_BUFFER_BYTES", getattr(protocol, "MAX_MESSAGE_BYTES", None))


def roundtrip(payload, header=None):
    head, got = read_message(io.BytesIO(pack(header or {"op": "call"}, payload)))
    return head, got


def raw(head: bytes, tail: bytes = b"") -> io.BytesIO:
    return io.BytesIO(struct.pack("<I", len(head)) + head + tail)


def message(payload_json, buffers=(), **extra) -> io.BytesIO:
    """A hand-made message whose payload is the given JSON value (the worker's side of the wire)."""
    head = dict(extra, payload=payload_json, buffers=[len(b) for b in buffers])
    return raw(json.dumps(head).encode(), b"".join(buffers))


def same(a, b) -> bool:
    """Equal values of equal types (arrays: dtype, shape and bits; floats: nan and the sign of zero)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


# ------------------------------------------------------------------ round trips
SCALARS = [None, True, False, 0, -1, 7, 2 ** 100, -(2 ** 70), 0.0, -0.0, 1.5, -2.5e-300, 1e308, float("nan"),
           float("inf"), float("-inf"), "", "plain", "héllo ✓ \u2603", "nul\x00byte", "x" * 10_000]


@pytest.mark.parametrize("value", SCALARS, ids=[repr(v)[:20] for v in SCALARS])
def test_scalars_roundtrip(value):
    _, got = roundtrip(value)
    assert same(got, value), (got, value)


@pytest.mark.parametrize("value,want", [
    (np.int64(-3), -3), (np.uint8(255), 255), (np.int32(2 ** 31 - 1), 2 ** 31 - 1), (np.float32(0.1), float(np.float32(0.1))),
    (np.float64(-0.0), -0.0), (np.bool_(True), True), (np.bool_(False), False)])
def test_numpy_scalars_arrive_as_python_scalars(value, want):
    _, got = roundtrip(value)
    assert same(got, want), (got, want)


ARRAYS = {
    "bool": np.array([True, False, True]),
    "int8": np.arange(-4, 4, dtype=np.int8), "int16": np.arange(6, dtype=np.int16).reshape(2, 3),
    "int32": np.array([[-(2 ** 31)], [2 ** 31 - 1]], dtype=np.int32), "int64": np.arange(24).reshape(2, 3, 4),
    "uint8": np.arange(256, dtype=np.uint8), "uint16": np.array([65535], dtype=np.uint16),
    "uint32": np.array([2 ** 32 - 1], dtype=np.uint32), "uint64": np.array([2 ** 64 - 1], dtype=np.uint64),
    "float16": np.array([0.5, -1.25], dtype=np.float16), "float32": np.linspace(-1, 1, 7, dtype=np.float32),
    "float64": np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324]),
    "complex64": np.array([1 + 2j, -3j], dtype=np.complex64), "complex128": np.array([[1e300 + 1e-300j]]),
    "0-d": np.array(3.25), "empty": np.zeros((0, 3)), "empty 3-d": np.zeros((2, 0, 4), dtype=np.int32),
    "big-endian": np.arange(5, dtype=">f8"), "big-endian int": np.arange(5, dtype=">i4"),
}


@pytest.mark.parametrize("name", list(ARRAYS))
def test_arrays_roundtrip_with_dtype_shape_and_bits(name):
    a = ARRAYS[name]
    _, got = roundtrip(a)
    assert same(got, a), (name, got)
    assert got.flags.writeable and got.flags.owndata  # a copy of ours, not a view of the wire buffer


def test_non_contiguous_arrays_arrive_as_their_values():
    a = np.arange(30, dtype=np.float64).reshape(5, 6)
    for view in (a[:, ::2], a.T, np.asfortranarray(a), a[::-1]):
        _, got = roundtrip(view)
        assert got.dtype == view.dtype and np.array_equal(got, view)


def test_containers_roundtrip():
    value = {"list": [1, [2, [3, []]], ()], "tuple": (1, "a", (None, 2.5), [np.int8(1)]),
             "dict": {"": 0, "nested": {"x": {"y": (np.zeros(2),)}}, "é": [True]}, "empty": {}, "arrays": [
                 np.ones((2, 2)), np.arange(3, dtype=np.uint16)]}
    _, got = roundtrip(value)
    assert type(got["tuple"]) is tuple and type(got["list"][2]) is tuple and type(got["list"]) is list
    want = {"list": [1, [2, [3, []]], ()], "tuple": (1, "a", (None, 2.5), [1]),
            "dict": {"": 0, "nested": {"x": {"y": (np.zeros(2),)}}, "é": [True]}, "empty": {},
            "arrays": [np.ones((2, 2)), np.arange(3, dtype=np.uint16)]}
    assert same(got, want)


def test_references_and_opaque_values_roundtrip():
    ref = Ref(3, (0, "key", ".attr"))
    assert ref["x"] == Ref(3, (0, "key", ".attr", "x")) and ref.attr("loss") == Ref(3, (0, "key", ".attr", ".loss"))
    values = [Ref(0), ref, Opaque("Sequential"), Opaque("tuple", Ref(7, (1,))), [Opaque("CacheObject", Ref(1))]]
    if HANDLE is not None:
        values.append(HANDLE(12))
    for v in values:
        _, got = roundtrip(v)
        assert got == v and type(got) is type(v), (got, v)


def test_header_fields_and_consecutive_messages():
    stream = io.BytesIO(pack({"op": "call", "id": 1, "label": "rnn_step_forward"}, (np.ones(2), "a"))
                        + pack({"op": "result", "ok": True}, None) + pack({"op": "call", "id": 2}, [1, 2]))
    head1, p1 = read_message(stream)
    head2, p2 = read_message(stream)
    head3, p3 = read_message(stream)
    assert head1 == {"op": "call", "id": 1, "label": "rnn_step_forward"} and same(p1, (np.ones(2), "a"))
    assert head2 == {"op": "result", "ok": True} and p2 is None
    assert head3 == {"op": "call", "id": 2} and p3 == [1, 2]
    with pytest.raises(EOFError):
        read_message(stream)


@pytest.mark.parametrize("value", [np.array([object()], dtype=object), np.array(["a", "b"]), np.array([b"x"]),
                                   np.array(["2020-01-01"], dtype="datetime64[D]"),
                                   np.zeros(2, dtype=[("a", "<f8")]), {1: "int key"}, {"a": {(1, 2): 3}},
                                   {1, 2}, object(), b"bytes", 1 + 2j, [lambda: None]],
                         ids=["object array", "str array", "bytes array", "datetime array", "structured array",
                              "int dict key", "tuple dict key", "set", "object", "bytes", "complex scalar",
                              "function"])
def test_what_cannot_be_sent_is_refused_when_packing(value):
    with pytest.raises(ProtocolError):
        pack({"op": "result"}, value)


def test_packing_refuses_nesting_too_deep():
    value = 0
    for _ in range(protocol.MAX_DEPTH + 5):
        value = [value]
    with pytest.raises(ProtocolError):
        pack({"op": "result"}, value)


# ------------------------------------------------------------------ malformed messages
def f8(n: int) -> bytes:
    return np.zeros(n).tobytes()


MALFORMED = {
    # framing and header
    "header length above the limit": lambda: io.BytesIO(struct.pack("<I", 2 ** 32 - 1)),
    "header length just above the limit": lambda: io.BytesIO(struct.pack("<I", HEADER_LIMIT + 1) + b"{}"),
    "empty header": lambda: raw(b""),
    "header not JSON": lambda: raw(b"{not json"),
    "header truncated JSON": lambda: raw(b'{"payload": [1, 2'),
    "header not UTF-8": lambda: raw(b'{"payload": "\xff\xfe"}'),
    "header NUL bytes": lambda: raw(b"\x00" * 16),
    "header a list": lambda: raw(b"[1, 2]"),
    "header a number": lambda: raw(b"42"),
    "header a string": lambda: raw(b'"payload"'),
    "header null": lambda: raw(b"null"),
    "header nested too deep for the JSON parser": lambda: raw(b'{"payload": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"),
    # buffer table
    "buffers not a list": lambda: raw(b'{"payload": null, "buffers": "8"}'),
    "buffers a dict": lambda: raw(b'{"payload": null, "buffers": {"a": 1}}'),
    "buffer size negative": lambda: raw(b'{"payload": null, "buffers": [-1]}'),
    "buffer size a float": lambda: raw(b'{"payload": null, "buffers": [8.0]}', f8(1)),
    "buffer size a string": lambda: raw(b'{"payload": null, "buffers": ["8"]}', f8(1)),
    "buffer size null": lambda: raw(b'{"payload": null, "buffers": [null]}'),
    "one buffer over the limit": lambda: raw(b'{"payload": null, "buffers": [1099511627776]}'),
    "buffers together over the limit": lambda: raw(
        json.dumps({"payload": None, "buffers": [BUFFER_LIMIT // 2 + 1, BUFFER_LIMIT // 2 + 1]}).encode()),
    # values
    "bare number": lambda: message(5),
    "bare float": lambda: message(1.5),
    "empty object": lambda: message({}),
    "unknown tag": lambda: message({"$what": 1}),
    "untagged object": lambda: message({"a": 1}),
    "unknown tag inside a list": lambda: message([1, {"$eval": "__import__('os')"}]),
    "int not a string": lambda: message({"$int": 5}),
    "int not digits": lambda: message({"$int": "abc"}),
    "int in float notation": lambda: message({"$int": "1e5"}),
    "int empty": lambda: message({"$int": ""}),
    "int null": lambda: message({"$int": None}),
    "int too long": lambda: message({"$int": "9" * 5000}),
    "float not a string": lambda: message({"$float": 1.0}),
    "float not a number": lambda: message({"$float": "abc"}),
    "float empty": lambda: message({"$float": ""}),
    "float too long": lambda: message({"$float": "1" * 5000}),
    "float a list": lambda: message({"$float": ["1.0"]}),
    "tuple not a list": lambda: message({"$tuple": 5}),
    "tuple a string": lambda: message({"$tuple": "abc"}),
    "tuple an object": lambda: message({"$tuple": {"a": 1}}),
    "dict not an object": lambda: message({"$dict": [1, 2]}),
    "dict a string": lambda: message({"$dict": "ab"}),
    "dict value malformed": lambda: message({"$dict": {"a": {"$int": "x"}}}),
    "ref not an int": lambda: message({"$ref": "1"}),
    "ref a float": lambda: message({"$ref": 1.5}),
    "ref path not a list": lambda: message({"$ref": 1, "path": 5}),
    "ref path malformed": lambda: message({"$ref": 1, "path": [{"$int": []}]}),
    "opaque name not a string": lambda: message({"$opaque": 5}),
    "opaque ref malformed": lambda: message({"$opaque": "X", "ref": {"$int": "x"}}),
    # arrays
    "array without buffers": lambda: message({"$nd": 0, "dtype": "<f8", "shape": [1]}),
    "array index out of range": lambda: message({"$nd": 1, "dtype": "<f8", "shape": [1]}, [f8(1)]),
    "array index negative": lambda: message({"$nd": -1, "dtype": "<f8", "shape": [1]}, [f8(1)]),
    "array index a string": lambda: message({"$nd": "0", "dtype": "<f8", "shape": [1]}, [f8(1)]),
    "array index a float": lambda: message({"$nd": 0.0, "dtype": "<f8", "shape": [1]}, [f8(1)]),
    "array without dtype": lambda: message({"$nd": 0, "shape": [1]}, [f8(1)]),
    "array dtype not a string": lambda: message({"$nd": 0, "dtype": 8, "shape": [1]}, [f8(1)]),
    "array dtype empty": lambda: message({"$nd": 0, "dtype": "", "shape": [1]}, [f8(1)]),
    "array dtype unknown": lambda: message({"$nd": 0, "dtype": "<zz", "shape": [1]}, [f8(1)]),
    "array dtype gibberish": lambda: message({"$nd": 0, "dtype": "))((", "shape": [1]}, [f8(1)]),
    "array dtype without byte order": lambda: message({"$nd": 0, "dtype": "f8", "shape": [1]}, [f8(1)]),
    "array without shape": lambda: message({"$nd": 0, "dtype": "<f8"}, [f8(1)]),
    "array shape not a list": lambda: message({"$nd": 0, "dtype": "<f8", "shape": 1}, [f8(1)]),
    "array shape negative": lambda: message({"$nd": 0, "dtype": "<f8", "shape": [-1]}, [f8(1)]),
    "array shape a float": lambda: message({"$nd": 0, "dtype": "<f8", "shape": [1.0]}, [f8(1)]),
    "array shape a string": lambda: message({"$nd": 0, "dtype": "<f8", "shape": ["1"]}, [f8(1)]),
    "array shape too small": lambda: message({"$nd": 0, "dtype": "<f8", "shape": [2, 3]}, [f8(5)]),
    "array shape too large": lambda: message({"$nd": 0, "dtype": "<f8", "shape": [2, 3]}, [f8(7)]),
    "array 0-d without data": lambda: message({"$nd": 0, "dtype": "<f8", "shape": []}, [b""]),
    "array shape overflowing int64": lambda: message({"$nd": 0, "dtype": "<f8", "shape": [2 ** 32, 2 ** 32]}, [b""]),
    "array shape overflowing to the buffer size": lambda: message(
        {"$nd": 0, "dtype": "|u1", "shape": [2 ** 64 + 8]}, [bytes(8)]),
    "array dims huge": lambda: message({"$nd": 0, "dtype": "<f8", "shape": [10 ** 30]}, [f8(1)]),
    "array buffer not whole items": lambda: message({"$nd": 0, "dtype": "<f8", "shape": [1]}, [bytes(7)]),
}
DISALLOWED_DTYPES = ["|O", "<U4", "|S3", "|V8", "<M8", "<m8", "<M8[s]", "|b1,<f8", "[('a','<f8')]", "<f8 ",
                     "(2,)<f8", "O"]


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_message_raises_protocol_error(case):
    with pytest.raises(ProtocolError):
        read_message(MALFORMED[case]())


@pytest.mark.parametrize("dtype", DISALLOWED_DTYPES)
def test_disallowed_dtype_raises_protocol_error(dtype):
    with pytest.raises(ProtocolError):
        read_message(message({"$nd": 0, "dtype": dtype, "shape": [1]}, [f8(1)]))


def test_header_over_the_limit_is_refused_before_it_is_read():
    """The length alone decides: the grader never reads (or allocates) a header over the limit."""
    stream = io.BytesIO(struct.pack("<I", HEADER_LIMIT + 1) + b"x" * 64)
    with pytest.raises(ProtocolError):
        read_message(stream)
    assert stream.tell() == 4


def test_buffers_over_the_limit_are_refused_before_they_are_read():
    head = json.dumps({"payload": None, "buffers": [BUFFER_LIMIT + 1]}).encode()
    stream = raw(head, b"x" * 64)
    with pytest.raises(ProtocolError):
        read_message(stream)
    assert stream.tell() == 4 + len(head)


@pytest.mark.parametrize("kind", ["list", "tuple", "dict"])
def test_nesting_too_deep_raises_protocol_error(kind):
    value = {"$int": "1"}
    for _ in range(protocol.MAX_DEPTH + 2):
        value = {"list": [value], "tuple": {"$tuple": [value]}, "dict": {"$dict": {"k": value}}}[kind]
    with pytest.raises(ProtocolError):
        read_message(message(value))
    shallow = {"$int": "1"}
    for _ in range(protocol.MAX_DEPTH - 2):
        shallow = {"list": [shallow], "tuple": {"$tuple": [shallow]}, "dict": {"$dict": {"k": shallow}}}[kind]
    read_message(message(shallow))  # nesting within the limit is fine


@pytest.mark.parametrize("cut", [0, 2, 4, 10, -9, -1])
def test_a_stream_that_ends_early_is_a_closed_channel(cut):
    data = pack({"op": "result"}, np.arange(4.0))
    with pytest.raises(EOFError):
        read_message(io.BytesIO(data[:cut] if cut >= 0 else data[:len(data) + cut]))


def test_random_corruption_never_raises_anything_else():
    """Bytes flipped, cut or inserted anywhere in real messages: ProtocolError, EOFError or a value,
    never another exception."""
    rng = random.Random(182)
    samples = [pack({"op": "result", "id": 3}, v) for v in (
        (np.arange(6.0).reshape(2, 3), {"a": [1, 2.5, "s"]}), Opaque("Model", Ref(2, (0, ".w"))),
        [np.int64(2 ** 40), None, True, (np.ones(3, dtype=np.float32),)])]
    outcomes = {"value": 0, "ProtocolError": 0, "EOFError": 0}
    for _ in range(3000):
        data = bytearray(rng.choice(samples))
        for _ in range(rng.randint(1, 4)):
            op, i = rng.randrange(3), rng.randrange(len(data))
            if op == 0:
                data[i] = rng.randrange(256)
            elif op == 1:
                del data[i:i + rng.randint(1, 8)]
            else:
                data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        try:
            read_message(io.BytesIO(bytes(data)))
            outcomes["value"] += 1
        except ProtocolError:
            outcomes["ProtocolError"] += 1
        except EOFError:
            outcomes["EOFError"] += 1
    print(outcomes)
    assert outcomes["ProtocolError"] > 100 and outcomes["EOFError"] > 100
