"""The plux plugin LocalStack loads when LAMBDA_RUNTIME_EXECUTOR=lakehouse-host."""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class HostExecutorPlugin(RuntimeExecutorPlugin):
    name = "lakehouse-host"

    def load(self, *args, **kwargs):
        from lakehouse_executor.executor import HostRuntimeExecutor

        return HostRuntimeExecutor
