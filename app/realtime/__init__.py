"""Socket.IO: handlers in events.py, emits only in notify.py."""
