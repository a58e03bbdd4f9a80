"""The host Lambda executor, by itself, inside LocalStack.

Functions are created through LocalStack's Lambda API with a small Python custom runtime
(bootstrap.py) and invoked the way Step Functions and EventBridge invoke them. The tests start
their own stack (up.sh, state in a temporary directory, down.sh afterwards) unless
LOCALSTACK_ENDPOINT names one that is already running.
"""

import io
import json
import os
import subprocess
import tempfile
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("LOCALSTACK_ENDPOINT", "http://127.0.0.1:4566")
HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def stack():
    if os.environ.get("LOCALSTACK_ENDPOINT"):
        yield ENDPOINT
        return
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "LAKEHOUSE_LOCAL_STATE": state}
        subprocess.run([HERE.parent / "up.sh"], env=env, check=True)
        try:
            yield ENDPOINT
        finally:
            subprocess.run([HERE.parent / "down.sh"], env=env, check=False)


@pytest.fixture(scope="module")
def lambda_client(stack):
    client = boto3.client(
        "lambda",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(read_timeout=120, retries={"max_attempts": 0}),
    )
    try:
        client.list_functions()
    except Exception as e:  # noqa: BLE001 - any failure means the stack is not there
        pytest.fail(f"LocalStack is not answering at {ENDPOINT} ({e}): run localstack/host/up.sh")
    return client


def code_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        archive.writestr(info, (HERE / "bootstrap.py").read_text())
    return buffer.getvalue()


@pytest.fixture
def make_function(lambda_client):
    created = []

    def make(timeout=10, memory=256, env=None):
        name = f"executor-test-{uuid.uuid4().hex[:8]}"
        lambda_client.create_function(
            FunctionName=name,
            Runtime="provided.al2023",
            Handler="bootstrap",
            Role="arn:aws:iam::000000000000:role/lambda-role",
            Code={"ZipFile": code_zip()},
            Timeout=timeout,
            MemorySize=memory,
            Environment={"Variables": env or {}},
        )
        lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
        created.append(name)
        return name

    yield make
    for name in created:
        try:
            lambda_client.delete_function(FunctionName=name)
        except lambda_client.exceptions.ResourceNotFoundException:
            pass  # the test deleted it itself


def invoke(client, name, event):
    response = client.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return response.get("FunctionError"), json.loads(response["Payload"].read() or b"null")


def test_a_response_comes_back_with_the_function_environment(lambda_client, make_function):
    name = make_function(env={"GREETING": "hello"}, memory=512)
    error, answer = invoke(lambda_client, name, {"n": 1})
    assert error is None, answer
    assert answer["event"] == {"n": 1}
    assert answer["env"]["GREETING"] == "hello"
    assert answer["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert answer["env"]["AWS_REGION"] == "us-east-1"
    # LocalStack's injected endpoint, reachable from a host process.
    assert answer["env"]["AWS_ENDPOINT_URL"] == ENDPOINT
    assert answer["deadline_ms"] > time.time() * 1000
    # A warm environment serves the next invocation from the same process.
    _, again = invoke(lambda_client, name, {"n": 2})
    assert again["pid"] == answer["pid"]


def test_a_handler_error_keeps_its_error_type(lambda_client, make_function):
    name = make_function()
    error, answer = invoke(lambda_client, name, {"fail": "DataQuality"})
    assert error == "Unhandled"
    assert answer["errorType"] == "DataQuality"
    assert answer["errorMessage"] == "failed on purpose"


def test_the_timeout_kills_the_process_and_the_next_call_starts_a_new_one(
    lambda_client, make_function
):
    name = make_function(timeout=2)
    _, first = invoke(lambda_client, name, {})
    started = time.monotonic()
    error, answer = invoke(lambda_client, name, {"sleep": 30})
    assert time.monotonic() - started < 15
    assert error == "Unhandled"
    assert answer["errorType"] == "Sandbox.Timedout", answer
    assert not pid_alive(first["pid"])
    error, after = invoke(lambda_client, name, {"n": 3})
    assert error is None, after
    assert after["pid"] != first["pid"]


def test_memory_above_the_setting_is_out_of_memory(lambda_client, make_function):
    name = make_function(memory=128)
    error, answer = invoke(lambda_client, name, {"allocate_mb": 300})
    assert error == "Unhandled"
    assert answer["errorType"] == "Runtime.OutOfMemory", answer


def test_a_crash_is_an_exit_error(lambda_client, make_function):
    name = make_function()
    error, answer = invoke(lambda_client, name, {"exit": 3})
    assert error == "Unhandled"
    assert answer["errorType"] == "Runtime.ExitError", answer
    assert "status 3" in answer["errorMessage"]


def test_concurrent_invocations_run_in_separate_processes(lambda_client, make_function):
    name = make_function()
    started = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda i: invoke(lambda_client, name, {"sleep": 2, "i": i}), range(3)))
    elapsed = time.monotonic() - started
    assert all(error is None for error, _ in answers), answers
    assert sorted(a["event"]["i"] for _, a in answers) == [0, 1, 2]
    assert len({a["pid"] for _, a in answers}) == 3
    assert elapsed < 6 * 0.9, f"3 x 2 s ran one after another ({elapsed:.1f} s)"


def test_an_init_error_fails_the_invocation_with_its_cause(lambda_client, make_function):
    name = make_function(env={"FAIL_INIT": "1"})
    # LocalStack reports a failed environment start as a service error (Step Functions sees
    # Lambda.ServiceException), carrying what the runtime posted to init/error.
    with pytest.raises(ClientError) as failure:
        invoke(lambda_client, name, {})
    assert "InitBroken" in str(failure.value)
    assert "configuration is missing" in str(failure.value)


def test_deleting_the_function_ends_its_processes(lambda_client, make_function):
    name = make_function()
    _, answer = invoke(lambda_client, name, {})
    assert pid_alive(answer["pid"])
    lambda_client.delete_function(FunctionName=name)
    deadline = time.monotonic() + 20
    while pid_alive(answer["pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not pid_alive(answer["pid"])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes.
    try:
        return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0
    except OSError:
        return False
