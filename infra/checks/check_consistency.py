#!/usr/bin/env python3
"""Checks that infra/template.yaml and the code agree, beyond what cfn-lint and checkov can know.

Owns these rules (each failure names the function, variable, route or resource concerned):
  functions   every crate in functions/ (but `local`) has exactly one function in the template,
              built from its binary (Metadata.BuildProperties.Binary), and every function builds a
              crate's binary; provided.al2023, arm64, rust-cargolambda, CodeUri the crate's directory
              (a workspace member, so the workspace's one target directory serves every function)
  environment every environment variable a function reads (string literals PULSO_… / RUST_LOG in
              its crate and in shared/aws, outside tests) is set by the template for that
              function, unconditionally, unless it is a documented local-only alternative
  routes      every path an HTTP function's router serves (`.route("…")`) has an API route
  table       the table is docs/data-model.md's (keys, GSIs, TTL, stream, billing) with PITR,
              KMS encryption and Retain policies; the bucket is private, encrypted, versioned,
              TLS-only, with lifecycle transitions and Retain policies
  roles       each function has its own role; no `*` action; `*` resource only for actions IAM
              cannot scope (listed below, with why); SES sending scoped to the identity and the
              configuration set
  dynamodb    each role grants exactly the DynamoDB actions its function's code can reach: the store
              methods called in the function's crate and in the pulso-core code it references
              (followed module by module, function by function), mapped to DynamoDB operations by
              docs/data-model.md's access-pattern table; index ARNs only where an index is queried
  schedules   every schedule runs in the TimeZone parameter and targets a function; dispatch every
              15 minutes; the reports schedules cover daily, weekly and quarterly
  operations  every function logs to its own group with retention, has an errors alarm and is in
              the throttles alarm; every dead-letter queue is in the dead-letters alarm

Usage: check_consistency.py [--root DIR] [--table-definition JSON] [--write-env DIR]
  --table-definition  the store's own table definition (from `pulso-infra-check table`), also compared
  --write-env         writes each function's resolved environment, for two parameter sets, as JSON
Exit status 1 with one line per problem; silent on success.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cfn_model  # noqa: E402

# Variables the code reads that the template must NOT (or need not) set, and why.
OPTIONAL_VARIABLES = {
    "PULSO_TOKEN_KEYS": "local runs and tests: the keys themselves; in AWS the secret named by PULSO_TOKEN_SECRET_ARN",
    "PULSO_WEBHOOK_SECRET": "local runs and tests: the secret itself; in AWS PULSO_WEBHOOK_SECRET_ARN",
    "PULSO_WEBHOOK_SECRET_ARN": "only where webhooks are posted (the alerts function; required there, see the webhook rule)",
    "PULSO_TOKEN_SECRET_ARN": "only where links are signed or checked (required there, see the secrets rule)",
    "PULSO__STORE__ENDPOINT_URL": "a local AWS test server (moto); unset in AWS",
    "PULSO_TEST_AWS_ENDPOINT": "tests only",
    "RUST_LOG": "log filter; the runtime defaults to info",
}

# IAM actions that name no resource, so `Resource: "*"` is the only form IAM accepts.
STAR_RESOURCE_ACTIONS = {
    "ses:GetAccount": "account-level send quota and rate; IAM has no resource type for it",
}

ENV_LITERAL = re.compile(r'"((?:PULSO_[A-Z0-9_]*[A-Z0-9])|RUST_LOG)"')
ROUTE_LITERAL = re.compile(r'\.route\(\s*"([^"]+)"')


# The build script every function crate names (links its binary without PIE).
LINK_SCRIPT = "../../tools/link-no-pie.rs"


def strip_tests(source: str) -> str:
    """Rust source without `#[cfg(test)]` items (brace-matched), so test-only names are ignored."""
    out, i = [], 0
    while True:
        j = source.find("#[cfg(test)]", i)
        if j < 0:
            out.append(source[i:])
            return "".join(out)
        out.append(source[i:j])
        k = j + len("#[cfg(test)]")
        brace = source.find("{", k)
        semi = source.find(";", k)
        if brace < 0 or (0 <= semi < brace):
            i = semi + 1 if semi >= 0 else len(source)
            continue
        depth, p = 0, brace
        while p < len(source):
            if source[p] == "{":
                depth += 1
            elif source[p] == "}":
                depth -= 1
                if depth == 0:
                    break
            p += 1
        i = p + 1


def rust_sources(directory: Path) -> str:
    if not directory.is_dir():
        return ""
    return "\n".join(strip_tests(p.read_text(encoding="utf-8")) for p in sorted(directory.rglob("*.rs")))


def split_route_key(key: str) -> tuple[str, list[str]]:
    method, _, path = key.partition(" ")
    return method, [s for s in path.split("/") if s]


def route_matches(template_segments: list[str], router_segments: list[str]) -> bool:
    """Whether an API route (`{x}` one segment, `{x+}` the rest) serves a router path."""
    for i, seg in enumerate(template_segments):
        if seg.startswith("{") and seg.endswith("+}"):
            return len(router_segments) > i
        if i >= len(router_segments):
            return False
        other = router_segments[i]
        if seg.startswith("{") and seg.endswith("}"):
            if other.startswith("{*"):
                return False
            continue
        if seg != other:
            return False
    return len(router_segments) == len(template_segments)


# Lambda's limit on a function's environment variables, names and values together.
ENVIRONMENT_LIMIT = 4096


def denies_plain_http(statement: dict) -> bool:
    """A resource policy statement that denies requests made without TLS (aws:SecureTransport false)."""
    cond = ((statement.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport")
    return statement.get("Effect") == "Deny" and str(cond).lower() == "false"


def get_att_target(node) -> str | None:
    """The logical id in `!GetAtt X.Arn` / `!Ref X`, else None."""
    if isinstance(node, dict) and len(node) == 1:
        (k, v), = node.items()
        if k == "Fn::GetAtt":
            return (v.split(".", 1) if isinstance(v, str) else v)[0]
        if k == "Ref":
            return v
    return None


def parse_data_model(text: str) -> dict:
    """The table docs/data-model.md describes (section "The table")."""
    start = text.find("## The table")
    end = text.find("\n## ", start + 5)
    section = text[start:end if end > 0 else None] if start >= 0 else ""
    if not section:
        raise ValueError("docs/data-model.md has no '## The table' section")

    def setting(label: str) -> str:
        m = re.search(r"^\|\s*" + re.escape(label) + r"\s*\|(.*)\|\s*$", section, re.M | re.I)
        if not m:
            raise ValueError(f"docs/data-model.md: no '{label}' row in the table settings")
        codes = re.findall(r"`([^`]+)`", m.group(1))
        if not codes:
            raise ValueError(f"docs/data-model.md: the '{label}' row names no `value`")
        return codes[0]

    indexes = []
    for m in re.finditer(r"^\|\s*`(\w+)`\s*\|\s*`(\w+)`\s*\(S\)\s*\|\s*`(\w+)`\s*\(S\)\s*\|", section, re.M):
        indexes.append((m.group(1), m.group(2), m.group(3)))
    if not indexes:
        raise ValueError("docs/data-model.md: no GSI rows (| `NAME` | `PK` (S) | `SK` (S) | …)")
    return {
        "key": (setting("partition key"), setting("sort key")),
        "indexes": indexes,
        "stream_view_type": setting("stream"),
        "ttl_attribute": setting("TTL attribute"),
        "billing_mode": setting("billing"),
    }


STREAM_ACTIONS = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}
# Store methods outside the ports (inherent to pulso_aws::DynamoStore), as data-model.md describes them.
EXTRA_STORE_METHODS = {"remove_comments_of_day": ({"Query", "UpdateItem"}, True)}
OPERATION_WORDS = {
    "GetItem": "GetItem", "PutItem": "PutItem", "UpdateItem": "UpdateItem", "DeleteItem": "DeleteItem",
    "Query": "Query", "BatchGetItem": "BatchGetItem", "BatchWriteItem": "BatchWriteItem",
    # inside TransactWriteItems [...]
    "Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem",
}


def store_operations(text: str) -> dict[str, tuple[set[str], bool]]:
    """Store method -> (DynamoDB actions, whether it queries an index), from data-model.md's
    access-pattern table ("| # | pattern (`method`) | served by |")."""
    start = text.find("## Access patterns")
    end = text.find("\n## ", start + 5)
    section = text[start:end if end > 0 else None] if start >= 0 else ""
    out: dict[str, tuple[set[str], bool]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not line.startswith("|"):
            continue
        methods = [m.split("::")[-1].split("(")[0] for m in re.findall(r"\(`([^`]+)`", cells[1])]
        methods += [m.split("::")[-1].split("(")[0] for m in re.findall(r",\s*`([^`]+)`", cells[1])]
        served = cells[2]
        actions = {OPERATION_WORDS[w] for w in re.findall(r"\b(" + "|".join(OPERATION_WORDS) + r")\b", served)}
        if "TransactWriteItems" in served and "put_contact" in served:
            actions |= {"PutItem"}  # "the contact's versioned write as in put_contact"
        for m in methods:
            if re.fullmatch(r"[a-z_]+", m) and actions:
                prev = out.get(m, (set(), False))
                out[m] = (prev[0] | actions, prev[1] or ("Query" in actions and "GSI" in served))
    if not out:
        raise ValueError("docs/data-model.md: no access-pattern rows naming store methods")
    return {**out, **EXTRA_STORE_METHODS}


def fn_bodies(source: str) -> dict[str, str]:
    """Top-level and impl `fn name(...) { body }` texts of a Rust file, by name (brace-matched)."""
    out: dict[str, str] = {}
    for m in re.finditer(r"\bfn\s+([a-z_][a-z0-9_]*)\s*(?:<[^{;]*?>)?\s*\(", source):
        brace = source.find("{", m.end())
        semi = source.find(";", m.end())
        if brace < 0 or (0 <= semi < brace and "where" not in source[m.end():semi]):
            continue
        depth, p = 0, brace
        while p < len(source):
            if source[p] == "{":
                depth += 1
            elif source[p] == "}":
                depth -= 1
                if depth == 0:
                    break
            p += 1
        out[m.group(1)] = out.get(m.group(1), "") + source[m.start():p + 1]
    return out


def expand_use(tree: str) -> list[str]:
    """`a::{b, c::{d, e as f}, self}` -> ["a::b", "a::c::d", "a::c::e as f", "a::self"]."""
    tree = re.sub(r"\s+", " ", tree).strip()
    brace = tree.find("{")
    if brace < 0:
        return [tree]
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    return [x for part in parts if part.strip() for x in expand_use(prefix + part.strip())]


_REACHED: dict[tuple, set[str]] = {}
"""Store methods reached, by (root, function, its sources): the sources decide, so this is safe."""


class CoreReach:
    """Which pulso-core code a function can reach, followed the way rustc resolves names (roughly):
    `use` imports, `crate::`/`super::`/`self::`/`pulso_core::` paths, child modules, and calls to
    functions of the same file. A path to a function reaches that function's body (and what it
    calls); a path to a module or a type reaches the whole file (types' methods included)."""

    PATH = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)+)")
    CALL = re.compile(r"(?<![A-Za-z0-9_:])\.?([a-z_][a-z0-9_]*)\s*(?:::<[^>]*>)?\s*\(")

    def __init__(self, core_src: Path):
        self.core = core_src
        self._texts: dict[Path, str] = {}
        self._bodies: dict[Path, dict[str, str]] = {}
        self._imports: dict[Path, dict[str, list[str]]] = {}

    def bodies(self, path: Path) -> dict[str, str]:
        if path not in self._bodies:
            self._bodies[path] = fn_bodies(self.text(path))
        return self._bodies[path]

    def text(self, path: Path) -> str:
        if path not in self._texts:
            self._texts[path] = strip_tests(path.read_text(encoding="utf-8"))
        return self._texts[path]

    def module_file(self, parts: list[str]) -> Path | None:
        if not parts:
            return self.core / "lib.rs"
        base = self.core.joinpath(*parts)
        for candidate in (base.with_suffix(".rs"), base / "mod.rs"):
            if candidate.is_file():
                return candidate
        return None

    def module_parts(self, path: Path) -> list[str]:
        parts = list(path.relative_to(self.core).with_suffix("").parts)
        return parts[:-1] if parts and parts[-1] in ("mod", "lib") else parts

    def imports(self, path: Path | None, text: str) -> dict[str, list[str]]:
        """Local name -> path segments, from the file's `use` statements."""
        key = path or Path("<crate>")
        if path is None or key not in self._imports:
            found: dict[str, list[str]] = {}
            for m in re.finditer(r"\buse\s+([^;]+);", text):
                for item in expand_use(m.group(1)):
                    target, _, alias = item.partition(" as ")
                    segs = [x for x in target.strip().split("::") if x]
                    if segs and segs[-1] == "self":
                        segs = segs[:-1]
                    if segs and segs[-1] != "*":
                        found[(alias.strip() or segs[-1])] = segs
            if path is None:
                return found
            self._imports[key] = found
        return self._imports[key]

    def absolute(self, segs: list[str], here: list[str] | None, imports: dict[str, list[str]]) -> list[str] | None:
        """Module path inside pulso-core (without the crate name), or None when outside it."""
        seen = 0
        while segs and segs[0] in imports and seen < 5 and imports[segs[0]] != segs[:1]:
            segs = imports[segs[0]] + segs[1:]
            seen += 1
        head = segs[0] if segs else ""
        if head == "pulso_core":
            return segs[1:]
        if here is None:
            return None  # the function crate's own crate::/super:: paths are not pulso-core
        if head == "crate":
            return segs[1:]
        if head in ("super", "self"):
            base = list(here)
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    base = base[:-1]
                segs = segs[1:]
            return base + segs
        if self.module_file(here + [head]):
            return here + segs
        return None

    def target(self, module_path: list[str], depth: int = 0) -> tuple[Path, str | None] | None:
        for k in range(len(module_path), -1, -1):
            f = self.module_file(module_path[:k])
            if f:
                rest = module_path[k:]
                imports = self.imports(f, self.text(f))
                if rest and rest[0] in imports and depth < 8:  # a re-export (`pub use c::Thing`)
                    mp = self.absolute(rest, self.module_parts(f), imports)
                    if mp is not None and mp != module_path:
                        return self.target(mp, depth + 1)
                if rest and re.fullmatch(r"[A-Z][A-Z0-9_]*", rest[0]):
                    return None  # a constant runs no code
                if rest and re.fullmatch(r"[a-z_][a-z0-9_]*", rest[0]):
                    return (f, rest[0]) if rest[0] in self.bodies(f) else None
                return f, None
        return None

    def reach(self, start_texts: list[str]) -> list[str]:
        """The texts reachable from the function crate's sources (each file or function once)."""
        seen: set[tuple[Path, str | None]] = set()
        todo: list[tuple[str, Path | None]] = [(t, None) for t in start_texts]
        texts = list(start_texts)
        while todo:
            text, path = todo.pop()
            here = self.module_parts(path) if path else None
            imports = self.imports(path, self.text(path) if path else text)
            targets = []
            # `use` lines only name things; what the code then calls is what it reaches.
            code = re.sub(r"\b(?:pub(?:\([a-z]+\))?\s+)?use\s+[^;]+;", "", text)
            for m in self.PATH.finditer(code):
                mp = self.absolute(m.group(1).split("::"), here, imports)
                if mp is not None:
                    targets.append(self.target(mp))
            local = self.bodies(path) if path else {}
            for name in set(self.CALL.findall(code)):
                if name in local:
                    targets.append((path, name))
                elif name in imports:
                    mp = self.absolute([name], here, imports)
                    if mp is not None:
                        targets.append(self.target(mp))
            for t in targets:
                if not t or t in seen:
                    continue
                seen.add(t)
                f, fn = t
                body = self.text(f) if fn is None else self.bodies(f).get(fn, "")
                texts.append(body)
                todo.append((body, f))
        return texts


class Checker:
    def __init__(self, root: Path, template_path: Path | None = None, template: dict | None = None):
        self.root = root
        self.template_path = template_path or root / "infra" / "template.yaml"
        self.errors: list[str] = []
        self.template = template if template is not None else cfn_model.load(self.template_path)
        self.resources = self.template.get("Resources", {}) or {}
        self.functions = cfn_model.functions(self.template)
        self.globals = ((self.template.get("Globals") or {}).get("Function") or {})

    def error(self, message: str) -> None:
        self.errors.append(message)

    def prop(self, lid: str, name: str):
        """A function property, falling back to Globals.Function."""
        props = self.functions[lid].get("Properties") or {}
        return props.get(name, self.globals.get(name))

    # --- functions <-> crates ----------------------------------------------------------------
    def crates(self) -> dict[str, Path]:
        out = {}
        for cargo in sorted((self.root / "functions").glob("*/Cargo.toml")):
            if cargo.parent.name != "local":
                out[cargo.parent.name] = cargo.parent
        return out

    def check_functions(self) -> dict[str, str]:
        """Returns binary -> logical id for the functions that map to a crate."""
        crates = self.crates()
        if not crates:
            self.error("no function crates found under functions/")
        by_binary: dict[str, list[str]] = {}
        for lid, res in self.functions.items():
            binary = cfn_model.binary_of(res)
            if not binary:
                self.error(f"function {lid}: no Metadata.BuildProperties.Binary (which crate does it build?)")
                continue
            by_binary.setdefault(binary, []).append(lid)
            meta = res.get("Metadata") or {}
            if meta.get("BuildMethod") != "rust-cargolambda":
                self.error(f"function {lid}: Metadata.BuildMethod must be rust-cargolambda")
            if self.prop(lid, "Runtime") != "provided.al2023":
                self.error(f"function {lid}: Runtime must be provided.al2023")
            if self.prop(lid, "Architectures") != ["arm64"]:
                self.error(f"function {lid}: Architectures must be [arm64]")
            code_uri = self.prop(lid, "CodeUri")
            want = f"../functions/{binary}"
            if code_uri != want:
                self.error(
                    f"function {lid}: CodeUri must be its crate's directory {want!r} (cargo-lambda then builds "
                    f"it into the workspace's shared target/), not {code_uri!r}"
                )
            if binary not in crates:
                self.error(
                    f"function {lid} builds binary {binary!r}, but functions/{binary}/ is not a function crate"
                )
        root_manifest = tomllib.loads((self.root / "Cargo.toml").read_text(encoding="utf-8"))
        workspace_members = set((root_manifest.get("workspace") or {}).get("members", []))
        for name, path in crates.items():
            manifest = tomllib.loads((path / "Cargo.toml").read_text(encoding="utf-8"))
            bins = [b.get("name") for b in manifest.get("bin", [])]
            if name not in bins:
                self.error(f"crate functions/{name}: its Cargo.toml declares no [[bin]] named {name!r}")
            if (manifest.get("package") or {}).get("build") != LINK_SCRIPT:
                self.error(
                    f"crate functions/{name}: its Cargo.toml must say build = {LINK_SCRIPT!r} under [package] "
                    f"(functions are linked as fixed-address executables: docs/decisions.md)"
                )
            if f"functions/{name}" not in workspace_members:
                self.error(f"crate functions/{name} is not a member of the workspace (root Cargo.toml)")
            lids = by_binary.get(name, [])
            if not lids:
                self.error(
                    f"crate functions/{name} has no function in infra/template.yaml "
                    f"(add an AWS::Serverless::Function with BuildProperties.Binary: {name})"
                )
            elif len(lids) > 1:
                self.error(f"crate functions/{name} is built by {len(lids)} functions ({', '.join(lids)}); expected one")
        return {b: lids[0] for b, lids in by_binary.items() if len(lids) == 1 and b in crates}

    # --- environment ---------------------------------------------------------------------------
    def variables_read(self, crate: Path) -> dict[str, str]:
        """Variable name -> where it is read (the crate, or shared/aws)."""
        found: dict[str, str] = {}
        for where, directory in (("shared/aws", self.root / "shared" / "aws" / "src"), (f"functions/{crate.name}", crate / "src")):
            for name in ENV_LITERAL.findall(rust_sources(directory)):
                found.setdefault(name, where)
        return found

    def check_environment(self, binaries: dict[str, str]) -> None:
        crates = self.crates()
        for binary, lid in sorted(binaries.items()):
            nodes = cfn_model.environment_nodes(self.template, lid)
            for name, where in sorted(self.variables_read(crates[binary]).items()):
                if name in OPTIONAL_VARIABLES:
                    continue
                if name not in nodes:
                    self.error(
                        f"function {lid} ({binary}): {where} reads {name}, which the template does not set for it"
                    )
                elif cfn_model.is_conditional(nodes[name]):
                    self.error(f"function {lid} ({binary}): {name} is read by {where} but set only under a condition")
            # Secrets: a function built with `context_from_env` or `load_from_env` reads the
            # link-signing keys and must be told where they are; one built with
            # `context_without_secrets_from_env` reads none and must not be handed any.
            sources = rust_sources(crates[binary] / "src")
            reads_keys = "runtime::context_from_env(" in sources or "runtime::load_from_env(" in sources
            if reads_keys and ("PULSO_TOKEN_SECRET_ARN" not in nodes or cfn_model.is_conditional(nodes["PULSO_TOKEN_SECRET_ARN"])):
                self.error(
                    f"function {lid} ({binary}): signs or checks links but the template does not always set "
                    "PULSO_TOKEN_SECRET_ARN for it"
                )
            if "runtime::context_without_secrets_from_env(" in sources:
                for name in ("PULSO_TOKEN_SECRET_ARN", "PULSO_WEBHOOK_SECRET_ARN"):
                    if name in nodes:
                        self.error(f"function {lid} ({binary}): reads no secret, yet the template sets {name} for it")
            # A function that posts webhooks builds its runtime with `load_from_env`, which refuses
            # webhook URLs without a webhook secret (the others use `context_from_env`, which never
            # reads it).
            posts = "runtime::load_from_env(" in sources
            if posts and "PULSO__WEBHOOKS__URLS" in nodes and "PULSO_WEBHOOK_SECRET_ARN" not in nodes:
                self.error(
                    f"function {lid} ({binary}): sets PULSO__WEBHOOKS__URLS without PULSO_WEBHOOK_SECRET_ARN "
                    "(it posts webhooks, and the runtime refuses webhook URLs without a secret)"
                )

    # --- routes ------------------------------------------------------------------------------
    def api_routes_of(self, lid: str) -> list[str]:
        integrations = {
            iid
            for iid, res in self.resources.items()
            if res.get("Type") == "AWS::ApiGatewayV2::Integration"
            and get_att_target((res.get("Properties") or {}).get("IntegrationUri")) == lid
        }
        keys = []
        for res in self.resources.values():
            if res.get("Type") != "AWS::ApiGatewayV2::Route":
                continue
            target = (res.get("Properties") or {}).get("Target")
            text = target.get("Fn::Sub") if isinstance(target, dict) else target
            if isinstance(text, str) and any(f"${{{i}}}" in text for i in integrations):
                keys.append(res["Properties"]["RouteKey"])
        return keys

    def check_routes(self, binaries: dict[str, str]) -> None:
        crates = self.crates()
        for binary, lid in sorted(binaries.items()):
            paths = sorted(set(ROUTE_LITERAL.findall(rust_sources(crates[binary] / "src"))))
            if not paths:
                continue
            keys = self.api_routes_of(lid)
            if not keys:
                self.error(f"function {lid} ({binary}) serves HTTP routes but no API route integrates it")
                continue
            if "$default" in keys:
                continue
            for path in paths:
                segments = [s for s in path.split("/") if s]
                if not any(route_matches(split_route_key(k)[1], segments) for k in keys):
                    self.error(
                        f"function {lid} ({binary}): its router serves {path} but no API route matches it "
                        f"(routes: {', '.join(sorted(keys))})"
                    )

    # --- table and bucket --------------------------------------------------------------------
    def the_one(self, kind: str) -> tuple[str, dict] | None:
        found = [(lid, r) for lid, r in self.resources.items() if r.get("Type") == kind]
        if len(found) != 1:
            self.error(f"expected exactly one {kind}, found {len(found)}")
            return None
        return found[0]

    def template_table(self, props: dict) -> dict:
        keys = {k["KeyType"]: k["AttributeName"] for k in props.get("KeySchema", [])}
        indexes = []
        for gsi in props.get("GlobalSecondaryIndexes", []):
            ks = {k["KeyType"]: k["AttributeName"] for k in gsi.get("KeySchema", [])}
            indexes.append((gsi.get("IndexName"), ks.get("HASH"), ks.get("RANGE")))
            if (gsi.get("Projection") or {}).get("ProjectionType") != "ALL":
                self.error(f"table index {gsi.get('IndexName')}: projection must be ALL (docs/data-model.md)")
        return {
            "key": (keys.get("HASH"), keys.get("RANGE")),
            "indexes": indexes,
            "stream_view_type": (props.get("StreamSpecification") or {}).get("StreamViewType"),
            "ttl_attribute": (props.get("TimeToLiveSpecification") or {}).get("AttributeName")
            if (props.get("TimeToLiveSpecification") or {}).get("Enabled") is True
            else None,
            "billing_mode": props.get("BillingMode"),
        }

    def compare_table(self, source: str, expected: dict, actual: dict) -> None:
        for field in ("key", "stream_view_type", "ttl_attribute", "billing_mode"):
            want = tuple(expected[field]) if isinstance(expected[field], list) else expected[field]
            if want != actual[field]:
                self.error(f"table {field}: {source} says {want!r}, the template has {actual[field]!r}")
        want_idx = sorted(tuple(i) for i in expected["indexes"])
        if want_idx != sorted(actual["indexes"]):
            self.error(f"table GSIs: {source} says {want_idx}, the template has {sorted(actual['indexes'])}")

    def check_table(self, table_definition: dict | None) -> None:
        found = self.the_one("AWS::DynamoDB::Table")
        if not found:
            return
        lid, res = found
        props = res.get("Properties") or {}
        actual = self.template_table(props)
        defined = {a["AttributeName"]: a["AttributeType"] for a in props.get("AttributeDefinitions", [])}
        used = {actual["key"][0], actual["key"][1], *(x for i in actual["indexes"] for x in i[1:])}
        if set(defined) != used or any(t != "S" for t in defined.values()):
            self.error(f"table {lid}: AttributeDefinitions must be exactly the key attributes, all S")
        doc = self.root / "docs" / "data-model.md"
        try:
            self.compare_table("docs/data-model.md", parse_data_model(doc.read_text(encoding="utf-8")), actual)
        except (OSError, ValueError) as e:
            self.error(f"table: cannot read the documented table: {e}")
        if table_definition is not None:
            self.compare_table("pulso_aws::dynamo::table_definition()", table_definition, actual)
        if not (props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled"):
            self.error(f"table {lid}: point-in-time recovery must be on")
        sse = props.get("SSESpecification") or {}
        if not (sse.get("SSEEnabled") and sse.get("SSEType") == "KMS"):
            self.error(f"table {lid}: encryption must be SSE with KMS")
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            if res.get(policy) != "Retain":
                self.error(f"table {lid}: {policy} must be Retain")

        found = self.the_one("AWS::S3::Bucket")
        if not found:
            return
        lid, res = found
        props = res.get("Properties") or {}
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            if res.get(policy) != "Retain":
                self.error(f"bucket {lid}: {policy} must be Retain")
        block = props.get("PublicAccessBlockConfiguration") or {}
        for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            if block.get(flag) is not True:
                self.error(f"bucket {lid}: PublicAccessBlockConfiguration.{flag} must be true")
        if (props.get("VersioningConfiguration") or {}).get("Status") != "Enabled":
            self.error(f"bucket {lid}: versioning must be enabled")
        if not (props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration"):
            self.error(f"bucket {lid}: default encryption must be set")
        rules = (props.get("LifecycleConfiguration") or {}).get("Rules") or []
        if not any(r.get("Transitions") for r in rules):
            self.error(f"bucket {lid}: a lifecycle rule must move old reports to cheaper storage")
        tls_only = False
        for pol in self.resources.values():
            if pol.get("Type") != "AWS::S3::BucketPolicy":
                continue
            p = pol.get("Properties") or {}
            if get_att_target(p.get("Bucket")) != lid:
                continue
            if any(denies_plain_http(st) for st in (p.get("PolicyDocument") or {}).get("Statement", [])):
                tls_only = True
        if not tls_only:
            self.error(f"bucket {lid}: a bucket policy must deny requests without TLS (aws:SecureTransport false)")

    # --- roles -------------------------------------------------------------------------------
    def check_roles(self) -> None:
        seen: dict[str, str] = {}
        for lid in self.functions:
            role = get_att_target((self.functions[lid].get("Properties") or {}).get("Role"))
            if not role or self.resources.get(role, {}).get("Type") != "AWS::IAM::Role":
                self.error(f"function {lid}: must name its own AWS::IAM::Role (Role: !GetAtt XRole.Arn), not SAM's default role")
                continue
            if role in seen:
                self.error(f"functions {seen[role]} and {lid} share role {role}; each function gets its own")
            seen[role] = lid
        for rid, res in self.resources.items():
            if res.get("Type") != "AWS::IAM::Role":
                continue
            props = res.get("Properties") or {}
            if props.get("ManagedPolicyArns"):
                self.error(f"role {rid}: managed policies grant more than Pulso uses; write the statements inline")
            for policy in props.get("Policies", []):
                for st in (policy.get("PolicyDocument") or {}).get("Statement", []):
                    if st.get("Effect") != "Allow":
                        continue
                    actions = st.get("Action")
                    actions = actions if isinstance(actions, list) else [actions]
                    resources = st.get("Resource")
                    resources = resources if isinstance(resources, list) else [resources]
                    sid = st.get("Sid", "?")
                    for a in actions:
                        if a == "*" or (isinstance(a, str) and a.endswith(":*")):
                            self.error(f"role {rid} statement {sid}: action {a!r} grants a whole service")
                    if "*" in resources:
                        bad = [a for a in actions if a not in STAR_RESOURCE_ACTIONS]
                        if bad:
                            self.error(
                                f"role {rid} statement {sid}: Resource '*' for {', '.join(map(str, bad))}, "
                                "which can be scoped to a named resource"
                            )
                    if any(isinstance(a, str) and a.startswith("ses:Send") for a in actions):
                        for r in resources:
                            text = r.get("Fn::Sub") if isinstance(r, dict) else r
                            if not isinstance(text, str) or not (":identity/" in text or ":configuration-set/" in text) or text.endswith("/*"):
                                self.error(f"role {rid} statement {sid}: SES send must be scoped to the identity and configuration set ARNs")

    # --- dynamodb least privilege ------------------------------------------------------------
    def role_of(self, lid: str) -> str | None:
        return get_att_target((self.functions[lid].get("Properties") or {}).get("Role"))

    def check_dynamodb(self, binaries: dict[str, str]) -> None:
        try:
            ops = store_operations((self.root / "docs" / "data-model.md").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            self.error(f"dynamodb: cannot read the store's operations: {e}")
            return
        table = next((lid for lid, r in self.resources.items() if r.get("Type") == "AWS::DynamoDB::Table"), None)
        reach = CoreReach(self.root / "shared" / "core" / "src")
        call = re.compile(r"\.(" + "|".join(sorted(ops, key=len, reverse=True)) + r")\s*\(")
        crates = self.crates()
        for binary, lid in sorted(binaries.items()):
            own = [strip_tests(p.read_text(encoding="utf-8")) for p in sorted((crates[binary] / "src").rglob("*.rs"))]
            if not any("pulso_core" in t or "pulso_aws" in t for t in own):
                continue  # a placeholder crate: nothing to hold its role to yet
            key = (str(self.root), binary, tuple(own))
            if key not in _REACHED:
                _REACHED[key] = {m for t in reach.reach(own) for m in call.findall(t)}
            methods = _REACHED[key]
            needed = {"dynamodb:" + a for m in methods for a in ops[m][0]}
            needs_index = any(ops[m][1] for m in methods)
            role = self.role_of(lid)
            statements = [
                st
                for pol in ((self.resources.get(role or "", {}).get("Properties") or {}).get("Policies") or [])
                for st in (pol.get("PolicyDocument") or {}).get("Statement", [])
                if st.get("Effect") == "Allow"
            ]
            granted: set[str] = set()
            index_granted = False
            for st in statements:
                actions = st.get("Action")
                actions = set(actions if isinstance(actions, list) else [actions]) - STREAM_ACTIONS
                actions = {a for a in actions if isinstance(a, str) and a.startswith("dynamodb:")}
                if not actions:
                    continue
                granted |= actions
                resources = st.get("Resource")
                for r in resources if isinstance(resources, list) else [resources]:
                    text = r.get("Fn::Sub") if isinstance(r, dict) else r
                    if isinstance(text, str) and table and f"${{{table}.Arn}}/index/" in text:
                        index_granted = True
            for a in sorted(needed - granted):
                users = sorted(m for m in methods if a.removeprefix("dynamodb:") in ops[m][0])
                self.error(f"role {role} of {lid} ({binary}): lacks {a}, which its code needs (store {', '.join(users)})")
            for a in sorted(granted - needed):
                self.error(
                    f"role {role} of {lid} ({binary}): grants {a}, which no store call its code can reach needs "
                    f"(reached: {', '.join(sorted(methods)) or 'none'})"
                )
            if needs_index and not index_granted:
                self.error(f"role {role} of {lid} ({binary}): queries an index but is not granted ${{Table.Arn}}/index/*")
            if index_granted and not needs_index:
                self.error(f"role {role} of {lid} ({binary}): is granted the table's indexes but queries none")

    # --- schedules ---------------------------------------------------------------------------
    def check_schedules(self, binaries: dict[str, str]) -> None:
        lid_to_binary = {lid: b for b, lid in binaries.items()}
        reports_inputs, dispatch_rates = set(), []
        for sid, res in self.resources.items():
            if res.get("Type") != "AWS::Scheduler::Schedule":
                continue
            props = res.get("Properties") or {}
            if props.get("ScheduleExpressionTimezone") != {"Ref": "TimeZone"}:
                self.error(f"schedule {sid}: ScheduleExpressionTimezone must be !Ref TimeZone (the company's time zone)")
            target = props.get("Target") or {}
            fn = get_att_target(target.get("Arn"))
            if fn not in self.functions:
                self.error(f"schedule {sid}: its target is not one of the template's functions")
                continue
            if not (target.get("DeadLetterConfig") or {}).get("Arn"):
                self.error(f"schedule {sid}: needs a DeadLetterConfig")
            try:
                payload = json.loads(target.get("Input", "{}"))
            except (TypeError, json.JSONDecodeError):
                self.error(f"schedule {sid}: Input is not JSON")
                continue
            binary = lid_to_binary.get(fn)
            if binary == "reports":
                reports_inputs.add(payload.get("report"))
            if binary == "dispatch":
                dispatch_rates.append(props.get("ScheduleExpression"))
        if binaries.get("reports") and reports_inputs != {"daily", "weekly", "quarterly"}:
            self.error(f"reports schedules: inputs cover {sorted(map(str, reports_inputs))}, expected daily, weekly and quarterly")
        if binaries.get("dispatch") and not any(
            r in ("rate(15 minutes)", "cron(0/15 * * * ? *)", "cron(*/15 * * * ? *)") for r in dispatch_rates
        ):
            self.error(f"dispatch schedule: expected every 15 minutes, found {dispatch_rates}")

    # --- logs and alarms ---------------------------------------------------------------------
    def check_operations(self) -> None:
        alarms = [r.get("Properties") or {} for r in self.resources.values() if r.get("Type") == "AWS::CloudWatch::Alarm"]

        def metric_dims(props: dict) -> list[tuple[str, str | None]]:
            out = []
            if props.get("MetricName"):
                for d in props.get("Dimensions", []):
                    out.append((props["MetricName"], get_att_target(d.get("Value"))))
            for m in props.get("Metrics", []):
                metric = ((m.get("MetricStat") or {}).get("Metric") or {})
                for d in metric.get("Dimensions", []):
                    out.append((metric.get("MetricName"), get_att_target(d.get("Value"))))
            return out

        watched = [md for a in alarms for md in metric_dims(a)]
        for lid in self.functions:
            logging = self.prop(lid, "LoggingConfig") or {}
            group = get_att_target(logging.get("LogGroup"))
            res = self.resources.get(group or "", {})
            if res.get("Type") != "AWS::Logs::LogGroup" or not (res.get("Properties") or {}).get("RetentionInDays"):
                self.error(f"function {lid}: LoggingConfig.LogGroup must name a log group with RetentionInDays")
            if ("Errors", lid) not in watched:
                self.error(f"function {lid}: no alarm on its Errors metric")
            if ("Throttles", lid) not in watched:
                self.error(f"function {lid}: no alarm on its Throttles metric")
        for qid, res in self.resources.items():
            if res.get("Type") == "AWS::SQS::Queue" and ("ApproximateNumberOfMessagesVisible", qid) not in watched:
                self.error(f"queue {qid}: no alarm on its depth (ApproximateNumberOfMessagesVisible)")
        self.check_queue_policies()
        self.check_environment_size()

    def check_environment_size(self) -> None:
        """Lambda refuses a function whose environment (names and values) passes 4 KB, at deploy. Every
        String parameter that reaches an environment needs a MaxLength, and with every such parameter
        at its MaxLength (lists filled with the shortest addresses, where quoting grows them most)
        each function's environment must still fit."""
        params = self.template.get("Parameters") or {}

        def refs(node) -> set[str]:
            if isinstance(node, dict):
                out = set()
                for k, v in node.items():
                    if k == "Ref" and isinstance(v, str):
                        out.add(v)
                    if k == "Fn::Sub":
                        text, names = (v[0], v[1]) if isinstance(v, list) else (v, {})
                        out |= {m for m in re.findall(r"\$\{([A-Za-z0-9]+)\}", text) if m not in names}
                    out |= refs(v)
                return out
            if isinstance(node, list):
                return set().union(*(refs(v) for v in node)) if node else set()
            return set()

        reached = set()
        for lid in self.functions:
            reached |= refs(cfn_model.environment_nodes(self.template, lid))
        longest = dict(cfn_model.FULL_PARAMETERS)
        for name in sorted(reached):
            spec = params.get(name)
            if not spec or spec.get("Type") != "String" or spec.get("AllowedValues"):
                continue
            if "MaxLength" not in spec:
                self.error(f"parameter {name}: reaches function environments without a MaxLength "
                           f"(Lambda refuses an environment over {ENVIRONMENT_LIMIT} bytes)")
                continue
            n = int(spec["MaxLength"])
            is_list = name.endswith(("Recipients", "Urls", "Segments", "Days"))
            longest[name] = ("a@b.co," * n)[:n].rstrip(",") if is_list else "x" * n
        ev = cfn_model.Evaluator(self.template, longest)
        for lid in self.functions:
            env = cfn_model.environment(self.template, lid, ev)
            size = sum(len(k.encode()) + len(v.encode()) for k, v in env.items())
            if size > ENVIRONMENT_LIMIT:
                self.error(f"function {lid}: with every parameter at its MaxLength its environment takes "
                           f"{size} bytes, over Lambda's {ENVIRONMENT_LIMIT}")

    def check_queue_policies(self) -> None:
        """Each queue has one policy of its own that denies requests without TLS; SQS takes one queue
        per policy statement, so a policy names one queue and each statement only that queue."""
        tls_only: set[str] = set()
        for pid, pol in self.resources.items():
            if pol.get("Type") != "AWS::SQS::QueuePolicy":
                continue
            p = pol.get("Properties") or {}
            queues = [get_att_target(q) for q in p.get("Queues") or []]
            if len(queues) != 1:
                self.error(f"queue policy {pid}: must name exactly one queue (SQS takes one resource per statement)")
                continue
            for st in (p.get("PolicyDocument") or {}).get("Statement", []):
                if get_att_target(st.get("Resource")) != queues[0]:
                    self.error(f"queue policy {pid}: statement {st.get('Sid')} must name only its queue "
                               f"{queues[0]} (!GetAtt {queues[0]}.Arn)")
                if denies_plain_http(st):
                    tls_only.add(queues[0])
        for qid, res in self.resources.items():
            if res.get("Type") == "AWS::SQS::Queue" and qid not in tls_only:
                self.error(f"queue {qid}: a queue policy must deny requests without TLS (aws:SecureTransport false)")

    # --- all -----------------------------------------------------------------------------------
    def run(self, table_definition: dict | None = None) -> list[str]:
        binaries = self.check_functions()
        self.check_environment(binaries)
        self.check_routes(binaries)
        self.check_table(table_definition)
        self.check_roles()
        self.check_dynamodb(binaries)
        self.check_schedules(binaries)
        self.check_operations()
        return self.errors

    def resolved_environments(self) -> dict[str, dict[str, dict[str, str]]]:
        """{parameter set: {binary: {VAR: value}}} for the sample and the full parameter sets."""
        out = {}
        for label, params in (("sample", cfn_model.SAMPLE_PARAMETERS), ("full", cfn_model.FULL_PARAMETERS)):
            ev = cfn_model.Evaluator(self.template, params)
            out[label] = {
                cfn_model.binary_of(res) or lid: cfn_model.environment(self.template, lid, ev)
                for lid, res in self.functions.items()
            }
        return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    ap.add_argument("--template", type=Path)
    ap.add_argument("--table-definition", type=Path)
    ap.add_argument("--write-env", type=Path)
    args = ap.parse_args(argv)
    try:
        checker = Checker(args.root, args.template)
        table_definition = json.loads(args.table_definition.read_text()) if args.table_definition else None
        errors = checker.run(table_definition)
        if args.write_env:
            args.write_env.mkdir(parents=True, exist_ok=True)
            for label, envs in checker.resolved_environments().items():
                (args.write_env / f"{label}.json").write_text(json.dumps(envs, indent=1, sort_keys=True))
    except (cfn_model.TemplateError, OSError, KeyError, ValueError) as e:
        errors = [f"cannot check the template: {e}"]
    for e in errors:
        print(f"infra check: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
