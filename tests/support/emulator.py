"""Starts one local AWS emulator for pcscale's end-to-end tests.

    python tests/support/emulator.py moto       --port PORT [--watch-pid PID]
    python tests/support/emulator.py localstack --port PORT --data-dir DIR [--watch-pid PID]

Both listen on 127.0.0.1 only. With --watch-pid the emulator exits on its own
once that process is gone, so a test run that is killed never leaves a
server behind.

LocalStack is started in host mode with a test-only Lambda runtime executor
whose environments do nothing: CreateFunction, PublishVersion, CreateAlias and
the provisioned-concurrency API then behave as in AWS without Docker (Invoke
does not work, and pcscale never invokes). See ../shared/TESTING.md.
"""

import argparse
import os
import sys
import threading
import time


def watch(pid):
    """Exits this process (hard) once `pid` no longer exists."""

    def run():
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass
            time.sleep(1)

    threading.Thread(target=run, name="watch-parent", daemon=True).start()


def run_moto(port):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print(f"moto ready on 127.0.0.1:{port}", flush=True)
    while True:
        time.sleep(3600)


def run_localstack(port, data_dir):
    # Configuration is read from the environment when localstack.config is
    # imported: set it first. Never 0.0.0.0: the default twisted gateway
    # ignores the host, hypercorn honours it.
    os.environ.update(
        {
            # /.dockerenv exists on these machines, so LocalStack believes it
            # runs in its own container: every instance then keeps its state
            # in /tmp/localstack (CloudWatch's metrics.db included) and wipes
            # that folder when it starts and stops, under any other running
            # instance. OVERRIDE_IN_DOCKER=0 makes it a host-mode process with
            # its own FILESYSTEM_ROOT (and 127.0.0.1 as its default address).
            "OVERRIDE_IN_DOCKER": "0",
            "GATEWAY_SERVER": "hypercorn",
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "DNS_ADDRESS": "0",
            "SERVICES": "cloudwatch,lambda,sts,iam",
            "EAGER_SERVICE_LOADING": "0",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",
            "LOCALSTACK_TELEMETRY_DISABLED": "1",
            "DISABLE_CORS_CHECKS": "1",
            "FILESYSTEM_ROOT": data_dir,
            "LOCALSTACK_VOLUME_DIR": os.path.join(data_dir, "volume"),
        }
    )
    os.makedirs(os.environ["LOCALSTACK_VOLUME_DIR"], exist_ok=True)

    from localstack.services.lambda_.invocation import runtime_executor as rex

    class NoopRuntimeExecutor(rex.RuntimeExecutor):
        """An execution environment that starts at once and runs nothing."""

        def start(self, env_vars):
            # Test hook: a function created with PCSCALE_TEST_FAIL_INIT in its
            # environment fails its init, so provisioned concurrency on it
            # ends FAILED with FUNCTION_ERROR_INIT_FAILURE, as in AWS.
            if env_vars.get("PCSCALE_TEST_FAIL_INIT"):
                raise rex.LambdaRuntimeException("init failure requested by the test")

        def stop(self):
            pass

        def get_address(self):
            return "127.0.0.1"

        def get_endpoint_from_executor(self):
            return "127.0.0.1"

        def get_runtime_endpoint(self):
            return f"http://127.0.0.1:{port}/_localstack_lambda/{self.id}"

        def invoke(self, payload):
            raise rex.LambdaRuntimeException("invoke is not supported by the test executor")

        def get_logs(self):
            return ""

        @classmethod
        def prepare_version(cls, function_version):
            pass

        @classmethod
        def cleanup_version(cls, function_version):
            pass

        @classmethod
        def validate_environment(cls):
            return True

    # The Lambda provider and the version manager import this function by
    # name when the service first loads, which is after this assignment.
    rex.get_runtime_executor = lambda: NoopRuntimeExecutor

    from localstack.runtime.main import main

    sys.argv = ["localstack"]
    main()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["moto", "localstack"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--data-dir")
    p.add_argument("--watch-pid", type=int)
    a = p.parse_args()
    if a.watch_pid:
        watch(a.watch_pid)
    if a.kind == "moto":
        run_moto(a.port)
    else:
        if not a.data_dir:
            p.error("localstack needs --data-dir")
        run_localstack(a.port, a.data_dir)


if __name__ == "__main__":
    main()
