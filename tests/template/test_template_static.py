"""template.yaml read as data: names, wiring, settings and policies checked against the code (fast)."""

from __future__ import annotations

import ast
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from docpipe import config
from docpipe.config import Settings
from docpipe.exceptions import ConfigError
from docpipe_cli.template import samconfig_overrides
from tests.build_support import (
    ROOT,
    SAMCONFIG,
    Resolver,
    declared_environment_names,
    function_architecture,
    function_environment,
    function_layers,
    iter_policy_statements,
    layer_architecture,
    statement_actions,
)
from tests.conftest import load_event

PACKAGE_DIR = ROOT / "layers" / "docpipe" / "docpipe"
FUNCTIONS = {
    "IngestFunction": ROOT / "functions" / "ingest",
    "BackupFunction": ROOT / "functions" / "backup",
    "ReconcileFunction": ROOT / "functions" / "reconcile",
    "SearchFunction": ROOT / "functions" / "search",
    "VectorIndexTextSearchFunction": ROOT / "functions" / "index_text_search",
}

PUBLIC_LOGICAL_IDS = {
    "DocumentsBucket": "AWS::S3::Bucket",
    "IngestQueue": "AWS::SQS::Queue",
    "IngestDeadLetterQueue": "AWS::SQS::Queue",
    "DocumentsTable": "AWS::DynamoDB::Table",
    "VectorBucket": "AWS::S3Vectors::VectorBucket",
    "VectorIndex": "AWS::S3Vectors::Index",
    "VectorIndexTextSearch": "Custom::VectorIndexTextSearch",
    "BackupsBucket": "AWS::S3::Bucket",
    "IngestFunction": "AWS::Serverless::Function",
    "BackupFunction": "AWS::Serverless::Function",
    "SearchFunction": "AWS::Serverless::Function",
    "DocpipeLayer": "AWS::Serverless::LayerVersion",
    "DocpipeLayerArm64": "AWS::Serverless::LayerVersion",
    "OfflineEmbeddingsLayer": "AWS::Serverless::LayerVersion",
}

# Parameters users set by name: each stays declared, whatever else changes.
REQUIRED_PARAMETERS = {
    "Stage", "EmbeddingProvider", "EmbeddingModelId", "EmbeddingDimension", "DistanceMetric",
    "ChunkSize", "ChunkOverlap", "MaxDocumentBytes", "DocumentPrefix", "DocumentSuffix", "PdfEngine",
    "PdfPasswordsSecretId", "BackupSchedule", "BackupRetentionCount", "BackupRetentionDays",
    "IngestMaxConcurrency", "IngestBatchSize", "IngestBatchWindowSeconds", "MaxReceiveCount",
    "CreateVectorStore", "ExternalVectorBucketName", "ExternalVectorIndexName", "LogLevel",
    "PruneSchedule", "BackupSegmentCount", "BackupMaxRestoreBytes", "EmbeddingConcurrency",
    "OcrProvider", "OcrMaxPages", "SearchRerank", "TextSearchLanguage",
}  # fmt: skip

# Variables no template entry sets, with why the code default is right for every deployment.
DEFAULTED_IN_CODE = {
    config.EMBEDDING_NORMALIZE: "Titan V2's normalize flag: stored vectors depend on it, so it is not a knob",
    config.SECRETS_CACHE_TTL_SECONDS: "Powertools' 5-minute cache; a rotated secret is refetched after a 401",
    config.ACCESS_CACHE_SECONDS: "30 s bounds how long a changed mapping or rule waits; one read a period",
}

# Actions granted although no code path calls them, with why.
GRANTED_WITHOUT_A_CALL = {
    (
        "IngestFunction",
        "s3:ListBucket",
    ): "without it S3 answers 403, not 404, for a deleted document or sidecar",
}

# Operations a function's code reaches but never makes on AWS, with why (no grant needed).
CALLED_ONLY_OFF_AWS: dict[tuple[str, str], str] = {}

# What each function's code path calls (derived below; this map makes a change to it a visible one).
EXPECTED_OPERATIONS = {
    "IngestFunction": {
        "s3:GetObject", "s3:HeadObject", "dynamodb:GetItem", "dynamodb:UpdateItem", "s3vectors:GetIndex",
        "s3vectors:PutVectors", "s3vectors:DeleteVectors", "s3vectors:GetVectors",
        "bedrock-runtime:InvokeModel", "secretsmanager:GetSecretValue", "textract:DetectDocumentText",
        "ssm:GetParameter",
    },
    "SearchFunction": {
        "s3vectors:GetIndex", "s3vectors:QueryVectors", "s3vectors:GetVectors",
        "bedrock-runtime:InvokeModel", "bedrock-agent-runtime:Rerank", "ssm:GetParameter",
    },
    "BackupFunction": {
        "s3:HeadObject", "s3:GetObject", "s3:GetObject+VersionId", "s3:ListObjectsV2",
        "s3:CreateMultipartUpload", "s3:UploadPart", "s3:CompleteMultipartUpload", "s3:AbortMultipartUpload",
        "s3:CopyObject", "s3:UploadPartCopy", "s3:DeleteObject", "s3:DeleteObject+VersionId",
        "s3:ListMultipartUploads", "dynamodb:Scan", "dynamodb:BatchWriteItem", "s3vectors:GetIndex",
        "s3vectors:CreateIndex", "s3vectors:ListVectors", "s3vectors:PutVectors", "s3vectors:DeleteVectors",
    },
    "VectorIndexTextSearchFunction": {
        "s3vectors:GetIndex", "s3vectors:UpdateIndexMode", "s3vectors:UpdateMetadataConfiguration",
    },
    "ReconcileFunction": {
        "s3:ListObjectsV2", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
        "dynamodb:UpdateItem", "dynamodb:PutItem", "sqs:SendMessageBatch", "s3vectors:ListVectors",
        "s3vectors:GetVectors", "s3vectors:DeleteVectors", "ssm:GetParameter",
        # ReconcileSource=inventory: the report's manifest and data files, HeadObject before a removal.
        "s3:GetObject", "s3:HeadObject",
    },
}  # fmt: skip


# ---------------------------------------------------------------- what each function's code calls
# A small static call graph of the package, from each handler (functions/<name>/app.py) down.
# Receivers are typed from annotations, constructors and return annotations, so `self.store.put`
# reaches S3VectorStore.put and not every method called put; a collaborator typed Any
# (`self.s3`) reaches every package method of that name. A call on a receiver whose name ends in
# "client" is a boto3 call; so is an operation name passed as a string (`self._call("get_item")`,
# `get_paginator("list_objects_v2")`). A VersionId taken from a parameter counts only on paths
# whose callers pass that parameter.

# boto3 service -> IAM action prefix, for the services docpipe calls.
SERVICES = {
    "s3": "s3",
    "s3vectors": "s3vectors",
    "dynamodb": "dynamodb",
    "bedrock-runtime": "bedrock",
    "bedrock-agent-runtime": "bedrock",
    "secretsmanager": "secretsmanager",
    "sqs": "sqs",
    "textract": "textract",
    "ssm": "ssm",
}
# Operations of other services whose IAM actions are not named after them.
OTHER_ACTIONS = {"sqs:SendMessageBatch": ("sqs:SendMessage",)}
# S3 operations whose IAM actions are not named after them.
S3_ACTIONS = {
    "HeadObject": ("s3:GetObject",),
    "ListObjects": ("s3:ListBucket",),
    "ListObjectsV2": ("s3:ListBucket",),
    "ListObjectVersions": ("s3:ListBucketVersions",),
    "CreateMultipartUpload": ("s3:PutObject",),
    "UploadPart": ("s3:PutObject",),
    "CompleteMultipartUpload": ("s3:PutObject",),
    "CopyObject": ("s3:GetObject", "s3:PutObject"),
    "UploadPartCopy": ("s3:GetObject", "s3:PutObject"),
    "ListMultipartUploads": ("s3:ListBucketMultipartUploads",),
    "ListParts": ("s3:ListMultipartUploadParts",),
}
# With a VersionId these S3 operations need the *Version action.
S3_VERSIONED_ACTIONS = {
    "GetObject": "s3:GetObjectVersion",
    "HeadObject": "s3:GetObjectVersion",
    "DeleteObject": "s3:DeleteObjectVersion",
}
# boto3's S3 transfer methods and the operations s3transfer makes for them.
_UPLOAD = ("put_object", "create_multipart_upload", "upload_part", "complete_multipart_upload",
           "abort_multipart_upload")  # fmt: skip
TRANSFER_METHODS = {
    "upload_file": _UPLOAD,
    "upload_fileobj": _UPLOAD,
    "download_file": ("head_object", "get_object"),
    "download_fileobj": ("head_object", "get_object"),
    "copy": ("head_object", "copy_object", "upload_part_copy", *_UPLOAD[1:]),
}
# Library classes that call AWS for docpipe, and the boto3 method they call.
LIBRARY_CALLS = {"SecretsProvider": "get_secret_value", "SSMProvider": "get_parameter"}


@functools.cache
def _operations() -> dict[str, list[str]]:
    """boto3 method name -> ["service:Operation", ...] from botocore's service models."""
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    found: dict[str, list[str]] = {}
    for service in SERVICES:
        for operation in session.get_service_model(service).operation_names:
            found.setdefault(xform_name(operation), []).append(f"{service}:{operation}")
    return found


def _operation(method: str) -> str:
    (found, *others) = _operations()[method]
    assert not others, f"{method} is an operation of several services: {[found, *others]}"
    return found


# Operations that need a second action as docpipe calls them (the S3 Vectors API reference):
# ListVectors with returnData/returnMetadata, and QueryVectors with returnMetadata or a filter,
# answer 403 without s3vectors:GetVectors.
EXTRA_ACTIONS = {
    "s3vectors:ListVectors": {"s3vectors:GetVectors"},
    "s3vectors:QueryVectors": {"s3vectors:GetVectors"},
    # Standalone Rerank also needs InvokeModel on the reranking model (Bedrock User Guide,
    # "Permissions for reranking").
    "bedrock-agent-runtime:Rerank": {"bedrock:InvokeModel"},
}


def _iam_actions(operation: str) -> set[str]:
    """The IAM actions one operation (``service:Operation[+VersionId]``) needs."""
    qualified, _, versioned = operation.partition("+")
    service, name = qualified.split(":")
    if versioned:
        return {S3_VERSIONED_ACTIONS[name]}
    if service == "s3" and name in S3_ACTIONS:
        return set(S3_ACTIONS[name])
    if qualified in OTHER_ACTIONS:
        return set(OTHER_ACTIONS[qualified])
    return {f"{SERVICES[service]}:{name}"} | EXTRA_ACTIONS.get(qualified, set())


@dataclass
class _Func:
    key: str
    module: str
    cls: str | None
    node: ast.AST
    params: list[str]
    # (operation, gate): gate = the parameter a VersionId comes from, None = unconditional.
    calls: set[tuple[str, str | None]] = field(default_factory=set)
    # (callee, {callee parameter: caller parameter it forwards, or "" for another value});
    # None: called with anything (a reference passed on, or *args/**kwargs).
    edges: list[tuple[str, dict[str, str] | None]] = field(default_factory=list)
    attributes: set[str] = field(default_factory=set)


@dataclass
class _Class:
    key: str
    module: str
    node: ast.ClassDef
    bases: list[str] = field(default_factory=list)
    methods: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, set[str]] = field(default_factory=dict)
    properties: set[str] = field(default_factory=set)


def _returns(node: ast.AST) -> ast.expr | None:
    return node.returns if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def _terminal_name(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


class _CallGraph:
    """The package's functions, classes and calls; see the section comment above."""

    def __init__(self) -> None:
        self.funcs: dict[str, _Func] = {}
        self.classes: dict[str, _Class] = {}
        self.names: dict[str, dict[str, str]] = {}  # module -> local name -> "module" | "module:Name"
        self.module_vars: dict[str, dict[str, set[str]]] = {}
        self.trees: dict[str, ast.Module] = {}
        for path in sorted(PACKAGE_DIR.rglob("*.py")):
            parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
            self._index(".".join(parts[:-1] if parts[-1] == "__init__" else parts), path)
        for folder in FUNCTIONS.values():
            self._index(f"functions.{folder.name}.app", folder / "app.py")
        for cls in self.classes.values():
            cls.bases = [b for base in cls.node.bases for b in self._class_keys(cls.module, base)]
        for cls in self.classes.values():
            for key in cls.methods.values():
                self._collect_attributes(cls, self.funcs[key])
        for module, tree in self.trees.items():
            self.module_vars[module] = {}
            self._assignments(_Func("", module, None, tree, []), self.module_vars[module])
        # Module-level dicts of functions (parsers.OPENERS, pdf.PDF_OPENERS): a function that
        # names one may call any function in it.
        self.registries: dict[str, list[str]] = {}
        for module, tree in self.trees.items():
            for node in tree.body:
                target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
                value = getattr(node, "value", None)
                if isinstance(target, ast.Name) and isinstance(value, ast.Dict):
                    found = [
                        self._resolve_name(module, v.id) for v in value.values if isinstance(v, ast.Name)
                    ]
                    if found and all(key in self.funcs for key in found):
                        self.registries[f"{module}:{target.id}"] = [key for key in found if key]
        for func in self.funcs.values():
            self._scan(func)

    # -- indexing -------------------------------------------------------------------------------

    def _index(self, module: str, path: Path) -> None:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        self.trees[module] = tree
        names = self.names.setdefault(module, {})
        for node in ast.walk(tree):  # lazy and TYPE_CHECKING imports too: they name the types
            if isinstance(node, ast.Import):
                for alias in node.names:
                    names[alias.asname or alias.name.split(".")[0]] = alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    names[alias.asname or alias.name] = f"{node.module}:{alias.name}"
        if module.startswith("functions."):
            # A handler module is one entry point: its body and every function in it.
            self.funcs[f"{module}:<module>"] = _Func(f"{module}:<module>", module, None, tree, [])
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._add_func(module, None, node)
            elif isinstance(node, ast.ClassDef):
                cls = self.classes[f"{module}:{node.name}"] = _Class(f"{module}:{node.name}", module, node)
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        cls.methods[item.name] = self._add_func(module, node.name, item).key
                        if any(ast.unparse(d) == "property" for d in item.decorator_list):
                            cls.properties.add(item.name)
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        cls.attributes[item.target.id] = self._annotation(module, item.annotation)

    def _add_func(self, module: str, cls: str | None, node: ast.FunctionDef | ast.AsyncFunctionDef) -> _Func:
        params = [a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)]
        if cls is not None and params[:1] in (["self"], ["cls"]):
            params = params[1:]
        key = f"{module}:{cls}.{node.name}" if cls else f"{module}:{node.name}"
        self.funcs[key] = _Func(key, module, cls, node, params)
        return self.funcs[key]

    def _resolve_name(self, module: str, name: str) -> str | None:
        """``name`` as seen in ``module``: a function or class key, or a module name."""
        if f"{module}:{name}" in self.funcs or f"{module}:{name}" in self.classes:
            return f"{module}:{name}"
        target = self.names.get(module, {}).get(name)
        if target is None or ":" not in target:
            return target
        imported_module, imported = target.split(":")
        if f"{imported_module}.{imported}" in self.trees:  # from docpipe import aws
            return f"{imported_module}.{imported}"
        return self._resolve_name(imported_module, imported) if imported_module in self.trees else target

    def _annotation(self, module: str, node: ast.expr | None) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node = ast.parse(node.value, mode="eval").body
        if node is None:
            return set()
        names = (self._resolve_name(module, n.id) for n in ast.walk(node) if isinstance(n, ast.Name))
        return {key for key in names if key in self.classes}

    def _class_keys(self, module: str, node: ast.expr) -> set[str]:
        key = None
        if isinstance(node, ast.Name):
            key = self._resolve_name(module, node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            key = f"{self._resolve_name(module, node.value.id)}:{node.attr}"
        return {key} if key in self.classes else set()

    # -- types ----------------------------------------------------------------------------------

    def mro(self, key: str) -> list[str]:
        order = [key]
        for base in self.classes[key].bases:
            order += [k for k in self.mro(base) if k not in order]
        return order

    def methods(self, class_key: str, name: str) -> list[str]:
        """``name`` as the class resolves it, plus overrides in its subclasses (an Embedder)."""
        found = [
            self.classes[k].methods[name] for k in self.mro(class_key) if name in self.classes[k].methods
        ]
        subclasses = [k for k in self.classes if k != class_key and class_key in self.mro(k)]
        return found[:1] + [
            self.classes[k].methods[name] for k in subclasses if name in self.classes[k].methods
        ]

    def _attribute_types(self, class_key: str, name: str) -> set[str]:
        for key in self.mro(class_key):
            cls = self.classes[key]
            if name in cls.attributes:
                return cls.attributes[name]
            if name in cls.properties:
                return self._annotation(cls.module, _returns(self.funcs[cls.methods[name]].node))
        return set()

    def types(self, func: _Func, node: ast.expr, env: dict[str, set[str]]) -> set[str]:
        """Package classes ``node`` may hold (empty: unknown, or not a package object)."""
        if isinstance(node, ast.Name):
            if node.id == "self" and func.cls:
                return {f"{func.module}:{func.cls}"}
            return env.get(node.id) or self.module_vars.get(func.module, {}).get(node.id, set())
        if isinstance(node, ast.Attribute):
            owners = self.types(func, node.value, env)
            return {t for owner in owners for t in self._attribute_types(owner, node.attr)}
        if isinstance(node, ast.Call):
            classes = self._class_keys(func.module, node.func)
            if classes:
                return classes
            callees = self.callees(func, node.func, env)
            return {
                t
                for c in callees
                for t in self._annotation(self.funcs[c].module, _returns(self.funcs[c].node))
            }
        return set()

    def callees(self, func: _Func, node: ast.expr, env: dict[str, set[str]]) -> list[str]:
        """Package functions the callable expression ``node`` may be."""
        if isinstance(node, ast.Name):
            key = self._resolve_name(func.module, node.id)
            if key in self.classes:
                return self.methods(key, "__init__") + self.methods(key, "__post_init__")
            return [key] if key in self.funcs else []
        if not isinstance(node, ast.Attribute):
            return []
        if isinstance(node.value, ast.Name) and node.value.id not in env:
            module = self._resolve_name(func.module, node.value.id)
            if module in self.trees:  # aws.client(...)
                return self.callees(_Func("", module, None, node, []), ast.Name(node.attr), {})
            if module in self.classes:  # Scope.from_settings(...): a classmethod or staticmethod
                return [
                    key
                    for key in self.methods(module, node.attr)
                    if any(
                        ast.unparse(d) in ("classmethod", "staticmethod")
                        for d in self.funcs[key].node.decorator_list
                    )
                ]
        owners = self.types(func, node.value, env)
        if owners:
            return [m for owner in owners for m in self.methods(owner, node.attr)]
        receiver = node.value
        if isinstance(receiver, ast.Attribute) and ast.unparse(receiver.value) == "self":
            return [
                c.methods[node.attr]
                for c in self.classes.values()
                if node.attr in c.methods and not c.module.startswith("functions.")
            ]
        return []

    def _assignments(self, scope: _Func, env: dict[str, set[str]]) -> None:
        """Types of the names ``scope`` assigns (every assignment counts, in any branch)."""
        for node in ast.walk(scope.node):
            if isinstance(node, ast.Assign):
                found = self.types(scope, node.value, env)
                for target in node.targets:
                    if isinstance(target, ast.Name) and found:
                        env[target.id] = env.get(target.id, set()) | found
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                found = self._annotation(scope.module, node.annotation)
                if not found and node.value is not None:
                    found = self.types(scope, node.value, env)
                if found:
                    env[node.target.id] = found

    def environment(self, func: _Func) -> dict[str, set[str]]:
        env: dict[str, set[str]] = {}
        node = func.node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs):
                found = self._annotation(func.module, arg.annotation)
                if found:
                    env[arg.arg] = found
            self._assignments(func, env)
        return env

    def _collect_attributes(self, cls: _Class, func: _Func) -> None:
        env = self.environment(func)
        for node in ast.walk(func.node):
            if isinstance(node, ast.Assign):
                pairs = [(t, node.value, None) for t in node.targets]
            elif isinstance(node, ast.AnnAssign):
                pairs = [(node.target, node.value, node.annotation)]
            else:
                continue
            for target, value, annotation in pairs:
                if isinstance(target, ast.Attribute) and ast.unparse(target.value) == "self":
                    found = self._annotation(cls.module, annotation)
                    if not found and value is not None:
                        found = self.types(func, value, env)
                    cls.attributes[target.attr] = cls.attributes.get(target.attr, set()) | found

    # -- calls ----------------------------------------------------------------------------------

    def _scan(self, func: _Func) -> None:
        env = self.environment(func)
        called: set[int] = set()
        for node in ast.walk(func.node):
            if isinstance(node, ast.Attribute):
                func.attributes.add(node.attr)
            elif isinstance(node, ast.Call):
                called.add(id(node.func))
                self._scan_call(func, node, env)
        for node in ast.walk(func.node):
            if isinstance(node, ast.Name):
                registry = f"{func.module}:{node.id}"
                if registry not in self.registries:
                    registry = self._resolve_name(func.module, node.id) or ""
                func.edges += [(callee, None) for callee in self.registries.get(registry, ())]
        for node in ast.walk(func.node):
            # A function passed on (pool.submit(store.put, batch)) may be called with anything.
            if isinstance(node, (ast.Attribute, ast.Name)) and id(node) not in called:
                if isinstance(node, ast.Name) and self._resolve_name(func.module, node.id) in self.classes:
                    continue  # isinstance(x, C), except C: no instance is made
                func.edges += [(callee, None) for callee in self.callees(func, node, env)]

    def _scan_call(self, func: _Func, call: ast.Call, env: dict[str, set[str]]) -> None:
        operations = _operations()
        callee = call.func
        # self._call("get_item", ...) names an operation; ValidationError("query", ...) builds an object.
        names_operations = not self._class_keys(func.module, callee)
        for arg in call.args:
            if (
                names_operations
                and isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and arg.value in operations
            ):
                func.calls.add((_operation(arg.value), None))
        if _terminal_name(callee) == "require":  # Settings.require("documents_table", ...)
            func.attributes |= {a.value for a in call.args if isinstance(a, ast.Constant)}
        if _terminal_name(callee) in LIBRARY_CALLS and not self.callees(func, callee, env):
            func.calls.add((_operation(LIBRARY_CALLS[_terminal_name(callee)]), None))
        is_boto3 = isinstance(callee, ast.Attribute) and _terminal_name(callee.value).endswith("client")
        if isinstance(callee, ast.Attribute) and is_boto3 and not self.types(func, callee.value, env):
            if callee.attr in TRANSFER_METHODS:
                func.calls |= {(_operation(op), None) for op in TRANSFER_METHODS[callee.attr]}
            elif callee.attr in operations:
                operation = _operation(callee.attr)
                versioned = operation.split(":")[1] in S3_VERSIONED_ACTIONS
                source = self._version_source(func, call) if versioned else False
                if source is not False:
                    gate = None if source in ("always", "maybe") else source
                    func.calls.add((f"{operation}+VersionId", gate))
                if source != "always":
                    func.calls.add((operation, None))
            return
        for target in self.callees(func, callee, env):
            func.edges.append((target, self._passed(func, call, self.funcs[target])))

    @staticmethod
    def _version_source(func: _Func, call: ast.Call) -> str | bool:
        """False: no VersionId; "always"; "maybe" (set in a branch); or the parameter it comes from."""
        source: ast.expr | None = None
        direct = False
        for keyword in call.keywords:
            if keyword.arg == "VersionId":
                source, direct = keyword.value, True
            elif keyword.arg is None and isinstance(keyword.value, ast.Name):
                wanted = f"{keyword.value.id}['VersionId']"
                for node in ast.walk(func.node):
                    if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == wanted:
                        source = node.value
        if source is None:
            return False
        root = source
        while isinstance(root, (ast.Attribute, ast.Call, ast.Subscript)):
            root = root.func if isinstance(root, ast.Call) else root.value
        if isinstance(root, ast.Name) and root.id in func.params:
            return root.id
        return "always" if direct else "maybe"

    @staticmethod
    def _passed(func: _Func, call: ast.Call, target: _Func) -> dict[str, str] | None:
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            return None
        given = dict(zip(target.params, call.args, strict=False))
        given.update({k.arg: k.value for k in call.keywords if k.arg})
        return {
            name: value.id if isinstance(value, ast.Name) and value.id in func.params else ""
            for name, value in given.items()
            if not (isinstance(value, ast.Constant) and value.value is None)
        }

    # -- per function ---------------------------------------------------------------------------

    def reachable(self, entry: str) -> set[str]:
        seen, pending = {entry}, [entry]
        while pending:
            for callee, _ in self.funcs[pending.pop()].edges:
                if callee not in seen:
                    seen.add(callee)
                    pending.append(callee)
        return seen

    def operations(self, entry: str) -> set[str]:
        """Operations (``service:Operation``, ``+VersionId`` when versioned) ``entry`` may call."""
        summary = {key: set(func.calls) for key, func in self.funcs.items()}
        changed = True
        while changed:
            changed = False
            for key, func in self.funcs.items():
                for callee, passed in func.edges:
                    for operation, gate in list(summary[callee]):
                        if gate is None or passed is None or passed.get(gate) == "":
                            item: tuple[str, str | None] = (operation, None)
                        elif gate in passed:
                            item = (operation, passed[gate])
                        else:
                            continue  # the parameter keeps its None default on this path
                        if item not in summary[key]:
                            summary[key].add(item)
                            changed = True
        return {operation for operation, gate in summary[entry] if gate is None}


@functools.cache
def _call_graph() -> _CallGraph:
    return _CallGraph()


def _entry(function_id: str) -> str:
    return f"functions.{FUNCTIONS[function_id].name}.app:<module>"


def _called_operations(function_id: str) -> set[str]:
    return _call_graph().operations(_entry(function_id))


def _needed_actions(function_id: str) -> set[str]:
    return set().union(*(_iam_actions(op) for op in _called_operations(function_id)))


def _variables_read(function_id: str) -> set[str]:
    """Variables of the Settings fields the function's code reads (validation in config.py aside)."""
    graph = _call_graph()
    read: set[str] = set()
    for key in graph.reachable(_entry(function_id)):
        if graph.funcs[key].module != "docpipe.config":
            read |= graph.funcs[key].attributes
    return {config._ENV_BY_FIELD[name] for name in read & set(config._ENV_BY_FIELD)}


def _function_policy_actions(template: dict[str, Any], function_id: str) -> set[str]:
    return {
        action
        for logical_id, statement in iter_policy_statements(template)
        if logical_id == function_id
        for action in statement_actions(statement)
    }


# ---------------------------------------------------------------- names and parameters


def test_template_declares_the_public_logical_ids_with_their_types(template: dict[str, Any]) -> None:
    types = {logical_id: template["Resources"][logical_id]["Type"] for logical_id in PUBLIC_LOGICAL_IDS}

    assert types == PUBLIC_LOGICAL_IDS


def test_template_declares_every_parameter_the_issues_name(template: dict[str, Any]) -> None:
    missing = REQUIRED_PARAMETERS - set(template["Parameters"])

    assert not missing


def test_template_defaults_give_settings_docpipe_accepts(template: dict[str, Any]) -> None:
    for function_id in FUNCTIONS:
        Settings.from_env(function_environment(template, function_id))


@pytest.mark.parametrize("environment", ["default", "localstack", "local"])
def test_each_samconfig_environment_gives_settings_docpipe_accepts(
    template: dict[str, Any], environment: str
) -> None:
    overrides = samconfig_overrides(SAMCONFIG, environment)
    assert set(overrides) <= set(template["Parameters"]), "an override names no template parameter"

    for function_id in FUNCTIONS:
        settings = Settings.from_env(function_environment(template, function_id, overrides))
        assert settings.vector_bucket and settings.vector_index


def test_localstack_environment_uses_an_external_vector_store(template: dict[str, Any]) -> None:
    overrides = samconfig_overrides(SAMCONFIG, "localstack")
    resolver = Resolver(template, overrides)

    assert not resolver.condition("ShouldCreateVectorStore")
    env = function_environment(template, "IngestFunction", overrides)
    assert env[config.VECTOR_BUCKET] == overrides["ExternalVectorBucketName"]
    assert env[config.VECTOR_INDEX] == overrides["ExternalVectorIndexName"]


# ---------------------------------------------------------------- environment variables


def test_every_variable_the_template_sets_is_one_docpipe_or_powertools_reads(
    template: dict[str, Any],
) -> None:
    known = set(config.ENV_VARS)
    for function_id in FUNCTIONS:
        names = declared_environment_names(template, function_id)
        unknown = {n for n in names - known if not n.startswith(("POWERTOOLS_", "AWS_"))}
        assert not unknown, f"{function_id} sets variables nothing reads: {sorted(unknown)}"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_setting_a_function_reads_is_set_by_the_template_or_defaulted_in_code(
    template: dict[str, Any], function_id: str
) -> None:
    read = _variables_read(function_id)

    unset = read - declared_environment_names(template, function_id) - set(DEFAULTED_IN_CODE)
    assert config.VECTOR_INDEX in read, "the scan found no settings read: it is broken"
    assert not unset, f"{function_id} reads {sorted(unset)}: set them in template.yaml or DEFAULTED_IN_CODE"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_variable_a_function_is_given_on_its_own_is_one_its_code_reads(
    template: dict[str, Any], function_id: str
) -> None:
    own = template["Resources"][function_id]["Properties"].get("Environment", {}).get("Variables", {})

    unread = set(own) - _variables_read(function_id)
    assert not unread, f"{function_id} is given {sorted(unread)} but its code never reads them"


def test_every_docpipe_variable_is_set_by_the_template_or_defaulted_in_code(template: dict[str, Any]) -> None:
    declared = set().union(*(declared_environment_names(template, f) for f in FUNCTIONS))

    assert not set(config.ENV_VARS) - declared - set(DEFAULTED_IN_CODE)
    assert set(DEFAULTED_IN_CODE) <= set(config.ENV_VARS)
    assert not set(DEFAULTED_IN_CODE) & declared, "set by the template now: drop it from DEFAULTED_IN_CODE"


def test_every_variable_the_contract_says_the_template_sets_is_set(template: dict[str, Any]) -> None:
    contract = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", contract, flags=re.MULTILINE)
    from_template = {name for name, source in rows if source.strip() not in ("—", "-", "")}
    from_template -= {"AWS_ENDPOINT_URL"}
    declared = set().union(*(declared_environment_names(template, f) for f in FUNCTIONS))

    assert from_template, "docs/architecture.md lists no variables set by the template"
    assert not from_template - declared


# ---------------------------------------------------------------- policies


def test_no_allow_statement_grants_a_wildcard_action(template: dict[str, Any]) -> None:
    wildcard = [
        (logical_id, action)
        for logical_id, statement in iter_policy_statements(template)
        if statement.get("Effect") == "Allow"
        for action in statement_actions(statement)
        if "*" in action
    ]

    assert not wildcard


# Actions IAM accepts only on Resource "*" (the Service Authorization Reference lists no resource
# type for them), each granted only under a Condition.
UNSCOPABLE_ACTIONS = {
    "textract:DetectDocumentText": "UseTextract",
    # Rerank has no resource type; the Bedrock User Guide grants it on "*".
    "bedrock:Rerank": "UseBedrockRerank",
}


def test_function_policies_are_scoped_to_named_resources(template: dict[str, Any]) -> None:
    for function_id in FUNCTIONS:
        for logical_id, statement in iter_policy_statements(template):
            if logical_id == function_id and set(statement_actions(statement)) - set(UNSCOPABLE_ACTIONS):
                resource = statement.get("Resource")
                assert resource not in (None, "*", ["*"]), f"{function_id}: {statement.get('Sid')}"


def test_textract_is_granted_detect_document_text_only_and_only_with_the_textract_provider(
    template: dict[str, Any],
) -> None:
    statements = template["Resources"]["IngestFunction"]["Properties"]["Policies"][0]["Statement"]
    (textract,) = [s for s in statements if "Fn::If" in s and s["Fn::If"][0] == "UseTextract"]
    granted, otherwise = textract["Fn::If"][1], textract["Fn::If"][2]
    everywhere = [
        action
        for logical_id, statement in iter_policy_statements(template)
        for action in statement_actions(statement)
        if action.startswith("textract:")
    ]

    assert granted["Action"] == "textract:DetectDocumentText" and granted["Resource"] == "*"
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert everywhere == ["textract:DetectDocumentText"]
    assert not Resolver(template).condition("UseTextract")  # off by default
    assert Resolver(template, {"OcrProvider": "textract"}).condition("UseTextract")


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_the_call_scan_finds_the_operations_each_function_is_known_to_call(function_id: str) -> None:
    assert _called_operations(function_id) == EXPECTED_OPERATIONS[function_id]


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_operation_a_function_calls_is_granted(template: dict[str, Any], function_id: str) -> None:
    granted = _function_policy_actions(template, function_id)
    off_aws = {action for (fid, action) in CALLED_ONLY_OFF_AWS if fid == function_id}

    missing = _needed_actions(function_id) - granted - off_aws
    assert not missing, f"{function_id} calls AWS without these grants: {sorted(missing)}"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_action_a_function_is_granted_is_one_its_code_calls(
    template: dict[str, Any], function_id: str
) -> None:
    granted = _function_policy_actions(template, function_id)
    excused = {action for (fid, action) in GRANTED_WITHOUT_A_CALL if fid == function_id}

    unused = granted - _needed_actions(function_id) - excused
    assert not unused, f"{function_id} is granted actions its code never calls: {sorted(unused)}"
    assert excused <= granted - _needed_actions(function_id), "a GRANTED_WITHOUT_A_CALL entry is stale"


def test_bedrock_is_granted_only_for_the_configured_model_and_only_with_bedrock(
    template: dict[str, Any],
) -> None:
    statements = template["Resources"]["IngestFunction"]["Properties"]["Policies"][0]["Statement"]
    (bedrock,) = [s for s in statements if "Fn::If" in s and s["Fn::If"][0] == "UseBedrock"]
    when_bedrock, when_offline = bedrock["Fn::If"][1], bedrock["Fn::If"][2]

    assert when_bedrock["Action"] == "bedrock:InvokeModel"
    assert when_bedrock["Resource"]["Fn::Sub"].endswith("::foundation-model/${EmbeddingModelId}")
    assert when_offline == {"Ref": "AWS::NoValue"}


def test_pdf_password_secret_is_granted_only_when_one_is_configured(template: dict[str, Any]) -> None:
    statements = template["Resources"]["IngestFunction"]["Properties"]["Policies"][0]["Statement"]
    (secret,) = [s for s in statements if "Fn::If" in s and s["Fn::If"][0] == "HasPdfPasswordsSecret"]

    assert secret["Fn::If"][1]["Action"] == "secretsmanager:GetSecretValue"
    assert "${PdfPasswordsSecretId}-??????" in secret["Fn::If"][1]["Resource"]["Fn::Sub"]
    assert not Resolver(template).condition("HasPdfPasswordsSecret")


def test_access_control_parameters_allow_exactly_what_docpipe_accepts(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]

    assert tuple(parameters["AccessControl"]["AllowedValues"]) == config.ACCESS_CONTROLS
    assert tuple(parameters["AccessDefault"]["AllowedValues"]) == config.ACCESS_DEFAULTS
    defaults = (parameters["AccessControl"]["Default"], parameters["AccessDefault"]["Default"])
    assert defaults == ("off", "nobody")  # fail closed once enforced


@pytest.mark.parametrize(
    ("function_id", "parameter"),
    [
        ("IngestFunction", "access-rules"),
        ("ReconcileFunction", "access-rules"),
        ("SearchFunction", "access-callers"),
    ],
)
def test_each_function_reads_only_its_access_document_and_only_when_enforced(
    template: dict[str, Any], function_id: str, parameter: str
) -> None:
    statements = template["Resources"][function_id]["Properties"]["Policies"][0]["Statement"]
    ssm = [s for s in statements if "Fn::If" in s and "ssm:" in json.dumps(s)]

    (grant,) = ssm
    condition, granted, otherwise = grant["Fn::If"]
    assert condition == "EnforceAccess" and otherwise == {"Ref": "AWS::NoValue"}
    assert granted["Action"] == "ssm:GetParameter"
    assert granted["Resource"]["Fn::Sub"].endswith(f":parameter/docpipe/${{AWS::StackName}}/{parameter}")
    assert not Resolver(template).condition("EnforceAccess")  # off by default
    assert Resolver(template, {"AccessControl": "enforced"}).condition("EnforceAccess")


def test_access_documents_and_their_trigger_exist_only_when_enforced(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    names = {
        logical: resources[logical]["Properties"]["Name"]["Fn::Sub"]
        for logical in ("AccessRulesParameter", "AccessCallersParameter")
    }

    assert names == {
        "AccessRulesParameter": "/docpipe/${AWS::StackName}/access-rules",
        "AccessCallersParameter": "/docpipe/${AWS::StackName}/access-callers",
    }
    for logical in (*names, "AccessRulesChangedRule", "AccessRulesChangedPermission"):
        assert resources[logical]["Condition"] == "EnforceAccess", logical
    pattern = resources["AccessRulesChangedRule"]["Properties"]["EventPattern"]
    assert pattern["detail"]["name"] == [{"Ref": "AccessRulesParameter"}]


# ---------------------------------------------------------------- wiring


def test_documents_bucket_sends_created_and_removed_events_to_the_ingest_queue(
    template: dict[str, Any],
) -> None:
    bucket = Resolver(template, {"DocumentSuffix": ".pdf"}).resolve(template["Resources"]["DocumentsBucket"])
    configs = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]

    assert {c["Event"] for c in configs} == {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}
    assert all(c["Queue"] == "IngestQueue-Arn" for c in configs)  # GetAtt IngestQueue.Arn, resolved


@pytest.mark.parametrize(
    ("prefix", "suffix", "expected"),
    [
        ("", "", None),
        ("docs/", "", [{"Name": "prefix", "Value": "docs/"}]),
        ("", ".pdf", [{"Name": "suffix", "Value": ".pdf"}]),
        ("docs/", ".pdf", [{"Name": "prefix", "Value": "docs/"}, {"Name": "suffix", "Value": ".pdf"}]),
    ],
)
def test_notification_filter_follows_prefix_and_suffix_parameters(
    template: dict[str, Any], prefix: str, suffix: str, expected: list[dict[str, str]] | None
) -> None:
    resolver = Resolver(template, {"DocumentPrefix": prefix, "DocumentSuffix": suffix})
    props = resolver.resolve(template["Resources"]["DocumentsBucket"]["Properties"])

    # The documents' two configurations (the sidecars' own: tests/template/test_template_scope.py).
    for queue_config in props["NotificationConfiguration"]["QueueConfigurations"][:2]:
        rules = queue_config.get("Filter", {}).get("S3Key", {}).get("Rules")
        assert rules == expected


def test_queue_policy_admits_exactly_the_documents_bucket(template: dict[str, Any]) -> None:
    resolver = Resolver(template)
    bucket_name = resolver.resolve(template["Resources"]["DocumentsBucket"]["Properties"]["BucketName"])
    (statement,) = resolver.resolve(
        template["Resources"]["IngestQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    )

    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == f"arn:aws:s3:::{bucket_name}"
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
    assert template["Resources"]["DocumentsBucket"]["DependsOn"] == "IngestQueuePolicy"


def test_queue_visibility_timeout_covers_six_ingest_timeouts_plus_the_longest_batching_window(
    template: dict[str, Any],
) -> None:
    visibility = template["Resources"]["IngestQueue"]["Properties"]["VisibilityTimeout"]
    ingest = template["Resources"]["IngestFunction"]["Properties"]
    (event,) = ingest["Events"].values()
    window = event["Properties"]["MaximumBatchingWindowInSeconds"]

    assert window == {"Ref": "IngestBatchWindowSeconds"}
    assert (
        visibility >= 6 * ingest["Timeout"] + template["Parameters"]["IngestBatchWindowSeconds"]["MaxValue"]
    )


def test_ingest_queue_dead_letters_after_max_receive_count(template: dict[str, Any]) -> None:
    redrive = template["Resources"]["IngestQueue"]["Properties"]["RedrivePolicy"]

    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert template["Parameters"]["MaxReceiveCount"]["Default"] == 5


def test_dead_letter_alarm_fires_on_any_visible_message(template: dict[str, Any]) -> None:
    alarm = template["Resources"]["IngestDeadLetterQueueAlarm"]["Properties"]

    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["IngestDeadLetterQueue", "QueueName"]}
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_ingest_reads_the_queue_with_partial_batch_responses(template: dict[str, Any]) -> None:
    (event,) = template["Resources"]["IngestFunction"]["Properties"]["Events"].values()
    props = event["Properties"]

    assert event["Type"] == "SQS"
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == {"Ref": "IngestBatchSize"}
    assert props["MaximumBatchingWindowInSeconds"] == {"Ref": "IngestBatchWindowSeconds"}
    assert props["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "IngestMaxConcurrency"}
    assert template["Parameters"]["IngestMaxConcurrency"]["MinValue"] == 2


def test_backup_schedule_sends_what_schedule_backup_json_holds(template: dict[str, Any]) -> None:
    event = template["Resources"]["BackupFunction"]["Properties"]["Events"]["BackupSchedule"]

    assert event["Type"] == "Schedule"
    assert event["Properties"]["Schedule"] == {"Ref": "BackupSchedule"}
    assert json.loads(event["Properties"]["Input"]) == load_event("schedule_backup.json")
    assert template["Parameters"]["BackupSchedule"]["Default"] == "rate(1 day)"


def test_prune_runs_on_its_own_schedule_with_what_backup_prune_json_holds(template: dict[str, Any]) -> None:
    events = template["Resources"]["BackupFunction"]["Properties"]["Events"]
    event = events["PruneSchedule"]

    assert set(events) == {"BackupSchedule", "PruneSchedule"}
    assert event["Type"] == "Schedule"
    assert event["Properties"]["Schedule"] == {"Ref": "PruneSchedule"}
    assert json.loads(event["Properties"]["Input"]) == load_event("backup_prune.json")
    assert template["Parameters"]["PruneSchedule"]["Default"].startswith("rate(")


@pytest.mark.parametrize(
    ("parameter", "variable", "function_id"),
    [
        ("EmbeddingConcurrency", config.EMBEDDING_CONCURRENCY, "IngestFunction"),
        ("IngestRecordConcurrency", config.INGEST_RECORD_CONCURRENCY, "IngestFunction"),
        ("OcrMaxPages", config.OCR_MAX_PAGES, "IngestFunction"),
        ("BackupSegmentCount", config.BACKUP_SEGMENT_COUNT, "BackupFunction"),
        ("BackupMaxRestoreBytes", config.BACKUP_MAX_RESTORE_BYTES, "BackupFunction"),
    ],
)
def test_tuning_parameters_reach_their_function_with_the_code_defaults(
    template: dict[str, Any], parameter: str, variable: str, function_id: str
) -> None:
    spec = template["Parameters"][parameter]
    field_name = next(f for f, v in config._ENV_BY_FIELD.items() if v == variable)

    assert function_environment(template, function_id)[variable] == str(spec["Default"])
    assert spec["Default"] == getattr(Settings(), field_name)
    low = Settings.from_env({variable: str(spec["MinValue"])})
    assert getattr(low, field_name) == spec["MinValue"]
    if "MaxValue" in spec:
        assert getattr(Settings.from_env({variable: str(spec["MaxValue"])}), field_name) == spec["MaxValue"]
        with pytest.raises(ConfigError, match=f"^{variable}="):
            Settings.from_env({variable: str(spec["MaxValue"] + 1)})


def test_documents_table_is_keyed_by_doc_id_on_demand_with_recovery(template: dict[str, Any]) -> None:
    props = template["Resources"]["DocumentsTable"]["Properties"]

    assert props["KeySchema"] == [{"AttributeName": "doc_id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [
        {"AttributeName": name, "AttributeType": "S"} for name in ("doc_id", "bucket", "key")
    ]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}


def test_the_registry_lists_documents_in_key_order_through_a_sparse_by_key_index(
    template: dict[str, Any],
) -> None:
    from docpipe.registry import BY_KEY_INDEX

    (index,) = template["Resources"]["DocumentsTable"]["Properties"]["GlobalSecondaryIndexes"]

    assert index["IndexName"] == BY_KEY_INDEX
    assert index["KeySchema"] == [
        {"AttributeName": "bucket", "KeyType": "HASH"},
        {"AttributeName": "key", "KeyType": "RANGE"},
    ]
    # What reconcile compares, and no more (the chunk text never sits in the registry anyway).
    assert index["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": ["state", "etag", "version_id", "order_token", "sequencer", "lease_until"],
    }


def test_reconcile_writes_only_its_cursor_item_with_put_item(template: dict[str, Any]) -> None:
    from docpipe.registry import RECONCILE_CURSOR_ID

    statements = [s for fid, s in iter_policy_statements(template) if fid == "ReconcileFunction"]
    (put,) = [s for s in statements if "dynamodb:PutItem" in statement_actions(s)]

    assert put["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [RECONCILE_CURSOR_ID]}}


def _reconcile_statements(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, dict[str, Any]]:
    resolver = Resolver(template, overrides)
    (policy,) = resolver.resolve(template["Resources"]["ReconcileFunction"]["Properties"]["Policies"])
    return {statement["Sid"]: statement for statement in policy["Statement"]}


INVENTORY_GRANTS = {"ListInventoryReports", "ReadInventoryReports", "ConfirmRemovals"}


def test_reconcile_has_no_inventory_grant_bucket_or_configuration_by_default(
    template: dict[str, Any],
) -> None:
    resolver = Resolver(template)
    bucket = resolver.resolve(template["Resources"]["DocumentsBucket"]["Properties"])
    env = function_environment(template, "ReconcileFunction")

    assert not resolver.condition("UseInventory")
    assert not INVENTORY_GRANTS & set(_reconcile_statements(template, {}))
    assert "InventoryConfigurations" not in bucket
    assert template["Resources"]["InventoryBucket"]["Condition"] == "UseInventory"
    assert template["Resources"]["InventoryBucketPolicy"]["Condition"] == "UseInventory"
    assert env[config.RECONCILE_SOURCE] == "list" and config.INVENTORY_BUCKET not in env
    assert "EphemeralStorage" not in resolver.resolve(
        template["Resources"]["ReconcileFunction"]["Properties"]
    )


@pytest.mark.parametrize("prefix", ["", "docs/"])
def test_with_the_inventory_source_reconcile_reads_only_its_reports(
    template: dict[str, Any], prefix: str
) -> None:
    overrides = {"ReconcileSource": "inventory", "DocumentPrefix": prefix}
    statements = _reconcile_statements(template, overrides)
    env = function_environment(template, "ReconcileFunction", overrides)
    reports = "inventory/DocumentsBucket-name/docpipe-reconcile/"

    assert statements["ListInventoryReports"]["Action"] == "s3:ListBucket"
    assert statements["ListInventoryReports"]["Resource"] == "InventoryBucket-Arn"
    assert statements["ListInventoryReports"]["Condition"] == {"StringLike": {"s3:prefix": reports + "*"}}
    assert statements["ReadInventoryReports"]["Action"] == "s3:GetObject"
    assert statements["ReadInventoryReports"]["Resource"] == f"InventoryBucket-Arn/{reports}*"
    assert statements["ConfirmRemovals"]["Resource"] == f"DocumentsBucket-Arn/{prefix}*"
    assert env[config.INVENTORY_BUCKET] == "InventoryBucket-name" and env[config.INVENTORY_PREFIX] == reports
    Settings.from_env(env)  # accepted


@pytest.mark.parametrize("prefix", ["", "docs/"])
def test_the_inventory_configuration_reports_what_reconcile_reads_where_it_reads_it(
    template: dict[str, Any], prefix: str
) -> None:
    from docpipe.reconcile.inventory import REQUIRED_COLUMNS

    resolver = Resolver(template, {"ReconcileSource": "inventory", "DocumentPrefix": prefix})
    (inventory,) = resolver.resolve(template["Resources"]["DocumentsBucket"]["Properties"])[
        "InventoryConfigurations"
    ]
    env = function_environment(template, "ReconcileFunction", {"ReconcileSource": "inventory"})
    destination = inventory["Destination"]

    assert (inventory["Enabled"], inventory["ScheduleFrequency"], inventory["IncludedObjectVersions"]) == (
        True, "Daily", "Current",
    )  # fmt: skip
    assert destination["Format"] == "CSV" and destination["BucketArn"] == "InventoryBucket-Arn"
    assert set(REQUIRED_COLUMNS) - {"Bucket", "Key"} <= set(inventory["OptionalFields"])
    assert inventory.get("Prefix", "") == prefix
    # S3's layout: <destination prefix>/<source bucket>/<configuration id>/
    assert env[config.INVENTORY_PREFIX] == f"{destination['Prefix']}/DocumentsBucket-name/{inventory['Id']}/"


def test_only_s3_inventory_of_the_documents_bucket_may_write_reports(template: dict[str, Any]) -> None:
    resolver = Resolver(template, {"ReconcileSource": "inventory"})
    policy = resolver.resolve(template["Resources"]["InventoryBucketPolicy"]["Properties"]["PolicyDocument"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    documents = resolver.resolve(template["Resources"]["DocumentsBucket"]["Properties"]["BucketName"])
    write = statements["AllowInventoryReports"]

    assert write["Principal"] == {"Service": "s3.amazonaws.com"} and write["Action"] == "s3:PutObject"
    assert write["Resource"] == "InventoryBucket-Arn/inventory/*"
    assert write["Condition"] == {
        "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{documents}"},
        "StringEquals": {"aws:SourceAccount": "123456789012"},
    }
    assert statements["DenyInsecureTransport"]["Effect"] == "Deny"
    assert [s for s in policy["Statement"] if s["Effect"] == "Allow"] == [write]


@pytest.mark.parametrize("bucket_id", ["DocumentsBucket", "BackupsBucket"])
def test_buckets_are_versioned_encrypted_private_and_tls_only(
    template: dict[str, Any], bucket_id: str
) -> None:
    props = template["Resources"][bucket_id]["Properties"]
    policies = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]

    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    (statements,) = policies
    (deny,) = statements
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_backups_expire_by_lifecycle_only_as_a_backstop(template: dict[str, Any]) -> None:
    (rule,) = template["Resources"]["BackupsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]

    assert rule["ExpirationInDays"] == {"Ref": "BackupExpirationDays"}
    assert template["Parameters"]["BackupExpirationDays"]["Default"] >= 30
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0


def test_vector_index_matches_the_parameters_and_the_package(template: dict[str, Any]) -> None:
    from docpipe import vectorstore

    props = template["Resources"]["VectorIndex"]["Properties"]

    assert props["DataType"] == "float32"
    assert props["Dimension"] == {"Ref": "EmbeddingDimension"}
    assert props["DistanceMetric"] == {"Ref": "DistanceMetric"}
    assert template["Parameters"]["DistanceMetric"]["Default"] == "cosine"
    keys = props["MetadataConfiguration"]["NonFilterableMetadataKeys"]
    assert tuple(keys) == tuple(vectorstore.NON_FILTERABLE_METADATA_KEYS)


def test_the_index_is_made_text_searchable_on_the_packages_keys_in_the_chosen_language(
    template: dict[str, Any],
) -> None:
    from docpipe import vectorstore

    resource = template["Resources"]["VectorIndexTextSearch"]
    props = resource["Properties"]
    resolver = Resolver(template)

    assert resource["Condition"] == "ShouldCreateVectorStore" and resource["DependsOn"] == "VectorIndex"
    assert props["ServiceToken"] == {"Fn::GetAtt": ["VectorIndexTextSearchFunction", "Arn"]}
    assert tuple(props["MetadataKeys"]) == vectorstore.TEXT_SEARCH_KEYS
    assert props["Language"] == {"Ref": "TextSearchLanguage"}
    assert resolver.resolve(props["IndexName"]) == resolver.resolve(
        template["Resources"]["VectorIndex"]["Properties"]["IndexName"]
    )
    assert resolver.resolve(props["VectorBucketName"]) == resolver.resolve(
        template["Resources"]["VectorBucket"]["Properties"]["VectorBucketName"]
    )
    language = template["Parameters"]["TextSearchLanguage"]
    assert (language["Default"], tuple(language["AllowedValues"])) == ("en", config.TEXT_SEARCH_LANGUAGES)


def test_the_text_search_function_may_change_only_the_stacks_index_settings(template: dict[str, Any]) -> None:
    statements = template["Resources"]["VectorIndexTextSearchFunction"]["Properties"]["Policies"][0][
        "Statement"
    ]

    assert statements == [
        {
            "Sid": "IndexSettings",
            "Effect": "Allow",
            "Action": [
                "s3vectors:GetIndex",
                "s3vectors:UpdateIndexMode",
                "s3vectors:UpdateMetadataConfiguration",
            ],
            "Resource": {"Fn::GetAtt": ["VectorIndex", "IndexArn"]},
        }
    ]


def test_search_rerank_allows_every_mode_and_the_deprecated_names(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["SearchRerank"]

    assert parameter["Default"] == "hybrid"
    assert parameter["AllowedValues"] == [*config.RERANK_MODES, *config.DEPRECATED_RERANK_MODES]


def test_functions_receive_the_vector_index_the_template_creates(template: dict[str, Any]) -> None:
    resolver = Resolver(template)
    index = resolver.resolve(template["Resources"]["VectorIndex"]["Properties"]["IndexName"])
    bucket = resolver.resolve(template["Resources"]["VectorBucket"]["Properties"]["VectorBucketName"])

    for function_id in FUNCTIONS:
        env = function_environment(template, function_id)
        assert (env[config.VECTOR_BUCKET], env[config.VECTOR_INDEX]) == (bucket, index)


def test_vector_store_resources_exist_only_when_created(template: dict[str, Any]) -> None:
    for logical_id in (
        "VectorBucket",
        "VectorIndex",
        "VectorIndexTextSearch",
        "VectorIndexTextSearchFunction",
    ):
        assert template["Resources"][logical_id]["Condition"] == "ShouldCreateVectorStore"


# ---------------------------------------------------------------- architectures and layers


def test_offline_layer_exists_and_is_attached_only_for_the_offline_provider(template: dict[str, Any]) -> None:
    assert template["Resources"]["OfflineEmbeddingsLayer"]["Condition"] == "UseOfflineEmbeddings"

    assert function_layers(template, "IngestFunction", {"EmbeddingProvider": "bedrock"}) == ["DocpipeLayer"]
    assert function_layers(
        template, "IngestFunction", {"EmbeddingProvider": "offline", "EmbeddingDimension": "256"}
    ) == ["DocpipeLayer", "OfflineEmbeddingsLayer"]
    assert function_layers(template, "BackupFunction", {"EmbeddingProvider": "offline"}) == [
        "DocpipeLayerArm64"
    ]


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_layer_of_a_function_is_built_for_its_architecture(
    template: dict[str, Any], function_id: str
) -> None:
    architecture = function_architecture(template, function_id)
    for provider, dimension in (("bedrock", "1024"), ("offline", "256")):
        overrides = {"EmbeddingProvider": provider, "EmbeddingDimension": dimension}
        for layer_id in function_layers(template, function_id, overrides):
            layer = template["Resources"][layer_id]
            assert layer_architecture(template, layer_id) == architecture
            assert layer["Properties"]["CompatibleArchitectures"] == [architecture]
            assert layer["Metadata"]["BuildMethod"] in ("python3.13", "makefile")


@pytest.mark.parametrize("layer_id", ["DocpipeLayer", "DocpipeLayerArm64"])
def test_docpipe_layers_build_with_their_own_makefile_target(template: dict[str, Any], layer_id: str) -> None:
    # sam build runs `make build-<LogicalId>` in the layer's ContentUri; the target names the
    # architecture, since sam passes none to makefile builds
    layer = template["Resources"][layer_id]
    makefile = (ROOT / layer["Properties"]["ContentUri"] / "Makefile").read_text(encoding="utf-8")
    architecture = layer_architecture(template, layer_id)

    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert re.search(rf"^build-{layer_id}: ARCHITECTURE := .*,{architecture}\)$", makefile, re.MULTILINE)


def test_ingest_is_x86_64_for_wordllama_and_backup_is_arm64(template: dict[str, Any]) -> None:
    assert function_architecture(template, "IngestFunction") == "x86_64"
    assert function_architecture(template, "BackupFunction") == "arm64"
    assert template["Resources"]["OfflineEmbeddingsLayer"]["Metadata"]["BuildArchitecture"] == "x86_64"


def test_globals_set_runtime_tracing_and_powertools(template: dict[str, Any]) -> None:
    function_globals = template["Globals"]["Function"]
    variables = function_globals["Environment"]["Variables"]

    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Tracing"] == "Active"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "docpipe"
    assert variables["POWERTOOLS_SERVICE_NAME"]
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}


def test_handlers_are_app_handler(template: dict[str, Any]) -> None:
    for function_id, folder in FUNCTIONS.items():
        props = template["Resources"][function_id]["Properties"]
        assert (props["Handler"], props["CodeUri"]) == ("app.handler", str(folder.relative_to(ROOT)))


def test_outputs_name_everything_a_user_needs(template: dict[str, Any]) -> None:
    outputs = set(template["Outputs"])

    assert {
        "DocumentsBucketName", "IngestQueueUrl", "IngestDeadLetterQueueUrl", "IngestDeadLetterQueueAlarmName",
        "DocumentsTableName", "VectorBucketName", "VectorIndexName", "BackupsBucketName",
        "IngestFunctionName", "BackupFunctionName", "SearchFunctionName", "SearchFunctionUrl",
    } <= outputs  # fmt: skip
