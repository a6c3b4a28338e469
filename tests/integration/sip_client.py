"""sip_client: a small SIP user agent for the tests that sipp cannot do
(digest answers computed per challenge, TLS with a client certificate):
sends SUBSCRIBEs, answers every NOTIFY 200 and keeps it, over UDP or a
stream socket (TCP or TLS)."""

import hashlib
import re
import socket
import time
import uuid


def header(msg, name):
    """First value of header `name` (case-insensitive) in a message text."""
    head = msg.split("\r\n\r\n", 1)[0]
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


def headers(msg, name):
    head = msg.split("\r\n\r\n", 1)[0]
    return [l.partition(":")[2].strip() for l in head.split("\r\n")[1:]
            if l.partition(":")[0].strip().lower() == name.lower()]


def body(msg):
    return msg.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in msg else ""


def digest_answer(challenge, user, password, method, uri, nc="00000001", qop="auth"):
    """The Authorization value for a WWW-Authenticate `challenge` (RFC 7616
    with qop=auth, or RFC 2069's form without qop when qop is ""; algorithm
    MD5 or SHA-256 as the challenge says)."""
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge[len("Digest "):]))
    alg = params.get("algorithm", "MD5")
    h = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[alg]
    hx = lambda s: h(s.encode()).hexdigest()
    cnonce = uuid.uuid4().hex[:16]
    ha1 = hx("%s:%s:%s" % (user, params["realm"], password))
    ha2 = hx("%s:%s" % (method, uri))
    head = 'Digest username="%s", realm="%s", nonce="%s", uri="%s", ' % (
        user, params["realm"], params["nonce"], uri)
    if not qop:
        resp = hx("%s:%s:%s" % (ha1, params["nonce"], ha2))
        return head + 'response="%s", algorithm=%s' % (resp, alg)
    resp = hx("%s:%s:%s:%s:%s:%s" % (ha1, params["nonce"], nc, cnonce, qop, ha2))
    return head + 'response="%s", algorithm=%s, qop=%s, nc=%s, cnonce="%s"' % (
        resp, alg, qop, nc, cnonce)


class SipClient:
    """One socket: "udp" (bound on loopback), or a connected stream socket
    (`sock`, TCP or an ssl-wrapped one) with transport "TCP" or "TLS"."""

    def __init__(self, server_port, transport="UDP", sock=None):
        self.server = ("127.0.0.1", server_port)
        self.transport = transport
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.buf = b""
        self.notifies = []
        self.cseq = 0

    def close(self):
        self.sock.close()

    def send(self, text):
        data = text.encode()
        if self.transport == "UDP":
            self.sock.sendto(data, self.server)
        else:
            self.sock.sendall(data)

    def _read_one(self, timeout):
        self.sock.settimeout(timeout)
        if self.transport == "UDP":
            data, _ = self.sock.recvfrom(65535)
            return data.decode("latin-1")
        while True:
            if b"\r\n\r\n" in self.buf:
                head, rest = self.buf.split(b"\r\n\r\n", 1)
                m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
                n = int(m.group(1)) if m else 0
                if len(rest) >= n:
                    self.buf = rest[n:]
                    return (head + b"\r\n\r\n" + rest[:n]).decode("latin-1")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by pnad")
            self.buf += chunk

    def _answer_notify(self, text):
        keep = [l for l in text.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
                if l.partition(":")[0].strip().lower() in
                ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")]
        self.send("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n")
        # a retransmission (our 200 was late: Timer E) is answered, not kept
        key = (header(text, "Call-ID"), header(text, "CSeq"))
        if key not in [(header(n, "Call-ID"), header(n, "CSeq")) for n in self.notifies]:
            self.notifies.append(text)

    def recv_response(self, timeout=5):
        """The next response; NOTIFYs meanwhile are answered and kept."""
        end = time.time() + timeout
        while time.time() < end:
            try:
                text = self._read_one(max(0.05, end - time.time()))
            except socket.timeout:
                break
            if text.startswith("NOTIFY "):
                self._answer_notify(text)
                continue
            if text.startswith("SIP/2.0 "):
                return text
        raise AssertionError("no response within %s s" % timeout)

    def wait_notifies(self, n, timeout=10):
        end = time.time() + timeout
        while len(self.notifies) < n and time.time() < end:
            try:
                text = self._read_one(max(0.05, end - time.time()))
            except socket.timeout:
                break
            if text.startswith("NOTIFY "):
                self._answer_notify(text)
        assert len(self.notifies) >= n, "%d NOTIFYs, wanted %d" % (len(self.notifies), n)
        return self.notifies

    def subscribe(self, user, domain="example.com", expires=3600, call_id=None,
                  authorization=None, pai=None, to_tag=None):
        """Send a SUBSCRIBE (message-summary) and return its response."""
        self.cseq += 1
        self.call_id = call_id or getattr(self, "call_id", None) or uuid.uuid4().hex
        self.ruri = "sip:%s@%s" % (user, domain)
        tp = self.transport
        lines = [
            "SUBSCRIBE %s SIP/2.0" % self.ruri,
            "Via: SIP/2.0/%s 127.0.0.1:%d;branch=z9hG4bK%s;rport" % (
                tp, self.port, uuid.uuid4().hex[:12]),
            "From: <sip:%s@%s>;tag=f%s" % (user, domain, self.call_id[:8]),
            "To: <sip:%s@%s>%s" % (user, domain, ";tag=" + to_tag if to_tag else ""),
            "Call-ID: %s" % self.call_id,
            "CSeq: %d SUBSCRIBE" % self.cseq,
            "Contact: <sip:%s@127.0.0.1:%d;transport=%s>" % (user, self.port, tp.lower()),
            "Max-Forwards: 70",
            "Event: message-summary",
            "Expires: %d" % expires,
        ]
        if pai:
            lines.append("P-Asserted-Identity: <%s>" % pai)
        if authorization:
            lines.append("Authorization: %s" % authorization)
        self.last = "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n"
        self.send(self.last)
        return self.recv_response()

    def subscribe_digest(self, user, password, alg="SHA-256", **kw):
        """SUBSCRIBE, answer the 401's `alg` challenge; the final response."""
        kw.setdefault("call_id", uuid.uuid4().hex)
        first = self.subscribe(user, **kw)
        assert first.startswith("SIP/2.0 401 "), first[:300]
        chal = [c for c in headers(first, "WWW-Authenticate") if "algorithm=%s" % alg in c]
        assert chal, first
        return self.subscribe(user, authorization=digest_answer(
            chal[0], user, password, "SUBSCRIBE", self.ruri), **kw)


def pid_on_port(port, udp=False):
    """The pid of the process listening on loopback `port` (ss -p), or None."""
    import subprocess
    out = subprocess.run(["ss", "-H", "-lnp" + ("u" if udp else "t"), "sport = :%d" % port],
                         capture_output=True, text=True).stdout
    m = re.search(r"pid=(\d+)", out)
    return int(m.group(1)) if m else None
