"""pna_wire: an independent Python encoder/decoder for pnad's ingest wire
format (proto/pna.proto, varint-delimited frames), so the tests speak the
protocol without going through pnad's own C code, and can send bytes that
no well-behaved client would."""

import socket
import struct

# Frame fields
HELLO, WELCOME, BATCH, ACK, ERROR = 1, 2, 3, 4, 5

EVENT_TYPES = {
    "MessageNew": 1, "MessageAppend": 2, "MessageExpire": 3, "MessageExpunge": 4,
    "MessageRead": 5, "MessageTrash": 6, "FlagsSet": 7, "FlagsClear": 8,
    "QuotaExceed": 9, "QuotaWithin": 10, "QuotaChange": 11, "Login": 12,
    "Logout": 13, "MailboxCreate": 14, "MailboxDelete": 15, "MailboxRename": 16,
    "MailboxSubscribe": 17, "MailboxUnSubscribe": 18, "SieveNotify": 19,
}

# Event field numbers (proto/pna.proto)
EVENT_FIELDS = {
    "type": (1, "varint"), "account": (2, "str"), "mailbox": (3, "str"),
    "old_mailbox": (4, "str"), "uidvalidity": (5, "varint"), "uid": (6, "varint"),
    "uidset": (7, "str"), "uidnext": (8, "varint"), "messages": (9, "varint"),
    "unseen": (10, "varint"), "flag_names": (12, "str"), "target": (36, "str"),
    "text": (37, "str"),
}

ERROR_CODES = {
    1: "ERR_FRAME_TOO_LARGE", 2: "ERR_BAD_VARINT", 3: "ERR_DECODE",
    4: "ERR_BAD_VERSION", 5: "ERR_UNKNOWN_STORE", 6: "ERR_BAD_CREDENTIAL",
    7: "ERR_NOT_HELLO", 8: "ERR_BAD_EVENT", 9: "ERR_TOO_MANY_CONNECTIONS",
    10: "ERR_SUPERSEDED", 11: "ERR_SHUTDOWN", 12: "ERR_UNEXPECTED",
    13: "ERR_TRUNCATED",
}


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field(num, wire, payload):
    if wire == "varint":
        return varint(num << 3) + varint(payload)
    data = payload.encode() if isinstance(payload, str) else payload
    return varint((num << 3) | 2) + varint(len(data)) + data


def event(**kw):
    out = b""
    for name, value in kw.items():
        num, wire = EVENT_FIELDS[name]
        if name == "type" and isinstance(value, str):
            value = EVENT_TYPES[value]
        out += field(num, wire, value)
    return out


def frame(num, body):
    msg = field(num, "bytes", body)
    return varint(len(msg)) + msg


def hello(store, credential, version=1):
    body = field(1, "varint", version) + field(2, "str", store)
    if credential is not None:
        body += field(3, "str", credential)
    return frame(HELLO, body)


def batch(first_seq, events):
    body = field(1, "varint", first_seq)
    for ev in events:
        body += field(2, "bytes", ev)
    return frame(BATCH, body)


def read_varint(buf, i):
    shift = v = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def parse_fields(buf):
    """Decode a protobuf message into {field number: [values]}."""
    out, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = read_varint(buf, i)
        elif wire == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError("unexpected wire type %d" % wire)
        out.setdefault(num, []).append(v)
    return out


class Conn:
    """A raw ingest connection."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def recv_frame(self):
        """Next frame as (kind, {field: [values]}), or None at EOF."""
        while True:
            try:
                n, i = read_varint(self.buf, 0)
                if len(self.buf) - i >= n:
                    msg = parse_fields(self.buf[i:i + n])
                    self.buf = self.buf[i + n:]
                    kind = next(iter(msg))
                    return kind, parse_fields(msg[kind][0])
            except IndexError:
                pass
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data

    def expect_error(self):
        """Read frames until an Error; return (code name, reason)."""
        while True:
            f = self.recv_frame()
            assert f is not None, "connection closed without an error frame"
            kind, body = f
            if kind == ERROR:
                return ERROR_CODES.get(body[1][0], body[1][0]), body[2][0].decode()

    def closed(self):
        """True once the server has closed the connection."""
        self.sock.settimeout(5)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def hello(self, store, credential):
        self.send(hello(store, credential))
        kind, body = self.recv_frame()
        assert kind == WELCOME, (kind, body)
        return body[1][0]

    def close(self):
        self.sock.close()
