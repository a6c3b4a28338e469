"""pna-bench run, sweep and plan against a real pnad: the JSON report is
complete, and the books balance (every event applied, every match a NOTIFY
received by the sink or coalesced, nothing unaccounted). Small workloads:
these check the accounting, not the speed (bench/ prints the figures)."""

import json
import os
import re
import sys

import pytest
import subprocess

from conftest import BIN

BENCH = os.path.join(BIN, "pna-bench")


def bench(*args, timeout=300):
    p = subprocess.run([BENCH, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def check_books(phase, events, fan_total, xmpp_total=0):
    b = phase["books"]
    assert phase["ran"]
    assert b["events_sent"] == events
    assert b["events_acked"] == events
    assert b["events_applied"] == events
    # The bench's own count of event x subscriber pairs, against the shard's.
    assert b["matches_expected"] == fan_total + xmpp_total
    assert b["matches"] == fan_total + xmpp_total
    assert (b["xmpp_received"] > 0) == (xmpp_total > 0)
    # Every match reached the sink once or was folded into a later NOTIFY.
    unique = b["received"] - b["repeats"]
    taken = b["folded_at_take"]  # matches a worker found taken with an earlier note
    assert taken <= b["matches"] // 1000, b
    # Notes folded into the NOTIFY that follows the one in flight on a dialog.
    folded = taken + b["folded_in_worker"]
    assert unique + b["xmpp_received"] + b["coalesced"] + folded == b["matches"], b
    assert b["unaccounted"] == 0 and b["unknown"] == 0
    # One NOTIFY in flight per dialog: none overtakes another's retransmission.
    assert b["out_of_order"] == 0, b
    # The egress workers sent every note they took.
    assert b["notes"] == b["notifies_sent"] + b["xmpp_received"] + folded, b
    assert b["balanced"] is True
    assert unique > 0


def test_run_books_balance_and_json(tmp_path):
    out = tmp_path / "run.json"
    events, subs = 20000, 600
    trace = tmp_path / "latency.trace"
    rc, so, se = bench("run", "-a", "300", "-s", str(subs), "-x", "0", "-e", str(events),
                       "-c", "2", "-b", "8", "-l", "0.3", "-d", "60", "-R", "2",
                       "--json", str(out), "--latency-trace", str(trace))
    assert rc == 0, so + se
    r = json.loads(out.read_text())
    assert r["workload"]["subscriptions_made"] == subs
    assert r["machine"]["damon_monitors_on"] >= 0  # what the latency tail may include
    # Just before the latency phase, a second of spinning on every CPU: how
    # long the host held them off (the floor under the phase's tail).
    st = r["machine"]["stalls"]
    allowed = len(os.sched_getaffinity(0))
    assert st["seconds"] == 1 and st["cpus_allowed"] == allowed
    assert len(st["cpus"]) == min(allowed, 64) and 0 <= st["lost_fraction"] < 1
    assert all(1.0 <= c["seconds"] < 1.5 for c in st["cpus"]), st  # each spun its second
    assert f"just before, this host's stalls of busy CPUs (1.0 s, {min(allowed, 64)} of" in so
    # Two rounds after a warm-up, the events split over them; each balanced,
    # each with its own baseline; the reported one is the median.
    assert len(r["max_rounds"]) == 2 and r["balanced"] is True
    for rd in r["max_rounds"]:
        assert rd["balanced"] and rd["notifies_per_s"] > 0 and rd["baseline_notifies_per_s"] > 0
    assert r["max_rounds"][r["max_median_round"]]["notifies_per_s"] == r["max"]["notifies_per_s"]
    events //= 2
    # Uniform fan-out: 2 subscribers per account, every event matches 2.
    check_books(r["max"], events, 2 * events)
    # The latency phase streams for --latency-secs at its rate: fewer events.
    n = r["latency"]["books"]["events_sent"]
    assert 0 < n <= 2 * events
    check_books(r["latency"], n, 2 * n)
    assert r["latency"]["target_events_per_s"] > 0
    lat = r["latency"]["latency_s"]
    assert lat["samples"] > 0 and 0 < lat["p50"] <= lat["p99"] <= lat["p999"] <= lat["max"]
    # Half a second of warm-up first, its latencies apart.
    warm = r["latency"]["warmup_latency_s"]
    assert warm["seconds"] == 0.5 and warm["samples"] > 0 and warm["p99"] <= warm["max"]
    # The trace holds every latency measured: "due arrival latency subscription".
    rows = [line.split() for line in trace.read_text().splitlines()]
    assert len(rows) == lat["samples"] + warm["samples"]
    # (the trace's due times are rounded to the microsecond)
    assert (sum(float(row[0]) < 0.5 - 1e-6 for row in rows) <= warm["samples"]
            <= sum(float(row[0]) < 0.5 + 1e-6 for row in rows))
    for due, arrived, took, sub in rows:
        assert abs(float(arrived) - float(due) - float(took)) < 2e-6
        assert 0 <= int(sub) < subs and float(due) >= 0
    assert abs(max(float(row[2]) for row in rows) - max(lat["max"], warm["max"])) < 2e-6
    # The machine while the phase ran: the busy time (/proc/stat, in ticks of
    # 10 ms per CPU) covers what pnad and the load generator (its sender
    # thread counted once) used.
    for phase in ("max", "latency"):
        c = r[phase]["cores_busy"]
        assert c["pnad"] > 0 and c["load_generator"] > 0 and c["other"] >= 0
        ticks = 2 * 0.01 * r["machine"]["cpus"] / c["seconds"]
        assert c["all"] + ticks >= c["pnad"] + c["load_generator"], c
        assert r[phase]["cpu_s"]["sender"] <= r[phase]["cpu_s"]["load_generator"]
        # What else ran, busiest first: never pnad's own processes (left
        # out by pid: a pnad not of this run would count).
        others = c["busiest_others"]
        assert len(others) <= 3 and all(not o["comm"].startswith("pnad") for o in others)
        # kdamond.N's CPU: none without a monitor on. With one on, a phase
        # shorter than its sampling interval may still see none (CI did).
        assert c["damon_monitors"] >= 0
        if not r["machine"]["damon_monitors_on"]:
            assert c["damon_monitors"] == 0, c
        assert [o["cores"] for o in others] == sorted((o["cores"] for o in others), reverse=True)
    for role in ("router", "shards", "sip"):
        assert r["max"]["cpu_s"][role] > 0, role
    # Paced, the event path's stages sleep between frames (the wake-ups that
    # make a paced event cost more CPU than one of the max phase's, where a
    # stage finds the next frame waiting): far more often a frame.
    paced, closed = r["latency"]["per_frame"]["sleeps"], r["max"]["per_frame"]["sleeps"]
    for role in ("router", "shards", "sip"):
        assert paced[role] > 2 * closed[role] and paced[role] > 0.1, (paced, closed)
    assert "sleeps per frame of 8 events: router" in so
    assert r["max"]["memory"]["shm_bytes"] > 0 and r["max"]["memory"]["rss_bytes"] > 0
    # The median round's baseline: the relay runs just before and after it,
    # joined; run the way (GSO groups or one datagram per send) that was
    # faster when the relay ran both ways after the warm-up.
    base = r["baseline"]
    assert base["ran"] and base["datagrams"] == 2 * 2 * events
    assert base["notifies_per_s"] == pytest.approx(base["datagrams"] / base["seconds"], rel=1e-3)
    assert base["gso_notifies_per_s"] > 0 and base["single_notifies_per_s"] > 0
    faster = "gso" if base["gso_notifies_per_s"] >= base["single_notifies_per_s"] else "single"
    assert base["way"] == faster
    assert r["ratio"] > 0
    # The latency baseline: the relay paced at the latency phase's rate over
    # its events, every NOTIFY written for its event and timed against it
    # (a count mapped to the wrong event would time it wrong, or not at all).
    lb = r["latency_baseline"]
    assert lb["ran"] and lb["target_events_per_s"] == r["latency"]["target_events_per_s"]
    blat, bwarm = lb["latency_s"], lb["warmup_latency_s"]
    assert blat["samples"] + bwarm["samples"] == 2 * n
    assert bwarm["seconds"] == 0.5 and bwarm["samples"] > 0
    assert 0 < blat["p50"] <= blat["p99"] <= blat["p999"] <= blat["max"]
    assert lb["cpu_s"] > 0
    assert "latency baseline: the relay at" in so
    assert "books:" in so and "balanced" in so and "NOT BALANCED" not in so


def test_run_zipf_fanout(tmp_path):
    out = tmp_path / "zipf.json"
    rc, so, se = bench("run", "-a", "200", "-s", "1000", "-f", "zipf", "-x", "0",
                       "-e", "10000", "-c", "2", "-l", "0", "--no-baseline", "-R", "1",
                       "--json", str(out))
    assert rc == 0, so + se
    r = json.loads(out.read_text())
    assert r["workload"]["fanout"] == "zipf"
    assert r["workload"]["fanout_max"] > 1000 // 200  # a hot account
    b = r["max"]["books"]
    assert b["balanced"] and b["matches"] == b["matches_expected"] > 10000
    assert not r["latency"]["ran"] and not r["baseline"]["ran"]


def test_run_with_xmpp_sink(tmp_path):
    """SIP and XMPP subscribers at once: the XMPP sink (a counting XEP-0114
    server) is in the books too."""
    out = tmp_path / "both.json"
    rc, so, se = bench("run", "-a", "200", "-s", "200", "-x", "50", "-e", "10000", "-c", "2",
                       "-l", "0", "--no-baseline", "-R", "1", "--json", str(out))
    assert rc == 0, so + se
    r = json.loads(out.read_text())
    assert r["workload"]["xmpp_subscriptions"] == 50
    # One SIP subscriber per account (10000 matches), one XMPP subscriber on
    # each of accounts 0..49: about a quarter of the events match one more.
    xmpp = r["max"]["books"]["matches_expected"] - 10000
    assert 1500 < xmpp < 3500
    check_books(r["max"], 10000, 10000, xmpp)
    assert r["max"]["books"]["xmpp_received"] > 0
    assert r["max"]["cpu_s"]["xmpp"] > 0


def test_stalls_sees_a_task_sharing_a_cpu(tmp_path):
    """pna-bench stalls: a busy task pinned beside the probe's spinner on
    one CPU takes about half of it, in time slices; the probe must count
    that time as lost, in stalls (the longest over 1 ms), queued behind that task, and
    name it as what ran meanwhile."""
    if not os.path.exists("/proc/thread-self/schedstat"):
        pytest.skip("no /proc/thread-self/schedstat (CONFIG_SCHED_INFO): no queueing figure")
    cpu = min(os.sched_getaffinity(0))
    out = tmp_path / "stalls.json"
    hog = subprocess.Popen([sys.executable, "-c",
                            "import sys; sys.stdout.write('go\\n'); sys.stdout.flush()\n"
                            "while True: pass"], stdout=subprocess.PIPE, text=True,
                           preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    try:
        assert hog.stdout.readline() == "go\n"
        rc, so, se = bench("stalls", "-t", "1", "-j", str(out))
    finally:
        hog.kill()
        hog.wait()
    assert rc == 0, so + se
    r = json.loads(out.read_text())
    shared = next(c for c in r["cpus"] if c["cpu"] == cpu)
    assert shared["lost_s"] > 0.25 * shared["seconds"], shared
    # (the slices, 1.5-4 ms here, depend on the kernel and the CPU count)
    assert shared["stalls"] > 10 and shared["longest_s"] > 1e-3, shared
    assert r["queued_fraction"] > 0.5 and shared["run_delay_s"] > 0.5 * shared["lost_s"]
    assert r["others"][0]["comm"].startswith("python") and r["others"][0]["cpu_s"] > 0.25, r
    assert r["lost_fraction"] > 0.25 / len(r["cpus"])
    assert f"cpu {cpu}:" in so and "meanwhile ran python" in so
    # -n: spin on the first CPUs only, the rest left free.
    rc, so, se = bench("stalls", "-t", "0.2", "-n", "1", "-j", str(out))
    r = json.loads(out.read_text())
    assert rc == 0 and [c["cpu"] for c in r["cpus"]] == [cpu], so + se
    assert r["cpus_allowed"] == len(os.sched_getaffinity(0))
    rc, so, se = bench("stalls", "-t", "x")
    assert rc == 2 and "--secs x: expected 0..3600" in se


def test_run_rejects_bad_options():
    rc, so, se = bench("run", "--fanout", "pareto")
    assert rc == 2 and "uniform or zipf" in se
    rc, so, se = bench("run", "-a", "1", "-c", "4", "-x", "0")
    assert rc == 2 and "at least one account" in se
    rc, so, se = bench("run", "-a", "10", "-x", "11")
    assert rc == 2 and "at most one per account" in se


def test_plan_from_measured(tmp_path):
    run = tmp_path / "run.json"
    rc, so, se = bench("run", "-a", "200", "-s", "200", "-e", "10000", "-c", "2", "-l", "0",
                       "--no-baseline", "--json", str(run))
    assert rc == 0, so + se
    chart = tmp_path / "plan"
    rc, so, se = bench("plan", "--mailboxes", "10M", "--msgs-per-day", "80",
                       "--events-per-msg", "4", "--peak-factor", "4",
                       "--subs-per-mailbox", "1.5", "--measured", str(run),
                       "--chart", str(chart))
    assert rc == 0, so + se
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip()
            for line in so.splitlines() if line.startswith("| ") and "---" not in line}
    # 10M x 80 x 4 / 86400 = 37037 events/s; x4 at peak; x1.5 NOTIFYs.
    assert rows["events/s, daily mean"] == "37k"
    assert rows["events/s, peak"] == "148k"
    assert rows["NOTIFYs/s, peak (no coalescing)"] == "222k"
    assert rows["subscriptions"] == "15.00M"
    r = json.loads(run.read_text())["max"]
    router_cores = 148148.15 * r["cpu_s"]["router"] / r["books"]["events_applied"] / 0.6
    assert abs(float(rows["router cores (at 60 % busy)"]) - router_cores) < 0.01 + router_cores / 50
    assert chart.with_suffix(".png").stat().st_size > 1000
    assert chart.with_suffix(".svg").read_text().lstrip().startswith("<?xml")
    assert "no paced phase" in so
    # With a paced latency phase, each role is sized on the costlier of
    # the two phases: here the router's paced cost is 3x, the shards' half.
    j = json.loads(run.read_text())
    j["latency"] = json.loads(json.dumps(j["max"]))
    j["latency"]["cpu_s"]["router"] *= 3
    j["latency"]["cpu_s"]["shards"] *= 0.5
    paced = tmp_path / "paced.json"
    paced.write_text(json.dumps(j))
    rc, so2, se = bench("plan", "--mailboxes", "10M", "--msgs-per-day", "80",
                        "--events-per-msg", "4", "--peak-factor", "4",
                        "--subs-per-mailbox", "1.5", "--measured", str(paced))
    assert rc == 0, so2 + se
    rows2 = {line.split("|")[1].strip(): line.split("|")[2].strip()
             for line in so2.splitlines() if line.startswith("| ") and "---" not in line}
    assert "paced latency phase:" in so2
    assert abs(float(rows2["router cores (at 60 % busy)"]) - 3 * router_cores) < \
        0.03 + 3 * router_cores / 50
    assert rows2["shard cores"] == rows["shard cores"]
    # A latency phase that did not run to its end is not a measurement.
    j["latency"]["ran"] = False
    paced.write_text(json.dumps(j))
    rc, so3, se = bench("plan", "--mailboxes", "10M", "--msgs-per-day", "80",
                        "--events-per-msg", "4", "--peak-factor", "4",
                        "--subs-per-mailbox", "1.5", "--measured", str(paced))
    assert rc == 0 and "no paced phase" in so3, so3 + se
    assert rows["router cores (at 60 % busy)"] in so3
    rc, so, se = bench("plan", "--mailboxes", "10M", "--measured", str(tmp_path / "none.json"))
    assert rc == 2 and "not a JSON file" in se


def test_sweep_writes_plots_and_fits(tmp_path):
    out = tmp_path / "sweep"
    rc, so, se = bench("sweep", "--over", "subs", "--values", "200,400", "-a", "200",
                       "-e", "5000", "-c", "2", "-l", "0", "--no-baseline", "--out", str(out),
                       timeout=400)
    assert rc == 0, so + se
    s = json.loads((out / "sweep.json").read_text())
    assert s["over"] == "subs" and len(s["runs"]) == 2
    assert [x["workload"]["subscriptions_made"] for x in s["runs"]] == [200, 400]
    for x in s["runs"]:
        assert x["max"]["books"]["balanced"]
    assert set(s["fit"]) == {"pnad_cpu_s", "shm_bytes", "rss_bytes"}
    for name in ("throughput", "latency", "memory", "cpu"):
        assert (out / f"{name}.png").stat().st_size > 1000, name
        assert (out / f"{name}.svg").stat().st_size > 1000, name
    dat = (out / "sweep.dat").read_text().splitlines()
    assert len(dat) == 3
    # The latency baseline's p99 column: left out of the plot (NaN) when
    # the baseline did not run, never a made-up 0.
    assert dat[0].split()[-1] == "base_p99_ms"
    assert all(row.split()[9] == "NaN" for row in dat[1:])
    table = [l.split("|") for l in so.splitlines() if l.startswith("| 200 ") or
             l.startswith("| 400 ")]
    assert len(table) == 2 and all(r[6].strip() == "NaN" for r in table), so


def test_run_max_phase_closed_loop(tmp_path):
    """The max phase writes at most --in-flight events ahead of their
    outcomes at the sinks: the notifications keep up, so few matches fold
    into pending notes (flooding the same workload folds over 90% of them)."""
    out = tmp_path / "gated.json"
    events = 20000
    rc, so, se = bench("run", "-a", "300", "-s", "600", "-x", "0", "-e", str(events),
                       "-c", "2", "-b", "8", "-l", "0", "--no-baseline", "-W", "32",
                       "-R", "1", "--json", str(out))
    assert rc == 0, so + se
    r = json.loads(out.read_text())
    assert r["workload"]["max_in_flight"] == 32
    check_books(r["max"], events, 2 * events)
    b = r["max"]["books"]
    assert b["coalesced"] < b["matches"] // 4, b
    assert "closed loop, at most 32 events in flight" in so


@pytest.mark.parametrize("sink", ["", "--sink-gso"])
def test_sip_rounds_every_notify_reaches_the_sink(sink):
    """pna-bench sip: a warm-up and two rounds, each followed by both
    baselines; in the reported round pnad's counters agree with the sink:
    every NOTIFY sent (most in GSO groups) arrived as one datagram and was
    answered 200, none retransmitted or failed. With --sink-gso the 200s
    come back in GSO groups, which the worker reads coalesced (UDP GRO)."""
    rc, so, se = bench("sip", "-a", "500", "-e", "20000", "-r", "2", "-d", "60",
                       *([sink] if sink else []))
    assert rc == 0, so + se
    assert "median of 2 rounds" in so, so
    rounds = re.search(r"rounds \(pnad / baseline\): (.*)", so).group(1)
    assert len(rounds.split(",")) == 2, so
    m = re.search(r"NOTIFYs out \S+ in .*pnad counters: sent (\d+) \((\d+) in GSO groups\), "
                  r"200 (\d+), retransmits (\d+), failures (\d+)", so)
    assert m, so
    sent, grouped, ok, retr, fail = (int(m.group(i)) for i in range(1, 6))
    assert sent > 0 and ok == sent and retr == 0 and fail == 0, so
    assert grouped <= sent
    assert "baseline, GSO groups:" in so and "baseline, one datagram per send:" in so
