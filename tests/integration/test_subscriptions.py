"""Subscriptions end to end through the HTTP/2 admin API: authorization,
matching and coalescing, survival of a shard crash without Redis, a cold
start from Redis (one server and a 3-master cluster), and a Redis outage."""

import os
import signal
import subprocess
import time

from conftest import feed, wait_until
from prometheus_client.parser import text_string_to_metric_families


def sub_body(acct, subscriber=None, path="INBOX", depth="exact", **kw):
    body = {"transport": "xmpp", "subscriber": subscriber or acct,
            "mailbox": acct + ("/" + path if path else ""), "depth": depth,
            "expires": 3600}
    body.update(kw)
    return body


def counter(pnad, name):
    """Sum of a per-shard counter from pnactl stats (shard.N.<name>)."""
    st = pnad.stats()
    return sum(int(v) for k, v in st.items() if k.startswith("shard.") and k.endswith("." + name))


def test_api_auth_and_crud(pnad_factory, redis_server):
    pnad = pnad_factory(shards=2, redis="127.0.0.1:%d" % redis_server.port)
    api = pnad.api()
    assert api.text("/healthz", token=False)[0] == 200
    assert pnad.api(token=False).request("GET", "/v1/shards")[0] == 401
    status, sub = api.request("POST", "/v1/subscriptions", sub_body("alice@example.com"))
    assert status == 201, sub
    sid = sub["id"]
    status, lst = api.request("GET", "/v1/subscriptions?subscriber=alice@example.com")
    assert status == 200 and [s["id"] for s in lst["subscriptions"]] == [sid]
    status, got = api.request("GET", "/v1/subscriptions/" + sid)
    assert status == 200 and got["mailbox"] == "alice@example.com/INBOX"
    assert api.request("DELETE", "/v1/subscriptions/" + sid)[0] == 204
    assert api.request("GET", "/v1/subscriptions/" + sid)[0] == 404
    status, err = api.request("POST", "/v1/subscriptions", {"transport": "xmpp"})
    assert status == 400 and err["error"]


def test_unauthorized_then_grant_then_revoke(pnad_factory, redis_server):
    pnad = pnad_factory(shards=2, redis="127.0.0.1:%d" % redis_server.port)
    api = pnad.api()
    bob_on_alice = sub_body("alice@example.com", subscriber="xmpp:bob@example.net")
    status, err = api.request("POST", "/v1/subscriptions", bob_on_alice)
    assert status == 403
    assert "bob@example.net" in err["error"] and "grant" in err["error"]
    grant = {"account": "alice@example.com", "path": "INBOX", "grantee": "bob@example.net",
             "rights": ["subscribe"]}
    assert api.request("POST", "/v1/grants", grant)[0] == 201
    status, sub = api.request("POST", "/v1/subscriptions", bob_on_alice)
    assert status == 201, sub
    # The grant covers INBOX and below, not the whole account.
    other = sub_body("alice@example.com", subscriber="bob@example.net", path="Sent")
    assert api.request("POST", "/v1/subscriptions", other)[0] == 403
    q = "/v1/grants?account=alice@example.com&path=INBOX&grantee=bob@example.net"
    assert api.request("DELETE", q)[0] == 204
    assert api.request("POST", "/v1/subscriptions", bob_on_alice)[0] == 403
    # A SIP identity maps to the account it names.
    own = sub_body("carol@example.com", subscriber="sip:carol@example.com", transport="sip")
    assert api.request("POST", "/v1/subscriptions", own)[0] == 201
    assert counter(pnad, "denied") == 3


def test_matching_subtree_and_coalescing(pnad_factory, redis_server):
    pnad = pnad_factory(shards=2, redis="127.0.0.1:%d" % redis_server.port)
    api = pnad.api()
    acct = "dora@example.com"
    assert api.request("POST", "/v1/subscriptions",
                       sub_body(acct, path="", depth="subtree"))[0] == 201
    assert api.request("POST", "/v1/subscriptions",
                       sub_body(acct, path="INBOX", events=["MessageNew"]))[0] == 201
    assert api.request("POST", "/v1/subscriptions", sub_body(acct, path="Work"))[0] == 201
    base_matches, base_notes = counter(pnad, "matches"), counter(pnad, "notes")
    feed(pnad, [
        {"event": "MessageNew", "account": acct, "mailbox": "INBOX", "uid": 1},
        {"event": "MessageRead", "account": acct, "mailbox": "INBOX", "uidset": "1"},
        {"event": "MessageNew", "account": acct, "mailbox": "Work/2026", "uid": 1},
        {"event": "MessageNew", "account": "dorade@example.com", "mailbox": "INBOX", "uid": 1},
    ])
    pnad.wait_drained()
    # subtree: 3 events; INBOX exact (MessageNew only): 1; Work exact: 0.
    wait_until(lambda: counter(pnad, "matches") - base_matches == 4, what="4 matches")
    # Nobody takes jobs yet (no egress worker): every subscription has one
    # pending note; later matches coalesce into it.
    assert counter(pnad, "notes") - base_notes == 0
    assert counter(pnad, "coalesced") >= 2


def create_many(api, accounts, per_account=1):
    reqs = [("POST", "/v1/subscriptions", sub_body("u%d@load.example" % i,
                                                    path="INBOX" if k == 0 else "F%d" % k))
            for i in range(accounts) for k in range(per_account)]
    res = api.many(reqs, concurrency=128)
    bad = [r for r in res if r[0] != 201]
    assert not bad, bad[:5]
    return [r[1]["id"] for r in res]


def test_100k_subscriptions_survive_shard_sigkill_without_reload(pnad_factory, redis_server):
    pnad = pnad_factory(shards=2, redis="127.0.0.1:%d" % redis_server.port)
    ids = create_many(pnad.api(), 50000, per_account=2)
    assert len(set(ids)) == 100000
    before = pnad.stats()
    reloads = counter(pnad, "reloads")
    victim = int(before["shard.0.pid"])
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: int(pnad.stats()["shard.0.pid"]) != victim, what="shard 0 restart")
    assert counter(pnad, "subscriptions") == 100000
    assert counter(pnad, "reloads") == reloads
    status, lst = pnad.api().request("GET", "/v1/subscriptions?subscriber=u77@load.example")
    assert status == 200 and len(lst["subscriptions"]) == 2


def test_cold_start_reloads_each_shard_its_accounts(pnad_factory, redis_server, tmp_path):
    redis = "127.0.0.1:%d" % redis_server.port
    first = pnad_factory(shards=3, redis=redis)
    create_many(first.api(), 20000)
    wait_until(lambda: counter(first, "persist_written") >= 20000, what="Redis writes")
    name = first.name
    first.stop()
    assert not [f for f in os.listdir("/dev/shm") if f.startswith(name + ".")]
    second = pnad_factory(shards=3, redis=redis, name=name)
    wait_until(lambda: counter(second, "subscriptions") == 20000, timeout=60,
               what="reload of 20000 subscriptions")
    assert counter(second, "reloads") == 3
    st = second.stats()
    for i in range(3):
        assert int(st["shard.%d.reloaded_subs" % i]) == int(st["shard.%d.subscriptions" % i])
    # Each shard holds exactly the accounts the hash gives it.
    for i in range(0, 20000, 997):
        acct = "u%d@load.example" % i
        owner = int(second.ctl("shard-of", acct).stdout.split()[1])
        status, lst = second.api().request("GET", "/v1/subscriptions?subscriber=" + acct)
        assert status == 200 and len(lst["subscriptions"]) == 1
        assert lst["subscriptions"][0]["id"].startswith("%d-" % owner)


def redis_subs(redis, prefix):
    """{(account, id)} of every subscription stored in Redis."""
    keys = [k for k in redis.cli("--scan", "--pattern", prefix + ":{*}:subs").split() if k]
    out = set()
    for k in keys:
        acct = k[k.index("{") + 1:k.index("}")]
        out |= {(acct, f) for f in redis.cli("HKEYS", k).split()}
    return out


def test_redis_outage_queues_changes(pnad_factory, private_redis):
    pnad = pnad_factory(shards=2, redis="127.0.0.1:%d" % private_redis.port)
    api = pnad.api()
    keep = create_many(api, 200)
    owner = {sid: "u%d@load.example" % i for i, sid in enumerate(keep)}
    wait_until(lambda: counter(pnad, "persist_written") >= 200, what="Redis writes")
    private_redis.stop()
    end = time.time() + 10
    made, removed = [], []
    while time.time() < end:
        n = len(made)
        status, sub = api.request("POST", "/v1/subscriptions", sub_body("o%d@out.example" % n))
        assert status == 201, sub
        made.append(sub["id"])
        owner[sub["id"]] = "o%d@out.example" % n
        if n % 3 == 0:
            assert api.request("DELETE", "/v1/subscriptions/" + keep[n])[0] == 204
            removed.append(keep[n])
        feed(pnad, [{"event": "MessageNew", "account": "o%d@out.example" % n,
                     "mailbox": "INBOX", "uid": 1}])
        time.sleep(0.2)
    assert int(pnad.stats()["shard.0.redis_up"]) + int(pnad.stats()["shard.1.redis_up"]) == 0
    assert counter(pnad, "matches") >= len(made)
    private_redis.start()
    key = lambda sid: (owner[sid], sid.split("-", 1)[1])
    expect = {key(i) for i in keep + made} - {key(i) for i in removed}
    try:
        wait_until(lambda: redis_subs(private_redis, pnad.name) == expect, timeout=30,
                   what="Redis to hold exactly the expected subscriptions")
    except AssertionError:
        got = redis_subs(private_redis, pnad.name)
        raise AssertionError("missing %s, extra %s, stats %s" % (
            sorted(expect - got)[:5], sorted(got - expect)[:5],
            {k: v for k, v in pnad.stats().items() if "persist" in k or "redis" in k}))


def test_redis_cluster_write_through_and_reload(pnad_factory, redis_cluster):
    redis = "127.0.0.1:%d" % redis_cluster[0].port
    first = pnad_factory(shards=2, redis=redis, extra="redis_cluster = yes")
    create_many(first.api(), 3000)
    wait_until(lambda: counter(first, "persist_written") >= 3000, what="cluster writes")
    per_node = [len(n.cli("--scan", "--pattern", first.name + ":{*}:subs").split())
                for n in redis_cluster]
    assert sum(per_node) == 3000 and all(c > 500 for c in per_node), per_node
    name = first.name
    first.stop()
    second = pnad_factory(shards=2, redis=redis, name=name, extra="redis_cluster = yes")
    wait_until(lambda: counter(second, "subscriptions") == 3000, timeout=60,
               what="reload from the cluster")


def test_metrics_and_curl(pnad_factory, redis_server):
    pnad = pnad_factory(shards=2, redis="127.0.0.1:%d" % redis_server.port)
    create_many(pnad.api(), 300)
    r = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-H",
                        "Authorization: Bearer " + pnad.token,
                        "http://127.0.0.1:%d/metrics" % pnad.admin_port],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    families = {f.name: f for f in text_string_to_metric_families(r.stdout)}
    assert families, r.stdout[:500]
    # Aggregates per shard, never a series per subscription (300 exist).
    for f in families.values():
        assert len(f.samples) < 100, f.name
    subs = [s for s in families["pnad_subscriptions"].samples]
    assert sum(s.value for s in subs) == 300, subs
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                        "--http2-prior-knowledge",
                        "http://127.0.0.1:%d/v1/shards" % pnad.admin_port],
                       capture_output=True, text=True, timeout=10)
    assert r.stdout == "401 2"


def test_delete_and_rename_end_subscriptions(pnad_factory, redis_server):
    pnad = pnad_factory(shards=1, redis="127.0.0.1:%d" % redis_server.port)
    api = pnad.api()
    acct = "eve@example.com"
    ids = {}
    for path, depth in (("Old", "exact"), ("Old/Child", "exact"), ("Gone", "exact"),
                        ("", "subtree"), ("INBOX", "exact")):
        status, sub = api.request("POST", "/v1/subscriptions",
                                  sub_body(acct, path=path, depth=depth))
        assert status == 201
        ids[path] = sub["id"]
    feed(pnad, [
        {"event": "MailboxCreate", "account": acct, "mailbox": "Old/Child"},
        {"event": "MailboxCreate", "account": acct, "mailbox": "Gone"},
        {"event": "MailboxRename", "account": acct, "oldMailbox": "Old", "mailbox": "New"},
        {"event": "MailboxDelete", "account": acct, "mailbox": "Gone"},
    ])
    pnad.wait_drained()
    live = lambda: {s["id"] for s in api.request(
        "GET", "/v1/subscriptions?subscriber=" + acct)[1]["subscriptions"]}
    # The renamed mailbox (and its children) and the deleted one are gone;
    # the account's subtree and INBOX subscriptions stay.
    wait_until(lambda: live() == {ids[""], ids["INBOX"]}, what="subscriptions to end")
    assert counter(pnad, "ended") == 3


def test_full_redis_queue_refuses_new_subscriptions(pnad_factory, private_redis):
    # A 1 MiB outbox holds a few hundred changes: Redis down, it fills.
    pnad = pnad_factory(shards=1, redis="127.0.0.1:%d" % private_redis.port,
                        extra="outbox_bytes = 1M")
    api = pnad.api()
    assert api.request("POST", "/v1/subscriptions", sub_body("first@q.example"))[0] == 201
    private_redis.stop()
    refused = None
    for n in range(2000):
        status, body = api.request("POST", "/v1/subscriptions", sub_body("q%d@q.example" % n))
        if status != 201:
            refused = (n, status, body)
            break
    assert refused, "the queue never filled"
    n, status, body = refused
    assert status == 503 and "Redis" in body["error"], refused
    assert n > 100
    assert counter(pnad, "refused_full") >= 1
    # Once Redis is back the queue drains and subscriptions are taken again.
    private_redis.start()
    wait_until(lambda: api.request("POST", "/v1/subscriptions",
                                   sub_body("again@q.example"))[0] == 201,
               timeout=30, what="subscriptions accepted again")
