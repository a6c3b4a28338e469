"""h2client: a small HTTP/2 client (prior knowledge, plain TCP) on top of
python3-h2, for driving pnad's admin API with many concurrent streams."""

import json
import socket

import h2.config
import h2.connection
import h2.events


class H2Client:
    def __init__(self, port, token=None, host="127.0.0.1", timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        self.token = token
        self.authority = "%s:%d" % (host, port)

    def close(self):
        self.sock.close()

    def _start(self, method, path, body=None, token=True):
        sid = self.conn.get_next_available_stream_id()
        headers = [(":method", method), (":path", path), (":scheme", "http"),
                   (":authority", self.authority)]
        if token and self.token:
            headers.append(("authorization", "Bearer " + self.token))
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers += [("content-type", "application/json"),
                        ("content-length", str(len(data)))]
        self.conn.send_headers(sid, headers, end_stream=data is None)
        if data is not None:
            self.conn.send_data(sid, data, end_stream=True)
        return sid

    def _pump(self, pending, done):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        for ev in self.conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                pending[ev.stream_id]["status"] = int(dict(ev.headers)[b":status"])
                pending[ev.stream_id]["headers"] = dict(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                pending[ev.stream_id]["body"] += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                done[ev.stream_id] = pending.pop(ev.stream_id)
            elif isinstance(ev, h2.events.StreamReset):
                r = pending.pop(ev.stream_id)
                r["status"] = -1
                done[ev.stream_id] = r
        self.sock.sendall(self.conn.data_to_send())

    def many(self, requests, concurrency=64):
        """requests: iterable of (method, path, body). Returns a list of
        (status, parsed body) in the same order."""
        requests = list(requests)
        order, pending, done = {}, {}, {}
        it = iter(enumerate(requests))
        exhausted = False
        while not exhausted or pending:
            while not exhausted and len(pending) < concurrency:
                try:
                    i, (method, path, body) = next(it)
                except StopIteration:
                    exhausted = True
                    break
                sid = self._start(method, path, body)
                pending[sid] = {"status": None, "body": b""}
                order[sid] = i
            self.sock.sendall(self.conn.data_to_send())
            if pending:
                self._pump(pending, done)
        out = [None] * len(requests)
        for sid, r in done.items():
            out[order[sid]] = (r["status"], _parse(r["body"]))
        return out

    def request(self, method, path, body=None, token=True):
        sid = self._start(method, path, body, token)
        self.sock.sendall(self.conn.data_to_send())
        pending, done = {sid: {"status": None, "body": b""}}, {}
        while sid not in done:
            self._pump(pending, done)
        r = done[sid]
        return r["status"], _parse(r["body"])

    def text(self, path, token=True):
        sid = self._start("GET", path, None, token)
        self.sock.sendall(self.conn.data_to_send())
        pending, done = {sid: {"status": None, "body": b""}}, {}
        while sid not in done:
            self._pump(pending, done)
        return done[sid]["status"], done[sid]["body"].decode()


def _parse(body):
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")
