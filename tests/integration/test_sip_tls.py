"""SIP over TLS: a CNA with a trusted client certificate (its SHA-256
fingerprint in sip_tls_trusted) subscribes over TLS with
P-Asserted-Identity and gets its NOTIFYs on the same connection; a client
without that certificate is challenged like any untrusted one; garbage and
stalled handshakes are dropped and counted and delay nobody."""

import socket
import ssl
import subprocess
import time

from conftest import feed, free_port, wait_until
from sip_client import SipClient, header


def make_cert(tmp, name):
    key, cert = tmp / (name + ".key"), tmp / (name + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=%s" % name, "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    fp = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in",
                         str(cert)], check=True, capture_output=True, text=True).stdout
    return cert, key, fp.strip().split("=", 1)[1]


def tls_pnad(pnad_factory, redis_server, tmp_path, trusted_fp):
    srv_cert, srv_key, _ = make_cert(tmp_path, "pnad")
    port, tls_port = free_port(), free_port()
    extra = ("sip_listen = 127.0.0.1:%d\nsip_tls_listen = 127.0.0.1:%d\n"
             "sip_tls_cert = %s\nsip_tls_key = %s\nsip_tls_trusted = %s\n"
             "sip_domain = example.com" % (port, tls_port, srv_cert, srv_key, trusted_fp))
    p = pnad_factory(redis="127.0.0.1:%d" % redis_server.port, extra=extra)
    p.sip_port, p.tls_port = port, tls_port
    return p


def tls_client(pnad, cert=None, key=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # pnad's certificate is self-signed
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    raw = socket.create_connection(("127.0.0.1", pnad.tls_port), timeout=5)
    return SipClient(pnad.tls_port, transport="TLS", sock=ctx.wrap_socket(raw))


def metric(pnad, name):
    status, text = pnad.api().text("/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError("no metric " + name)


def test_tls_trusted_cna_gets_notifies_on_its_connection(pnad_factory, redis_server,
                                                         tmp_path):
    cert, key, fp = make_cert(tmp_path, "cna")
    pnad = tls_pnad(pnad_factory, redis_server, tmp_path, fp)

    # a garbage handshake and a silent one, held open meanwhile
    junk = socket.create_connection(("127.0.0.1", pnad.tls_port), timeout=15)
    junk.sendall(b"SUBSCRIBE sip:x@example.com SIP/2.0\r\n\r\n")
    stalled = socket.create_connection(("127.0.0.1", pnad.tls_port), timeout=15)
    t_stalled = time.time()

    c = tls_client(pnad, cert, key)
    try:
        resp = c.subscribe("ivy", pai="sip:ivy@example.com")
        assert resp.startswith("SIP/2.0 200 "), resp
        contact = header(resp, "Contact")
        assert "transport=tls" in contact and ":%d" % pnad.tls_port in contact, contact
        first = c.wait_notifies(1)[0]
        assert header(first, "Via").startswith("SIP/2.0/TLS "), first
        feed(pnad, [{"event": "MessageNew", "account": "ivy@example.com",
                     "mailbox": "INBOX", "uid": 1}])
        notes = c.wait_notifies(2)
        assert "Messages-Waiting: yes" in notes[-1], notes[-1]
        assert int(header(notes[-1], "CSeq").split()[0]) > \
            int(header(first, "CSeq").split()[0])
        assert metric(pnad, "pnad_sip_tls_trusted_total") == 1

        # the garbage one was refused at once (an alert at most, then EOF)
        junk.settimeout(3)
        try:
            while junk.recv(100):
                pass
        except ConnectionResetError:
            pass
        wait_until(lambda: metric(pnad, "pnad_sip_tls_handshake_failures_total") >= 1,
                   timeout=5, what="the garbage handshake counted")

        # a client without the certificate: its P-Asserted-Identity is not
        # believed, it gets the digest challenge
        other = tls_client(pnad)
        try:
            resp = other.subscribe("ivy", pai="sip:ivy@example.com")
            assert resp.startswith("SIP/2.0 401 "), resp
        finally:
            other.close()

        # the silent one is dropped after the handshake deadline (10 s)
        assert stalled.recv(100) == b""
        assert 8 <= time.time() - t_stalled <= 14
        assert metric(pnad, "pnad_sip_tls_handshake_failures_total") == 2

        # unsubscribe over the same connection
        to_tag = header(first, "From").split("tag=")[1]
        resp = c.subscribe("ivy", pai="sip:ivy@example.com", expires=0, to_tag=to_tag)
        assert resp.startswith("SIP/2.0 200 "), resp
        last = c.wait_notifies(3)[-1]
        assert header(last, "Subscription-State").startswith("terminated"), last
    finally:
        c.close()
        junk.close()
        stalled.close()
