#!/usr/bin/env python3
"""Judges checkov's JSON report on infra/template.yaml.

Owns the rule "no checkov failure without a written reason in the template": passes when checkov
reports no failed check, every skipped check carries a comment (from the resource's
`Metadata: checkov: skip: - id: … comment: …`), and every skip written in the template was used
(a skip that no longer matches a check is stale and must go). Also fails on parsing errors.

Usage: checkov_gate.py REPORT.json TEMPLATE.yaml   (exit 1 with one line per problem)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cfn_model  # noqa: E402


def template_skips(template: dict) -> set[tuple[str, str]]:
    """(resource logical id, check id) for every skip written in the template."""
    out = set()
    for lid, res in (template.get("Resources", {}) or {}).items():
        for skip in ((res.get("Metadata") or {}).get("checkov") or {}).get("skip", []) or []:
            out.add((lid, str(skip.get("id"))))
    return out


def judge(report: dict | list, template: dict) -> list[str]:
    reports = report if isinstance(report, list) else [report]
    reports = [r for r in reports if r.get("check_type") in (None, "cloudformation")]
    if not reports:
        return ["checkov produced no cloudformation report"]
    problems = []
    used = set()
    for rep in reports:
        results = rep.get("results") or {}
        for err in results.get("parsing_errors", []) or []:
            problems.append(f"checkov could not parse {err}")
        for c in results.get("failed_checks", []) or []:
            problems.append(
                f"checkov {c['check_id']} failed for {c['resource']}: {c.get('check_name', '')} "
                "(fix it, or skip it on the resource with `Metadata: checkov: skip: - id/comment` saying why)"
            )
        for c in results.get("skipped_checks", []) or []:
            lid = c["resource"].split(".", 1)[-1]
            used.add((lid, c["check_id"]))
            comment = ((c.get("check_result") or {}).get("suppress_comment") or "").strip()
            if not comment or comment.lower() == "no comment provided":
                problems.append(f"checkov {c['check_id']} is skipped for {c['resource']} without a written reason")
        summary = rep.get("summary") or {}
        ran = summary.get("passed", len(results.get("passed_checks", []) or [])) + summary.get(
            "failed", len(results.get("failed_checks", []) or [])
        )
        if not ran:
            problems.append("checkov ran no checks on the template (wrong framework or file?)")
    for lid, check in sorted(template_skips(template) - used):
        problems.append(f"stale checkov skip {check} on {lid}: no such check fails there any more; remove it")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    report_text = Path(argv[0]).read_text(encoding="utf-8")
    try:
        report = json.loads(report_text)
    except json.JSONDecodeError:
        print(f"infra check: checkov's report is not JSON: {report_text[:300]!r}", file=sys.stderr)
        return 1
    problems = judge(report, cfn_model.load(Path(argv[1])))
    for p in problems:
        print(f"infra check: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
