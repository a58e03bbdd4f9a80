#!/usr/bin/env python3
"""A tiny custom runtime for the executor tests: speaks the Lambda Runtime API like any
provided.al2023 bootstrap. The event says what to do: echo (default), fail, sleep, allocate."""

import json
import os
import time
import urllib.request

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"

if os.environ.get("FAIL_INIT"):
    body = json.dumps({"errorType": "InitBroken", "errorMessage": "configuration is missing"})
    urllib.request.urlopen(urllib.request.Request(f"{API}/init/error", body.encode(), method="POST"))
    raise SystemExit(1)

held = []
while True:
    with urllib.request.urlopen(f"{API}/invocation/next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        deadline = int(response.headers["Lambda-Runtime-Deadline-Ms"])
        event = json.loads(response.read() or b"{}")
    if "sleep" in event:
        time.sleep(event["sleep"])
    if "allocate_mb" in event:
        held.append(bytearray(event["allocate_mb"] * 2**20))
        time.sleep(2)
    if "exit" in event:
        os._exit(event["exit"])
    if "fail" in event:
        body = {"errorType": event["fail"], "errorMessage": "failed on purpose"}
        url = f"{API}/invocation/{request_id}/error"
    else:
        body = {
            "event": event,
            "pid": os.getpid(),
            "cwd": os.getcwd(),
            "deadline_ms": deadline,
            "env": {k: os.environ.get(k) for k in ("GREETING", "AWS_ENDPOINT_URL", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION", "AWS_ACCESS_KEY_ID")},
        }
        url = f"{API}/invocation/{request_id}/response"
    urllib.request.urlopen(urllib.request.Request(url, json.dumps(body).encode(), method="POST"))
