"""SIP egress end to end: real sipp scenarios (tests/integration/sipp/)
subscribe to pnad over UDP/TCP on loopback, the test streams events into
the ingest, and sipp checks the NOTIFYs it receives (regex checks in the
scenario, exit status 0 only when every check passed)."""

import os
import socket
import subprocess
import time

from conftest import feed, free_port, wait_until

HERE = os.path.dirname(__file__)
SIPP = os.path.join(HERE, "sipp")


def sip_pnad(pnad_factory, redis_server, shards=2):
    port = free_port()
    extra = ("sip_listen = 127.0.0.1:%d\nsip_domain = example.com\n"
             "sip_trusted = 127.0.0.1" % port)
    p = pnad_factory(shards=shards, redis="127.0.0.1:%d" % redis_server.port, extra=extra)
    p.sip_port = port
    return p


def sipp(pnad, scenario, users, tmp, transport="u1", calls=None, limit=None, timeout=60,
         extra=()):
    inf = tmp / ("users-%s.csv" % scenario)
    inf.write_text("SEQUENTIAL\n" + "".join(u + ";\n" for u in users))
    n = calls or len(users)
    cmd = ["sipp", "127.0.0.1:%d" % pnad.sip_port, "-sf", os.path.join(SIPP, scenario + ".xml"),
           "-inf", str(inf), "-m", str(n), "-l", str(limit or n), "-r", "1000",
           "-t", transport, "-i", "127.0.0.1", "-p", str(free_port()),
           "-timeout", str(timeout), "-recv_timeout", "20000", "-bg" if False else "-nostdin",
           "-trace_err", "-trace_msg", "-error_file", str(tmp / (scenario + ".err")),
           "-message_file", str(tmp / (scenario + ".msg")), "-buff_size", "4194304"]
    return subprocess.Popen(list(cmd) + list(extra), cwd=str(tmp), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(proc, tmp, scenario, timeout=90):
    out, _ = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        err = tmp / (scenario + ".err")
        msg = tmp / (scenario + ".msg")
        raise AssertionError("sipp %s exited %d:\n%s\n%s\n%s" % (
            scenario, proc.returncode, out[-3000:],
            err.read_text()[-3000:] if err.exists() else "",
            msg.read_text()[-4000:] if msg.exists() else ""))
    return out


def subs_of(pnad, subscriber):
    status, body = pnad.api().request("GET", "/v1/subscriptions?subscriber=" + subscriber)
    assert status == 200, body
    return body["subscriptions"]


def test_mwi_counts_refresh_unsubscribe(pnad_factory, redis_server, tmp_path):
    pnad = sip_pnad(pnad_factory, redis_server)
    acct = "alice@example.com"
    proc = sipp(pnad, "mwi_flow", ["alice"], tmp_path)
    wait_until(lambda: subs_of(pnad, "sip:" + acct), what="the SIP subscription")
    time.sleep(0.5)
    feed(pnad, [{"event": "MessageNew", "account": acct, "mailbox": "INBOX", "uid": 1}])
    pnad.wait_drained()
    time.sleep(0.5)
    feed(pnad, [{"event": "MessageRead", "account": acct, "mailbox": "INBOX", "uidset": "1"}])
    finish(proc, tmp_path, "mwi_flow")
    left = []
    try:
        wait_until(lambda: not subs_of(pnad, "sip:" + acct), timeout=5, what="unsubscribe")
    except AssertionError:
        left = subs_of(pnad, "sip:" + acct)
    assert not left, [(s["id"], s.get("target")) for s in left]
