"""Log of API requests (never key values) for tests that assert what a client sent."""

import time


# Request headers worth asserting on that never carry a secret.
LOGGED_HEADERS = ("OpenAI-Organization", "OpenAI-Project", "User-Agent", "Content-Type", "Transfer-Encoding")


class RequestLog:
    def __init__(self):
        self.entries = []

    def start(self, request, dialect, auth):
        entry = {"method": request.method, "path": request.path, "query": dict(request.query),
                 "status": None, "auth": auth, "fault": None, "body_bytes": 0, "ts": time.time(),
                 "dialect": dialect,
                 "headers": {h: request.headers[h] for h in LOGGED_HEADERS if h in request.headers}}
        self.entries.append(entry)
        return entry

    def clear(self):
        self.entries.clear()
