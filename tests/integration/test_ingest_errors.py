"""Bad input on the ingest: each gets an error frame with a specific reason
and a closed connection, is counted, and the other connections keep
flowing."""

import socket

import pna_wire as w
from conftest import finish_feed, start_feed
from workload import check_accounts, interleave, mail_stream

STORES = (("s1", "secret1"), ("s2", "secret2"))
GOOD = w.event(type="MessageNew", account="a@b.example", mailbox="INBOX", uid=1)


def bad_cases(port):
    """(name, function sending the bad input on a fresh connection,
    expected code, expected reason fragment)."""

    def oversized(c):
        c.hello("s1", "secret1")
        c.send(w.varint(2 << 20) + b"\x1a")

    def truncated_varint(c):
        c.hello("s1", "secret1")
        c.send(b"\xff\xff")
        c.shutdown_write()

    def garbage(c):
        c.hello("s1", "secret1")
        c.send(b"\x08\xde\xad\xbe\xef\xff\xff\xff\xff")

    def garbage_before_hello(c):
        c.send(b"\x04GET ")

    def unknown_store(c):
        c.send(w.hello("nosuchstore", "x"))

    def bad_credential(c):
        c.send(w.hello("s1", "wrong"))

    def bad_version(c):
        c.send(w.hello("s1", "secret1", version=99))

    def no_mailbox(c):
        c.hello("s1", "secret1")
        c.send(w.batch(1, [GOOD, w.event(type="MessageNew", account="a@b.example", uid=2)]))

    def batch_before_hello(c):
        c.send(w.batch(1, [GOOD]))

    return [
        ("oversized", oversized, "ERR_FRAME_TOO_LARGE", "max_frame"),
        ("truncated varint", truncated_varint, "ERR_TRUNCATED", "closed"),
        ("garbage", garbage, "ERR_DECODE", "is not a valid pna.Frame"),
        ("garbage before hello", garbage_before_hello, "ERR_DECODE", "is not a valid pna.Frame"),
        ("unknown store", unknown_store, "ERR_UNKNOWN_STORE", "nosuchstore"),
        ("bad credential", bad_credential, "ERR_BAD_CREDENTIAL", "bad credential for store 's1'"),
        ("bad version", bad_version, "ERR_BAD_VERSION", "protocol version 99 is not supported"),
        ("event without a mailbox", no_mailbox, "ERR_BAD_EVENT", "mailbox"),
        ("batch before hello", batch_before_hello, "ERR_NOT_HELLO", "the first frame must be a Hello"),
    ]


def test_bad_input_is_refused_and_others_keep_flowing(pnad_factory):
    pnad = pnad_factory(shards=2, stores=STORES)
    streams, model = mail_stream(range(100), 300, seed=7)
    # A healthy store streams one event per frame for the whole test.
    good = start_feed(pnad, interleave(streams, range(100)), store="s2", args=["-b", "1"])
    before = pnad.stats()
    seen = {}
    for name, send, code, fragment in bad_cases(pnad.port):
        c = w.Conn(pnad.port)
        send(c)
        got_code, reason = c.expect_error()
        if code:
            assert got_code == code, (name, got_code, reason)
        assert reason and fragment in reason, (name, reason)
        assert c.closed(), name
        c.close()
        seen[got_code] = seen.get(got_code, 0) + 1
    res = finish_feed(good)
    assert int(res["acked"]) == 100 * 300
    assert int(res["reconnects"]) == 0
    after = pnad.wait_drained()
    for code, n in seen.items():
        key = "router.errors." + code
        assert int(after[key]) - int(before[key]) == n, key
    # Nothing of the refused batch was applied; the healthy stream is exact.
    assert pnad.mailbox("a@b.example/INBOX") is None
    check_accounts(pnad, model, range(100))


def test_connection_limit(pnad_factory):
    pnad = pnad_factory(shards=1, extra="max_connections = 2")
    a, b = w.Conn(pnad.port), w.Conn(pnad.port)
    a.hello("s1", "secret1")
    c = w.Conn(pnad.port)
    code, reason = c.expect_error()
    assert code == "ERR_TOO_MANY_CONNECTIONS" and "2" in reason
    assert c.closed()
    # The connections inside the limit still work.
    a.send(w.batch(1, [GOOD]))
    kind, body = a.recv_frame()
    assert kind == w.ACK and body[1][0] == 1
    for x in (a, b, c):
        x.close()


def test_duplicates_after_resume_are_skipped(pnad_factory):
    pnad = pnad_factory(shards=2)
    ev = lambda uid: w.event(type="MessageNew", account="dup@x.example", mailbox="INBOX",
                             uid=uid)
    c = w.Conn(pnad.port)
    assert c.hello("s1", "secret1") == 1
    c.send(w.batch(1, [ev(u) for u in range(1, 11)]))
    kind, body = c.recv_frame()
    assert kind == w.ACK and body[1][0] == 10
    c.close()
    c = w.Conn(pnad.port)
    assert c.hello("s1", "secret1") == 11
    # The store resends 5..15: 5..10 are duplicates.
    c.send(w.batch(5, [ev(u) for u in range(5, 16)]))
    kind, body = c.recv_frame()
    assert kind == w.ACK and body[1][0] == 15
    c.close()
    pnad.wait_drained()
    mb = pnad.mailbox("dup@x.example/INBOX")
    assert int(mb["messages"]) == 15 and int(mb["uidnext"]) == 16
    assert int(pnad.stats()["store.s1.duplicates"]) == 6


def test_second_session_supersedes_first(pnad_factory):
    pnad = pnad_factory(shards=1)
    a = w.Conn(pnad.port)
    a.hello("s1", "secret1")
    b = w.Conn(pnad.port)
    b.hello("s1", "secret1")
    code, _ = a.expect_error()
    assert code == "ERR_SUPERSEDED"
    assert a.closed()
    b.send(w.batch(1, [GOOD]))
    kind, body = b.recv_frame()
    assert kind == w.ACK
    a.close()
    b.close()
