#!/usr/bin/env python3
"""Operations on the deployed local stack, for people and for the end-to-end test.

usage: aws_ops.py run <full|incremental> [--timeout S]   start an execution, wait, print it
       aws_ops.py executions                               every execution of the pipeline
       aws_ops.py schedule <enable|disable>                the EventBridge rule of incremental loads
       aws_ops.py set-env <FunctionLogicalId> KEY=VALUE..  change a function's environment
       aws_ops.py quiesce [--timeout S]                    wait until no execution is running
       aws_ops.py invoke <FunctionLogicalId> [JSON]        invoke a function, print its answer
       aws_ops.py subscribe-alerts <queue-name>            an SQS queue subscribed to the alerts topic
       aws_ops.py alerts <queue-url> [--wait S]            the alerts that queue received (the events)
       aws_ops.py metrics <FunctionLogicalId>              the EMF lines in a function's log group

Prints JSON. Endpoint: LOCALSTACK_ENDPOINT (default http://127.0.0.1:4566); stack: STACK_NAME
(default lakehouse-local).
"""

import argparse
import json
import os
import sys
import time
import uuid

import boto3
import botocore.config

ENDPOINT = os.environ.get("LOCALSTACK_ENDPOINT", "http://127.0.0.1:4566")
STACK = os.environ.get("STACK_NAME", "lakehouse-local")


def client(service, **config):
    return boto3.client(
        service,
        config=botocore.config.Config(**config),
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    )


def stack_resource(logical_id):
    resources = client("cloudformation").describe_stack_resources(StackName=STACK)["StackResources"]
    for r in resources:
        if r["LogicalResourceId"] == logical_id:
            return r["PhysicalResourceId"]
    sys.exit(f"{logical_id} is not in stack {STACK}")


def state_machine():
    return stack_resource("PipelineStateMachine")


def describe(execution_arn):
    d = client("stepfunctions").describe_execution(executionArn=execution_arn)
    return {
        "name": d["name"],
        "status": d["status"],
        "start": d["startDate"].timestamp(),
        "stop": d["stopDate"].timestamp() if d.get("stopDate") else None,
        "input": json.loads(d.get("input") or "null"),
        "output": json.loads(d["output"]) if d.get("output") else None,
        "error": d.get("error"),
        "cause": d.get("cause"),
    }


def run(mode, timeout):
    sfn = client("stepfunctions")
    name = f"e2e-{mode}-{uuid.uuid4().hex[:8]}"
    arn = sfn.start_execution(
        stateMachineArn=state_machine(), name=name, input=json.dumps({"mode": mode})
    )["executionArn"]
    deadline = time.monotonic() + timeout
    while (d := describe(arn))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            sys.exit(f"execution {name} still running after {timeout} s")
        time.sleep(0.5)
    return d


def executions():
    sfn = client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=state_machine(), maxResults=1000)["executions"]
    return sorted((describe(e["executionArn"]) for e in listed), key=lambda e: e["start"])


def schedule(action):
    events = client("events")
    machine = state_machine()
    for rule in events.list_rules()["Rules"]:
        targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        if any(t["Arn"] == machine for t in targets):
            (events.enable_rule if action == "enable" else events.disable_rule)(Name=rule["Name"])
            return {"rule": rule["Name"], "state": action + "d"}
    sys.exit("no EventBridge rule targets the state machine")


def set_env(logical_id, assignments):
    lam = client("lambda")
    name = stack_resource(logical_id)
    env = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    env.update(a.split("=", 1) for a in assignments)
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": env})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    return {"function": name, "environment": env}


def invoke(logical_id, payload):
    """The function's answer, and `error` (its errorType) if it failed."""
    lam = client("lambda", read_timeout=900, retries={"max_attempts": 0})
    answer = lam.invoke(FunctionName=stack_resource(logical_id), Payload=payload.encode())
    body = json.loads(answer["Payload"].read() or "null")
    return {"error": answer.get("FunctionError"), "payload": body}


def subscribe_alerts(queue_name):
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = stack_resource("AlertTopic")
    client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                            Attributes={"RawMessageDelivery": "true"})
    return {"queue_url": url, "topic": topic}


def alerts(url, wait):
    """Every message the queue holds within `wait` seconds, each the EventBridge event."""
    sqs = client("sqs")
    deadline = time.monotonic() + wait
    found = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for m in got.get("Messages", []):
            found.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if found or time.monotonic() > deadline:
            return found


def metrics(logical_id):
    """Every Embedded Metric Format line the function has logged (JSON lines with `_aws`)."""
    logs = client("logs")
    group = f"/aws/lambda/{stack_resource(logical_id)}"
    found, token = [], None
    while True:
        page = logs.filter_log_events(logGroupName=group, filterPattern="_aws",
                                      **({"nextToken": token} if token else {}))
        for event in page["events"]:
            try:
                line = json.loads(event["message"])
            except ValueError:
                continue
            if isinstance(line, dict) and "_aws" in line:
                found.append(line)
        token = page.get("nextToken")
        if not token:
            return found


def quiesce(timeout):
    deadline = time.monotonic() + timeout
    while True:
        listed = executions()
        if not any(e["status"] == "RUNNING" for e in listed):
            return listed
        if time.monotonic() > deadline:
            sys.exit(f"executions still running after {timeout} s")
        time.sleep(1)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run")
    p.add_argument("mode", choices=["full", "incremental"])
    p.add_argument("--timeout", type=float, default=600)
    sub.add_parser("executions")
    p = sub.add_parser("schedule")
    p.add_argument("action", choices=["enable", "disable"])
    p = sub.add_parser("set-env")
    p.add_argument("function")
    p.add_argument("assignments", nargs="+")
    p = sub.add_parser("quiesce")
    p.add_argument("--timeout", type=float, default=600)
    p = sub.add_parser("subscribe-alerts")
    p.add_argument("queue")
    p = sub.add_parser("alerts")
    p.add_argument("queue_url")
    p.add_argument("--wait", type=float, default=60)
    p = sub.add_parser("metrics")
    p.add_argument("function")
    p = sub.add_parser("invoke")
    p.add_argument("function")
    p.add_argument("payload", nargs="?", default="{}")
    args = parser.parse_args()
    result = {
        "run": lambda: run(args.mode, args.timeout),
        "executions": executions,
        "schedule": lambda: schedule(args.action),
        "set-env": lambda: set_env(args.function, args.assignments),
        "quiesce": lambda: quiesce(args.timeout),
        "invoke": lambda: invoke(args.function, args.payload),
        "subscribe-alerts": lambda: subscribe_alerts(args.queue),
        "alerts": lambda: alerts(args.queue_url, args.wait),
        "metrics": lambda: metrics(args.function),
    }[args.command]()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
