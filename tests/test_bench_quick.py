"""The benchmarks' quick mode runs and writes valid results (speed is not asserted).

`make bench QUICK=1` starts real gunicorn servers on PostgreSQL (and Redis), drives
them from the load-generator process and writes one JSON (the figures), one PNG and
one raw JSON (with every round's samples) per benchmark. This test runs it into a
temporary directory, so the benchmarks cannot rot unnoticed.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis
from support.databases import PostgresDatabases

from bench.harness import SAMPLE_KEYS, Context, without_samples
from bench.run import RESULTS, default_results, parse_settings

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.xdist_group("bench")]

TOP_LEVEL = Path(__file__).resolve().parents[1]
TIMEOUT = 900  # quick mode takes under 3 minutes alone; a loaded CI machine may take longer
COMMON_KEYS = {"benchmark", "mode", "machine", "settings", "config", "summary", "goals", "rounds"}
MACHINE_KEYS = {"nproc", "cpu_model", "memory_gib", "date"}
SUMMARY_KEYS = {
    "send_throughput": {
        "ceiling",
        "send",
        "send_free",
        "send_to_ceiling_ratio",
        "open_loop_at_half_throughput",
    },
    "hot_wallet": {"many", "hot", "hot_to_many_ratio", "server_errors_5xx", "deadlocks", "ledger_mismatches"},
    "fanout": {"at_goal_rate", "highest_rate_p99_under_100ms", "sweep", "send_p50_over_ceiling_p50"},
    "expiry_scale": {"sizes", "hook_growth", "fetch_growth", "baseline_growth", "hook_plan_at_largest"},
    "memory": {"service", "bare", "service_to_bare_ratio"},
    "processes": {"fanout_1p", "fanout_2p", "send_1p", "send_2p", "fanout_ratio", "send_ratio"},
    "capacity": {"capacity_users", "steps"},
    "search": {
        "sizes",
        "p99_growth",
        "hook_growth_p50",
        "send",
        "send_indexed_to_unindexed_ratio",
        "segments_worst_case_ms",
    },
    "attachments": {"throughput", "rss_growth_mib", "healthz_under_uploads", "hook"},
    "push": {
        "off",
        "on",
        "on_unsubscribed",
        "on_to_off_ratio",
        "deliveries",
        "sample",
        "memory_kib_per_pending_push",
    },
}


def require_redis() -> None:
    """The processes benchmark needs Redis (skipped locally without it, like the other server tests)."""
    try:
        redis.Redis("127.0.0.1", 6379, socket_timeout=3, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis is not reachable: {error}")


@pytest.fixture(scope="module")
def quick_results(pg_databases: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run `python -m bench.run --quick` into a temporary directory; the directory."""
    require_redis()
    results = tmp_path_factory.mktemp("bench-quick")
    run = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--results", str(results)],
        cwd=TOP_LEVEL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert run.returncode == 0, f"bench.run --quick failed:\n{run.stdout}\n{run.stderr[-20000:]}"
    return results


def test_quick_mode_writes_every_benchmarks_figures(quick_results: Path) -> None:
    index = json.loads((quick_results / "summary.json").read_text())
    assert index["mode"] == "quick"
    assert index["failures"] == []
    assert set(index["goals"]) == set(SUMMARY_KEYS)
    for name, keys in SUMMARY_KEYS.items():
        document = json.loads((quick_results / f"{name}.json").read_text())
        assert set(document) >= COMMON_KEYS, (name, sorted(document))
        assert document["benchmark"] == name
        assert document["mode"] == "quick"
        assert set(document["machine"]) >= MACHINE_KEYS, name
        assert keys <= set(document["summary"]), (name, sorted(document["summary"]))
        assert document["goals"], name
        for item in document["goals"]:
            assert {"name", "target", "value", "met"} <= set(item), (name, item)
        raw = json.loads((quick_results / "raw" / f"{name}.json").read_text())
        assert without_samples(raw) == document, f"{name}.json is not raw/{name}.json without its samples"
        assert not any(key in json.dumps(document) for key in SAMPLE_KEYS), name
        if name in ("expiry_scale", "search"):  # its rounds are the table sizes, each with its repetitions
            assert all(len(r["samples_ms"]["hook"]) >= 3 for r in raw["rounds"]), name
        else:
            assert len(document["rounds"]) >= 3, f"{name}: fewer than 3 repetitions"
        png = (quick_results / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000, name


def test_quick_mode_repeats_every_measurement_against_its_ceiling(quick_results: Path) -> None:
    send = json.loads((quick_results / "send_throughput.json").read_text())
    arms = [r["arm"] for r in send["rounds"]]
    assert arms.count("ceiling") >= 3 and arms.count("send") >= 3
    assert send["summary"]["send"]["server_errors_5xx"] == 0
    hot = json.loads((quick_results / "hot_wallet.json").read_text())
    assert hot["summary"]["deadlocks"] == 0 and hot["summary"]["ledger_mismatches"] == 0
    memory = json.loads((quick_results / "memory.json").read_text())
    assert [r["arm"] for r in memory["rounds"]].count("bare") >= 3
    assert memory["summary"]["service"]["all_connected"]
    capacity = json.loads((quick_results / "capacity.json").read_text())
    assert all({"mix", "ceiling"} <= set(step) for step in capacity["summary"]["steps"])


def test_quick_push_pushes_every_send_with_push_on_and_none_with_it_off(quick_results: Path) -> None:
    push = json.loads((quick_results / "push.json").read_text())
    assert push["summary"]["sample"]["ok"], push["summary"]["sample"]  # verified and decrypted
    deliveries = push["summary"]["deliveries"]
    assert deliveries["sends_with_push_on"] > 0 and deliveries["every_send_pushed"], deliveries
    assert deliveries["pushes_with_push_off"] == 0 and deliveries["pushes_without_subscriptions"] == 0
    assert [r["arm"] for r in push["rounds"]].count("on") >= 3
    assert push["memory_rounds"] and push["summary"]["memory_kib_per_pending_push"] is not None


def test_set_gives_every_bench_server_the_setting_and_refuses_unknown_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    settings = parse_settings(parser, ["DB_POOL_SIZE=40", "BENCH_EXPERIMENT=gc_log"])
    assert settings == {"DB_POOL_SIZE": "40", "BENCH_EXPERIMENT": "gc_log"}
    for wrong in ("NOT_A_SETTING=1", "DB_POOL_SIZE"):
        with pytest.raises(SystemExit):
            parse_settings(parser, [wrong])
        assert "--set" in capsys.readouterr().err
    assert (
        default_results(False, settings)
        == RESULTS / "experiments" / "BENCH_EXPERIMENT=gc_log,DB_POOL_SIZE=40"
    )
    assert default_results(True, {}) == RESULTS / "quick"

    ctx = Context(True, tmp_path, tmp_path, {}, PostgresDatabases(tmp_path), settings)
    env = ctx.server_env("postgresql+psycopg2://nobody@127.0.0.1/none", DB_POOL_SIZE="5")
    assert env["DB_POOL_SIZE"] == "40"  # over the quick cap and the benchmark's own choice
    assert env["BENCH_EXPERIMENT"] == "gc_log" and env["BENCH_CEILING"] == "1"
