#!/usr/bin/env python3
"""Cold-start harness: how long each Pulso function takes from process start to its first answer.

Owns the measurement. For each function (and a minimal `lambda_runtime` hello-world built in the
same run, tools/hello-lambda) it:
  1. starts a stand-in Lambda Runtime API on loopback (runtime_api.py) holding one small, valid
     event for that function;
  2. starts the function's host-architecture release binary with AWS_LAMBDA_RUNTIME_API pointing
     there and the environment infra/template.yaml gives that function (parameters: the sample
     deployment), its AWS endpoint a local moto server holding the table (as the template defines
     it), the bucket, the secrets and a verified SES identity; fake credentials;
  3. records start → first `next` (init) and start → answer posted (cold start), kills the process;
and repeats, reporting medians. The functions reach moto through a relay (aws_timer.py) that
records how long moto took to answer each call: the cold start minus that time is the function's
own time, the figure compared with the hello-world's cold start (which makes no AWS call; moto's
service time is neither the function's work nor AWS's). Prints a table: function, bootstrap size
(the arm64 bootstrap from scripts/build-lambdas if present, else "-"), host binary size, init ms,
cold start ms, AWS calls and ms, own ms, the CPU time the process had used by its answer, both
ratios to the hello-world, and whether every answer was a success. Targets: own ratio <= 1.5, bootstrap <= 8 MB. Exit status: 0 targets met, 3 not
met, 1 a function failed to answer.

Usage: harness.py [--runs N] [--functions a,b] [--no-build] [--moto URL] [--debug] [--show] [--calls]
                  [--arm64 [--qemu-sysroot DIR]]
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "infra" / "checks"))
sys.path.insert(0, str(HERE))
import cfn_model  # noqa: E402
from aws_timer import AwsTimer  # noqa: E402
from runtime_api import Invocation, RuntimeApi  # noqa: E402

REGION = "us-east-1"
ACCOUNT = "123456789012"
HELLO = "hello-lambda"
TARGET_RATIO = 1.5
TARGET_BYTES = 8 * 1024 * 1024
# 48 bytes of key material as 64 base64 characters, like the template's generated seed.
TOKEN_SEED = "ColdStartHarnessKey0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHI"
TOKEN_KEYS = f"k1:{TOKEN_SEED}"
assert len(TOKEN_SEED) == 64

# The parameters of the measured deployment: the minimal one, with audiences (so reports and
# alerts have someone to mail) and a configured send rate (moto has no SES GetAccount).
PARAMETERS = {
    **cfn_model.SAMPLE_PARAMETERS,
    "AlertRecipients": "support@acme.example",
    "DailyRecipients": "support@acme.example",
    "WeeklyRecipients": "product@acme.example",
    "QuarterlyRecipients": "all@acme.example",
    "MaxSendRate": "14",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --- AWS on moto ---------------------------------------------------------------------------------
class Moto:
    def __init__(self, url: str | None, workdir: Path):
        self.proc = None
        if url:
            self.url = url
            return
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(workdir / "moto.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"moto did not start on {self.url}")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def provision(moto_url: str, template: dict) -> dict[str, str]:
    """Creates the template's table, bucket, secrets and SES identity on moto; returns their names."""
    import boto3

    kw = dict(endpoint_url=moto_url, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    stamp = str(int(time.time() * 1000))
    names = {
        "Table": f"pulso-coldstart-{stamp}",
        "ArchiveBucket": f"pulso-coldstart-{stamp}",
        "ConfigurationSet": f"pulso-coldstart-{stamp}",
    }
    table = template["Resources"]["Table"]["Properties"]
    ddb = boto3.client("dynamodb", **kw)
    ddb.create_table(
        TableName=names["Table"],
        AttributeDefinitions=table["AttributeDefinitions"],
        KeySchema=table["KeySchema"],
        GlobalSecondaryIndexes=table["GlobalSecondaryIndexes"],
        BillingMode=table["BillingMode"],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": table["StreamSpecification"]["StreamViewType"]},
    )
    ddb.get_waiter("table_exists").wait(TableName=names["Table"], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    boto3.client("s3", **kw).create_bucket(Bucket=names["ArchiveBucket"])
    sm = boto3.client("secretsmanager", **kw)
    names["TokenSecret"] = sm.create_secret(Name=f"pulso-token-{stamp}", SecretString=TOKEN_KEYS)["ARN"]
    names["WebhookSecret"] = sm.create_secret(Name=f"pulso-webhook-{stamp}", SecretString="w" * 64)["ARN"]
    ses = boto3.client("sesv2", **kw)
    try:
        ses.create_email_identity(EmailIdentity=PARAMETERS["EmailDomain"])
    except ses.exceptions.AlreadyExistsException:
        pass
    ses.create_configuration_set(ConfigurationSetName=names["ConfigurationSet"])
    return names


def environments(template: dict, names: dict[str, str], moto_url: str) -> dict[str, dict[str, str]]:
    """Each function's environment, as the template sets it, pointed at moto."""

    def resource_value(lid: str, attribute: str | None) -> str:
        if attribute is None and lid in names:
            return names[lid]
        res = template["Resources"].get(lid, {})
        return cfn_model.fake_resource_value(lid, res, attribute, {**cfn_model.PSEUDO, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT})

    ev = cfn_model.Evaluator(template, PARAMETERS, resource_value, {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT})
    out = {}
    for lid, res in cfn_model.functions(template).items():
        env = cfn_model.environment(template, lid, ev)
        env["PULSO__STORE__ENDPOINT_URL"] = moto_url
        out[cfn_model.binary_of(res)] = env
    return out


def moto_round_trip(moto_url: str, table: str) -> float:
    """Median wall time of a GetItem against moto (boto3 client, connection kept alive)."""
    import boto3

    ddb = boto3.client("dynamodb", endpoint_url=moto_url, region_name=REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    key = {"PK": {"S": "C#coldstart"}, "SK": {"S": "C"}}
    ddb.get_item(TableName=table, Key=key)
    times = []
    for _ in range(30):
        t = time.perf_counter()
        ddb.get_item(TableName=table, Key=key)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


# --- events --------------------------------------------------------------------------------------
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(purpose: str, subject: str, expires: int) -> str:
    """A link token as shared/core/src/token.rs makes it (HMAC-SHA256 truncated to 128 bits)."""
    key = base64.b64decode(TOKEN_SEED)
    payload = b64url(f"{purpose}:{subject}:{expires}".encode())
    mac = hmac.new(key, f"pulso-v1.k1.{payload}".encode(), hashlib.sha256).digest()[:16]
    return f"k1.{payload}.{b64url(mac)}"


def http_event(method: str, path: str, route: str, query: str = "", headers: dict | None = None, body: str | None = None) -> dict:
    host = "coldst0001.execute-api.us-east-1.amazonaws.com"
    hdrs = {"host": host, "user-agent": "Mozilla/5.0 (cold-start harness)", "accept": "text/html", **(headers or {})}
    now = int(time.time() * 1000)
    event = {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": query,
        "headers": hdrs,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "coldst0001",
            "domainName": host,
            "domainPrefix": "coldst0001",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.10", "userAgent": hdrs["user-agent"]},
            "requestId": "coldstart-request",
            "routeKey": route,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": now,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    if body is not None:
        event["body"] = body
    return event


def events(template: dict, run: int) -> dict[str, dict]:
    """One small, valid event per function, shaped as its trigger sends it; ids differ per run, so
    every run does the work a first delivery does (not an idempotent repeat)."""
    send_id = f"{int(time.time() * 1000):016x}{run:08x}c01d57a7"
    expires = int(time.time()) + 86400
    token = sign("a", send_id, expires)
    dispatch_input = json.loads(template["Resources"]["DispatchSchedule"]["Properties"]["Target"]["Input"])
    out = {
        HELLO: {"hello": "harness"},
        # A score link (signed, valid) whose send is not in the table: verify, one read, a page.
        "capture": http_event("GET", f"/a/{token}", "ANY /a/{proxy+}", query="s=9"),
        # The metrics query with an API key the table does not hold: one read, a 401.
        "events": http_event(
            "GET", "/v1/metrics", "ANY /v1/{proxy+}", query="period=last_30_days",
            headers={"authorization": "Bearer pk_coldstart_" + "x" * 32, "accept": "application/json"},
        ),
        # The schedule's own input: what is due on an empty table.
        "dispatch": dispatch_input,
        # The daily digest of a day (another day each run, so each run builds, mails and archives
        # one; a period already reported would only be skipped).
        "reports": {"report": "daily", "at": (datetime.date(2025, 1, 1) + datetime.timedelta(days=run)).isoformat()},
    }
    for name in ("alerts", "feedback"):
        path = HERE / "events" / f"{name}.json"
        out[name] = json.loads(path.read_text().replace("@SEND_ID@", send_id).replace("@RUN@", f"{run}-{send_id[:16]}"))
    return out


# --- measuring -----------------------------------------------------------------------------------
def run_once(name: str, command: list[str], env: dict[str, str], event: dict, timeout_s: float,
             function_timeout_s: float, logfile, timer: AwsTimer) -> dict:
    inv = Invocation(event, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}", function_timeout_s)
    with RuntimeApi(inv) as api:
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.port}",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/pulso/coldstart/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "coldstart",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "RUST_LOG": "warn",
            **env,
        }
        start = time.perf_counter()
        proc = subprocess.Popen(command, env=full_env, stdout=logfile, stderr=logfile, start_new_session=True)
        finished = inv.done.wait(timeout=timeout_s)
        # Read before the kill: what the process spent up to its answer, not its teardown.
        cpu = cpu_ms(proc.pid) if finished else None
        exited = proc.poll()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
    total = (inv.done_at - start) * 1000 if finished and inv.done_at else None
    aws_ms = timer.busy(start, inv.done_at) * 1000 if total is not None else None
    result = {
        "init_ms": (inv.next_at - start) * 1000 if inv.next_at else None,
        "total_ms": total,
        "aws_ms": aws_ms,
        "own_ms": total - aws_ms if total is not None else None,
        "cpu_ms": cpu,
        "calls": timer.calls(start, inv.done_at) if total is not None else 0,
        # Each call as (ms from start to its request, ms moto took, connection, operation).
        "call_log": [((a - start) * 1000, (b - a) * 1000, conn, op)
                     for a, b, conn, op in timer.call_log(start, inv.done_at)] if total is not None else [],
        "outcome": inv.outcome or ("exited" if exited is not None else "timeout"),
        "body": inv.body[:400].decode("utf-8", "replace"),
    }
    return result


def own_by_step(total_ms: float, calls: list[tuple[float, float, int, str]]) -> list[tuple[str, float]]:
    """A run's own time split by what it came before: each stretch of the cold start that no AWS
    call covered, named after the call that ended it ("before <operation>", numbered when the
    operation recurs: "dynamodb PutItem #2") or "before the answer". The parts sum to the run's own
    time. `calls` holds (ms from start, ms moto took, connection, operation)."""
    out: list[tuple[str, float]] = []
    seen: dict[str, int] = {}
    covered_to = 0.0
    for at, took, _conn, op in sorted(calls):
        seen[op] = seen.get(op, 0) + 1
        step = f"before {op}" + (f" #{seen[op]}" if seen[op] > 1 else "")
        out.append((step, max(0.0, at - covered_to)))
        covered_to = max(covered_to, at + took)
    out.append(("before the answer", max(0.0, total_ms - covered_to)))
    return out


def cpu_ms(pid: int) -> float | None:
    """CPU time a running process has had so far, all its threads, from the scheduler's nanosecond
    accounting (/proc/PID/task/*/schedstat); None where the kernel does not keep it."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total / 1e6


def answered_ok(name: str, result: dict) -> bool:
    if result["outcome"] != "response":
        return False
    if name in ("capture", "events"):
        try:
            status = json.loads(result["body"]).get("statusCode", 200)
        except (json.JSONDecodeError, AttributeError):
            return True  # a streamed or non-JSON body: the runtime accepted an answer
        return int(status) < 500
    return True


def human(n: int | None) -> str:
    return "-" if n is None else f"{n / (1024 * 1024):.2f} MB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--functions", default="")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--moto", default=os.environ.get("PULSO_TEST_AWS_ENDPOINT"))
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--debug", action="store_true", help="measure target/debug binaries (checking the harness itself)")
    ap.add_argument("--show", action="store_true", help="print each function's last answer (first 400 bytes)")
    ap.add_argument("--calls", action="store_true",
                    help="print the AWS calls of each function's last cold start: when each was sent, how long "
                         "moto took, on which connection, what it was; and its own time by step (the part of "
                         "it spent before each call, over all runs)")
    ap.add_argument("--arm64", action="store_true",
                    help="run the arm64 bootstraps (target/lambda, from scripts/build-lambdas) under qemu-aarch64: "
                         "checks that the binaries Lambda runs answer their first event; emulated times are not "
                         "cold starts, and no target is judged")
    ap.add_argument("--qemu-sysroot", default="/usr/aarch64-linux-gnu",
                    help="arm64 glibc for qemu-aarch64 -L (Debian: libc6-arm64-cross)")
    args = ap.parse_args()

    template = cfn_model.load(ROOT / "infra" / "template.yaml")
    fns = {cfn_model.binary_of(r): lid for lid, r in cfn_model.functions(template).items()}
    wanted = [f for f in args.functions.split(",") if f] or sorted(fns)
    unknown = [f for f in wanted if f not in fns]
    if unknown:
        log(f"unknown functions: {', '.join(unknown)} (the template has {', '.join(sorted(fns))})")
        return 2
    packages = []
    for f in wanted:
        manifest = (ROOT / "functions" / f / "Cargo.toml").read_text()
        packages.append(next(line.split('"')[1] for line in manifest.splitlines() if line.startswith("name")))
    if not args.no_build and not args.arm64:
        cmd = ["cargo", "build", "--quiet", "-p", "pulso-hello-lambda"] + ([] if args.debug else ["--release"])
        for p in packages:
            cmd += ["-p", p]
        log("building host release binaries: " + " ".join(cmd))
        subprocess.run(cmd, cwd=ROOT, check=True)
    release = ROOT / "target" / ("debug" if args.debug else "release")
    workdir = ROOT / "target" / "cold-start"
    workdir.mkdir(parents=True, exist_ok=True)

    moto = Moto(args.moto, workdir)
    try:
        names = provision(moto.url, template)
        moto_ms = moto_round_trip(moto.url, names["Table"])
        # The functions reach moto through the timing relay, which records moto's service time.
        timer = AwsTimer(int(moto.url.rsplit(":", 1)[1]))
        envs = environments(template, names, f"http://127.0.0.1:{timer.port}")
        order = [HELLO] + wanted
        # The deadline Lambda would give: the function's Timeout (the dispatch budget hangs on it).
        timeouts = {
            cfn_model.binary_of(r): float((r.get("Properties") or {}).get("Timeout")
                                          or ((template.get("Globals") or {}).get("Function") or {}).get("Timeout") or 3)
            for r in cfn_model.functions(template).values()
        }
        results: dict[str, list[dict]] = {n: [] for n in order}
        with timer, open(workdir / "functions.log", "w") as logfile:
            # One unmeasured start of each binary first (page cache, moto's first-request costs);
            # then rounds that take the functions in turn, so drift hits them all alike.
            for rnd in range(args.runs + 1):
                evs = events(template, rnd)
                for name in order:
                    binary = release / name
                    command = [str(binary)]
                    if args.arm64 and name != HELLO:
                        binary = ROOT / "target" / "lambda" / name / "bootstrap"
                        command = ["qemu-aarch64", "-L", args.qemu_sysroot, str(binary)]
                    if not binary.is_file():
                        hint = "run scripts/build-lambdas" if args.arm64 else "build it (drop --no-build)"
                        raise SystemExit(f"{binary} is missing: {hint}")
                    logfile.write(f"--- {name} round {rnd}\n")
                    logfile.flush()
                    r = run_once(name, command, envs.get(name, {}), evs[name], args.timeout,
                                 timeouts.get(name, 3.0), logfile, timer)
                    if rnd > 0:
                        results[name].append(r)
    finally:
        moto.stop()

    def median(name: str, key: str) -> float | None:
        vals = [r[key] for r in results[name] if r[key] is not None]
        return statistics.median(vals) if vals else None

    hello_total = median(HELLO, "total_ms")
    rows, ok_all, all_meet = [], True, True
    for name in order:
        bootstrap = ROOT / "target" / "lambda" / name / "bootstrap"
        b_size = bootstrap.stat().st_size if bootstrap.is_file() and name != HELLO else None
        h_size = (bootstrap if args.arm64 and name != HELLO else release / name).stat().st_size
        init, total, aws, own, cpu = (median(name, k) for k in ("init_ms", "total_ms", "aws_ms", "own_ms", "cpu_ms"))
        calls = statistics.median([r["calls"] for r in results[name]]) if results[name] else 0
        ratio = (total / hello_total) if (total and hello_total) else None
        own_ratio = (own / hello_total) if (own and hello_total) else None
        good = sum(answered_ok(name, r) for r in results[name])
        status = f"{good}/{len(results[name])} ok"
        if good < len(results[name]):
            last_bad = next(r for r in reversed(results[name]) if not answered_ok(name, r))
            status += f" (last failure: {last_bad['outcome']}: {last_bad['body'][:120]!r})"
            ok_all = False
        meets = name == HELLO or (own_ratio is not None and own_ratio <= TARGET_RATIO
                                  and (b_size is None or b_size <= TARGET_BYTES))
        all_meet = all_meet and meets
        rows.append((name, human(b_size), human(h_size), init, total, calls, aws, own, cpu, ratio, own_ratio,
                     "-" if args.arm64 and name != HELLO else "yes" if meets else "NO", status))

    print(f"cold start: process start -> first invocation answered, median of {args.runs} runs, "
          f"host {os.uname().machine}, {os.cpu_count()} cores; AWS played by moto on loopback")
    print(f"{'function':<13} {'bootstrap':>10} {'host bin':>9} {'init ms':>8} {'cold ms':>8} {'AWS calls':>9} "
          f"{'AWS ms':>7} {'own ms':>7} {'CPU ms':>7} {'cold/hello':>10} {'own/hello':>9} {'target':>6}  answers")
    f = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    g = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    for name, b, h, init, total, calls, aws, own, cpu, ratio, own_ratio, meets, status in rows:
        print(f"{name:<13} {b:>10} {h:>9} {f(init):>8} {f(total):>8} {calls:>9g} {f(aws):>7} {f(own):>7} {f(cpu):>7} "
              f"{g(ratio):>10} {g(own_ratio):>9} {meets:>6}  {status}")
    print("init: start -> first `next` (what Lambda reports as Init Duration). AWS ms: time moto spent "
          "answering the function's calls (measured by a relay between them); own ms = cold - AWS ms. CPU ms: "
          "the CPU time the function's process had used when it answered (own ms close to it: own time is "
          "work, not waiting).")
    print(f"moto on this machine: a DynamoDB GetItem round trip takes {moto_ms:.1f} ms (median of 30, boto3).")
    print(f"targets: own cold start <= {TARGET_RATIO}x the hello-world's cold start, bootstrap <= "
          f"{human(TARGET_BYTES)} (arm64 bootstraps from scripts/build-lambdas; '-' when not built)")
    if args.arm64:
        print("arm64: Pulso's functions ran as the arm64 bootstraps under qemu-aarch64 (emulated); the answers "
              "are checked, the times are not cold starts and no target is judged.")
    if args.show:
        for name in order:
            print(f"--- {name}: {results[name][-1]['outcome']}: {results[name][-1]['body']}")
    if args.calls:
        for name in order:
            if name == HELLO or not results[name]:
                continue
            log_ = results[name][-1]["call_log"]
            conns = len({c for _a, _d, c, _op in log_})
            print(f"--- {name}: {len(log_)} AWS calls on {conns} connections, last run "
                  "(ms from start, ms moto took, connection, operation)")
            first = {}
            for at, took, conn, op in log_:
                first.setdefault(conn, len(first) + 1)
                print(f"  {at:7.1f} {took:6.1f}  #{first[conn]:<2} {op}")
            # Where the own time goes, over all runs: the steps in the order the runs first took them.
            steps: dict[str, list[float]] = {}
            for r in results[name]:
                if r["total_ms"] is not None:
                    for step, ms in own_by_step(r["total_ms"], r["call_log"]):
                        steps.setdefault(step, []).append(ms)
            runs = sum(1 for r in results[name] if r["total_ms"] is not None)
            print(f"    own ms by step (mean of {runs} runs; a step no run left uncovered is not listed):")
            for step, values in steps.items():
                mean = sum(values) / runs
                if mean >= 0.005:
                    print(f"    {mean:7.2f}  {step}")
    if not ok_all:
        return 1
    if args.arm64:
        return 0
    return 0 if all_meet else 3


if __name__ == "__main__":
    sys.exit(main())
