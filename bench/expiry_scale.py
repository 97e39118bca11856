"""4. Expiry at scale: the after_login UPDATE and a page fetch with 10k, 100k and 1M messages.

Measured in-process on PostgreSQL with the service's own functions
(app.services.expiry.mark_expired_for_user, app.services.messaging.fetch_messages).
A few target users own a fixed amount of data whatever the table's size (5
conversations of 100 messages each, 1% of them expired and not yet marked); the rest
of the table is other users' conversations of 100 messages, filled with
INSERT ... SELECT generate_series, also 1% expired (unmarked), 10% expiring later.
The table grows 10k -> 100k -> 1M; after each fill VACUUM ANALYZE runs (as autovacuum
would). At each size, repetitions interleave:

- baseline: a primary-key lookup of one message on the same session (the reference
  whose cost does not depend on the table's size);
- login hook: mark_expired_for_user for a target user (whose expired rows are reset,
  untimed, before each run, so every run marks the same 5 rows);
- fetch: fetch_messages for the newest page (50) of a target conversation.

Reports medians and the 1M / 10k ratios.
"""

import time
import uuid
from contextlib import ExitStack
from typing import Any

import sqlalchemy as sa
from support.settings import TEST_JWT_SECRET as JWT_SECRET

from bench.harness import Context, goal, log, median, ratio, write_result

NAME = "expiry_scale"
TARGETS = 5
TARGET_CONVERSATIONS = 5
MESSAGES_PER_CONVERSATION = 100
EXPIRED_EVERY = 100  # 1%
PAGE = 50

_NEW_CONVERSATIONS = """
CREATE TEMP TABLE new_conversations AS
SELECT gen_random_uuid() AS id, gen_random_uuid() AS a, gen_random_uuid() AS b, g AS n
FROM generate_series(1, :count) AS g
"""
_USERS = """
INSERT INTO users (id, username, display_name, password_hash, created_at)
SELECT u, 'x' || substr(replace(u::text, '-', ''), 1, 30), 'filler', '!', now()
FROM (SELECT a AS u FROM new_conversations UNION ALL SELECT b FROM new_conversations) AS t
"""
_CONVERSATIONS = """
INSERT INTO conversations (id, pair_key, created_at, updated_at)
SELECT id, least(a::text, b::text) || ':' || greatest(a::text, b::text), now(), now()
FROM new_conversations
"""
_PARTICIPANTS = """
INSERT INTO conversation_participants (conversation_id, user_id, joined_at)
SELECT id, a, now() FROM new_conversations UNION ALL SELECT id, b, now() FROM new_conversations
"""
# g runs over the messages; each conversation gets a contiguous run of 100 of them. 1% have
# expired (unmarked), 10% expire tomorrow, the rest never; all delivered and read.
_MESSAGES = """
INSERT INTO messages (id, conversation_id, seq, sender_id, content, expires_at, is_expired, delivered_at,
                      is_read, read_at, client_message_id, points_charged, created_at, updated_at)
SELECT gen_random_uuid(), c.id, 1 + g % :per_conversation, CASE WHEN g % 2 = 0 THEN c.a ELSE c.b END,
       'message number ' || g || ' of the filler conversations',
       CASE WHEN g % :expired_every = 7 THEN now() - interval '1 hour'
            WHEN g % 10 = 3 THEN now() + interval '1 day' END,
       false, now(), true, now(), NULL, 0,
       now() - interval '2 hours' + g * interval '1 millisecond',
       now() - interval '2 hours' + g * interval '1 millisecond'
FROM generate_series(0, :count - 1) AS g
JOIN new_conversations AS c ON c.n = 1 + g / :per_conversation
"""


def fill(engine: sa.Engine, messages: int) -> dict[str, list[str]]:
    """Add `messages` messages in new conversations of 100; returns the new conversation ids and users."""
    conversations = max(1, messages // MESSAGES_PER_CONVERSATION)
    with engine.begin() as conn:
        conn.execute(sa.text(_NEW_CONVERSATIONS), {"count": conversations})
        conn.execute(sa.text(_USERS))
        conn.execute(sa.text(_CONVERSATIONS))
        conn.execute(sa.text(_PARTICIPANTS))
        conn.execute(
            sa.text(_MESSAGES),
            {
                "count": conversations * MESSAGES_PER_CONVERSATION,
                "per_conversation": MESSAGES_PER_CONVERSATION,
                "expired_every": EXPIRED_EVERY,
            },
        )
        rows = conn.execute(sa.text("SELECT id, a FROM new_conversations ORDER BY n")).all()
        conn.execute(sa.text("DROP TABLE new_conversations"))
    return {"conversations": [str(r[0]) for r in rows], "first_users": [str(r[1]) for r in rows]}


def add_targets(engine: sa.Engine) -> list[dict[str, Any]]:
    """The target users: each is in TARGET_CONVERSATIONS conversations of 100 messages."""
    targets = []
    for _ in range(TARGETS):
        made = fill(engine, TARGET_CONVERSATIONS * MESSAGES_PER_CONVERSATION)
        user = str(uuid.uuid4())
        with engine.begin() as conn:  # one user takes the place of every conversation's first user
            conn.execute(
                sa.text(
                    "INSERT INTO users (id, username, display_name, password_hash, created_at) "
                    "VALUES (:u, :name, 'target', '!', now())"
                ),
                {"u": user, "name": "t" + user.replace("-", "")[:30]},
            )
            for table, column in (("conversation_participants", "user_id"), ("messages", "sender_id")):
                conn.execute(
                    sa.text(f"UPDATE {table} SET {column} = :u WHERE {column} = ANY(CAST(:old AS uuid[]))"),
                    {"u": user, "old": made["first_users"]},
                )
            expired = conn.execute(
                sa.text(
                    "SELECT count(*) FROM messages WHERE conversation_id = ANY(CAST(:c AS uuid[])) "
                    "AND expires_at <= now() AND NOT is_expired"
                ),
                {"c": made["conversations"]},
            ).scalar_one()
        targets.append({"user": user, "conversations": made["conversations"], "expired": int(expired)})
    return targets


def count_messages(engine: sa.Engine) -> int:
    """Rows in messages."""
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM messages")).scalar_one())


def vacuum_analyze(engine: sa.Engine) -> None:
    """What autovacuum would have done by now."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM (ANALYZE) messages"))
        conn.execute(sa.text("ANALYZE"))


def reset_expired(engine: sa.Engine, target: dict[str, Any]) -> None:
    """Unmark the target's expired rows, so the next hook run marks them again."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE messages SET is_expired = false WHERE conversation_id = ANY(CAST(:c AS uuid[])) "
                "AND is_expired"
            ),
            {"c": target["conversations"]},
        )


def explain_hook(engine: sa.Engine, target: dict[str, Any]) -> list[str]:
    """The plan PostgreSQL picks for the hook's UPDATE (run in a rolled-back transaction)."""
    with engine.connect() as conn:
        transaction = conn.begin()
        rows = conn.execute(
            sa.text(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
                "UPDATE messages SET is_expired = true, updated_at = now() "
                "WHERE conversation_id IN (SELECT conversation_id FROM conversation_participants "
                "WHERE user_id = :u) AND is_expired = false AND expires_at IS NOT NULL "
                "AND expires_at <= now()"
            ),
            {"u": target["user"]},
        ).all()
        transaction.rollback()
    return [r[0] for r in rows]


def measure_size(
    app: Any, engine: sa.Engine, targets: list[dict[str, Any]], repetitions: int
) -> dict[str, Any]:
    """Interleaved baseline / hook / fetch at the current table size; every sample and their medians."""
    from app.extensions import db
    from app.models import Message
    from app.services.expiry import mark_expired_for_user
    from app.services.messaging import fetch_messages

    with engine.connect() as conn:
        some_id = conn.execute(sa.text("SELECT id FROM messages ORDER BY random() LIMIT 1")).scalar_one()
    samples: dict[str, list[float]] = {"baseline": [], "hook": [], "fetch": []}
    marked: list[int] = []

    def timed(call: Any) -> tuple[float, Any]:
        start = time.perf_counter()
        value = call()
        elapsed = time.perf_counter() - start
        db.session.remove()
        return elapsed * 1000, value

    with app.app_context():
        for repetition in range(-1, repetitions):  # -1: warm-up, not recorded
            target = targets[max(repetition, 0) % len(targets)]
            user = uuid.UUID(target["user"])
            conversation = uuid.UUID(target["conversations"][max(repetition, 0) % TARGET_CONVERSATIONS])
            reset_expired(engine, target)
            baseline, _ = timed(
                lambda: db.session.execute(sa.select(Message.id).where(Message.id == some_id)).all()
            )
            hook, count = timed(lambda u=user: mark_expired_for_user(u))
            fetch, page = timed(lambda u=user, c=conversation: fetch_messages(u, c, limit=PAGE))
            if repetition < 0:
                continue
            samples["baseline"].append(baseline)
            samples["hook"].append(hook)
            samples["fetch"].append(fetch)
            marked.append(count)
            if len(page.messages) != PAGE:
                raise RuntimeError(f"fetch returned {len(page.messages)} messages, not {PAGE}")
    return {
        **{f"{k}_ms": median(v) for k, v in samples.items()},
        "samples_ms": samples,
        "marked_per_hook": sorted(set(marked)),
    }


def dispose_app_engine(app: Any) -> None:
    """Close the app's pooled connections (before the database is dropped)."""
    from app.extensions import db

    with app.app_context():
        db.engine.dispose()


def plot(figure: Any, sizes: list[dict[str, Any]]) -> None:
    """Median time of each operation against the table size (log-log), and the 1M/10k ratios."""
    left, right = figure.subplots(1, 2)
    xs = [s["messages"] for s in sizes]
    for key, colour in (("baseline", "tab:gray"), ("hook", "tab:red"), ("fetch", "tab:blue")):
        left.plot(xs, [s[f"{key}_ms"] for s in sizes], "o-", color=colour, label=key)
        for s in sizes:
            left.scatter(
                [s["messages"]] * len(s["samples_ms"][key]),
                s["samples_ms"][key],
                color=colour,
                s=6,
                alpha=0.4,
            )
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("messages in the table")
    left.set_ylabel("ms (median line; dots: repetitions)")
    left.legend(fontsize=8)
    left.grid(True, which="both", alpha=0.3)
    left.set_title("in-process, PostgreSQL, one target user's fixed data", fontsize=9)
    base = sizes[0]
    names = ["baseline", "hook", "fetch"]
    values = [ratio(sizes[-1][f"{k}_ms"], base[f"{k}_ms"]) or 0 for k in names]
    right.bar(names, values, color=["tab:gray", "tab:red", "tab:blue"])
    right.axhline(2.0, color="red", linestyle=":", label="goal: at most 2x")
    right.set_ylabel(f"time at {sizes[-1]['messages']:,} / time at {base['messages']:,}")
    right.legend(fontsize=8)
    right.set_title("growth with the table's size", fontsize=9)


def run(ctx: Context) -> dict[str, Any]:
    """Run the benchmark; write bench/results/expiry_scale.{json,png}."""
    from app import create_app
    from config import Config

    sizes_wanted = ctx.pick([10_000, 30_000], [10_000, 100_000, 1_000_000])
    repetitions = ctx.pick(5, 9)
    sizes: list[dict[str, Any]] = []
    plan: list[str] = []
    with ExitStack() as stack:
        database = ctx.database(stack, "expiry")
        engine = sa.create_engine(database, pool_size=2)
        stack.callback(engine.dispose)
        app = create_app(Config, SQLALCHEMY_DATABASE_URI=database, JWT_SECRET=JWT_SECRET, DB_POOL_SIZE=2)
        stack.callback(dispose_app_engine, app)
        targets = add_targets(engine)
        for wanted in sizes_wanted:
            have = count_messages(engine)
            began = time.monotonic()
            if wanted > have:
                fill(engine, wanted - have)
            vacuum_analyze(engine)
            total = count_messages(engine)
            log(f"{NAME}: {total:,} messages (filled in {time.monotonic() - began:.1f} s)")
            measured = measure_size(app, engine, targets, repetitions)
            measured["messages"] = total
            log(
                f"  baseline {measured['baseline_ms']:.2f} ms, hook {measured['hook_ms']:.2f} ms "
                f"(marks {measured['marked_per_hook']}), fetch {measured['fetch_ms']:.2f} ms"
            )
            sizes.append(measured)
        reset_expired(engine, targets[0])
        plan = explain_hook(engine, targets[0])
    first, last = sizes[0], sizes[-1]
    hook_growth = ratio(last["hook_ms"], first["hook_ms"])
    fetch_growth = ratio(last["fetch_ms"], first["fetch_ms"])
    baseline_growth = ratio(last["baseline_ms"], first["baseline_ms"])
    label = f"{last['messages'] // 1000}k / {first['messages'] // 1000}k"
    # The same growth with each size's time divided by its interleaved baseline: a noise
    # burst that slows every query at one size cancels out.
    normalized = {
        key: ratio(
            ratio(last[f"{key}_ms"], last["baseline_ms"]),
            ratio(first[f"{key}_ms"], first["baseline_ms"]),
        )
        for key in ("hook", "fetch")
    }
    result = {
        "config": {
            "sizes": sizes_wanted,
            "repetitions": repetitions,
            "targets": TARGETS,
            "target_data": f"{TARGET_CONVERSATIONS} conversations x "
            f"{MESSAGES_PER_CONVERSATION} messages, 1% expired",
            "filler": "conversations of 100 messages, 1% expired (unmarked), 10% expiring tomorrow",
            "page": PAGE,
        },
        "summary": {
            "sizes": [{k: v for k, v in s.items() if k != "samples_ms"} for s in sizes],
            "hook_growth": hook_growth,
            "fetch_growth": fetch_growth,
            "baseline_growth": baseline_growth,
            "hook_growth_over_baseline": normalized["hook"],
            "fetch_growth_over_baseline": normalized["fetch"],
            "hook_plan_at_largest": plan,
        },
        "goals": [
            goal(
                f"login hook time {label}",
                "<= 2.0",
                hook_growth,
                hook_growth is not None and hook_growth <= 2,
            ),
            goal(
                f"fetch time {label}", "<= 2.0", fetch_growth, fetch_growth is not None and fetch_growth <= 2
            ),
        ],
        "rounds": sizes,
    }
    write_result(ctx, NAME, result, lambda fig: plot(fig, sizes))
    return result
