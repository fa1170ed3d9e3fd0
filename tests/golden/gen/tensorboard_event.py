"""Golden bytes for the TensorBoard writer, produced by the real protobuf library (python3-protobuf)
from a dynamically built copy of TensorFlow's Event/Summary schema, and TFRecord-framed with a
bit-by-bit CRC-32C written from the definition (independent of the C++ table-driven code).
Run: /usr/bin/python3 tests/golden/gen/tensorboard_event.py  (writes tests/golden/fixtures/core/)"""
import os
import struct

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "core")


def schema():
    f = descriptor_pb2.FileDescriptorProto(name="event.proto", package="tb", syntax="proto3")
    value = f.message_type.add(name="Value")
    value.field.add(name="tag", number=1, type=9, label=1)            # string
    value.field.add(name="simple_value", number=2, type=2, label=1)   # float
    summ = f.message_type.add(name="Summary")
    summ.field.add(name="value", number=1, type=11, label=3, type_name=".tb.Value")
    ev = f.message_type.add(name="Event")
    ev.field.add(name="wall_time", number=1, type=1, label=1)         # double
    ev.field.add(name="step", number=2, type=3, label=1)              # int64
    ev.field.add(name="file_version", number=3, type=9, label=1, oneof_index=0)
    ev.field.add(name="summary", number=5, type=11, label=1, type_name=".tb.Summary", oneof_index=0)
    ev.oneof_decl.add(name="what")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    get = lambda n: message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName(n))
    return get("tb.Event")


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(payload):
    n = struct.pack("<Q", len(payload))
    return n + struct.pack("<I", masked(n)) + payload + struct.pack("<I", masked(payload))


def main():
    Event = schema()
    os.makedirs(OUT, exist_ok=True)
    first = Event(wall_time=1700000000.25, file_version="brain.Event:2")
    scalar = Event(wall_time=1700000001.5, step=42)
    v = scalar.summary.value.add()
    v.tag = "train/loss"
    v.simple_value = 5.4321
    with open(os.path.join(OUT, "tb_version_event.bin"), "wb") as f:
        f.write(frame(first.SerializeToString()))
    with open(os.path.join(OUT, "tb_scalar_event.bin"), "wb") as f:
        f.write(frame(scalar.SerializeToString()))
    assert crc32c(b"123456789") == 0xE3069283


if __name__ == "__main__":
    main()
