#!/usr/bin/env python3
"""An independent TensorBoard event file encoder and reader for the tests: TFRecord framing
with CRC-32C from the crc32c package and the Event / Summary protobuf wire format
written by hand (tensorflow/core/util/event.proto field numbers).

  tfrecord_reference.py write OUT.json EVENTS.json   # EVENTS: [{"wall_time", "step",
                                                     #   "file_version"} | {..., "tag", "value"}]
  tfrecord_reference.py read FILE                    # prints [{"step", "tag", "value"}, ...]
"""
import json
import struct
import sys

import crc32c


def masked_crc(data):
    crc = crc32c.crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def length_delimited(field, payload):
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def event_bytes(event):
    out = varint(1 << 3 | 1) + struct.pack("<d", event["wall_time"])
    if event["step"]:
        out += varint(2 << 3 | 0) + varint(event["step"])
    if "file_version" in event:
        out += length_delimited(3, event["file_version"].encode())
    else:
        value = length_delimited(1, event["tag"].encode()) + varint(2 << 3 | 5) + struct.pack(
            "<f", event["value"])
        out += length_delimited(5, length_delimited(1, value))
    return out


def frame(record):
    length = struct.pack("<Q", len(record))
    return length + struct.pack("<I", masked_crc(length)) + record + struct.pack(
        "<I", masked_crc(record))


def read_varint(data, pos):
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def fields(data):
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        elif wire == 2:
            size, pos = read_varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        else:
            raise ValueError("wire type %d" % wire)
        yield number, value


def read(path):
    data = open(path, "rb").read()
    pos, events = 0, []
    while pos < len(data):
        length = data[pos:pos + 8]
        (size,) = struct.unpack("<Q", length)
        if struct.unpack("<I", data[pos + 8:pos + 12])[0] != masked_crc(length):
            raise ValueError("bad length crc at %d" % pos)
        record = data[pos + 12:pos + 12 + size]
        if struct.unpack("<I", data[pos + 12 + size:pos + 16 + size])[0] != masked_crc(record):
            raise ValueError("bad data crc at %d" % pos)
        pos += 16 + size
        step = 0
        for number, value in fields(record):
            if number == 2:
                step = value
            elif number == 3:
                events.append({"step": step, "file_version": value.decode()})
            elif number == 5:
                for _, summary_value in fields(value):
                    tag, scalar = None, None
                    for n, v in fields(summary_value):
                        if n == 1:
                            tag = v.decode()
                        elif n == 2:
                            (scalar,) = struct.unpack("<f", v)
                    events.append({"step": step, "tag": tag, "value": scalar})
    return events


if __name__ == "__main__":
    if sys.argv[1] == "write":
        events = json.load(open(sys.argv[3]))
        with open(sys.argv[2], "wb") as out:
            for event in events:
                out.write(frame(event_bytes(event)))
    else:
        print(json.dumps(read(sys.argv[2])))
