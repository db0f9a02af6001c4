"""The offline stack: moto executing the real state machine, resources created from
template.yaml, the handlers in-process behind a local API Gateway and Lambda endpoint, SQS
pollers, the table's stream, the schedule, and the telephony simulator. ``make dev`` runs it;
e2e tests start it."""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local import moto_tuning
from local.api_gateway import ApiGateway
from local.lambdas import LambdaEndpoint, LambdaRuntime
from local.logs import FunctionLogs
from local.pollers import SqsPoller, Ticker
from local.seed import DemoAccount, seed_demo
from local.simulator import TelephonySimulator
from local.streams import StreamPoller
from local.template import REGION, STACK, Template

logger = logging.getLogger("local.stack")

ROOT = Path(__file__).resolve().parent.parent
LOCAL_TWILIO_SID = "AC" + "0" * 31 + "1"
LOCAL_TWILIO_TOKEN = "local-simulator-auth-token"
# The template's generated secrets get fixed values offline, so a local agent service (and the
# README's example) can check the agent URLs it is sent.
LOCAL_SECRETS = {"AgentUrlSecret": "local-agent-url-secret", "WebhookSigningSecret": "local-webhook-secret"}


@dataclass
class StackOptions:
    port: int = 3000
    host: str = "127.0.0.1"
    api_key: str = "local-dev-key"
    tick_seconds: float = 5.0
    sim_env: dict[str, str] = field(default_factory=dict)  # LOCAL_SIM_* settings
    extra_env: dict[str, str] = field(default_factory=dict)  # settings overrides (Settings names)
    # The demo account's pacing; 1 call start per second is the carrier default. Tests that
    # dial hundreds of numbers raise it.
    demo_calls_per_second: float = 1.0
    # moto's in-memory AWS served over HTTP too (same backends as the in-process mock), for
    # batchcalls-admin and the AWS CLI: a port, 0 = any free one, None = off.
    aws_port: int | None = 0
    # Each function's JSON log lines and EMF metrics in <dir>/<Function>.jsonl; None: off.
    log_dir: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StackOptions:
        return cls(
            port=int(environ.get("PORT") or 3000),
            host=environ.get("HOST") or "127.0.0.1",
            api_key=environ.get("LOCAL_API_KEY") or "local-dev-key",
            tick_seconds=float(environ.get("LOCAL_TICK_SECONDS") or 5),
            sim_env={k: v for k, v in environ.items() if k.startswith("LOCAL_SIM_")},
            demo_calls_per_second=float(environ.get("LOCAL_DEMO_CALLS_PER_SECOND") or 1.0),
            aws_port=_aws_port(environ.get("LOCAL_AWS_PORT")),
            log_dir=_log_dir(environ.get("LOCAL_LOG_DIR")),
        )


def _log_dir(raw: str | None) -> Path | None:
    """LOCAL_LOG_DIR: unset → .local/logs of the project, "off" → none."""
    if raw is None or raw.strip() == "":
        return ROOT / ".local" / "logs"
    return None if raw.strip().lower() == "off" else Path(raw)


def _aws_port(raw: str | None) -> int | None:
    """LOCAL_AWS_PORT: unset → 4566 (the usual local AWS port), "off" → no endpoint."""
    if raw is None or raw.strip() == "":
        return 4566
    return None if raw.strip().lower() == "off" else int(raw)


class OfflineStack:
    def __init__(self, options: StackOptions | None = None, root: Path = ROOT) -> None:
        self.options = options or StackOptions()
        self.root = root
        self.template = Template.load(root)
        self.queue_urls: dict[str, str] = {}  # arn → url
        self.stream_tables: dict[str, str] = {}  # stream arn → table name
        self._pollers: list[SqsPoller | StreamPoller] = []
        self._stream_pollers: dict[str, list[StreamPoller]] = {}  # by table name
        # Functions whose handler is not written yet: the stack runs without them.
        self._absent_functions: set[str] = set()
        self._tickers: list[Ticker] = []
        self._mock: Any = None
        self._saved_env: dict[str, str | None] = {}
        self.demo: DemoAccount | None = None
        self.aws_endpoint: str | None = None  # moto over HTTP (StackOptions.aws_port)
        self._aws_server: Any = None
        self.function_logs: FunctionLogs | None = None
        self._terminal_handlers: list[logging.Handler] = []

    # -- lifecycle -------------------------------------------------------------------------

    _running: OfflineStack | None = None  # one stack per process: it owns the moto backends and env

    def start(self) -> OfflineStack:
        if OfflineStack._running is not None:
            raise RuntimeError("another OfflineStack is running in this process; stop it first")
        OfflineStack._running = self
        self._set_env(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_PROFILE": None,
            }
        )
        self.runtime = LambdaRuntime(self._template_of_written_functions())
        self.lambda_endpoint = LambdaEndpoint(self.runtime)
        self.lambda_endpoint.start()
        # moto's state machine reaches our handlers through Lambda's (passed-through) endpoint.
        self._set_env({"AWS_ENDPOINT_URL_LAMBDA": self.lambda_endpoint.url})

        from moto import mock_aws

        moto_tuning.apply()
        # Every service shares this interpreter; a short GIL switch interval keeps the hand-offs
        # of a dial (queue → dialer → simulator → webhook → state machine) from waiting 5 ms each.
        sys.setswitchinterval(0.001)
        self._mock = mock_aws(
            config={
                "stepfunctions": {"execute_state_machine": True},
                "core": {"passthrough": {"services": ["lambda"]}},
            }
        )
        self._mock.start()
        self._reset_clients()
        self._create_resources()
        self._start_aws_endpoint()

        self.simulator = TelephonySimulator.from_env(
            self.options.sim_env, account_sid=LOCAL_TWILIO_SID, auth_token=LOCAL_TWILIO_TOKEN
        )
        self.simulator.start()
        self.api = ApiGateway(self.template, self.runtime, self.options.host, self.options.port)

        env = self.template.function_environment()
        env.update(
            {
                "PUBLIC_BASE_URL": self.api.url,
                "AGENT_TWIML_URL": self.api.url + "/agents/{agent_id}/twiml",
                "TWILIO_ACCOUNT_SID": LOCAL_TWILIO_SID,
                "TWILIO_AUTH_TOKEN": LOCAL_TWILIO_TOKEN,
                "TWILIO_API_BASE_URL": self.simulator.base_url,
                # Presigned upload and export URLs point at the local AWS endpoint (if served).
                "S3_PUBLIC_ENDPOINT_URL": self.aws_endpoint or "",
                # Receivers on this machine (http://127.0.0.1:…): in AWS only public https.
                "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
                **{k.upper(): v for k, v in self.options.extra_env.items()},
            }
        )
        self._set_env(env)
        self._reset_clients()
        self._route_logs()
        # Before the demo is seeded: on AWS the mapping exists before anything is written.
        self._start_stream_pollers()
        self.demo = seed_demo(self.options.api_key, self.options.demo_calls_per_second)

        self.api.start()
        for function, props in self.template.event_sources("SQS"):
            arn = self.template.resolve(props["Queue"])
            poller = SqsPoller(
                self.runtime,
                function,
                self.queue_urls[arn],
                arn,
                batch_size=int(props.get("BatchSize", 10)),
            )
            poller.start()
            self._pollers.append(poller)
        for kind in ("Schedule", "ScheduleV2"):
            for function, _props in self.template.event_sources(kind):
                ticker = Ticker(self.runtime, function, self.options.tick_seconds)
                ticker.start()
                self._tickers.append(ticker)
        return self

    def stop_poller(self, function: str) -> None:
        """Stop feeding ``function`` from its queue or stream (a test that runs it by hand
        would race it)."""
        for poller in self._pollers:
            if poller.function == function:
                poller.stop()

    def _unroute_logs(self) -> None:
        from batchcalls import observability

        files = self.function_logs
        if files is None:
            return
        package_logger = logging.getLogger(observability.SERVICE)
        package_logger.removeHandler(files)
        for handler in self._terminal_handlers:
            package_logger.addHandler(handler)
        observability.set_metric_sink(None)
        files.close()
        self.function_logs = None

    def stop(self) -> None:
        self._unroute_logs()
        if OfflineStack._running is self:
            OfflineStack._running = None
        moto_tuning.set_stream_sink(None)
        for ticker in self._tickers:
            ticker.stop()
        for poller in self._pollers:
            poller.stop()
        for stoppable in ("api", "simulator", "lambda_endpoint", "_aws_server"):
            part = getattr(self, stoppable, None)
            if part is not None:
                try:
                    part.stop()
                except Exception:
                    logger.exception("stopping %s", stoppable)
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        self._reset_clients()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def __enter__(self) -> OfflineStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def tick(self) -> Any:
        """Fire the schedule now (tests)."""
        return self._tickers[0].fire()

    # -- helpers ---------------------------------------------------------------------------

    def _template_of_written_functions(self) -> Template:
        """The template without the functions whose handler file does not exist yet (one
        being written): LambdaRuntime loads every handler it is given."""
        t = self.template
        for logical in t.functions():
            path, _ = t.handler_path(logical)
            if not path.exists():
                logger.warning("%s: %s does not exist; the stack runs without it", logical, path)
                self._absent_functions.add(logical)
        resources = {k: v for k, v in t.resources.items() if k not in self._absent_functions}
        return Template(root=t.root, doc={**t.doc, "Resources": resources}, refs=t.refs, attrs=t.attrs)

    def _start_stream_pollers(self) -> None:
        """A StreamPoller per DynamoDB event source, fed by moto_tuning's stream sink."""
        t = self.template
        for function, raw in t.event_sources("DynamoDB"):
            if function in self._absent_functions:
                logger.warning("%s is not written yet: its table stream goes nowhere", function)
                continue
            props = t.resolve(raw)
            filters = props.get("FilterCriteria", {}).get("Filters", [])
            on_failure = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            table_name = self.stream_tables[props["Stream"]]
            poller = StreamPoller(
                self.runtime,
                function,
                table_name,
                filters=[json.loads(f["Pattern"]) for f in filters],
                batch_size=int(props.get("BatchSize", 100)),
                batching_window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                max_retries=int(props.get("MaximumRetryAttempts", 10)),
                report_batch_item_failures="ReportBatchItemFailures"
                in props.get("FunctionResponseTypes", []),
                stream_arn=props["Stream"],
                on_failure_queue_url=self.queue_urls.get(on_failure) if on_failure else None,
            )
            poller.start()
            self._pollers.append(poller)
            self._stream_pollers.setdefault(table_name, []).append(poller)
        if self._stream_pollers:
            moto_tuning.set_stream_sink(self._hand_stream_record)

    def _hand_stream_record(self, table_name: str, record: dict[str, Any]) -> None:
        for poller in self._stream_pollers.get(table_name, ()):
            poller.put(record)

    def _start_aws_endpoint(self) -> None:
        """Serve the mock's backends over HTTP: moto's ThreadedMotoServer in this process acts
        on the same state as ``mock_aws``, so a client outside (batchcalls-admin, the AWS CLI)
        sees and changes the very tables the handlers use."""
        port = self.options.aws_port
        if port is None:
            return
        import socket

        from moto.server import ThreadedMotoServer

        if port:
            # The server binds in its own thread and would wait forever on a taken port.
            try:
                socket.create_server((self.options.host, port)).close()
            except OSError as exc:
                logger.warning(
                    "local AWS endpoint off: %s:%s is taken (%s); set LOCAL_AWS_PORT",
                    self.options.host,
                    port,
                    exc,
                )
                return
        # werkzeug would log every request at INFO whatever LOG_LEVEL says.
        werkzeug_log = logging.getLogger("werkzeug")
        if werkzeug_log.level == logging.NOTSET:
            werkzeug_log.setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address=self.options.host, port=port, verbose=False)
        server.start()
        host, bound = server.get_host_and_port()
        self._aws_server = server
        self.aws_endpoint = f"http://{host}:{bound}"

    def _route_logs(self) -> None:
        """The functions' lines (and EMF blobs) to their files instead of this terminal. The
        Powertools logger is made once per process; its handlers come back at ``stop``."""
        from batchcalls import observability

        if self.options.log_dir is None:
            return
        observability.logger()
        package_logger = logging.getLogger(observability.SERVICE)
        files = FunctionLogs(self.options.log_dir)
        self._terminal_handlers = list(package_logger.handlers)
        for handler in self._terminal_handlers:
            files.setFormatter(handler.formatter)
            package_logger.removeHandler(handler)
        package_logger.addHandler(files)
        observability.set_metric_sink(files.write_line)
        self.function_logs = files

    def _set_env(self, values: Mapping[str, str | None]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    @staticmethod
    def _reset_clients() -> None:
        from batchcalls import aws
        from batchcalls.config import get_settings
        from batchcalls.services.context import set_context

        aws.reset_clients()
        get_settings.cache_clear()
        set_context(None)

    def _create_resources(self) -> None:
        import boto3

        def client(service: str) -> Any:
            return boto3.client(service, region_name=REGION)

        s3 = client("s3")
        self._name_functions_and_apis()
        self._create_tables(client("dynamodb"))
        self._create_secrets(client("secretsmanager"))
        self._create_buckets(s3)
        self._create_queues(client("sqs"))
        self._create_event_buses(client("events"))
        self._connect_bucket_notifications(s3)
        self._create_state_machines(client("stepfunctions"))

    def _name_functions_and_apis(self) -> None:
        t = self.template
        for logical in t.functions():
            t.refs[logical] = logical
            t.attrs[(logical, "Arn")] = self.runtime.arn(logical)
        for logical in t.of_type("AWS::Serverless::Api"):
            t.refs[logical] = "local"

    def _create_tables(self, ddb: Any) -> None:
        t = self.template
        for logical, res in t.of_type("AWS::DynamoDB::Table").items():
            props = t.resolve(res["Properties"])
            name = f"{STACK}-{logical}"
            kwargs: dict[str, Any] = {
                "TableName": name,
                "AttributeDefinitions": props["AttributeDefinitions"],
                "KeySchema": props["KeySchema"],
                "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
            }
            if props.get("GlobalSecondaryIndexes"):
                kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
            if "StreamSpecification" in props:
                kwargs["StreamSpecification"] = {
                    "StreamEnabled": True,
                    "StreamViewType": props["StreamSpecification"]["StreamViewType"],
                }
            described = ddb.create_table(**kwargs)["TableDescription"]
            t.refs[logical] = name
            if "LatestStreamArn" in described:
                t.attrs[(logical, "StreamArn")] = described["LatestStreamArn"]
                self.stream_tables[described["LatestStreamArn"]] = name

    def _create_secrets(self, secrets: Any) -> None:
        t = self.template
        for logical in t.of_type("AWS::SecretsManager::Secret"):
            value = LOCAL_SECRETS.get(logical) or uuid.uuid4().hex
            t.refs[logical] = secrets.create_secret(Name=f"{STACK}-{logical}", SecretString=value)["ARN"]

    def _create_buckets(self, s3: Any) -> None:
        t = self.template
        for logical in t.of_type("AWS::S3::Bucket"):
            name = f"{STACK}-{logical}".lower()
            s3.create_bucket(Bucket=name)
            t.refs[logical] = name

    def _create_queues(self, sqs: Any) -> None:
        t = self.template
        queues = t.of_type("AWS::SQS::Queue")
        # Dead-letter queues first: the others refer to them.
        for logical, res in sorted(
            queues.items(), key=lambda kv: "RedrivePolicy" in kv[1].get("Properties", {})
        ):
            props = t.resolve(res.get("Properties", {}))
            attributes = {"VisibilityTimeout": str(props.get("VisibilityTimeout", 30))}
            if "RedrivePolicy" in props:
                attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
            url = sqs.create_queue(QueueName=f"{STACK}-{logical}", Attributes=attributes)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            t.refs[logical] = url
            t.attrs[(logical, "Arn")] = arn
            t.attrs[(logical, "QueueName")] = f"{STACK}-{logical}"
            self.queue_urls[arn] = url

    def _create_event_buses(self, events: Any) -> None:
        t = self.template
        for logical, res in t.of_type("AWS::Events::EventBus").items():
            name = t.resolve(res.get("Properties", {}).get("Name")) or f"{STACK}-{logical}"
            arn = events.create_event_bus(Name=name)["EventBusArn"]
            t.refs[logical] = name  # a bus's Ref is its name
            t.attrs[(logical, "Arn")] = arn
            t.attrs[(logical, "Name")] = name

    def _connect_bucket_notifications(self, s3: Any) -> None:
        # Bucket → queue notifications (uploaded files → the import queue): moto sends them.
        t = self.template
        for logical, res in t.of_type("AWS::S3::Bucket").items():
            notifications = res.get("Properties", {}).get("NotificationConfiguration", {})
            queue_configs = [
                {
                    "QueueArn": t.resolve(config["Queue"]),
                    "Events": [config["Event"]],
                    **(
                        {"Filter": {"Key": {"FilterRules": config["Filter"]["S3Key"]["Rules"]}}}
                        if "Filter" in config
                        else {}
                    ),
                }
                for config in notifications.get("QueueConfigurations", [])
            ]
            if queue_configs:
                s3.put_bucket_notification_configuration(
                    Bucket=t.refs[logical],
                    NotificationConfiguration={"QueueConfigurations": queue_configs},
                )

    def _create_state_machines(self, sfn: Any) -> None:
        t = self.template
        for logical, res in t.of_type("AWS::Serverless::StateMachine").items():
            props = res["Properties"]
            definition = (self.root / props["DefinitionUri"]).read_text()
            for key, value in props.get("DefinitionSubstitutions", {}).items():
                definition = definition.replace("${" + key + "}", str(t.resolve(value)))
            arn = sfn.create_state_machine(
                name=t.resolve(props["Name"]),
                definition=definition,
                roleArn=f"arn:aws:iam::123456789012:role/{logical}",
                type=props.get("Type", "STANDARD"),
            )["stateMachineArn"]
            t.refs[logical] = arn
