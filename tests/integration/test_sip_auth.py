"""SIP digest authentication (RFC 8760) against credentials the admin API
manages: a subscriber that is not a trusted CNA is challenged, answers with
the credential set through pnactl, and is served; a wrong password, a
deleted credential and `sip_digest = no` are refused. The credential
survives in Redis as hashes only. A replayed Authorization (a nonce count
already seen, or a second answer without qop) gets a stale challenge, a
digest uri other than the Request-URI 400, and /metrics counts both and
the credentials stored."""

import json
import os
import signal
import uuid

from conftest import feed, free_port, wait_until
from sip_client import SipClient, digest_answer, header, headers, pid_on_port


def digest_pnad(pnad_factory, redis_server, digest="yes"):
    port = free_port()
    extra = ("sip_listen = 127.0.0.1:%d\nsip_domain = example.com\nsip_digest = %s"
             % (port, digest))
    p = pnad_factory(redis="127.0.0.1:%d" % redis_server.port, extra=extra)
    p.sip_port = port
    return p


def metric(pnad, name):
    status, text = pnad.api().text("/metrics")
    assert status == 200
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError("no metric " + name)


def test_digest_with_admin_credentials(pnad_factory, redis_server):
    pnad = digest_pnad(pnad_factory, redis_server)
    assert metric(pnad, "pnad_sip_credentials") == 0
    r = pnad.ctl("sip-cred", "set", "frank@example.com", "password=s3cret")
    assert json.loads(r.stdout)["algorithms"] == ["SHA-256", "MD5"], r.stdout
    listed = json.loads(pnad.ctl("sip-cred", "list").stdout)["credentials"]
    assert {"user": "frank", "realm": "example.com",
            "algorithms": ["SHA-256", "MD5"]} in listed
    pnad.ctl("sip-cred", "set", "fred@example.com", "password=x")
    assert metric(pnad, "pnad_sip_credentials") == 2
    pnad.ctl("sip-cred", "del", "fred@example.com")
    assert metric(pnad, "pnad_sip_credentials") == 1

    # stored in Redis as the two H(A1)s, never the password
    stored = json.loads(redis_server.cli("HGET", pnad.name + ":sipcred",
                                         "frank@example.com"))
    assert set(stored) == {"user", "realm", "ha1_md5", "ha1_sha256"}
    assert "s3cret" not in json.dumps(stored)

    c = SipClient(pnad.sip_port)
    try:
        # no credentials: a challenge per algorithm, SHA-256 first (RFC 8760)
        first = c.subscribe("frank", call_id="c-frank-1")
        assert first.startswith("SIP/2.0 401 "), first
        chal = headers(first, "WWW-Authenticate")
        assert "algorithm=SHA-256" in chal[0] and "algorithm=MD5" in chal[1], chal

        # SHA-256 answer: 200, then the initial NOTIFY and one per event
        ok = c.subscribe("frank", authorization=digest_answer(
            chal[0], "frank", "s3cret", "SUBSCRIBE", c.ruri))
        assert ok.startswith("SIP/2.0 200 "), ok
        c.wait_notifies(1)
        feed(pnad, [{"event": "MessageNew", "account": "frank@example.com",
                     "mailbox": "INBOX", "uid": 1}])
        notes = c.wait_notifies(2)
        assert "Messages-Waiting: yes" in notes[-1], notes[-1]
        assert "Voice-Message" not in notes[-1]
        assert metric(pnad, "pnad_sip_auth_ok_total") == 1

        # MD5 works too
        md5 = SipClient(pnad.sip_port)
        try:
            resp = md5.subscribe_digest("frank", "s3cret", alg="MD5")
            assert resp.startswith("SIP/2.0 200 "), resp
        finally:
            md5.close()

        # wrong password: 403 with the reason
        bad = SipClient(pnad.sip_port)
        try:
            resp = bad.subscribe_digest("frank", "wrong")
            assert resp.startswith("SIP/2.0 403 "), resp
            assert "wrong digest response" in header(resp, "Warning"), resp
        finally:
            bad.close()
        assert metric(pnad, "pnad_sip_auth_failures_total") == 1

        # deleted: refused again (the dialog made before lives on)
        pnad.ctl("sip-cred", "del", "frank@example.com")
        assert json.loads(pnad.ctl("sip-cred", "list").stdout)["credentials"] == []
        assert metric(pnad, "pnad_sip_credentials") == 0
        assert redis_server.cli("HGET", pnad.name + ":sipcred",
                                "frank@example.com").strip() == ""
        gone = SipClient(pnad.sip_port)
        try:
            resp = gone.subscribe_digest("frank", "s3cret")
            assert resp.startswith("SIP/2.0 403 "), resp
            assert "unknown user" in header(resp, "Warning"), resp
        finally:
            gone.close()
        r = pnad.ctl("sip-cred", "del", "frank@example.com", check=False)
        assert r.returncode == 1 and "no SIP credential" in r.stdout + r.stderr
    finally:
        c.close()


def test_credentials_reload_from_redis_and_bad_input(pnad_factory, redis_server):
    pnad = digest_pnad(pnad_factory, redis_server)
    api = pnad.api()
    sha = "a" * 64
    status, body = api.request("PUT", "/v1/sip/credentials/gina@example.com",
                               {"ha1_sha256": sha})
    assert status == 201 and body["algorithms"] == ["SHA-256"], body
    for path, req, why in [
        ("/v1/sip/credentials/gina", {"password": "x"}, "expected <user>@<realm>"),
        ("/v1/sip/credentials/gina@example.com", {"password": ""}, "password: empty"),
        ("/v1/sip/credentials/gina@example.com", {"ha1_md5": "xyz"}, "ha1_md5"),
        ("/v1/sip/credentials/gina@example.com", {}, "give password"),
        ("/v1/sip/credentials/gina@example.com", {"password": "p", "ha1_md5": "0" * 32},
         "alone"),
        ("/v1/sip/credentials/gina@example.com", {"pasword": "p"}, "pasword: unknown field"),
        ("/v1/sip/credentials/gi:na@example.com", {"password": "p"}, "user:"),
    ]:
        status, body = api.request("PUT", path, req)
        assert status == 400 and why in body["error"], (path, req, status, body)

    # the segment removed and the admin process killed: the restarted
    # admin process rebuilds the table from Redis, and the worker finds it
    seg = "/dev/shm/%s.sipcred" % pnad.name
    assert os.path.exists(seg)
    os.unlink(seg)
    apid = pid_on_port(pnad.admin_port)
    assert apid in pnad.child_pids(), apid
    os.kill(apid, signal.SIGKILL)

    def reloaded():
        try:
            status, body = pnad.api().request("GET", "/v1/sip/credentials")
        except OSError:
            return False
        return status == 200 and body["credentials"] == [
            {"user": "gina", "realm": "example.com", "algorithms": ["SHA-256"]}]
    wait_until(reloaded, timeout=20, what="credentials reloaded from Redis")
    assert metric(pnad, "pnad_sip_credentials") == 1


def test_digest_off_is_403(pnad_factory, redis_server):
    pnad = digest_pnad(pnad_factory, redis_server, digest="no")
    pnad.ctl("sip-cred", "set", "hank@example.com", "password=p")
    c = SipClient(pnad.sip_port)
    try:
        resp = c.subscribe("hank")
        assert resp.startswith("SIP/2.0 403 "), resp
        assert "digest is off" in header(resp, "Warning"), resp
    finally:
        c.close()


def challenge_of(resp, alg="SHA-256"):
    """The `alg` WWW-Authenticate of a 401."""
    assert resp.startswith("SIP/2.0 401 "), resp
    chal = [c for c in headers(resp, "WWW-Authenticate") if "algorithm=%s" % alg in c]
    assert chal, resp
    return chal[0]


def test_digest_replay_refused_and_rising_nc_accepted(pnad_factory, redis_server):
    pnad = digest_pnad(pnad_factory, redis_server)
    pnad.ctl("sip-cred", "set", "ivan@example.com", "password=pw")
    ruri = "sip:ivan@example.com"
    c, eve = SipClient(pnad.sip_port), SipClient(pnad.sip_port)
    try:
        chal = challenge_of(c.subscribe("ivan", call_id=uuid.uuid4().hex))
        assert "stale" not in chal, chal
        first = digest_answer(chal, "ivan", "pw", "SUBSCRIBE", ruri, nc="00000001")
        resp = c.subscribe("ivan", call_id=uuid.uuid4().hex, authorization=first)
        assert resp.startswith("SIP/2.0 200 "), resp

        # the captured header again, from elsewhere, as a new request
        # (new transaction and dialog): refused with a stale challenge for
        # a fresh nonce, so it cannot be answered without the password
        replay = eve.subscribe("ivan", call_id=uuid.uuid4().hex, authorization=first)
        again = challenge_of(replay)
        assert "stale=true" in again and "stale=true" in challenge_of(replay, "MD5"), replay
        assert 'nonce="%s"' % chal.split('nonce="')[1].split('"')[0] not in again
        assert metric(pnad, "pnad_sip_auth_replays_total") == 1

        # the client's next request on the same nonce counts up: accepted
        nc2 = digest_answer(chal, "ivan", "pw", "SUBSCRIBE", ruri, nc="00000002")
        resp = c.subscribe("ivan", call_id=uuid.uuid4().hex, authorization=nc2)
        assert resp.startswith("SIP/2.0 200 "), resp
        nc5 = digest_answer(chal, "ivan", "pw", "SUBSCRIBE", ruri, nc="00000005")
        resp = c.subscribe("ivan", call_id=uuid.uuid4().hex, authorization=nc5)
        assert resp.startswith("SIP/2.0 200 "), resp
        # a count at or below the highest seen, even freshly computed (new
        # cnonce), is a replay; the stale challenge's nonce then works
        nc3 = digest_answer(chal, "ivan", "pw", "SUBSCRIBE", ruri, nc="00000003")
        stale = challenge_of(c.subscribe("ivan", call_id=uuid.uuid4().hex, authorization=nc3))
        assert "stale=true" in stale
        assert metric(pnad, "pnad_sip_auth_replays_total") == 2
        fresh = digest_answer(stale, "ivan", "pw", "SUBSCRIBE", ruri, nc="00000001")
        resp = c.subscribe("ivan", call_id=uuid.uuid4().hex, authorization=fresh)
        assert resp.startswith("SIP/2.0 200 "), resp

        # without qop (RFC 2069): a nonce is good for one request
        chal = challenge_of(c.subscribe("ivan", call_id=uuid.uuid4().hex), "MD5")
        once = digest_answer(chal, "ivan", "pw", "SUBSCRIBE", ruri, qop="")
        assert "qop" not in once and "nc=" not in once
        resp = c.subscribe("ivan", call_id=uuid.uuid4().hex, authorization=once)
        assert resp.startswith("SIP/2.0 200 "), resp
        replay = eve.subscribe("ivan", call_id=uuid.uuid4().hex, authorization=once)
        assert "stale=true" in challenge_of(replay), replay
        assert metric(pnad, "pnad_sip_auth_replays_total") == 3

        # a wrong password on a used nonce is a plain 403, no stale hint
        bad = digest_answer(chal, "ivan", "nope", "SUBSCRIBE", ruri, qop="")
        resp = eve.subscribe("ivan", call_id=uuid.uuid4().hex, authorization=bad)
        assert resp.startswith("SIP/2.0 403 "), resp
        assert metric(pnad, "pnad_sip_auth_replays_total") == 3
        assert metric(pnad, "pnad_sip_auth_ok_total") == 5
    finally:
        c.close()
        eve.close()


def test_digest_uri_must_be_request_uri(pnad_factory, redis_server):
    pnad = digest_pnad(pnad_factory, redis_server)
    pnad.ctl("sip-cred", "set", "judy@example.com", "password=pw")
    c = SipClient(pnad.sip_port)
    try:
        chal = challenge_of(c.subscribe("judy", call_id=uuid.uuid4().hex))
        # right credentials, answered for another resource
        other = digest_answer(chal, "judy", "pw", "SUBSCRIBE", "sip:kim@example.com")
        resp = c.subscribe("judy", call_id=uuid.uuid4().hex, authorization=other)
        status = resp.split("\r\n", 1)[0]
        assert status == "SIP/2.0 400 Authorization uri Does Not Match Request-URI", resp
        assert "not the Request-URI" in header(resp, "Warning"), resp
        assert metric(pnad, "pnad_sip_auth_uri_mismatch_total") == 1
        assert metric(pnad, "pnad_sip_auth_failures_total") == 0

        # the 400 used up nothing: the same nonce and count for the right
        # URI (its host in another case is the same URI) is accepted
        ok = digest_answer(chal, "judy", "pw", "SUBSCRIBE", "sip:judy@EXAMPLE.com")
        resp = c.subscribe("judy", call_id=uuid.uuid4().hex, authorization=ok)
        assert resp.startswith("SIP/2.0 200 "), resp
        assert metric(pnad, "pnad_sip_auth_uri_mismatch_total") == 1
    finally:
        c.close()


def test_in_dialog_requests_need_the_subscribers_digest(pnad_factory, redis_server):
    """Call-ID and tags are visible to every hop: from an untrusted source a
    refresh or an unsubscribe is challenged like the SUBSCRIBE was, and only
    the subscriber's own credential ends or extends the subscription."""
    pnad = digest_pnad(pnad_factory, redis_server)
    pnad.ctl("sip-cred", "set", "frank@example.com", "password=s3cret")
    pnad.ctl("sip-cred", "set", "eve@example.com", "password=evil")
    c = SipClient(pnad.sip_port)
    try:
        ok = c.subscribe_digest("frank", "s3cret")
        assert ok.startswith("SIP/2.0 200 "), ok
        tag = header(ok, "To").split("tag=")[1].split(";")[0]
        c.wait_notifies(1)

        def in_dialog(expires, user=None, password=None):
            r = c.subscribe("frank", expires=expires, call_id=c.call_id, to_tag=tag)
            if user is None or not r.startswith("SIP/2.0 401 "):
                return r
            chal = headers(r, "WWW-Authenticate")[0]
            return c.subscribe("frank", expires=expires, call_id=c.call_id, to_tag=tag,
                               authorization=digest_answer(chal, user, password,
                                                           "SUBSCRIBE", c.ruri))

        # no credentials: challenged, the subscription untouched
        r = in_dialog(0)
        assert r.startswith("SIP/2.0 401 "), r
        # somebody else's valid credential: refused
        r = in_dialog(0, "eve", "evil")
        assert r.startswith("SIP/2.0 403 "), r
        assert "not the subscriber" in header(r, "Warning"), r
        # still subscribed: an event brings a NOTIFY
        feed(pnad, [{"event": "MessageNew", "account": "frank@example.com",
                     "mailbox": "INBOX", "uid": 1}])
        c.wait_notifies(2)
        # the subscriber's own: refreshed, then ended with a terminated NOTIFY
        r = in_dialog(600, "frank", "s3cret")
        assert r.startswith("SIP/2.0 200 "), r
        assert header(r, "Expires") == "600", r
        r = in_dialog(0, "frank", "s3cret")
        assert r.startswith("SIP/2.0 200 "), r
        notes = c.wait_notifies(4)
        assert "terminated" in header(notes[-1], "Subscription-State"), notes[-1]
    finally:
        c.close()
