"""Reads infra/template.yaml the way CloudFormation would, for Pulso's own checks and tools.

Owns: loading the template (cfn-lint's YAML loader, so short-form tags such as !Sub work),
evaluating the intrinsic functions the template uses (Ref, GetAtt, Sub, Join, Split, If, Equals,
Not, And, Or, Select, Condition) for a given set of parameter values, and answering the questions
the checks and the cold-start harness ask: which functions exist, which binary each builds, and the
environment each one is given.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

NO_VALUE = object()
"""What `!Ref AWS::NoValue` evaluates to: the key holding it disappears."""

FUNCTION_TYPE = "AWS::Serverless::Function"

# Values for the parameters that have no default: what a minimal `sam deploy --guided` is given.
SAMPLE_PARAMETERS = {
    "CompanyName": "Acme Analytics",
    "EmailDomain": "acme.example",
    "SenderAddress": "nps@acme.example",
    "SenderName": "Acme Analytics",
    "UnsubscribeMailbox": "unsubscribe@acme.example",
}

# Every optional parameter set too, so that each conditional branch is exercised.
FULL_PARAMETERS = {
    **SAMPLE_PARAMETERS,
    "TimeZone": "Europe/Madrid",
    "DefaultLocale": "es",
    "ReplyToAddress": "support@acme.example",
    "MaxSendRate": "14",
    "AlertRecipients": "support@acme.example, cs-lead@acme.example",
    "DailyRecipients": "support@acme.example",
    "WeeklyRecipients": "product@acme.example,marketing@acme.example",
    "QuarterlyRecipients": "all@acme.example",
    "WorkingDays": "mon,tue,wed,thu",
    "ReportSegments": "plan,region",
    "CommentRetentionMonths": "24",
    "ArchiveRetentionDays": "730",
    "WebhookUrls": "https://crm.acme.example/hooks/pulso",
    "CaptureDomainName": "nps.acme.example",
    "CaptureCertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc-123",
    "AlarmEmail": "ops@acme.example",
    "ReservedConcurrency": "on",
}

PSEUDO = {
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "pulso",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/pulso/1",
}


class TemplateError(Exception):
    """The template cannot be read or evaluated; the message says where."""


def load(path: Path) -> dict:
    """The template as plain dicts and lists, short-form tags turned into their long form."""
    from cfnlint.decode import decode  # cfn-lint's loader (pinned in scripts/requirements-test.txt)

    template, matches = decode(str(path))
    if matches or template is None:
        raise TemplateError(f"{path}: cannot parse: " + "; ".join(str(m) for m in matches))
    return template


def fake_resource_value(logical_id: str, resource: dict, attribute: str | None, pseudo: dict) -> str:
    """A plausible physical value for a resource reference (names and ARNs derived from its id)."""
    region, account = pseudo["AWS::Region"], pseudo["AWS::AccountId"]
    kind = resource.get("Type", "")
    name = f"pulso-{logical_id}-ABC123"
    if attribute is None:
        if kind == "AWS::SecretsManager::Secret":
            return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}"
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{region}.amazonaws.com/{account}/{name}"
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{region}:{account}:{name}"
        if kind == "AWS::KMS::Key":
            return "1234abcd-12ab-34cd-56ef-1234567890ab"
        if kind == "AWS::ApiGatewayV2::Api":
            return f"{logical_id.lower()[:6]}0001"
        return name
    if attribute == "Arn":
        service = kind.split("::")[1].lower() if "::" in kind else "x"
        return f"arn:aws:{service}:{region}:{account}:{logical_id}"
    if attribute == "ApiEndpoint":
        return f"https://{logical_id.lower()[:6]}0001.execute-api.{region}.amazonaws.com"
    if attribute == "StreamArn":
        return f"arn:aws:dynamodb:{region}:{account}:table/{name}/stream/2026-01-01T00:00:00.000"
    return f"{name}.{attribute}"


class Evaluator:
    """Evaluates intrinsic functions for one choice of parameter values.

    `resource_value(logical_id, attribute_or_None)` supplies what Ref/GetAtt of a resource give
    (by default a plausible fake derived from the logical id).
    """

    def __init__(
        self,
        template: dict,
        parameters: dict[str, str] | None = None,
        resource_value: Callable[[str, str | None], str] | None = None,
        pseudo: dict[str, str] | None = None,
    ):
        self.template = template
        self.pseudo = {**PSEUDO, **(pseudo or {})}
        self.params: dict[str, str] = {}
        declared = template.get("Parameters", {}) or {}
        given = dict(parameters or {})
        for name, spec in declared.items():
            if name in given:
                self.params[name] = str(given.pop(name))
            elif "Default" in spec:
                self.params[name] = str(spec["Default"])
            else:
                raise TemplateError(f"parameter {name} has no default and no value was given")
        if given:
            raise TemplateError(f"unknown parameters given: {', '.join(sorted(given))}")
        resources = template.get("Resources", {}) or {}
        self._resource_value = resource_value or (
            lambda lid, attr: fake_resource_value(lid, resources.get(lid, {}), attr, self.pseudo)
        )
        self.resources = resources
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions", {}) or {}
            if name not in conditions:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = bool(self.eval(conditions[name]))
        return self._conditions[name]

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        if name in self.resources:
            return self._resource_value(name, None)
        raise TemplateError(f"Ref to unknown name {name}")

    def get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.resources:
            raise TemplateError(f"GetAtt of unknown resource {logical_id}")
        return self._resource_value(logical_id, attribute)

    def sub(self, text: str, variables: dict) -> str:
        def one(match: re.Match) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in variables:
                return str(self.eval(variables[inner]))
            if "." in inner and inner.split(".", 1)[0] in self.resources:
                lid, attr = inner.split(".", 1)
                return str(self.get_att(lid, attr))
            return str(self.ref(inner))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def eval(self, node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1:
                (key, arg), = node.items()
                if key == "Ref":
                    return self.ref(arg)
                if key == "Fn::GetAtt":
                    lid, attr = arg.split(".", 1) if isinstance(arg, str) else arg
                    return self.get_att(lid, attr)
                if key == "Fn::Sub":
                    if isinstance(arg, list):
                        return self.sub(arg[0], arg[1])
                    return self.sub(arg, {})
                if key == "Fn::Join":
                    sep, items = arg
                    items = self.eval(items)
                    return sep.join(str(self.eval(i)) for i in items)
                if key == "Fn::Split":
                    sep, text = arg
                    return str(self.eval(text)).split(sep)
                if key == "Fn::Select":
                    index, items = arg
                    return self.eval(items)[int(self.eval(index))]
                if key == "Fn::If":
                    cond, yes, no = arg
                    return self.eval(yes if self.condition(cond) else no)
                if key == "Fn::Equals":
                    a, b = (self.eval(x) for x in arg)
                    return str(a) == str(b)
                if key == "Fn::Not":
                    return not self.eval(arg[0])
                if key == "Fn::And":
                    return all(self.eval(x) for x in arg)
                if key == "Fn::Or":
                    return any(self.eval(x) for x in arg)
                if key == "Condition":
                    return self.condition(arg)
            out = {}
            for k, v in node.items():
                value = self.eval(v)
                if value is not NO_VALUE:
                    out[k] = value
            return out
        if isinstance(node, list):
            return [v for v in (self.eval(x) for x in node) if v is not NO_VALUE]
        return node


def functions(template: dict) -> dict[str, dict]:
    """The template's functions by logical id."""
    return {
        lid: res
        for lid, res in (template.get("Resources", {}) or {}).items()
        if res.get("Type") == FUNCTION_TYPE
    }


def binary_of(resource: dict) -> str | None:
    """The cargo binary a function builds (Metadata.BuildProperties.Binary)."""
    return ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")


def environment_nodes(template: dict, logical_id: str) -> dict[str, Any]:
    """A function's environment variables before evaluation: Globals merged with its own."""
    glob = (((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get(
        "Variables"
    ) or {}
    own = (
        ((functions(template)[logical_id].get("Properties") or {}).get("Environment") or {}).get(
            "Variables"
        )
        or {}
    )
    return {**glob, **own}


def is_conditional(node: Any) -> bool:
    """True when a value may evaluate to AWS::NoValue (so the variable is sometimes absent)."""
    if isinstance(node, dict) and len(node) == 1:
        (key, arg), = node.items()
        if key == "Ref":
            return arg == "AWS::NoValue"
        if key == "Fn::If":
            return is_conditional(arg[1]) or is_conditional(arg[2])
    return False


def environment(template: dict, logical_id: str, evaluator: Evaluator) -> dict[str, str]:
    """A function's environment as Lambda would set it, for the evaluator's parameter values."""
    out = {}
    for name, node in environment_nodes(template, logical_id).items():
        value = evaluator.eval(node)
        if value is NO_VALUE:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        out[name] = str(value)
    return out
