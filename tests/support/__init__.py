"""Helpers shared by the test suites, and the one live-server harness (also used by bench/).

The harness: servers.py (LiveServer, Launcher: the kinds of server, ready-wait, stop,
log), settings.py (a server's environment), alarms.py (the log lines that mean a bug),
rest.py (Account, RestClient), sockets.py (recording Socket.IO clients), tokens.py
(tokens made outside the server), databases.py (private PostgreSQL databases, a
claimed Redis DB), bursts.py (requests fired at once), processes.py (ports, process
groups, the flask CLI) and pytest_live.py (what the suites share with pytest).
"""
