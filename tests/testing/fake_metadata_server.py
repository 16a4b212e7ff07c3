#!/usr/bin/env python3
"""A stand-in cloud metadata service on loopback, for moed's preemption-notice tests.

Serves what moed asks of the real ones, with their checks:
  PUT /latest/api/token                     (IMDSv2) needs X-aws-ec2-metadata-token-ttl-seconds
  GET /latest/meta-data/spot/instance-action  needs a valid X-aws-ec2-metadata-token (else 401);
                                            404 until a notice is set, then the action JSON
  GET /computeMetadata/v1/instance/preempted  needs Metadata-Flavor: Google (else 403);
                                            FALSE until a notice is set, then TRUE
Controls for the test:
  POST /control/notice          the machine is going away from now on
  POST /control/expire-tokens   every IMDSv2 token issued so far is refused (401)
  GET  /control/log             one line per request served: METHOD PATH STATUS
Prints "port N" on its first line of output, then serves until killed.
"""
import http.server
import json
import sys
import threading

state = {"notice": False, "tokens": set(), "issued": 0, "log": []}
lock = threading.RLock()


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, status, body=""):
        # Logged before the reply leaves: the client's next request (served on another
        # thread) must not be logged ahead of this one.
        with lock:
            state["log"].append(f"{self.command} {self.path} {status}")
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

    def do_PUT(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path != "/latest/api/token":
            return self.reply(404)
        if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(400, "missing X-aws-ec2-metadata-token-ttl-seconds")
        with lock:
            state["issued"] += 1
            token = f"token-{state['issued']}"
            state["tokens"].add(token)
        self.reply(200, token)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with lock:
            if self.path == "/control/notice":
                state["notice"] = True
            elif self.path == "/control/expire-tokens":
                state["tokens"].clear()
        self.reply(200 if self.path.startswith("/control/") else 404)

    def do_GET(self):
        if self.path == "/control/log":
            with lock:
                return self.reply(200, "\n".join(state["log"]))
        if self.path == "/latest/meta-data/spot/instance-action":
            with lock:
                valid = self.headers.get("X-aws-ec2-metadata-token") in state["tokens"]
                notice = state["notice"]
            if not valid:
                return self.reply(401)
            if not notice:
                return self.reply(404)
            return self.reply(200, json.dumps({"action": "terminate",
                                               "time": "2026-12-01T12:00:00Z"}))
        if self.path == "/computeMetadata/v1/instance/preempted":
            if self.headers.get("Metadata-Flavor") != "Google":
                return self.reply(403, "Missing Metadata-Flavor:Google header.")
            with lock:
                return self.reply(200, "TRUE" if state["notice"] else "FALSE")
        self.reply(404)


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
