"""10. Web Push: send throughput with pushes to offline recipients, against push off; memory
per pending push.

One database, two single-worker gunicorn (`-k eventlet`) servers on it that differ in
one setting: `push-on` (PUSH_ENABLED, the default) and `push-off` (PUSH_ENABLED=false).
100 conversations whose recipient has no socket open and one subscription (made with
`POST /api/push/subscriptions` and the recipient's token) at a push service on loopback
that answers 201 at once: `support.push_service.FakePushService` in this process,
HTTP/1.1 with keep-alive as real push services are. 32 keep-alive connections of the
load generator send paid messages over REST from the 100 senders, closed loop, in
rounds interleaved A B C, C B A, ...:

- off: the sends through `push-off` (the subscriptions are there; nothing pushes);
- on: the same sends through `push-on`: every send is one push, encrypted (aes128gcm)
  and signed (VAPID, cached per audience) by the worker in a detached green thread;
- on_unsubscribed: `push-on`, sends to 100 other conversations whose recipient has no
  subscription (the registry check and the targets query, no push).

Before the rounds the push service verifies the VAPID token and decrypts a sample of
pushes (`sample`); during the rounds it only counts them (`verify=False`): a real push
service is remote, and its CPU must not be taken from the 2-core machine's server.
Each round counts the messages stored (database) and the pushes that arrived; after a
round the next waits until the pushes of this one arrived (`drain_seconds`), so rounds
do not overlap; pushes dropped by PUSH_MAX_PENDING are counted in the server's log.

Memory: a fresh `push-on` server (PUSH_TIMEOUT_SECONDS=900) per repetition, warmed up
with N sends whose pushes are answered and a few that hang and are released; then N
sends to recipients whose push service hangs (a second FakePushService, mode "hang").
Once N pushes arrived there, they are pending in the worker (a green thread each,
waiting for the answer): (RSS after - RSS before) / N, and the slope over the second
half. The pushes are released at the end.
"""

import contextlib
import os
import time
from collections import Counter
from contextlib import ExitStack
from typing import Any

import sqlalchemy as sa
from support.push_service import FakePushService
from support.servers import LiveServer
from support.settings import TEST_VAPID_PUBLIC_KEY

from bench import send_throughput
from bench.harness import (
    Context,
    CpuMeter,
    LoadGen,
    User,
    cdf,
    goal,
    log,
    median,
    postgres_pids,
    ratio,
    seed_users,
    send_request,
    write_result,
)

NAME = "push"
CONNECTIONS = 32
RECIPIENTS = 100
ARMS = ("off", "on", "on_unsubscribed")
GOAL_RATIO = 0.8
SKIPPED = "push skipped"  # app/push/dispatch.py: a push dropped by PUSH_MAX_PENDING
POOL_FULL = "Connection pool is full"  # urllib3: more pushes at once than the session keeps
DRAIN_TIMEOUT = 60.0
SAMPLE_PUSHES = 10
BACKLOG = 1024  # the push services' listen backlog: hundreds of hanging pushes connect at once
FAILED = "failed:"  # app/push/dispatch.py: a push that did not get a 2xx, 404 or 410
COLOURS = {"off": "tab:gray", "on": "tab:blue", "on_unsubscribed": "tab:cyan"}


def pairs(users: list[User]) -> tuple[list[User], list[User]]:
    """(senders, recipients) of seeded users: user 2k sends to its partner 2k+1."""
    return users[0::2], users[1::2]


def subscribe(
    server: LiveServer, service: FakePushService, recipients: list[User], mode: str
) -> dict[str, str]:
    """One browser subscription per recipient at `service`, stored through the API with the
    recipient's token; endpoint -> recipient id."""
    endpoints = {}
    for user in recipients:
        browser = service.subscribe(mode)
        response = server.request(
            "POST", "/api/push/subscriptions", json=browser.as_json(), headers=user.headers
        )
        if response.status_code != 201:
            raise RuntimeError(f"subscription refused: {response.status_code} {response.text[:300]}")
        endpoints[browser.endpoint] = user.id
    return endpoints


def wait_until(condition: Any, timeout: float, step: float = 0.02) -> float | None:
    """Seconds until `condition()` held, or None after `timeout`."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            return None
        time.sleep(step)
    return time.monotonic() - began


def arrived_within(service: FakePushService, count: int, timeout: float) -> float | None:
    """Seconds until `count` pushes in all had arrived at `service`, or None after `timeout`."""
    return wait_until(lambda: len(service.deliveries) >= count, timeout)


def check_sample(
    server: LiveServer,
    service: FakePushService,
    senders: list[User],
    recipients: list[User],
    endpoints: dict[str, str],
) -> dict[str, Any]:
    """Send one message from each of the first senders with the push service verifying the
    VAPID token and decrypting the push; what was checked and any problem."""
    service.verify = True
    partner_of = {sender.id: recipient.id for sender, recipient in zip(senders, recipients, strict=True)}
    before = len(service.deliveries)
    sent: dict[str, Any] = {}
    for sender in senders[:SAMPLE_PUSHES]:
        answer = server.sent(sender, sender.conversation_id, "sample push")  # type: ignore[arg-type]
        sent[answer["message"]["id"]] = sender
        sender.partner_id = partner_of[sender.id]  # type: ignore[attr-defined]
    arrived = service.wait_for(before + len(sent), timeout=60)[before:]
    problems = []
    for delivery in arrived:
        payload = delivery.payload or {}
        sender = sent.get(payload.get("messageId", ""))
        chat = sender.conversation_id if sender else ""
        checks = {
            "accepted (VAPID verified, aes128gcm decrypted)": delivery.problem is None
            and delivery.status == 201,
            "the payload names a message sent": sender is not None and payload.get("type") == "message",
            "to the recipient of that chat": endpoints.get(delivery.endpoint)
            == getattr(sender, "partner_id", None)
            and payload.get("conversationId") == chat,
            "no content (PUSH_INCLUDE_CONTENT off)": "content" not in payload,
            "VAPID aud is the push service": delivery.claims.get("aud") == service.url,
            "Urgency high, Topic the chat, a TTL": delivery.headers.get("urgency") == "high"
            and delivery.headers.get("topic") == chat.replace("-", "")
            and int(delivery.headers.get("ttl", "-1")) > 0,
        }
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            problems.append(f"{', '.join(failed)}: {delivery.problem or payload}")
    service.verify = False
    return {
        "sent": len(sent),
        "arrived": len(arrived),
        "verified": len(arrived) - len(problems),
        "checked": "VAPID token (ES256, aud, exp, sub, the server's key), aes128gcm decryption, payload, "
        "recipient, Urgency, Topic, TTL",
        "problems": problems[:10],
        "ok": len(arrived) == len(sent) and not problems,
    }


class MessageCount:
    """Messages stored in the database (every send of a round, its warm-up's too)."""

    def __init__(self, database: str) -> None:
        self.engine = sa.create_engine(database, poolclass=sa.pool.NullPool)

    def messages(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM messages")).scalar_one())

    def close(self) -> None:
        self.engine.dispose()


def throughput_rounds(
    ctx: Context,
    loadgen: LoadGen,
    servers: dict[str, LiveServer],
    service: FakePushService,
    counter: MessageCount,
    meter: CpuMeter,
    arms: dict[str, list[dict[str, Any]]],
    *,
    repetitions: int,
    duration: float,
) -> list[dict[str, Any]]:
    """Closed-loop rounds of each arm, interleaved, the order reversed every other repetition;
    each with the pushes that arrived for it."""
    rounds = []
    names = list(arms)
    for repetition in range(repetitions):
        order = names if repetition % 2 == 0 else list(reversed(names))
        for arm in order:
            server = servers["off" if arm == "off" else "on"]
            log_from = server.log_size()
            stored_before, delivered_before = counter.messages(), len(service.deliveries)
            meter.start()
            answer = loadgen.call(
                "http_closed",
                url=server.url,
                requests=arms[arm],
                connections=CONNECTIONS,
                duration=duration,
                warmup=ctx.pick(0.3, 1.0),
                timeout=duration + 120,
            )
            cpu = meter.stop()
            delivered_at_end = len(service.deliveries) - delivered_before
            sends = counter.messages() - stored_before
            expected = sends if arm == "on" else 0
            drain = arrived_within(service, delivered_before + expected, DRAIN_TIMEOUT)
            time.sleep(0.2)  # any push that should not be there has had its chance to arrive
            server_log = server.log(log_from)
            delivered = len(service.deliveries) - delivered_before
            worker_cpu = cpu.get(f"server_{'off' if arm == 'off' else 'on'}")
            answer.update(
                arm=arm,
                repetition=repetition,
                cpu_pct=cpu,
                server_cpu_pct=worker_cpu,
                worker_ms_per_send=ratio(10 * (worker_cpu or 0), answer["throughput"]),
                sends=sends,
                pushes_expected=expected,
                pushes_delivered=delivered,
                pushes_pending_at_end=expected - delivered_at_end,
                drain_seconds=drain,
                pushes_dropped=server_log.count(SKIPPED),
                pushes_failed=server_log.count(FAILED),
                pushes_not_delivered=expected - delivered,
                push_statuses=dict(Counter(str(d.status) for d in service.deliveries[delivered_before:])),
            )
            log(
                f"  {arm:>15} rep {repetition}: {answer['throughput']:.0f}/s, "
                f"p50 {answer['latency_ms']['p50']:.1f} ms, p99 {answer['latency_ms']['p99']:.1f} ms, "
                f"statuses {answer['statuses']}; sends {sends}, pushes {delivered}/{expected} "
                f"({expected - delivered_at_end} pending at the end, drained in "
                f"{'-' if drain is None else f'{drain:.2f}'} s, dropped {answer['pushes_dropped']}); "
                f"cpu {cpu}"
            )
            rounds.append(answer)
    return rounds


def arm_summary(rounds: list[dict[str, Any]], arm: str) -> dict[str, Any]:
    """Medians of one arm over its repetitions and its answers (as benchmark 1 sums them up),
    the worker's own CPU, and its pushes."""
    mine = [r for r in rounds if r["arm"] == arm]
    return send_throughput.arm_summary(rounds, arm) | {
        "server_cpu_pct": median(r["server_cpu_pct"] for r in mine),
        "worker_ms_per_send": median(r["worker_ms_per_send"] for r in mine),
        "push_service_cpu_pct": median(r["cpu_pct"].get("push_service") for r in mine),
        "sends": sum(r["sends"] for r in mine),
        "pushes_expected": sum(r["pushes_expected"] for r in mine),
        "pushes_delivered": sum(r["pushes_delivered"] for r in mine),
        "pushes_dropped": sum(r["pushes_dropped"] for r in mine),
        "pushes_failed": sum(r["pushes_failed"] for r in mine),
        "pushes_not_delivered": sum(r["pushes_not_delivered"] for r in mine),
        "pushes_pending_at_end_max": max(r["pushes_pending_at_end"] for r in mine),
        "drain_seconds_max": max((r["drain_seconds"] or 0) for r in mine)
        if all(r["drain_seconds"] is not None for r in mine)
        else None,
    }


# --------------------------------------------------------------------------- memory


def send_exactly(
    loadgen: LoadGen, server: LiveServer, requests: list[dict[str, Any]], count: int
) -> dict[str, int]:
    """`count` sends over the closed loop's connections (no warm-up); their answers' statuses."""
    answer = loadgen.call(
        "http_closed",
        url=server.url,
        requests=requests,
        connections=CONNECTIONS,
        duration=600,
        warmup=0,
        max_requests=count,
        timeout=700,
    )
    return dict(answer["statuses"])


def arrivals(service: FakePushService, count: int, timeout: float = 120) -> None:
    """Wait until `count` pushes in all arrived at `service`."""
    if arrived_within(service, count, timeout) is None:
        raise RuntimeError(f"{len(service.deliveries)} pushes arrived, expected {count}")


def release_all(hanging: FakePushService) -> None:
    """Let every hanging push answer, wait until they did, and hang again from then on."""
    hanging.release()
    if wait_until(lambda: hanging.answered >= len(hanging.deliveries), 120) is None:
        raise RuntimeError(f"{hanging.answered} of {len(hanging.deliveries)} hanging pushes answered")
    hanging.released.clear()


def memory_round(
    ctx: Context,
    stack: ExitStack,
    database: str,
    loadgen: LoadGen,
    service: FakePushService,
    hanging: FakePushService,
    answered_requests: list[dict[str, Any]],
    hanging_requests: list[dict[str, Any]],
    counter: MessageCount,
    count: int,
    repetition: int,
) -> dict[str, Any]:
    """On a fresh push-on server: RSS before, at about count/2 and count pending pushes (as
    many as the sends stored: a send that failed makes no push)."""
    env = ctx.server_env(database, PUSH_TIMEOUT_SECONDS="900")
    server = ctx.server(stack, f"push-memory-{repetition}", env).start()
    log_from = server.log_size()
    try:
        # Warm-up: `count` sends pushed and answered, then a few pushes that hang and are released.
        statuses: Counter[str] = Counter()

        def batch_of(push_service: FakePushService, requests: list[dict[str, Any]], size: int) -> None:
            stored, arrived = counter.messages(), len(push_service.deliveries)
            statuses.update(send_exactly(loadgen, server, requests, size))
            arrivals(push_service, arrived + counter.messages() - stored)

        batch_of(service, answered_requests, count)
        batch_of(hanging, hanging_requests, min(50, count))
        release_all(hanging)
        time.sleep(1.0)  # the released pushes' green threads finish
        rss = [server.rss_kib()]
        first = len(hanging.deliveries)
        pending = [0]
        for size in (count // 2, count - count // 2):
            batch_of(hanging, hanging_requests, size)
            time.sleep(0.3)  # the last sends' requests are done with
            rss.append(server.rss_kib())
            pending.append(len(hanging.deliveries) - first)
        release_all(hanging)
        time.sleep(1.0)  # the worker reads the answers (and logs what it has to say)
        server_log = server.log(log_from)
        alarms = server.alarms(log_from)
    finally:
        with contextlib.suppress(Exception):
            release_all(hanging)
        server.stop()
    before, middle, after = rss
    _, half, total = pending
    measured = {
        "repetition": repetition,
        "pending": total,
        "pending_at_half": half,
        "warm_up_sends": count + min(50, count),
        "send_statuses": dict(statuses),
        "rss_kib": {"before": before, "half": middle, "after": after},
        "kib_per_pending_push": (after - before) / total,
        "kib_per_pending_push_second_half": (after - middle) / (total - half),
        "dropped": server_log.count(SKIPPED),
        "failed": server_log.count(FAILED),
        "pool_full_warnings": server_log.count(POOL_FULL),
        "server_log_alarms": alarms[:5],
    }
    log(
        f"  memory rep {repetition}: RSS {before} -> {middle} -> {after} KiB with 0 / {half} / {total} "
        f"pending: {measured['kib_per_pending_push']:.1f} KiB per pending push "
        f"(second half {measured['kib_per_pending_push_second_half']:.1f}); sends {dict(statuses)}"
    )
    return measured


# --------------------------------------------------------------------------- run


def plot(
    figure: Any, rounds: list[dict[str, Any]], summary: dict[str, Any], memory: list[dict[str, Any]]
) -> None:
    """Throughput per round and arm; latency CDFs; RSS against pending pushes."""
    left, middle, right = figure.subplots(1, 3)
    for i, arm in enumerate(ARMS):
        values = [r["throughput"] for r in rounds if r["arm"] == arm]
        left.scatter([i] * len(values), values, color=COLOURS[arm], alpha=0.6)
        left.bar(i, summary[arm]["throughput_per_s"] or 0, color=COLOURS[arm], alpha=0.35)
    left.set_xticks(range(len(ARMS)), ["push off", "push on", "on, no subs"])
    left.set_ylabel("sends/s (bars: median; dots: rounds)")
    left.set_title(f"push on / off = {summary['on_to_off_ratio'] or 0:.2f} (goal {GOAL_RATIO})", fontsize=9)
    for arm in ARMS:
        samples = [v for r in rounds if r["arm"] == arm for v in r["latency_sample_ms"]]
        cdf(middle, samples, f"{arm} (p99 {summary[arm]['p99_ms'] or 0:.1f} ms)", color=COLOURS[arm])
    middle.legend(fontsize=8)
    middle.set_title(f"send latency, closed loop, {CONNECTIONS} connections", fontsize=9)
    for m in memory:
        xs = [0, m["pending_at_half"], m["pending"]]
        ys = [m["rss_kib"][k] / 1024 for k in ("before", "half", "after")]
        right.plot(
            xs, ys, marker="o", label=f"rep {m['repetition']}: {m['kib_per_pending_push']:.1f} KiB/push"
        )
    right.set_xlabel("pushes pending (the push service hangs)")
    right.set_ylabel("worker RSS (MiB)")
    right.legend(fontsize=8)
    right.grid(True, alpha=0.3)
    right.set_title(
        f"memory per pending push: {summary['memory_kib_per_pending_push'] or 0:.1f} KiB", fontsize=9
    )


def run(ctx: Context) -> dict[str, Any]:
    """Run the benchmark; write bench/results/push.{json,png}."""
    repetitions = ctx.pick(3, 5)
    duration = ctx.pick(1.0, 8.0)
    pending = ctx.pick(100, 500)
    memory_repetitions = ctx.pick(1, 3)
    with ExitStack() as stack:
        database = ctx.database(stack, "push")
        senders, recipients = pairs(seed_users(database, 2 * RECIPIENTS, daily_free_limit=0, prefix="s"))
        lonely_senders, _ = pairs(seed_users(database, 2 * RECIPIENTS, daily_free_limit=0, prefix="u"))
        hang_senders, hang_recipients = pairs(
            seed_users(database, 2 * RECIPIENTS, daily_free_limit=0, prefix="h")
        )
        service = stack.enter_context(
            FakePushService(TEST_VAPID_PUBLIC_KEY, keep_alive=True, backlog=BACKLOG)
        )
        hanging = stack.enter_context(
            FakePushService(TEST_VAPID_PUBLIC_KEY, verify=False, keep_alive=True, backlog=BACKLOG)
        )
        hanging.hang_seconds = 900.0
        on = ctx.server(stack, "push-on", ctx.server_env(database))
        off = ctx.server(stack, "push-off", ctx.server_env(database, PUSH_ENABLED="false"))
        ctx.launcher.start_many([on, off])
        endpoints = subscribe(on, service, recipients, "ok")
        subscribe(on, hanging, hang_recipients, "hang")
        sample = check_sample(on, service, senders, recipients, endpoints)
        log(f"{NAME}: sample of {sample['sent']} pushes verified and decrypted: {sample}")
        if not sample["ok"]:
            raise RuntimeError(f"the sample pushes are not well-formed: {sample}")
        counter = MessageCount(database)
        stack.callback(counter.close)
        loadgen = LoadGen(ctx.workdir, "loadgen-push")
        stack.callback(loadgen.close)
        meter = CpuMeter(
            {
                "server_on": on.worker_pids,
                "server_off": off.worker_pids,
                "postgres": postgres_pids(database),
                "loadgen": lambda: [loadgen.pid],
                "push_service": lambda: [os.getpid()],  # this process: the push service's threads
            }
        )
        subscribed_requests = [send_request(u) for u in senders]
        arms = {
            "off": subscribed_requests,
            "on": subscribed_requests,
            "on_unsubscribed": [send_request(u) for u in lonely_senders],
        }
        log(f"{NAME}: {RECIPIENTS} offline subscribed recipients, {CONNECTIONS} connections, push on vs off")
        rounds = throughput_rounds(
            ctx,
            loadgen,
            {"on": on, "off": off},
            service,
            counter,
            meter,
            arms,
            repetitions=repetitions,
            duration=duration,
        )
        alarms = on.alarms() + off.alarms()
        on.stop()
        off.stop()
        memory = [
            memory_round(
                ctx,
                stack,
                database,
                loadgen,
                service,
                hanging,
                subscribed_requests,
                [send_request(u) for u in hang_senders],
                counter,
                pending,
                repetition,
            )
            for repetition in range(memory_repetitions)
        ]
    summary: dict[str, Any] = {arm: arm_summary(rounds, arm) for arm in ARMS}
    on_ratio = ratio(summary["on"]["throughput_per_s"], summary["off"]["throughput_per_s"])
    unsubscribed_ratio = ratio(
        summary["on_unsubscribed"]["throughput_per_s"], summary["off"]["throughput_per_s"]
    )
    per_push = median(m["kib_per_pending_push"] for m in memory)
    on_arm = summary["on"]
    delivered_all = on_arm["pushes_delivered"] == on_arm["pushes_expected"] - on_arm["pushes_dropped"]
    summary.update(
        on_to_off_ratio=on_ratio,
        on_unsubscribed_to_off_ratio=unsubscribed_ratio,
        pushed_to_unsubscribed_ratio=ratio(
            on_arm["throughput_per_s"], summary["on_unsubscribed"]["throughput_per_s"]
        ),
        worker_ms_per_push=(on_arm["worker_ms_per_send"] or 0) - (summary["off"]["worker_ms_per_send"] or 0),
        # The ratio the throughputs would have if the worker got the same CPU in every round
        # (on a saturated shared machine it does not): worker CPU per send, off / on.
        worker_cpu_per_send_off_to_on=ratio(
            summary["off"]["worker_ms_per_send"], on_arm["worker_ms_per_send"]
        ),
        worker_cpu_per_send_off_to_on_unsubscribed=ratio(
            summary["off"]["worker_ms_per_send"], summary["on_unsubscribed"]["worker_ms_per_send"]
        ),
        deliveries={
            "sends_with_push_on": on_arm["sends"],
            "pushes_delivered": on_arm["pushes_delivered"],
            "pushes_dropped_by_max_pending": on_arm["pushes_dropped"],
            "pushes_not_delivered": on_arm["pushes_not_delivered"],
            "pushes_with_push_off": summary["off"]["pushes_delivered"],
            "pushes_without_subscriptions": summary["on_unsubscribed"]["pushes_delivered"],
            "every_send_pushed": delivered_all,
        },
        sample=sample,
        memory_kib_per_pending_push=per_push,
        memory_kib_per_pending_push_each=[m["kib_per_pending_push"] for m in memory],
        memory_kib_per_pending_push_second_half=median(m["kib_per_pending_push_second_half"] for m in memory),
        server_log_alarms=(alarms + [a for m in memory for a in m["server_log_alarms"]])[:10],
    )
    result = {
        "config": {
            "recipients": RECIPIENTS,
            "connections": CONNECTIONS,
            "repetitions": repetitions,
            "round_seconds": duration,
            "workers": 1,
            "send": "paid (daily free limit 0): quota lock, insert, wallet debit, ledger row",
            "push_service": "loopback, in the bench process, HTTP/1.1 keep-alive, 201 at once; "
            "verifies and decrypts only the sample",
            "pending_pushes": pending,
            "memory_repetitions": memory_repetitions,
            "push_settings": "defaults (PUSH_MAX_PENDING 1000, PUSH_TIMEOUT_SECONDS 10; 900 for memory)",
        },
        "summary": summary,
        "goals": [
            goal(
                f"send throughput, push on ({RECIPIENTS} offline subscribed) / push off",
                f">= {GOAL_RATIO}",
                on_ratio,
                on_ratio is not None and on_ratio >= GOAL_RATIO and delivered_all and sample["ok"],
            ),
            goal(
                "worker CPU per send, push off / on (report)",
                "report",
                summary["worker_cpu_per_send_off_to_on"],
                None,
            ),
            goal(
                "worker RSS per pending push (KiB)",
                "report",
                per_push,
                None,
            ),
        ],
        "rounds": rounds,
        "memory_rounds": memory,
    }
    write_result(ctx, NAME, result, lambda fig: plot(fig, rounds, summary, memory))
    return result
