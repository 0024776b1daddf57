"""template.yaml read and resolved: the one reader of the CloudFormation template.

The local stack, the tests, the benchmarks and the scripts all read the template here: cfn-lint's
decoder (short-form tags included), parameter values (defaults under overrides, samconfig.toml's
``parameter_overrides``), CloudFormation's intrinsic functions, and what SAM derives from them
(a function's properties with ``Globals`` and its environment).
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from docpipe.exceptions import ConfigError

DEFAULT_ACCOUNT = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"
NO_VALUE = object()  # Ref AWS::NoValue: the enclosing key disappears


def load_template(path: Path) -> dict[str, Any]:
    """Decode a CloudFormation/SAM template (short-form tags included) with cfn-lint's decoder.

    Tags come back in their long form (``{"Fn::If": [...]}``) and the result is plain JSON data
    (dicts, lists, strings), whatever node types the decoder used.

    Raises:
        ConfigError: the file is missing or is not a template, naming the path and the problems.
    """
    from cfnlint.decode import decode

    template, matches = decode(str(path))
    if template is None:
        problems = "; ".join(str(m) for m in matches) or "unreadable"
        raise ConfigError(f"cannot read template {path}: {problems}")
    plain: dict[str, Any] = json.loads(json.dumps(template))
    return plain


def parameter_values(
    template: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> tuple[dict[str, str], list[str]]:
    """The template's parameter values: its defaults under ``overrides``, as CloudFormation takes them.

    Returns:
        The values by name, and the overrides the template does not declare (sorted): a caller
        reports them, since a misspelt override must not pass silently.

    Raises:
        ConfigError: a parameter has neither a default nor an override.
    """
    declared = template.get("Parameters", {})
    values = {k: str(v["Default"]) for k, v in declared.items() if "Default" in v}
    values.update({k: str(v) for k, v in (overrides or {}).items() if k in declared})
    missing = sorted(set(declared) - set(values))
    if missing:
        raise ConfigError(f"template parameters without a value: {', '.join(missing)}")
    return values, sorted(set(overrides or {}) - set(declared))


def samconfig_overrides(samconfig: Path, env: str = "local") -> dict[str, str]:
    """``parameter_overrides`` of one samconfig.toml environment (deploy, then global), as a dict."""
    if not samconfig.is_file():
        return {}
    data = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    section = data.get(env, {})
    raw: Any = None
    for command in ("deploy", "global", "build"):
        raw = section.get(command, {}).get("parameters", {}).get("parameter_overrides")
        if raw:
            break
    if not raw:
        return {}
    items = raw if isinstance(raw, list) else shlex.split(raw)
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if sep:
            result[key.strip()] = value.strip().strip('"')
    return result


class Resolver:
    """CloudFormation's intrinsic functions evaluated for one set of parameter values.

    Enough for what docpipe's template uses: Ref, Fn::Sub, Fn::GetAtt, Fn::If, Fn::Join,
    Fn::Select, Fn::Split, Fn::Equals, Fn::Not/And/Or, Condition, Fn::FindInMap. Parameters and
    pseudo parameters resolve here; what a resource's ``Ref`` and ``Fn::GetAtt`` return is the
    caller's (``ref``, ``get_att``): the local stack's physical names, moto's ARNs, or stand-ins
    for a test that only reads the template.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        *,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
        stack_name: str,
        ref: Callable[[str], Any],
        get_att: Callable[[str, str], Any],
    ) -> None:
        self.template = template
        self.parameters = dict(parameters)
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": "",
        }
        self._ref = ref
        self._get_att = get_att
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definitions = self.template.get("Conditions", {})
            if name not in definitions:
                raise ConfigError(f"template condition {name!r} is not defined")
            self._conditions[name] = bool(self.resolve(definitions[name]))
        return self._conditions[name]

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self._ref(name)

    def resolve(self, value: Any) -> Any:  # noqa: C901 - one branch per intrinsic, flat on purpose
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = (self.resolve(a) for a in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self._get_att(logical_id, self.resolve(attribute))
            if key == "Fn::Join":
                sep, items = arg
                return str(sep).join(str(i) for i in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key == "Fn::FindInMap":
                name, top, second = (self.resolve(a) for a in arg[:3])
                return self.template["Mappings"][name][top][second]
            if key == "Fn::GetAZs":
                return [f"{self.pseudo['AWS::Region']}{z}" for z in "abc"]
            if key == "Fn::ToJsonString":
                return json.dumps(self.resolve(arg))
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        values = {k: self.resolve(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                return str(values[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return str(self._get_att(logical_id, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def env_str(value: Any) -> str:
    """A resolved value as Lambda's environment holds it (booleans lower case, objects as JSON)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def function_property(template: Mapping[str, Any], logical_id: str, name: str, default: Any = None) -> Any:
    """A function's property as declared, falling back to ``Globals.Function`` as SAM does (unresolved)."""
    props = template["Resources"][logical_id].get("Properties", {})
    if name in props:
        return props[name]
    return template.get("Globals", {}).get("Function", {}).get(name, default)


def function_environment(template: Mapping[str, Any], logical_id: str, resolver: Resolver) -> dict[str, str]:
    """The environment variables Lambda gives ``logical_id``: Globals' overlaid with its own, resolved."""
    glob = template.get("Globals", {}).get("Function", {}).get("Environment", {})
    own = template["Resources"][logical_id].get("Properties", {}).get("Environment", {})
    merged: dict[str, str] = {}
    for block in (glob, own):
        variables = resolver.resolve(block.get("Variables", {})) if block else {}
        merged.update({k: env_str(v) for k, v in variables.items()})
    return merged
