"""8. Message search at scale, what the index costs a send, and the login hook beside it.

Search: in process on PostgreSQL, with the service's own function
(app.services.search.search_messages), as the table grows from 10k to 1M messages in
10,000 conversations (filled with INSERT ... SELECT generate_series, the search index
dropped during the bulk load and rebuilt after it, then VACUUM ANALYZE). A few target
users own a fixed amount of data whatever the table's size (5 conversations of 100
messages); the search runs over all of a target's conversations for:

- rare: a word in 2 of the target's 500 messages and 1 in 100,000 of the others;
- common: a word in 30 % of all messages ("hello");
- prefix: `meet`, matching meet, meeting, meetings and meetup (10 % of all messages);

each repeated many times, interleaved with a primary-key lookup (the baseline whose
cost does not depend on the table's size) and the after_login hook of a target
(app.services.expiry.mark_expired_for_user; its expired rows are reset, untimed,
before each run). Reports p50 and p99 at each size and the 1M / 10k ratios.

Send throughput: two single-worker gunicorn servers, one on a database with the
search index and one on a database filled alike without it (the index dropped), fed
by the same closed loop of paid sends (32 connections), rounds interleaved; reports
with / without. Then, in PostgreSQL alone, the time of one single-row INSERT (with its
seq, its own transaction) into each database, interleaved: what the index adds to a
stored message, which the worker's Python hides in the throughput.

Segments: the worst case of the marking that every result carries (a message of 2,500
one-letter words against a quoted phrase of 99 of them; each of the ~2,400 overlapping
matches spans 99 words), median of 5 runs in process: the work must stay linear.
"""

import time
import uuid
from contextlib import ExitStack
from typing import Any

import sqlalchemy as sa
from support.settings import TEST_JWT_SECRET as JWT_SECRET

from bench.harness import (
    Context,
    LoadGen,
    cdf,
    goal,
    log,
    median,
    percentile,
    ratio,
    seed_users,
    send_request,
    write_result,
)

NAME = "search"
CONVERSATIONS = 10_000
TARGETS = 5
TARGET_CONVERSATIONS = 5
MESSAGES_PER_TARGET_CONVERSATION = 100
EXPIRED_EVERY = 100  # 1 % of the targets' messages have expired, unmarked
QUERIES = {"rare": "zanzibar", "common": "hello", "prefix": "meet"}
SEND_CONNECTIONS = 32
INDEX = "ix_messages_search_document"
CREATE_INDEX = f"CREATE INDEX {INDEX} ON messages USING gin (message_search_document(content))"

# Words of the filler text: 2,000 made-up ones, picked with a skew (low numbers often).
_VOCABULARY = """
CREATE TEMP TABLE search_vocabulary AS
SELECT n, substr(translate(md5('w' || n), '0123456789', 'ghijklmnop'), 1, 3 + n % 7) AS word
FROM generate_series(0, 1999) AS n
"""
# A message's text: 5 to 8 vocabulary words, with `hello` in 30 %, a `meet` word in 10 %
# and `zanzibar` where the caller says (`:rare` is the modulus; 0 never).
_TEXT = """
concat_ws(' ',
    CASE WHEN (hashint4(g * 7 + :salt) & 2147483647) % 10 < 3 THEN 'hello' END,
    (SELECT string_agg(v.word, ' ') FROM generate_series(1, 5 + g % 4) AS k
        JOIN search_vocabulary AS v
        ON v.n = floor(power((hashint4(g * 31 + k + :salt) & 1048575) / 1048576.0, 3) * 2000)::int),
    CASE (hashint4(g * 13 + :salt) & 2147483647) % 40
        WHEN 0 THEN 'meeting' WHEN 1 THEN 'meet' WHEN 2 THEN 'meetings' WHEN 3 THEN 'meetup' END,
    CASE WHEN :rare > 0 AND g % :rare = 7 THEN 'zanzibar' END)
"""
_FILLER_USERS = """
INSERT INTO users (id, username, display_name, password_hash, created_at)
SELECT md5('search-u' || g)::uuid, 'su' || g, 'filler', '!', now()
FROM generate_series(1, 2 * :conversations) AS g
"""
_FILLER_CONVERSATIONS = """
INSERT INTO conversations (id, pair_key, created_at, updated_at)
SELECT md5('search-c' || g)::uuid,
       least(md5('search-u' || (2 * g - 1))::uuid::text, md5('search-u' || (2 * g))::uuid::text) || ':' ||
       greatest(md5('search-u' || (2 * g - 1))::uuid::text, md5('search-u' || (2 * g))::uuid::text),
       now() - interval '40 days', now()
FROM generate_series(1, :conversations) AS g
"""
_FILLER_PARTICIPANTS = """
INSERT INTO conversation_participants (conversation_id, user_id, joined_at)
SELECT md5('search-c' || g)::uuid, md5('search-u' || (2 * g - side))::uuid, now() - interval '40 days'
FROM generate_series(1, :conversations) AS g, (VALUES (0), (1)) AS sides(side)
"""
# Filler message g (0-based, counted over every fill) is in conversation 1 + g % :conversations,
# whose seq it takes in turn; times spread over the last 30 days; 10 % expire tomorrow.
_FILLER_MESSAGES = f"""
INSERT INTO messages (id, conversation_id, seq, sender_id, content, expires_at, is_expired, delivered_at,
                      is_read, read_at, client_message_id, points_charged, created_at, updated_at)
SELECT gen_random_uuid(), md5('search-c' || (1 + g % :conversations))::uuid, 1 + g / :conversations,
       md5('search-u' || (2 * (1 + g % :conversations) - g % 2))::uuid,
       {_TEXT},
       CASE WHEN g % 10 = 3 THEN now() + interval '1 day' END,
       false, now(), true, now(), NULL, 0,
       now() - interval '30 days' + (hashint4(g) & 2147483647) * interval '1 millisecond',
       now()
FROM generate_series(:first, :last) AS g
"""
_TARGET = """
WITH target_conversations AS (
    SELECT gen_random_uuid() AS id, gen_random_uuid() AS partner, k FROM generate_series(1, :count) AS k
), users_in AS (
    INSERT INTO users (id, username, display_name, password_hash, created_at)
    SELECT partner, 'sp' || substr(md5(partner::text), 1, 20), 'partner', '!', now() FROM target_conversations
), conversations_in AS (
    INSERT INTO conversations (id, pair_key, created_at, updated_at)
    SELECT id, least(:user, partner::text) || ':' || greatest(:user, partner::text), now(), now()
    FROM target_conversations
), participants_in AS (
    INSERT INTO conversation_participants (conversation_id, user_id, joined_at)
    SELECT id, CAST(:user AS uuid), now() FROM target_conversations
    UNION ALL SELECT id, partner, now() FROM target_conversations
)
INSERT INTO messages (id, conversation_id, seq, sender_id, content, expires_at, is_expired, delivered_at,
                      is_read, read_at, client_message_id, points_charged, created_at, updated_at)
SELECT gen_random_uuid(), c.id, m, CASE WHEN m % 2 = 0 THEN CAST(:user AS uuid) ELSE c.partner END,
       {text},
       CASE WHEN g % :expired_every = 5 THEN now() - interval '1 hour'
            WHEN g % 10 = 3 THEN now() + interval '1 day' END,
       false, now(), true, now(), NULL, 0,
       now() - interval '30 days' + (hashint4(g + :salt) & 2147483647) * interval '1 millisecond', now()
FROM target_conversations AS c, generate_series(1, :per_conversation) AS m,
     LATERAL (SELECT (c.k - 1) * :per_conversation + m AS g) AS numbered
""".replace("{text}", _TEXT)


def create_vocabulary(conn: sa.Connection) -> None:
    """The temporary word list the fill statements draw from (this connection only)."""
    conn.execute(sa.text(_VOCABULARY))


def add_filler_conversations(engine: sa.Engine, conversations: int = CONVERSATIONS) -> None:
    """The conversations (two new users each) the filler messages go into."""
    with engine.begin() as conn:
        for statement in (_FILLER_USERS, _FILLER_CONVERSATIONS, _FILLER_PARTICIPANTS):
            conn.execute(sa.text(statement), {"conversations": conversations})


def add_targets(engine: sa.Engine) -> list[dict[str, Any]]:
    """The target users, each in TARGET_CONVERSATIONS conversations of 100 messages with
    `zanzibar` in 2 of them and 1 % expired (unmarked)."""
    targets = []
    per_target = TARGET_CONVERSATIONS * MESSAGES_PER_TARGET_CONVERSATION
    with engine.begin() as conn:
        create_vocabulary(conn)
        for number in range(TARGETS):
            user = str(uuid.uuid4())
            conn.execute(
                sa.text(
                    "INSERT INTO users (id, username, display_name, password_hash, created_at) "
                    "VALUES (:u, :name, 'target', '!', now())"
                ),
                {"u": user, "name": "st" + user.replace("-", "")[:20]},
            )
            conn.execute(
                sa.text(_TARGET),
                {
                    "user": user,
                    "count": TARGET_CONVERSATIONS,
                    "per_conversation": MESSAGES_PER_TARGET_CONVERSATION,
                    "expired_every": EXPIRED_EVERY,
                    "salt": 1_000_000 * (number + 1),
                    "rare": per_target // 2,
                },
            )
            conversations = conn.execute(
                sa.text("SELECT conversation_id FROM conversation_participants WHERE user_id = :u"),
                {"u": user},
            ).scalars()
            targets.append({"user": user, "conversations": [str(c) for c in conversations]})
        conn.execute(sa.text("DROP TABLE search_vocabulary"))
    return targets


def add_filler_messages(
    engine: sa.Engine, first: int, count: int, conversations: int = CONVERSATIONS
) -> None:
    """Filler messages first .. first + count - 1, with the search index dropped during the
    load and rebuilt after it (as a bulk load would)."""
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP INDEX {INDEX}"))
        create_vocabulary(conn)
        step = 200_000
        for start in range(first, first + count, step):
            last = min(start + step, first + count) - 1
            conn.execute(
                sa.text(_FILLER_MESSAGES),
                {"first": start, "last": last, "salt": 0, "rare": 100_000, "conversations": conversations},
            )
        conn.execute(sa.text("DROP TABLE search_vocabulary"))
        conn.execute(sa.text("SET LOCAL maintenance_work_mem = '256MB'"))
        conn.execute(sa.text(CREATE_INDEX))


def vacuum_analyze(engine: sa.Engine) -> None:
    """What autovacuum would have done by now."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM (ANALYZE) messages"))
        conn.execute(sa.text("ANALYZE"))


def count_messages(engine: sa.Engine) -> int:
    """Rows in messages."""
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM messages")).scalar_one())


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


def add_heavy_user(engine: sa.Engine, conversations: int = 100) -> str:
    """A user who joins `conversations` of the filler ones: their messages grow with the table."""
    user = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, username, display_name, password_hash, created_at) "
                "VALUES (:u, :name, 'heavy', '!', now())"
            ),
            {"u": user, "name": "sh" + user.replace("-", "")[:20]},
        )
        conn.execute(
            sa.text(
                "INSERT INTO conversation_participants (conversation_id, user_id, joined_at) "
                "SELECT md5('search-c' || g)::uuid, :u, now() FROM generate_series(1, :n) AS g"
            ),
            {"u": user, "n": conversations},
        )
    return user


def measure_size(
    app: Any, engine: sa.Engine, targets: list[dict[str, Any]], heavy: str, repetitions: int
) -> dict[str, Any]:
    """Interleaved baseline, searches and login hook at the current size: samples, p50, p99."""
    from app.extensions import db
    from app.models import Message
    from app.services.expiry import mark_expired_for_user
    from app.services.search import search_messages

    with engine.connect() as conn:
        some_id = conn.execute(sa.text("SELECT id FROM messages ORDER BY random() LIMIT 1")).scalar_one()
    kinds = ["baseline", *QUERIES, "hook"]
    samples: dict[str, list[float]] = {kind: [] for kind in [*kinds, "heavy_common"]}
    found: dict[str, set[int]] = {kind: set() for kind in QUERIES}

    def operation(kind: str, user: uuid.UUID) -> Any:
        if kind == "baseline":
            return db.session.execute(sa.select(Message.id).where(Message.id == some_id)).all()
        if kind == "hook":
            return mark_expired_for_user(user)
        return search_messages(user, QUERIES[kind.removeprefix("heavy_")], limit=20)

    def timed(kind: str, user: uuid.UUID) -> tuple[float, Any]:
        start = time.perf_counter()
        value = operation(kind, user)
        elapsed = time.perf_counter() - start
        db.session.remove()
        return elapsed * 1000, value

    with app.app_context():
        for repetition in range(-3, repetitions):  # negative: warm-up, not recorded
            target = targets[repetition % len(targets)]
            user = uuid.UUID(target["user"])
            reset_expired(engine, target)
            for kind in kinds if repetition % 2 == 0 else list(reversed(kinds)):
                elapsed, value = timed(kind, user)
                if repetition >= 0:
                    samples[kind].append(elapsed)
                    if kind in QUERIES:
                        found[kind].add(len(value.results))
            if repetition >= 0 and repetition % 5 == 0:  # the heavy user, now and then
                samples["heavy_common"].append(timed("heavy_common", uuid.UUID(heavy))[0])
    summary = {
        kind: {"p50_ms": percentile(values, 0.5), "p99_ms": percentile(values, 0.99), "n": len(values)}
        for kind, values in samples.items()
    }
    return {**summary, "results_per_search": {k: sorted(v) for k, v in found.items()}, "samples_ms": samples}


def explain(engine: sa.Engine, app: Any, user: str, q: str) -> list[str]:
    """EXPLAIN ANALYZE of the search's SELECT for `user` and `q` (recorded from the service)."""
    from app.extensions import db
    from app.services.search import search_messages

    recorded: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "@@" in statement:
            recorded.append((statement, parameters))

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            search_messages(uuid.UUID(user), q, limit=20)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
            db.session.remove()
    statement, parameters = recorded[0]
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF) " + statement, parameters).all()
    return [row[0] for row in rows]


def measure_search(ctx: Context, stack: ExitStack) -> dict[str, Any]:
    """Search and hook times as the table grows (in process)."""
    from app import create_app
    from config import Config

    sizes_wanted = ctx.pick([10_000, 30_000], [10_000, 100_000, 1_000_000])
    repetitions = ctx.pick(20, 200)
    database = ctx.database(stack, "search")
    engine = sa.create_engine(database, pool_size=2)
    stack.callback(engine.dispose)
    app = create_app(Config, SQLALCHEMY_DATABASE_URI=database, JWT_SECRET=JWT_SECRET, DB_POOL_SIZE=2)
    stack.callback(dispose_app_engine, app)
    add_filler_conversations(engine)
    targets = add_targets(engine)
    heavy = add_heavy_user(engine)
    target_messages = count_messages(engine)
    sizes: list[dict[str, Any]] = []
    plans: dict[str, list[str]] = {}
    for wanted in sizes_wanted:
        have = count_messages(engine)
        began = time.monotonic()
        if wanted > have:
            add_filler_messages(engine, have - target_messages, wanted - have)
        vacuum_analyze(engine)
        total = count_messages(engine)
        log(f"{NAME}: {total:,} messages (filled and indexed in {time.monotonic() - began:.1f} s)")
        measured = measure_size(app, engine, targets, heavy, repetitions)
        measured["messages"] = total
        log(
            "  "
            + ", ".join(
                f"{kind} p50 {measured[kind]['p50_ms']:.2f} / p99 {measured[kind]['p99_ms']:.2f} ms"
                for kind in ("baseline", *QUERIES, "hook", "heavy_common")
            )
        )
        sizes.append(measured)
    for kind, q in QUERIES.items():
        plans[kind] = explain(engine, app, targets[0]["user"], q)
    plans["heavy_common"] = explain(engine, app, heavy, QUERIES["common"])
    return {"sizes": sizes, "plans_at_largest": plans, "repetitions": repetitions}


def dispose_app_engine(app: Any) -> None:
    """Close the app's pooled connections (before the database is dropped)."""
    from app.extensions import db

    with app.app_context():
        db.engine.dispose()


def measure_sends(ctx: Context, stack: ExitStack) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Closed-loop paid sends on a server whose database has the search index and on one
    whose copy has not, rounds interleaved."""
    users_count = ctx.pick(128, 1024)
    prefill = ctx.pick(10_000, 100_000)
    duration = ctx.pick(1.0, 8.0)
    arms: dict[str, dict[str, Any]] = {}
    for arm in ("indexed", "unindexed"):
        database = ctx.database(stack, f"search_send_{arm}")
        engine = sa.create_engine(database, poolclass=sa.pool.NullPool)
        add_filler_conversations(engine, 1_000)
        add_filler_messages(engine, 0, prefill, 1_000)
        if arm == "unindexed":
            with engine.begin() as conn:
                conn.execute(sa.text(f"DROP INDEX {INDEX}"))
        vacuum_analyze(engine)
        engine.dispose()
        users = seed_users(database, users_count, daily_free_limit=0, prefix="p")
        server = ctx.server(stack, f"send-{arm}", ctx.server_env(database)).start()
        requests = [
            send_request(u, "bench message __TAG__ about the meeting tomorrow, hello team") for u in users
        ]
        arms[arm] = {"url": server.url, "requests": requests, "database": database, "users": users}
    loadgen = LoadGen(ctx.workdir, "loadgen-search")
    stack.callback(loadgen.close)
    rounds = []
    names = list(arms)
    for repetition in range(ctx.pick(3, 5)):
        for arm in names if repetition % 2 == 0 else list(reversed(names)):
            answer = loadgen.call(
                "http_closed",
                url=arms[arm]["url"],
                requests=arms[arm]["requests"],
                connections=SEND_CONNECTIONS,
                duration=duration,
                warmup=ctx.pick(0.3, 1.0),
                timeout=duration + 120,
            )
            answer.update(arm=arm, repetition=repetition)
            log(
                f"  send {arm:>9} rep {repetition}: {answer['throughput']:.0f}/s, "
                f"p50 {answer['latency_ms']['p50']:.1f} ms, p99 {answer['latency_ms']['p99']:.1f} ms, "
                f"statuses {answer['statuses']}"
            )
            rounds.append(answer)
    inserts = measure_inserts(ctx, {arm: (a["database"], a["users"]) for arm, a in arms.items()})
    return rounds, inserts


# The least a stored message costs (bench/ceiling.py): its seq and the INSERT, one transaction.
_INSERT = """
WITH sequenced AS (UPDATE conversations SET last_seq = last_seq + 1 WHERE id = %(c)s RETURNING last_seq)
INSERT INTO messages (id, conversation_id, seq, sender_id, content, expires_at, is_expired, delivered_at,
                      is_read, read_at, client_message_id, points_charged, created_at, updated_at)
SELECT gen_random_uuid(), %(c)s, last_seq, %(u)s, %(text)s, NULL, false, NULL, false, NULL, NULL, 0,
       now(), now()
FROM sequenced
"""


def measure_inserts(ctx: Context, databases: dict[str, tuple[str, list[Any]]]) -> dict[str, Any]:
    """What the index adds to one stored message, in PostgreSQL alone: single-row INSERTs
    (each its own transaction, as a send is) on one connection per database, rounds
    interleaved; the median time of one, with and without the index."""
    per_round = ctx.pick(200, 1000)
    engines = {arm: sa.create_engine(url, poolclass=sa.pool.NullPool) for arm, (url, _) in databases.items()}
    samples: dict[str, list[float]] = {arm: [] for arm in databases}
    try:
        connections = {arm: engine.raw_connection() for arm, engine in engines.items()}
        for connection in connections.values():
            connection.dbapi_connection.autocommit = True
        for repetition in range(6):
            arms = list(databases) if repetition % 2 == 0 else list(reversed(databases))
            for arm in arms:
                users = databases[arm][1]
                cursor = connections[arm].cursor()
                started = time.perf_counter()
                for n in range(per_round):
                    user = users[n % len(users)]
                    text = f"bench message {repetition}-{n} about the meeting tomorrow, hello team"
                    cursor.execute(_INSERT, {"c": user.conversation_id, "u": user.id, "text": text})
                samples[arm].append((time.perf_counter() - started) * 1e6 / per_round)
                cursor.close()
        for connection in connections.values():
            connection.close()
    finally:
        for engine in engines.values():
            engine.dispose()
    medians = {arm: median(values) for arm, values in samples.items()}
    log(f"  one INSERT: {', '.join(f'{arm} {value:.0f} µs' for arm, value in medians.items())}")
    return {"per_round": per_round, "us_each_round": samples, "median_us": medians}


def plot(figure: Any, sizes: list[dict[str, Any]], send_rounds: list[dict[str, Any]]) -> None:
    """p99 of each search against the table's size; send throughput with and without the index."""
    left, middle, right = figure.subplots(1, 3)
    xs = [s["messages"] for s in sizes]
    colours = {"rare": "tab:green", "common": "tab:blue", "prefix": "tab:purple", "hook": "tab:red"}
    for kind, colour in {**colours, "baseline": "tab:gray", "heavy_common": "tab:orange"}.items():
        left.plot(xs, [s[kind]["p99_ms"] for s in sizes], "o-", color=colour, label=f"{kind} p99")
        left.plot(xs, [s[kind]["p50_ms"] for s in sizes], ":", color=colour)
    left.axhline(50, color="red", linestyle=":", label="50 ms")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("messages in the table")
    left.set_ylabel("ms (solid p99, dotted p50)")
    left.legend(fontsize=7)
    left.grid(True, which="both", alpha=0.3)
    left.set_title("in process: a target user's search (5 conversations)", fontsize=9)
    for kind in QUERIES:
        samples = sizes[-1]["samples_ms"][kind]
        cdf(middle, samples, f"{kind} at {xs[-1]:,}", color=colours[kind])
    middle.axvline(50, color="red", linestyle=":")
    middle.legend(fontsize=7)
    middle.set_title("search latency at the largest size", fontsize=9)
    names = ["indexed", "unindexed"]
    for i, arm in enumerate(names):
        values = [r["throughput"] for r in send_rounds if r["arm"] == arm]
        right.scatter([i] * len(values), values, color="tab:blue", alpha=0.6)
        right.bar(i, median(values) or 0, color="tab:blue", alpha=0.3)
    right.set_xticks(range(len(names)), ["with search index", "without"])
    right.set_ylabel("paid sends per second (bars: median)")
    right.set_title(f"send throughput, 1 worker, {SEND_CONNECTIONS} connections", fontsize=9)


SEGMENTS_WORDS = 2500
SEGMENTS_PHRASE = 99


def measure_segments(repetitions: int = 5) -> float:
    """Median ms of app.services.search_query.segments on its worst case (the docstring)."""
    from app.services.search_query import parse_query, segments

    content = " ".join(["a"] * SEGMENTS_WORDS)
    query = parse_query('"' + " ".join(["a"] * SEGMENTS_PHRASE) + '"')
    times = []
    for _ in range(repetitions):
        started = time.perf_counter()
        segments(content, query)
        times.append((time.perf_counter() - started) * 1000)
    return median(times)


def run(ctx: Context) -> dict[str, Any]:
    """Run the benchmark; write bench/results/search.{json,png}."""
    with ExitStack() as stack:
        searched = measure_search(ctx, stack)
    with ExitStack() as stack:
        send_rounds, inserts = measure_sends(ctx, stack)
    sizes = searched["sizes"]
    first, last = sizes[0], sizes[-1]
    label = f"{last['messages'] // 1000}k / {first['messages'] // 1000}k"
    growth = {
        kind: ratio(last[kind]["p99_ms"], first[kind]["p99_ms"]) for kind in (*QUERIES, "hook", "baseline")
    }
    send = {
        arm: {
            "throughput_per_s": median(r["throughput"] for r in send_rounds if r["arm"] == arm),
            "throughput_each": [r["throughput"] for r in send_rounds if r["arm"] == arm],
            "p50_ms": median(r["latency_ms"]["p50"] for r in send_rounds if r["arm"] == arm),
            "p99_ms": median(r["latency_ms"]["p99"] for r in send_rounds if r["arm"] == arm),
            "non_2xx": sum(
                n
                for r in send_rounds
                if r["arm"] == arm
                for s, n in r["statuses"].items()
                if not s.startswith("2")
            ),
        }
        for arm in ("indexed", "unindexed")
    }
    send_ratio = ratio(send["indexed"]["throughput_per_s"], send["unindexed"]["throughput_per_s"])
    insert_added = ratio(inserts["median_us"]["indexed"], inserts["median_us"]["unindexed"])
    goals = []
    for kind in QUERIES:
        p99 = last[kind]["p99_ms"]
        goals.append(
            goal(f"search {kind} p99 (ms) at {last['messages']:,}", "< 50", p99, p99 is not None and p99 < 50)
        )
        goals.append(
            goal(
                f"search {kind} p99 {label}",
                "<= 2.0",
                growth[kind],
                growth[kind] is not None and growth[kind] <= 2,
            )
        )
    goals.append(
        goal(
            "send throughput with / without the search index",
            ">= 0.9",
            send_ratio,
            send_ratio is not None and send_ratio >= 0.9,
        )
    )
    hook_growth = ratio(last["hook"]["p50_ms"], first["hook"]["p50_ms"])
    goals.append(
        goal(f"login hook p50 {label}", "<= 2.0", hook_growth, hook_growth is not None and hook_growth <= 2)
    )
    segments_ms = measure_segments()
    goals.append(
        goal(
            f"segments of {SEGMENTS_WORDS:,} words against a {SEGMENTS_PHRASE}-word phrase (ms)",
            "< 500",
            segments_ms,
            segments_ms < 500,
        )
    )
    result = {
        "config": {
            "sizes": [s["messages"] for s in sizes],
            "repetitions": searched["repetitions"],
            "conversations": CONVERSATIONS,
            "targets": TARGETS,
            "target_data": f"{TARGET_CONVERSATIONS} conversations x "
            f"{MESSAGES_PER_TARGET_CONVERSATION} messages",
            "queries": QUERIES,
            "heavy_user": "in 100 of the filler conversations (their messages grow with the table)",
            "send": f"paid sends, {SEND_CONNECTIONS} connections, 1 worker; both databases prefilled alike",
        },
        "summary": {
            "sizes": [{k: v for k, v in s.items() if k != "samples_ms"} for s in sizes],
            "p99_growth": growth,
            "hook_growth_p50": hook_growth,
            "send": send,
            "send_indexed_to_unindexed_ratio": send_ratio,
            "insert_us": inserts["median_us"],
            "insert_with_index_over_without": insert_added,
            "plans_at_largest": searched["plans_at_largest"],
            "segments_worst_case_ms": segments_ms,
        },
        "goals": goals,
        "rounds": sizes,
        "send_rounds": send_rounds,
        "insert_rounds": inserts,
    }
    write_result(ctx, NAME, result, lambda fig: plot(fig, sizes, send_rounds))
    return result
