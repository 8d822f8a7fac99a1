"""Reads and writes safetensors files with only the standard library and numpy.

The reference (Hugging Face's `safetensors` package) is not in Debian; this is the
format as its README specifies it: an 8-byte little-endian header length N, N
bytes of UTF-8 JSON ({name: {"dtype", "shape", "data_offsets": [begin, end]}},
plus an optional "__metadata__" string map), then the little-endian data.  It
lets jrocm's files be checked from Python, and lets scripts such as
make_fixtures.py store tensors in the format (import read_safetensors /
write_safetensors from here).

Used by jrocm's tests (SafetensorsInteropTest) with the system Python:

    /usr/bin/python3 safetensors_numpy.py check FILE EXPECTED.json
        Reads FILE and compares it, bit for bit, with EXPECTED.json:
        {"metadata": {...}, "tensors": {name: {"dtype": "F32"|"I32",
        "shape": [...], "bits": [int32 bit patterns, row-major]}}}.
        Exits 0 and prints "ok N tensors" when they agree, 1 with the differences.

    /usr/bin/python3 safetensors_numpy.py write FILE
        Writes a fixed set of tensors (see SAMPLE) for the Java side to read back.

Needs numpy (Debian: python3-numpy).
"""
import json
import struct
import sys

import numpy as np

DTYPES = {
    "BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "I16": np.int16, "U16": np.uint16,
    "F16": np.float16, "I32": np.int32, "U32": np.uint32, "F32": np.float32,
    "I64": np.int64, "U64": np.uint64, "F64": np.float64,
}
NAMES = {np.dtype(v).str: k for k, v in DTYPES.items()}


def read_safetensors(path):
    """Returns ({name: ndarray}, metadata) and checks the layout as strictly as jrocm does."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise ValueError(f"{path}: header length {n} runs past the end ({len(blob)} bytes)")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors, covered = {}, []
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = np.dtype(DTYPES[info["dtype"]]).newbyteorder("<")
        count = int(np.prod(info["shape"], dtype=np.int64))
        if count * dtype.itemsize != end - begin or end > len(data):
            raise ValueError(f"{path}: tensor {name!r} disagrees with its offsets")
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(info["shape"])
        covered.append((begin, end))
    position = 0
    for begin, end in sorted(covered):
        if begin != position:
            raise ValueError(f"{path}: gap or overlap at data byte {position}")
        position = end
    if position != len(data):
        raise ValueError(f"{path}: {len(data) - position} data bytes after the last tensor")
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: ndarray} (in dict order) and an optional string map."""
    header, offset, chunks = {}, 0, []
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, array in tensors.items():
        array = np.asarray(array)
        if not array.flags.c_contiguous:  # (np.ascontiguousarray would turn a scalar into shape [1])
            array = array.copy(order="C")
        little = array.astype(array.dtype.newbyteorder("<"), copy=False)
        raw = little.tobytes()
        header[name] = {"dtype": NAMES[array.dtype.newbyteorder("<").str],
                        "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        chunks.append(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


SAMPLE = {
    "weight": (np.arange(6, dtype=np.float32).reshape(2, 3) * np.float32(0.5) - np.float32(1)),
    "labels": np.array([-1, 7, 2**31 - 1], dtype=np.int32),
    "scalar": np.array(np.float32(3.25)),
    "half": np.array([1.5, -2.0], dtype=np.float16),
}
SAMPLE_METADATA = {"writer": "numpy", "format": "pt"}


def check(path, expected_path):
    tensors, metadata = read_safetensors(path)
    with open(expected_path, encoding="utf-8") as f:
        expected = json.load(f)
    problems = []
    if metadata != expected["metadata"]:
        problems.append(f"metadata {metadata} != {expected['metadata']}")
    if list(tensors) != list(expected["tensors"]):
        problems.append(f"names {list(tensors)} != {list(expected['tensors'])}")
    for name, want in expected["tensors"].items():
        got = tensors.get(name)
        if got is None:
            continue
        if NAMES[got.dtype.str] != want["dtype"] or list(got.shape) != want["shape"]:
            problems.append(f"{name}: {NAMES[got.dtype.str]} {list(got.shape)} != {want['dtype']} {want['shape']}")
            continue
        bits = np.array(want["bits"], dtype=np.int64).astype(np.uint32).view(np.int32)
        if not np.array_equal(got.reshape(-1).view(np.int32), bits):
            problems.append(f"{name}: values differ")
    if problems:
        print("\n".join(problems))
        return 1
    print(f"ok {len(tensors)} tensors")
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "check":
        return check(argv[2], argv[3])
    if len(argv) == 3 and argv[1] == "write":
        write_safetensors(argv[2], SAMPLE, SAMPLE_METADATA)
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
