"""The per-user send rate limit."""


def test_sends_beyond_the_per_user_limit_get_429_with_retry_after(app, api, alice, bob, chat):
    app.config["SEND_RATE_LIMIT"] = "3 per minute"
    statuses = [api.send(alice, chat, f"m{i}").status_code for i in range(3)]
    assert statuses == [201, 201, 201]
    limited = api.send(alice, chat, "one more")
    assert limited.status_code == 429
    assert limited.json["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert api.quota(alice).json["messagesSentToday"] == 3
    assert api.send(bob, chat, "bob has his own budget").status_code == 201


def test_every_send_request_counts_even_a_refused_one(app, api, alice, chat):
    app.config["SEND_RATE_LIMIT"] = "2 per minute"
    assert api.send(alice, chat, "   ").status_code == 400
    assert api.send(alice, chat, "ok").status_code == 201
    assert api.send(alice, chat, "ok again").status_code == 429
