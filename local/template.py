"""Reads template.yaml for the offline stack, so the template stays the one source of truth
for key schemas, queues, routes, environment and state-machine substitutions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "batchcalls-local"


@dataclass
class Route:
    method: str
    path: str  # API Gateway template, e.g. /batch-calls/{batch_id}
    function: str  # logical id
    auth: bool  # behind the REQUEST authorizer

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method.upper() != self.method:
            return None
        pattern = "^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$"
        found = re.match(pattern, path)
        return found.groupdict() if found else None


@dataclass
class Template:
    root: Path
    doc: dict[str, Any]
    # Values of Ref / GetAtt for the local resources, filled in as they are created.
    refs: dict[str, str] = field(default_factory=dict)
    attrs: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> Template:
        doc = cfn_yaml.load(str(root / "template.yaml"))
        return cls(root=root, doc=doc)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.doc["Resources"])

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: res for name, res in self.resources.items() if res["Type"] == kind}

    def parameter_defaults(self) -> dict[str, str]:
        return {name: str(p.get("Default", "")) for name, p in self.doc.get("Parameters", {}).items()}

    # -- intrinsic functions (the subset the template uses) --------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Ref":
                return self._ref(arg)
            if fn == "Fn::GetAtt":
                name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.attrs[(name, attr)]
            if fn == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                return re.sub(r"\$\{([^}]+)\}", lambda m: self._sub(m.group(1), extra), text)
            if fn == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(index)]
            if fn == "Fn::Split":
                sep, text = arg
                return self.resolve(text).split(sep)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/00000000-0000-0000-0000-000000000000",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.refs:
            return self.refs[name]
        defaults = self.parameter_defaults()
        if name in defaults:
            return defaults[name]
        raise KeyError(f"template.yaml: nothing local for Ref {name}")

    def _sub(self, name: str, extra: dict[str, Any]) -> str:
        if name in extra:
            return str(self.resolve(extra[name]))
        if "." in name:
            logical, attr = name.split(".", 1)
            return self.attrs[(logical, attr)]
        return self._ref(name)

    # -- functions and routes --------------------------------------------------------------

    def functions(self) -> dict[str, dict[str, Any]]:
        return self.of_type("AWS::Serverless::Function")

    def function_environment(self) -> dict[str, str]:
        """Globals plus every function's own variables (one process runs them all)."""
        env: dict[str, str] = {}
        globals_env = self.doc.get("Globals", {}).get("Function", {}).get("Environment", {})
        for name, value in globals_env.get("Variables", {}).items():
            env[name] = str(self.resolve(value))
        for res in self.functions().values():
            for name, value in res["Properties"].get("Environment", {}).get("Variables", {}).items():
                env[name] = str(self.resolve(value))
        return env

    def handler_path(self, logical_id: str) -> tuple[Path, str]:
        props = self.functions()[logical_id]["Properties"]
        handler = props.get("Handler") or self.doc["Globals"]["Function"]["Handler"]
        module, func = handler.rsplit(".", 1)
        return self.root / props["CodeUri"] / f"{module.replace('.', '/')}.py", func

    def routes(self) -> list[Route]:
        routes = []
        for logical, res in self.functions().items():
            for event in res["Properties"].get("Events", {}).values():
                if event["Type"] != "Api":
                    continue
                props = event["Properties"]
                auth = props.get("Auth", {}).get("Authorizer") != "NONE"
                routes.append(Route(props["Method"].upper(), props["Path"], logical, auth))
        return routes

    def event_sources(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        found = []
        for logical, res in self.functions().items():
            for event in res["Properties"].get("Events", {}).values():
                if event["Type"] == kind:
                    found.append((logical, event["Properties"]))
        return found

    def authorizer_function(self) -> str:
        api = next(iter(self.of_type("AWS::Serverless::Api").values()))
        auth = api["Properties"]["Auth"]
        default = auth["DefaultAuthorizer"]
        return str(auth["Authorizers"][default]["FunctionArn"]["Fn::GetAtt"][0])

    def cors(self) -> dict[str, str]:
        api = next(iter(self.of_type("AWS::Serverless::Api").values()))
        cors = api["Properties"].get("Cors", {})
        return {k: str(v).strip("'") for k, v in cors.items()}
