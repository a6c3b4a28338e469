"""The event pipeline end to end: mail stores stream events into pnad's
ingest, the router hashes each account to its shard, the shards keep the
mailbox counts; asserted through pnactl."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import BIN, feed, finish_feed, free_port, start_feed, wait_until
from workload import account_name, canonical, check_accounts, interleave, mail_stream

STORES = tuple(("s%d" % i, "secret-%d" % i) for i in range(1, 5))


def test_100k_events_1000_accounts_4_connections(pnad_factory):
    pnad = pnad_factory(shards=2, stores=STORES)
    streams, model = mail_stream(range(1000), 100)
    procs = []
    for s in range(4):
        keys = [i for i in range(1000) if i % 4 == s]
        procs.append(start_feed(pnad, interleave(streams, keys), store="s%d" % (s + 1)))
    results = [finish_feed(p) for p in procs]
    assert sum(int(r["acked"]) for r in results) == 100000
    st = pnad.wait_drained()
    assert int(st["router.events"]) == 100000
    applied = sum(int(st["shard.%d.events_applied" % i]) for i in range(2))
    assert applied == 100000
    # Both shards got a fair share of the accounts.
    for i in range(2):
        assert int(st["shard.%d.mailboxes" % i]) > 600
    check_accounts(pnad, model, range(1000))
    # pnactl's mailbox view agrees with its account view.
    mb = pnad.mailbox(canonical(account_name(5)) + "/inbox")
    assert mb["shard"] == mb["owner_shard"]
    assert int(mb["messages"]) == model.boxes[(canonical(account_name(5)), "INBOX")]["messages"]


def test_shard_sigkill_mid_stream_keeps_state(pnad_factory):
    pnad = pnad_factory(shards=2)
    streams, model = mail_stream(range(200), 400, seed=3)
    total = 200 * 400
    proc = start_feed(pnad, interleave(streams, range(200)), args=["-b", "1"])
    wait_until(lambda: int(pnad.stats()["router.events"]) >= 10000, what="10k events in")
    victim = int(pnad.stats()["shard.0.pid"])
    os.kill(victim, signal.SIGKILL)
    seen_at_kill = int(pnad.stats()["router.events"])
    res = finish_feed(proc)
    assert seen_at_kill < total, "the stream ended before the kill: test proves nothing"
    assert int(res["acked"]) == total
    st = wait_until(lambda: (lambda s: s if int(s["shard.0.pid"]) != victim else None)(
        pnad.stats()), what="shard 0 restart")
    assert int(st["shard.0.restarts"]) >= 2
    pnad.wait_drained()
    check_accounts(pnad, model, range(200))


def test_router_sigkill_feeder_resumes(pnad_factory):
    pnad = pnad_factory(shards=2)
    streams, model = mail_stream(range(100), 500, seed=4)
    total = 100 * 500
    proc = start_feed(pnad, interleave(streams, range(100)), args=["-b", "1"])
    wait_until(lambda: int(pnad.stats()["router.events"]) >= 5000, what="5k events in")
    os.kill(int(pnad.stats()["router.pid"]), signal.SIGKILL)
    res = finish_feed(proc)
    assert int(res["acked"]) == total
    assert int(res["reconnects"]) >= 1
    pnad.wait_drained()
    check_accounts(pnad, model, range(100))


def test_feeder_reconnect_resumes_without_double_apply(pnad_factory):
    pnad = pnad_factory(shards=2)
    streams, model = mail_stream(range(50), 400, seed=5)
    res = feed(pnad, interleave(streams, range(50)), args=["--drop-after", "7000"])
    assert int(res["reconnects"]) == 1
    assert int(res["acked"]) == 50 * 400
    st = pnad.wait_drained()
    assert int(st["router.events"]) == 50 * 400
    check_accounts(pnad, model, range(50))


def test_config_errors_name_file_and_line(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("admin_token = t\nstore = s1 x\nshards = many\n")
    r = subprocess.run([os.path.join(BIN, "pnad"), "-c", str(conf)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert "%s:3: shards: not an integer" % conf in r.stderr
    conf.write_text("admin_token = t\nstore = s1 x\n")
    r = subprocess.run([os.path.join(BIN, "pnad"), "-c", str(conf), "-t"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0


def test_sigterm_stops_every_process(pnad_factory):
    pnad = pnad_factory(shards=3)
    pids = pnad.child_pids()
    assert len(pids) == 5  # router, admin, 3 shards
    assert pnad.stop() == 0
    for pid in pids:
        wait_until(lambda: not os.path.exists("/proc/%d" % pid) or
                   open("/proc/%d/stat" % pid).read().split()[2] == "Z",
                   what="child %d to exit" % pid)
    assert not [f for f in os.listdir("/dev/shm") if f.startswith(pnad.name + ".")]


def _policies(pnad):
    """{process name: scheduling policy} of pnad's children."""
    return {open("/proc/%d/comm" % pid).read().strip(): os.sched_getscheduler(pid)
            for pid in pnad.child_pids()}


def test_event_path_runs_sched_batch(pnad_factory):
    """The router, the shards and the SIP worker run as SCHED_BATCH (a stage
    woken by the one before it does not preempt it), admin and the
    supervisor as before; a restarted shard too; sched_batch = no leaves
    every process with the policy pnad started with."""
    probe = subprocess.run([sys.executable, "-c", "import os; os.sched_setscheduler("
                            "0, os.SCHED_BATCH, os.sched_param(0))"], capture_output=True)
    if probe.returncode:
        pytest.skip("this sandbox refuses SCHED_BATCH (pnad logs it and runs on): %s"
                    % probe.stderr.decode()[-200:])
    pnad = pnad_factory(shards=2, extra="sip_listen = 127.0.0.1:%d\nsip_domain = example.com"
                        % free_port())
    # (each shard writes its pid once it runs: after the supervisor's fork
    # set its name and policy)
    wait_until(lambda: all(int(pnad.stats()["shard.%d.pid" % i]) > 0 for i in (0, 1)),
               what="both shards to run")
    pol = wait_until(lambda: (lambda p: p if len(p) == 5 else None)(_policies(pnad)),
                     what="the SIP worker to run")
    assert pol == {"pnad-router": os.SCHED_BATCH, "pnad-shard0": os.SCHED_BATCH,
                   "pnad-shard1": os.SCHED_BATCH, "pnad-sip": os.SCHED_BATCH,
                   "pnad-admin": os.SCHED_OTHER}, pol
    assert os.sched_getscheduler(pnad.proc.pid) == os.SCHED_OTHER
    victim = int(pnad.stats()["shard.1.pid"])
    os.kill(victim, signal.SIGKILL)
    st = wait_until(lambda: (lambda s: s if int(s["shard.1.pid"]) not in (0, victim) else None)(
        pnad.stats()), what="shard 1 restart")
    assert os.sched_getscheduler(int(st["shard.1.pid"])) == os.SCHED_BATCH
    off = pnad_factory(shards=1, extra="sched_batch = no")
    assert set(_policies(off).values()) == {os.SCHED_OTHER}
