"""SIP egress end to end: real sipp scenarios (tests/integration/sipp/)
subscribe to pnad over UDP/TCP on loopback, the test streams events into
the ingest, and sipp checks the NOTIFYs it receives (regex checks in the
scenario, exit status 0 only when every check passed)."""

import os
import signal
import re
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
         extra=(), rate=1000):
    inf = tmp / ("users-%s.csv" % scenario)
    inf.write_text("SEQUENTIAL\n" + "".join(u + ";\n" for u in users))
    n = calls or len(users)
    cmd = ["sipp", "127.0.0.1:%d" % pnad.sip_port, "-sf", os.path.join(SIPP, scenario + ".xml"),
           "-inf", str(inf), "-m", str(n), "-l", str(limit or n), "-r", str(rate),
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
    # The SIP worker's counters are in /metrics: initial, two events, the
    # refresh and the final NOTIFY, all answered 200.
    status, text = pnad.api().text("/metrics")
    metrics = dict(l.split() for l in text.splitlines() if l.startswith("pnad_sip_notify"))
    assert status == 200 and int(metrics["pnad_sip_notify_ok_total"]) >= 5, metrics


def test_notify_481_removes_subscription(pnad_factory, redis_server, tmp_path):
    pnad = sip_pnad(pnad_factory, redis_server)
    acct = "bob481@example.com"
    proc = sipp(pnad, "notify_481", ["bob481"], tmp_path)
    wait_until(lambda: subs_of(pnad, "sip:" + acct), what="the SIP subscription")
    finish(proc, tmp_path, "notify_481")
    wait_until(lambda: not subs_of(pnad, "sip:" + acct), timeout=10,
               what="the subscription to go after the 481")


def _sip_head(user, port, call_id, extra=""):
    return ("SUBSCRIBE sip:%s@example.com SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
            "From: <sip:%s@example.com>;tag=f%s\r\n"
            "To: <sip:%s@example.com>\r\n"
            "%s"
            "CSeq: 1 SUBSCRIBE\r\n"
            "Contact: <sip:%s@127.0.0.1:%d>\r\n"
            "Max-Forwards: 70\r\n"
            "P-Asserted-Identity: <sip:%s@example.com>\r\n"
            "Event: message-summary\r\n"
            "Expires: 3600\r\n" % (user, port, call_id, user, call_id, user,
                                   "Call-ID: %s\r\n" % call_id if call_id else "",
                                   user, port, user) + extra)


def _sip_exchange(sock, pnad, data, want_status, timeout=5):
    """Send one datagram, return the first response (skipping NOTIFYs,
    which are answered 200 so pnad does not retransmit)."""
    sock.sendto(data, ("127.0.0.1", pnad.sip_port))
    end = time.time() + timeout
    while time.time() < end:
        sock.settimeout(max(0.05, end - time.time()))
        try:
            msg, addr = sock.recvfrom(65535)
        except socket.timeout:
            break
        text = msg.decode("latin-1")
        if text.startswith("NOTIFY "):
            head = text.split("\r\n\r\n", 1)[0].split("\r\n")
            keep = [h for h in head[1:] if h.split(":", 1)[0].lower() in
                    ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")]
            sock.sendto(("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) +
                         "\r\nContent-Length: 0\r\n\r\n").encode(), addr)
            continue
        assert text.startswith("SIP/2.0 %d " % want_status), text[:300]
        return text
    raise AssertionError("no %d response to %r" % (want_status, data[:80]))


def test_malformed_sip_gets_400_while_others_are_served(pnad_factory, redis_server, tmp_path):
    pnad = sip_pnad(pnad_factory, redis_server)
    acct = "carol@example.com"
    proc = sipp(pnad, "mwi_flow", ["carol"], tmp_path)
    wait_until(lambda: subs_of(pnad, "sip:" + acct), what="the SIP subscription")

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    try:
        good = _sip_head("mal", port, "c-bad-start")
        cases = [
            ("bad start line", good.replace("SUBSCRIBE sip:mal@example.com SIP/2.0",
                                            "SUBSCRIBE sip:mal@example.com", 1)
             + "Content-Length: 0\r\n\r\n"),
            ("missing Call-ID", _sip_head("mal", port, "") + "Content-Length: 0\r\n\r\n"),
            ("Content-Length past the end",
             _sip_head("mal", port, "c-clen") + "Content-Length: 500\r\n\r\nshort body"),
            ("header section too large",
             _sip_head("mal", port, "c-big") + "X-Big: " + "a" * 10000 + "\r\n"
             "Content-Length: 0\r\n\r\n"),
            ("too many header fields",
             _sip_head("mal", port, "c-many") +
             "".join("X-H%d: v\r\n" % i for i in range(100)) + "Content-Length: 0\r\n\r\n"),
        ]
        for what, data in cases:
            resp = _sip_exchange(sock, pnad, data.encode(), 400)
            warn = [h for h in resp.split("\r\n") if h.lower().startswith("warning:")]
            assert warn and '"' in warn[0], (what, resp[:400])

        # the sipp subscriber is still served: its NOTIFYs carry the events
        feed(pnad, [{"event": "MessageNew", "account": acct, "mailbox": "INBOX", "uid": 1}])
        pnad.wait_drained()
        time.sleep(0.5)
        feed(pnad, [{"event": "MessageRead", "account": acct, "mailbox": "INBOX",
                     "uidset": "1"}])
        finish(proc, tmp_path, "mwi_flow")

        # and the worker still takes new subscriptions
        resp = _sip_exchange(sock, pnad, (_sip_head("dave", port, "c-after") +
                                          "Content-Length: 0\r\n\r\n").encode(), 200)
        assert "Expires:" in resp
        wait_until(lambda: subs_of(pnad, "sip:dave@example.com"), what="dave's subscription")
    finally:
        sock.close()


def sub_total(pnad):
    st = pnad.stats()
    i, total = 0, 0
    while "shard.%d.subscriptions" % i in st:
        total += int(st["shard.%d.subscriptions" % i])
        i += 1
    return total


def kernel_has_udp_gso():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(17, 103, 0)  # SOL_UDP, UDP_SEGMENT
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_1000_concurrent_subscribers(pnad_factory, redis_server, tmp_path):
    pnad = sip_pnad(pnad_factory, redis_server)
    users = ["u%03d" % i for i in range(1000)]
    t0 = time.time()
    # each call holds its subscription until its event's NOTIFY; at 200
    # calls/s the 1000 start within 5 s
    proc = sipp(pnad, "many_subs", users, tmp_path, limit=1000, rate=200)
    try:
        wait_until(lambda: sub_total(pnad) == 1000, timeout=30,
                   what="1000 subscriptions at once")
        assert subs_of(pnad, "sip:u000@example.com")
        assert subs_of(pnad, "sip:u999@example.com")
        # one new message for each, in one stream: their NOTIFYs all go to
        # sipp's one address, many in one pass of the worker
        feed(pnad, [{"event": "MessageNew", "account": u + "@example.com", "mailbox": "INBOX",
                     "uid": 1} for u in users])
    finally:
        out = finish(proc, tmp_path, "many_subs")
    assert re.search(r"Successful call\s*\|\s*\d+\s*\|\s*1000\b", out), out[-2000:]
    wait_until(lambda: sub_total(pnad) == 0, timeout=20, what="every unsubscribe")
    assert time.time() - t0 < 60
    status, text = pnad.api().text("/metrics")
    metrics = dict(l.split() for l in text.splitlines() if l.startswith("pnad_sip_udp"))
    assert status == 200 and metrics["pnad_sip_udp_dropped_total"] == "0", metrics
    if kernel_has_udp_gso():
        # equal-length NOTIFYs to sipp went out as GSO groups, and sipp
        # parsed each datagram of them as one NOTIFY (the checks above)
        assert int(metrics["pnad_sip_udp_grouped_total"]) > 0, metrics


def test_notify_408_5xx_retried_with_backoff(pnad_factory, redis_server, tmp_path):
    pnad = sip_pnad(pnad_factory, redis_server)
    acct = "erin@example.com"
    t0 = time.time()
    proc = sipp(pnad, "notify_retry", ["erin"], tmp_path)
    wait_until(lambda: subs_of(pnad, "sip:" + acct), what="the SIP subscription")
    finish(proc, tmp_path, "notify_retry")
    # two backoffs (1 s, 2 s) before the NOTIFY that got its 200
    assert time.time() - t0 >= 3
    wait_until(lambda: not subs_of(pnad, "sip:" + acct), timeout=5, what="unsubscribe")


def test_cseq_rises_across_a_sip_worker_restart(pnad_factory, redis_server):
    from sip_client import SipClient, header, pid_on_port
    pnad = sip_pnad(pnad_factory, redis_server)
    acct = "kim@example.com"
    c = SipClient(pnad.sip_port)
    try:
        resp = c.subscribe("kim", pai="sip:" + acct)
        assert resp.startswith("SIP/2.0 200 "), resp
        feed(pnad, [{"event": "MessageNew", "account": acct, "mailbox": "INBOX", "uid": 1}])
        before = c.wait_notifies(2)
        cseq = [int(header(n, "CSeq").split()[0]) for n in before]
        assert cseq[1] > cseq[0], cseq

        # kill the SIP worker mid-dialog; the supervisor starts another one
        old = pid_on_port(pnad.sip_port, udp=True)
        assert old in pnad.child_pids(), old
        os.kill(old, signal.SIGKILL)
        wait_until(lambda: pid_on_port(pnad.sip_port, udp=True) not in (None, old),
                   timeout=20, what="a new SIP worker")

        feed(pnad, [{"event": "MessageNew", "account": acct, "mailbox": "INBOX", "uid": 2}])
        after = c.wait_notifies(3)[-1]
        # the next number, kept in the worker's segment (a worker that lost
        # it would start 8 per second since 2025 higher: also above, but
        # not the next one)
        assert int(header(after, "CSeq").split()[0]) == cseq[1] + 1, (cseq, after)
        assert "Text-Message: 2/0" in after, after
        # same dialog: the tags and Call-ID did not change
        assert header(after, "From") == header(before[0], "From")
        assert header(after, "Call-ID") == header(before[0], "Call-ID")
    finally:
        c.close()


def test_retransmitted_subscribe_gets_the_same_answer(pnad_factory, redis_server):
    """RFC 3261 17.2.2: a SUBSCRIBE retransmitted after its final response
    (the 200 was slow or lost) gets that response again; it is not a second
    SUBSCRIBE (no second 200 from a new transaction, no second NOTIFY)."""
    from sip_client import SipClient, header
    pnad = sip_pnad(pnad_factory, redis_server)
    c = SipClient(pnad.sip_port)
    try:
        first = c.subscribe("lee", pai="sip:lee@example.com")
        assert first.startswith("SIP/2.0 200 "), first
        c.wait_notifies(1)
        c.send(c.last)
        again = c.recv_response()
        assert again == first
        # for a second: no other response, no NOTIFY of a second dialog
        # (a Timer E resend of the first, if our 200 was late, is not one)
        end = time.time() + 1
        while time.time() < end:
            try:
                text = c._read_one(0.2)
            except socket.timeout:
                continue
            assert text.startswith("NOTIFY "), text
            c._answer_notify(text)
        assert len(c.notifies) == 1, c.notifies
        status, text = pnad.api().text("/metrics")
        assert "pnad_sip_retransmissions_absorbed_total 1" in text
    finally:
        c.close()


def test_one_notify_in_flight_per_dialog(pnad_factory, redis_server):
    """While a NOTIFY is unanswered, later events do not send another on the
    same dialog (it could overtake the first's retransmission, which the
    subscriber must refuse, RFC 3261 12.2.2); once the 200 comes, one NOTIFY
    carries the latest counts, with the next CSeq."""
    from sip_client import SipClient, header
    pnad = sip_pnad(pnad_factory, redis_server)
    acct = "ola@example.com"
    c = SipClient(pnad.sip_port)
    try:
        assert c.subscribe("ola", pai="sip:" + acct).startswith("SIP/2.0 200 ")
        c.wait_notifies(1)
        feed(pnad, [{"event": "MessageNew", "account": acct, "mailbox": "INBOX", "uid": 1}])
        held = c._read_one(5)  # the NOTIFY for uid 1: not answered yet
        assert held.startswith("NOTIFY ") and "Text-Message: 1/0" in held, held
        feed(pnad, [{"event": "MessageNew", "account": acct, "mailbox": "INBOX", "uid": u}
                    for u in (2, 3)])
        # Timer E retransmits the held one (T1 = 500 ms); nothing newer comes
        seen = []
        end = time.time() + 1.5
        while time.time() < end:
            try:
                seen.append(c._read_one(max(0.05, end - time.time())))
            except socket.timeout:
                break
        assert seen and all(header(m, "CSeq") == header(held, "CSeq") for m in seen), seen
        c._answer_notify(held)
        last = c.wait_notifies(3)[-1]
        assert int(header(last, "CSeq").split()[0]) == int(header(held, "CSeq").split()[0]) + 1
        assert "Text-Message: 3/0" in last, last
        status, text = pnad.api().text("/metrics")
        assert status == 200
        # three NOTIFYs in all: the initial one, the held one, and one for
        # uids 2 and 3 (folded at the shard or in the worker while held)
        assert re.search(r"(?m)^pnad_sip_notifies_total 3$", text), text
        assert re.search(r"(?m)^pnad_sip_notify_folded_total \d+$", text), text
    finally:
        c.close()


def test_requests_are_answered_while_notifies_are_out(pnad_factory, redis_server):
    """While NOTIFYs are out and nothing waits on their answers, the worker
    sleeps on its jobs alone and reads its sockets with the next jobs or
    2 ms later (lazy_answers): a SUBSCRIBE from another UA meanwhile is
    still answered and gets its first NOTIFY, and the unanswered NOTIFY is
    retransmitted on time (Timer E, T1 = 500 ms)."""
    from sip_client import SipClient, header
    pnad = sip_pnad(pnad_factory, redis_server)
    acct = "pia@example.com"
    a, b = SipClient(pnad.sip_port), SipClient(pnad.sip_port)
    try:
        assert a.subscribe("pia", pai="sip:" + acct).startswith("SIP/2.0 200 ")
        a.wait_notifies(1)
        feed(pnad, [{"event": "MessageNew", "account": acct, "mailbox": "INBOX", "uid": 1}])
        out = a._read_one(5)  # left unanswered: a NOTIFY is out
        assert out.startswith("NOTIFY ") and "Text-Message: 1/0" in out, out
        assert b.subscribe("pia", pai="sip:" + acct).startswith("SIP/2.0 200 ")
        assert "Text-Message: 1/0" in b.wait_notifies(1)[0]
        again = a._read_one(2)
        assert header(again, "CSeq") == header(out, "CSeq"), again
        a._answer_notify(again)
        status, text = pnad.api().text("/metrics")
        assert re.search(r"(?m)^pnad_sip_lazy_waits_total [1-9]", text), text
    finally:
        a.close()
        b.close()


def test_coalesced_datagrams_are_read_one_by_one(pnad_factory, redis_server):
    """The SIP worker reads UDP with GRO: datagrams of one peer may come up
    as one read (here a GSO send of four equal-length SUBSCRIBEs, which the
    kernel hands over whole). Each is still one request: four 200s, one per
    Call-ID, and four subscriptions."""
    import struct
    import pytest
    if not kernel_has_udp_gso():
        pytest.skip("the kernel has no UDP GSO to send a coalesced burst with")
    pnad = sip_pnad(pnad_factory, redis_server)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    msgs = []
    for i in range(1, 5):
        user, call = "gro%d" % i, "gro-call-%06d" % i
        msgs.append(("SUBSCRIBE sip:%s@example.com SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-gro-%d;rport\r\n"
                     "From: <sip:%s@example.com>;tag=t%d\r\nTo: <sip:%s@example.com>\r\n"
                     "Call-ID: %s\r\nCSeq: 1 SUBSCRIBE\r\n"
                     "Contact: <sip:%s@127.0.0.1:%d;transport=udp>\r\nMax-Forwards: 70\r\n"
                     "Event: message-summary\r\nExpires: 3600\r\n"
                     "P-Asserted-Identity: <sip:%s@example.com>\r\nContent-Length: 0\r\n\r\n"
                     % (user, port, i, user, i, user, call, user, port, user)).encode())
    assert len({len(m) for m in msgs}) == 1
    try:
        sock.sendmsg([b"".join(msgs)], [(17, 103, struct.pack("H", len(msgs[0])))], 0,
                     ("127.0.0.1", pnad.sip_port))  # SOL_UDP, UDP_SEGMENT
        ok = set()
        end = time.time() + 10
        sock.settimeout(0.5)
        while len(ok) < 4 and time.time() < end:
            try:
                text = sock.recv(65536).decode()
            except socket.timeout:
                continue
            if text.startswith("SIP/2.0 200 "):
                ok.add(re.search(r"Call-ID: (\S+)", text).group(1))
        assert ok == {"gro-call-%06d" % i for i in range(1, 5)}, ok
        for i in range(1, 5):
            assert subs_of(pnad, "sip:gro%d@example.com" % i)
        # the four came up in one read, and were split there
        status, text = pnad.api().text("/metrics")
        assert re.search(r"^pnad_sip_udp_coalesced_reads_total [1-9]", text, re.M), text
    finally:
        sock.close()


def test_a_shard_that_takes_no_requests_does_not_stall_the_worker(pnad_factory, redis_server):
    """A shard that takes no requests (stopped here; busy or slow in life)
    fills its request ring: the SUBSCRIBEs past it are answered 503 at
    once, and the worker goes on answering everybody else. It used to
    sleep up to 100 ms per such request, deaf to all the while."""
    from sip_client import SipClient, header
    port = free_port()
    extra = ("sip_listen = 127.0.0.1:%d\nsip_domain = example.com\n"
             "sip_trusted = 127.0.0.1\nctl_ring_bytes = 64K" % port)
    pnad = pnad_factory(shards=1, redis="127.0.0.1:%d" % redis_server.port, extra=extra)
    shard = [pid for pid in pnad.child_pids()
             if open("/proc/%d/comm" % pid).read().strip() == "pnad-shard0"]
    assert len(shard) == 1
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flood.bind(("127.0.0.1", 0))
    fport = flood.getsockname()[1]
    c = SipClient(port)
    n = 200  # a 64 KiB ring holds 27 requests of 2.3 KB
    os.kill(shard[0], signal.SIGSTOP)
    try:
        for i in range(n):
            user = "flood%d" % i
            flood.sendto((
                "SUBSCRIBE sip:%s@example.com SIP/2.0\r\n"
                "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKfl%d\r\n"
                "From: <sip:%s@example.com>;tag=f%d\r\nTo: <sip:%s@example.com>\r\n"
                "Call-ID: flood-%d\r\nCSeq: 1 SUBSCRIBE\r\n"
                "Contact: <sip:%s@127.0.0.1:%d>\r\nMax-Forwards: 70\r\n"
                "Event: message-summary\r\nExpires: 600\r\n"
                "P-Asserted-Identity: <sip:%s@example.com>\r\nContent-Length: 0\r\n\r\n"
                % (user, fport, i, user, i, user, i, user, fport, user)).encode(),
                ("127.0.0.1", port))
        t0 = time.time()
        c.send("OPTIONS sip:example.com SIP/2.0\r\n"
               "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKopt1\r\n"
               "From: <sip:probe@example.com>;tag=p1\r\nTo: <sip:example.com>\r\n"
               "Call-ID: probe-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
               "Content-Length: 0\r\n\r\n" % c.port)
        answer = c.recv_response(timeout=5)
        took = time.time() - t0
        assert answer.startswith("SIP/2.0 200 "), answer
        assert took < 1.0, "OPTIONS answered after %.1f s behind the flood" % took
        busy = 0
        flood.settimeout(2)
        try:
            while busy < n:
                data = flood.recv(65535).decode("latin-1")
                if data.startswith("SIP/2.0 503 "):
                    busy += 1
                    assert header(data, "Retry-After") == "5", data
        except socket.timeout:
            pass
        assert busy > 0, "no SUBSCRIBE refused while the shard's ring was full"
    finally:
        os.kill(shard[0], signal.SIGCONT)
    # the shard takes what its ring held: those SUBSCRIBEs get their 200
    flood.settimeout(10)
    ok = 0
    try:
        while ok == 0:
            data = flood.recv(65535).decode("latin-1")
            ok += data.startswith("SIP/2.0 200 ")
    except socket.timeout:
        pass
    assert ok > 0, "no SUBSCRIBE answered 200 after the shard went on"
    flood.close()
    c.close()
