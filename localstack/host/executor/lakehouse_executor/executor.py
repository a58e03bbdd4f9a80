"""A LocalStack Lambda runtime executor that runs a function's `bootstrap` as a host process.

Community LocalStack runs Lambda in Docker containers only. This executor keeps LocalStack's
Lambda service (versions, execution environments, concurrency, Step Functions and EventBridge
integration) and replaces the container with a process: the unpacked code directory is the task
root, the function's environment (with the endpoints LocalStack injects) is the process
environment, and the Runtime API is served on a loopback port of its own. One executor is one
execution environment, so concurrent invocations run in separate processes, as on AWS.

What is enforced: the function timeout (the process is killed, the invocation fails with
`Sandbox.Timedout` and the next one starts a fresh process), the memory size (resident memory
is watched; above it the process is killed with `Runtime.OutOfMemory`), crashes
(`Runtime.ExitError`) and init failures. What is not: CPU share and filesystem isolation.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

from lakehouse_executor.runtime_api import Invocation, Outcome, RuntimeApi, error_payload

LOG = logging.getLogger(__name__)

# Logs and the pids of running functions; the stack's scripts point it into the project.
STATE_DIR = Path(os.environ.get("LAKEHOUSE_EXECUTOR_DIR") or Path(tempfile.gettempdir()) / "lakehouse-executor")
# Lambda gives a runtime 10 s to initialise; a host process that has not polled by then is stuck.
INIT_TIMEOUT_S = float(os.environ.get("LAKEHOUSE_EXECUTOR_INIT_TIMEOUT", "10"))
WATCH_INTERVAL_S = 0.05
GATEWAY = os.environ.get("GATEWAY_LISTEN", "127.0.0.1:4566").split(",")[0]


def resident_mb(pid: int) -> float:
    """Resident memory of a process (VmRSS), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Sandbox:
    """One running bootstrap process and the Runtime API it polls."""

    def __init__(self, code_dir: Path, env: dict[str, str], state: Path) -> None:
        self.stopped = False
        self.api = RuntimeApi()
        self.api.start()
        env = {**env, "AWS_LAMBDA_RUNTIME_API": self.api.address, "LAMBDA_TASK_ROOT": str(code_dir)}
        env.setdefault("PATH", os.environ.get("PATH", "/usr/bin:/bin"))
        self.log = open(state / "function.log", "ab")
        self.process = subprocess.Popen(
            [str(code_dir / "bootstrap")],
            cwd=code_dir,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() kills children too
        )
        # Recorded so the stack's stop script can clean up even if LocalStack dies abruptly.
        self.pid_file = state / "pids" / str(self.process.pid)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(str(code_dir))

    def wait_until_polling(self) -> None:
        deadline = time.monotonic() + INIT_TIMEOUT_S
        while not self.api.polled.is_set():
            if self.api.init_error is not None:
                raise LambdaRuntimeException(f"init error: {self.api.init_error.decode()}")
            if self.process.poll() is not None:
                raise LambdaRuntimeException(
                    f"bootstrap exited with {self.process.returncode} before polling for work"
                )
            if time.monotonic() > deadline:
                raise LambdaRuntimeException(f"bootstrap did not poll within {INIT_TIMEOUT_S} s")
            time.sleep(WATCH_INTERVAL_S)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.pid_file.unlink(missing_ok=True)
        self.api.stop()
        self.log.close()


class HostRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:  # noqa: A002
        super().__init__(id=id, function_version=function_version)
        self.sandbox: Sandbox | None = None
        self.env: dict[str, str] = {}
        self.state = STATE_DIR / id
        self.log_path = self.state / "function.log"
        self.lock = threading.Lock()

    # Lifecycle

    def start(self, env_vars: dict[str, str]) -> None:
        self.env = {key: str(value) for key, value in env_vars.items()}
        self.state.mkdir(parents=True, exist_ok=True)
        self._start_sandbox()

    def _start_sandbox(self) -> None:
        code_dir = Path(self.function_version.config.code.get_unzipped_code_location())
        self.sandbox = Sandbox(code_dir, self.env, self.state)
        try:
            self.sandbox.wait_until_polling()
        except Exception:
            self.sandbox.stop()
            raise

    def stop(self) -> None:
        # Not under the invoke lock: stopping must not wait for a running invocation; that
        # invocation sees its process gone and fails with Runtime.ExitError.
        sandbox = self.sandbox
        if sandbox is not None:
            sandbox.stop()

    # Invocation

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        with self.lock:
            request_id = payload.get("invoke-id") or str(uuid.uuid4())
            log_offset = self._log_size()
            if self.sandbox is None or not self.sandbox.alive():
                # A timeout or crash killed the last process: cold-start a new one, as Lambda does.
                if self.sandbox is not None:
                    self.sandbox.stop()
                self._start_sandbox()
            outcome = self._run(request_id, payload)
            return InvocationResult(
                request_id=request_id,
                payload=outcome.payload,
                is_error=outcome.is_error,
                logs=self._log_since(log_offset),
            )

    def _run(self, request_id: str, payload: dict[str, str]) -> Outcome:
        config = self.function_version.config
        timeout_s = float(config.timeout)
        memory_mb = float(config.memory_size)
        sandbox = self.sandbox
        assert sandbox is not None
        started = time.monotonic()
        future = sandbox.api.submit(
            Invocation(
                request_id=request_id,
                payload=(payload.get("payload") or "").encode(),
                function_arn=payload.get("invoked-function-arn", ""),
                trace_id=payload.get("trace-id", ""),
                deadline_ms=int((time.time() + timeout_s) * 1000),
            )
        )
        while True:
            try:
                return future.result(timeout=WATCH_INTERVAL_S)
            except FutureTimeout:
                pass
            failure = None
            if not sandbox.alive():
                code = sandbox.process.returncode
                failure = ("Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited with status {code}")
            elif time.monotonic() - started > timeout_s:
                failure = ("Sandbox.Timedout", f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds")
            elif resident_mb(sandbox.process.pid) > memory_mb:
                failure = ("Runtime.OutOfMemory", f"RequestId: {request_id} Error: Runtime exited: memory above {memory_mb:.0f} MB")
            if failure is not None:
                if future.done():  # the answer arrived while we were looking
                    return future.result()
                sandbox.api.forget(request_id)
                sandbox.stop()
                LOG.warning("lambda %s: %s", self.function_version.id.function_name, failure[1])
                return Outcome(error_payload(*failure), is_error=True)

    # Logs

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def get_logs(self) -> str:
        return self._log_since(0)

    # Addresses: everything is on this host.

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        # What LocalStack puts in LOCALSTACK_HOSTNAME and AWS_ENDPOINT_URL for the function.
        return GATEWAY.rsplit(":", 1)[0]

    def get_runtime_endpoint(self) -> str:
        return f"http://{GATEWAY}/_localstack_lambda/{self.id}"

    # Versions: the code is unpacked once per version; nothing else to prepare.

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        config = function_version.config
        if not (config.runtime or "").startswith("provided"):
            raise LambdaRuntimeException(
                f"runtime {config.runtime!r}: the host executor runs provided.* runtimes only"
            )
        config.code.prepare_for_execution()
        bootstrap = Path(config.code.get_unzipped_code_location()) / "bootstrap"
        if not bootstrap.is_file():
            raise LambdaRuntimeException(f"{bootstrap} is missing from the code package")
        # Unzipping does not keep modes on every path LocalStack takes.
        bootstrap.chmod(0o755)

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        return True
