"""Web Push: VAPID keys, the client that talks to push services, and the dispatcher that
sends a committed message's pushes off the request's path."""
