"""Tests of Pulso's infrastructure checks: the real template passes, and deliberately broken copies
of it (or of the code it is checked against) fail with a message naming what is wrong.

Run: cd infra/checks && python3 -m unittest   (scripts/check-infra does)
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
import shutil
import tempfile
import unittest
from pathlib import Path

import cfn_model
import check_consistency
import checkov_gate
from check_consistency import Checker

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = cfn_model.load(ROOT / "infra" / "template.yaml")


def broken(mutate) -> list[str]:
    """The checker's errors for a copy of the template changed by `mutate(resources, template)`."""
    t = copy.deepcopy(TEMPLATE)
    mutate(t["Resources"], t)
    return Checker(ROOT, template=t).run()


def mentions(errors: list[str], *words: str) -> bool:
    return any(all(w in e for w in words) for e in errors)


class Tree:
    """A copy of the parts of the repository the checker reads, to break the code side."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)
        for rel in ("Cargo.toml", "infra/template.yaml", "docs/data-model.md"):
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / rel, self.root / rel)
        for crate in ("aws", "core"):
            shutil.copytree(ROOT / "shared" / crate / "src", self.root / "shared" / crate / "src")
        for cargo in (ROOT / "functions").glob("*/Cargo.toml"):
            dest = self.root / "functions" / cargo.parent.name
            dest.mkdir(parents=True)
            shutil.copy(cargo, dest / "Cargo.toml")
            shutil.copytree(cargo.parent / "src", dest / "src")

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def errors(self) -> list[str]:
        return Checker(self.root).run()

    def close(self):
        self.tmp.cleanup()


class TheRepository(unittest.TestCase):
    def test_the_template_and_the_code_agree(self):
        self.assertEqual(Checker(ROOT).run(), [])

    def test_both_parameter_sets_resolve_for_every_function(self):
        envs = Checker(ROOT).resolved_environments()
        crates = {p.parent.name for p in (ROOT / "functions").glob("*/Cargo.toml")} - {"local"}
        for label in ("sample", "full"):
            self.assertEqual(set(envs[label]), crates)
            for name, env in envs[label].items():
                self.assertEqual(env["PULSO__STORE__KIND"], "aws")
                if name in ("events", "feedback"):  # they sign and check no link
                    self.assertNotIn("PULSO_TOKEN_SECRET_ARN", env)
                else:
                    self.assertTrue(env["PULSO_TOKEN_SECRET_ARN"].startswith("arn:aws:secretsmanager:"))
        self.assertEqual(envs["full"]["capture"]["PULSO__LINKS__BASE_URL"], '"https://nps.acme.example"')
        self.assertNotIn("PULSO__EMAIL__REPLY_TO", envs["sample"]["dispatch"])
        self.assertEqual(
            envs["full"]["reports"]["PULSO__AUDIENCES__WEEKLY__RECIPIENTS"],
            '["product@acme.example","marketing@acme.example"]',
        )


class BrokenTemplates(unittest.TestCase):
    def test_a_crate_without_its_function(self):
        errors = broken(lambda r, t: r.pop("FeedbackFunction"))
        self.assertTrue(mentions(errors, "crate functions/feedback has no function"), errors)

    def test_a_function_without_a_crate(self):
        def add_ghost(r, t):
            ghost = copy.deepcopy(r["CaptureFunction"])
            ghost["Metadata"]["BuildProperties"]["Binary"] = "ghost"
            r["GhostFunction"] = ghost

        errors = broken(add_ghost)
        self.assertTrue(mentions(errors, "GhostFunction", "'ghost'", "not a function crate"), errors)

    def test_two_functions_for_one_crate(self):
        def twin(r, t):
            r["CaptureTwin"] = copy.deepcopy(r["CaptureFunction"])

        errors = broken(twin)
        self.assertTrue(mentions(errors, "functions/capture is built by 2 functions"), errors)

    def test_a_function_on_the_wrong_architecture(self):
        errors = broken(lambda r, t: r["DispatchFunction"]["Properties"].__setitem__("Architectures", ["x86_64"]))
        self.assertTrue(mentions(errors, "DispatchFunction", "arm64"), errors)

    def test_a_function_built_from_the_workspace_root(self):
        # `cargo lambda build --bin capture` at the root picks from the default member only.
        errors = broken(lambda r, t: r["CaptureFunction"]["Properties"].__setitem__("CodeUri", ".."))
        self.assertTrue(mentions(errors, "CaptureFunction", "'../functions/capture'"), errors)

    def test_a_variable_the_runtime_reads_is_not_set(self):
        errors = broken(lambda r, t: t["Globals"]["Function"]["Environment"]["Variables"].pop("PULSO__STORE__TABLE"))
        for fn in ("CaptureFunction", "DispatchFunction", "FeedbackFunction"):
            self.assertTrue(mentions(errors, fn, "reads PULSO__STORE__TABLE"), errors)

    def test_a_function_that_signs_links_without_the_keys_secret(self):
        errors = broken(lambda r, t: r["CaptureFunction"]["Properties"]["Environment"]["Variables"].pop("PULSO_TOKEN_SECRET_ARN"))
        self.assertTrue(mentions(errors, "CaptureFunction", "PULSO_TOKEN_SECRET_ARN"), errors)

    def test_a_function_that_reads_no_secret_is_handed_one(self):
        def handed(r, t):
            props = r["EventsFunction"]["Properties"]
            props.setdefault("Environment", {}).setdefault("Variables", {})["PULSO_TOKEN_SECRET_ARN"] = {"Ref": "TokenSecret"}

        errors = broken(handed)
        self.assertTrue(mentions(errors, "EventsFunction", "reads no secret"), errors)

    def test_a_required_variable_set_only_under_a_condition(self):
        def conditional(r, t):
            env = t["Globals"]["Function"]["Environment"]["Variables"]
            env["PULSO__STORE__TABLE"] = {"Fn::If": ["HasReplyTo", {"Ref": "Table"}, {"Ref": "AWS::NoValue"}]}

        errors = broken(conditional)
        self.assertTrue(mentions(errors, "PULSO__STORE__TABLE", "only under a condition"), errors)

    def test_webhook_urls_without_the_webhook_secret(self):
        errors = broken(lambda r, t: r["AlertsFunction"]["Properties"]["Environment"]["Variables"].pop("PULSO_WEBHOOK_SECRET_ARN"))
        self.assertTrue(mentions(errors, "AlertsFunction", "PULSO_WEBHOOK_SECRET_ARN"), errors)

    def test_a_table_that_differs_from_the_data_model(self):
        def drift(r, t):
            gsi3 = r["Table"]["Properties"]["GlobalSecondaryIndexes"][2]
            gsi3["KeySchema"][1]["AttributeName"] = "GSI3SORT"
            r["Table"]["Properties"]["AttributeDefinitions"].append({"AttributeName": "GSI3SORT", "AttributeType": "S"})
            r["Table"].pop("UpdateReplacePolicy")

        errors = broken(drift)
        self.assertTrue(mentions(errors, "table GSIs", "docs/data-model.md"), errors)
        self.assertTrue(mentions(errors, "UpdateReplacePolicy must be Retain"), errors)

    def test_a_table_without_ttl_or_stream(self):
        def strip(r, t):
            r["Table"]["Properties"].pop("TimeToLiveSpecification")
            r["Table"]["Properties"].pop("StreamSpecification")

        errors = broken(strip)
        self.assertTrue(mentions(errors, "ttl_attribute"), errors)
        self.assertTrue(mentions(errors, "stream_view_type"), errors)

    def test_a_public_or_plain_http_bucket(self):
        def open_up(r, t):
            r["ArchiveBucket"]["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] = False
            r.pop("ArchiveBucketPolicy")

        errors = broken(open_up)
        self.assertTrue(mentions(errors, "BlockPublicPolicy must be true"), errors)
        self.assertTrue(mentions(errors, "deny requests without TLS"), errors)

    def test_a_queue_policy_shared_by_two_queues(self):
        def share(r, t):
            pol = r["FeedbackDeadLettersPolicy"]["Properties"]
            pol["Queues"].append({"Ref": "AlertsDeadLetters"})
            del r["AlertsDeadLettersPolicy"]

        errors = broken(share)
        self.assertTrue(mentions(errors, "FeedbackDeadLettersPolicy", "exactly one queue"), errors)
        self.assertTrue(mentions(errors, "queue AlertsDeadLetters", "without TLS"), errors)
        self.assertFalse(mentions(errors, "DispatchDeadLetters"), errors)

    def test_a_queue_policy_statement_naming_two_queues(self):
        def widen(r, t):
            st = r["DispatchDeadLettersPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
            st["Resource"] = [{"Fn::GetAtt": ["DispatchDeadLetters", "Arn"]}, {"Fn::GetAtt": ["ReportsDeadLetters", "Arn"]}]

        errors = broken(widen)
        self.assertTrue(mentions(errors, "DispatchDeadLettersPolicy", "TlsOnly", "only its queue"), errors)

    def test_an_environment_that_could_pass_lambdas_4_kb(self):
        def unbound(r, t):
            del t["Parameters"]["WebhookUrls"]["MaxLength"]
            t["Parameters"]["QuarterlyRecipients"]["MaxLength"] = 2000

        errors = broken(unbound)
        self.assertTrue(mentions(errors, "parameter WebhookUrls", "without a MaxLength"), errors)
        self.assertTrue(mentions(errors, "function ReportsFunction", "over Lambda's 4096"), errors)
        self.assertFalse(mentions(errors, "function AlertsFunction", "over Lambda's"), errors)

    def test_a_star_resource_that_could_be_named(self):
        def widen(r, t):
            statements = r["CaptureRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            statements.append({"Sid": "Wide", "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"})

        errors = broken(widen)
        self.assertTrue(mentions(errors, "CaptureRole", "Wide", "dynamodb:GetItem"), errors)

    def test_unscoped_ses_sending(self):
        def unscope(r, t):
            for st in r["DispatchRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
                if "ses:SendEmail" in st["Action"]:
                    st["Resource"] = {"Fn::Sub": "arn:aws:ses:${AWS::Region}:${AWS::AccountId}:identity/*"}

        errors = broken(unscope)
        self.assertTrue(mentions(errors, "DispatchRole", "SES send must be scoped"), errors)

    def test_functions_sharing_a_role(self):
        errors = broken(lambda r, t: r["EventsFunction"]["Properties"].__setitem__("Role", {"Fn::GetAtt": ["CaptureRole", "Arn"]}))
        self.assertTrue(mentions(errors, "share role CaptureRole"), errors)

    def test_a_schedule_outside_the_company_time_zone(self):
        errors = broken(lambda r, t: r["WeeklyReportSchedule"]["Properties"].pop("ScheduleExpressionTimezone"))
        self.assertTrue(mentions(errors, "WeeklyReportSchedule", "TimeZone"), errors)

    def test_a_missing_report_schedule(self):
        errors = broken(lambda r, t: r.pop("QuarterlyReportSchedule"))
        self.assertTrue(mentions(errors, "reports schedules", "quarterly"), errors)

    def test_a_function_without_alarms_or_log_retention(self):
        def unwatch(r, t):
            r.pop("FeedbackErrorsAlarm")
            r["FeedbackLogs"]["Properties"].pop("RetentionInDays")

        errors = broken(unwatch)
        self.assertTrue(mentions(errors, "FeedbackFunction", "Errors metric"), errors)
        self.assertTrue(mentions(errors, "FeedbackFunction", "RetentionInDays"), errors)

    def test_a_dead_letter_queue_without_an_alarm(self):
        def extra(r, t):
            r["ExtraDeadLetters"] = copy.deepcopy(r["AlertsDeadLetters"])

        errors = broken(extra)
        self.assertTrue(mentions(errors, "queue ExtraDeadLetters", "depth"), errors)

    def test_a_role_missing_an_action_its_code_needs(self):
        def narrow(r, t):
            for st in r["FeedbackRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
                if isinstance(st["Action"], list) and "dynamodb:PutItem" in st["Action"]:
                    st["Action"].remove("dynamodb:PutItem")

        errors = broken(narrow)
        self.assertTrue(mentions(errors, "FeedbackRole", "lacks dynamodb:PutItem", "put_suppression"), errors)

    def test_a_role_granting_an_action_no_code_needs(self):
        def widen(r, t):
            for st in r["FeedbackRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
                if isinstance(st["Action"], list) and "dynamodb:GetItem" in st["Action"]:
                    st["Action"].append("dynamodb:DeleteItem")

        errors = broken(widen)
        self.assertTrue(mentions(errors, "FeedbackRole", "grants dynamodb:DeleteItem"), errors)

    def test_the_command_fails_on_a_broken_copy_of_the_file(self):
        tree = Tree()
        try:
            text = (tree.root / "infra" / "template.yaml").read_text()
            self.assertIn("Binary: feedback\n", text)
            tree.write("infra/template.yaml", text.replace("Binary: feedback\n", "Binary: feedbak\n"))
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr):
                status = check_consistency.main(["--root", str(tree.root)])
            self.assertEqual(status, 1)
            self.assertIn("crate functions/feedback has no function", stderr.getvalue())
            self.assertIn("'feedbak'", stderr.getvalue())
        finally:
            tree.close()


class BrokenCode(unittest.TestCase):
    def setUp(self):
        self.tree = Tree()

    def tearDown(self):
        self.tree.close()

    def test_the_copy_passes_before_it_is_broken(self):
        self.assertEqual(self.tree.errors(), [])

    def test_a_new_variable_read_by_a_function(self):
        main = self.tree.root / "functions" / "reports" / "src" / "main.rs"
        main.write_text(main.read_text() + '\nfn _extra() { let _ = std::env::var("PULSO_REPORT_LIMIT"); }\n')
        errors = self.tree.errors()
        self.assertTrue(mentions(errors, "ReportsFunction", "functions/reports reads PULSO_REPORT_LIMIT"), errors)
        self.assertFalse(mentions(errors, "CaptureFunction", "PULSO_REPORT_LIMIT"), errors)

    def test_a_variable_read_only_by_tests_is_ignored(self):
        main = self.tree.root / "functions" / "reports" / "src" / "main.rs"
        main.write_text(
            main.read_text()
            + '\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() { let _ = std::env::var("PULSO_ONLY_IN_TESTS"); }\n}\n'
        )
        self.assertEqual(self.tree.errors(), [])

    def test_a_new_crate_without_a_function(self):
        self.tree.write(
            "functions/exports/Cargo.toml",
            '[package]\nname = "pulso-exports"\n[[bin]]\nname = "exports"\npath = "src/main.rs"\n',
        )
        self.tree.write("functions/exports/src/main.rs", "fn main() {}\n")
        errors = self.tree.errors()
        self.assertTrue(mentions(errors, "crate functions/exports has no function"), errors)

    def test_a_function_crate_without_the_link_script(self):
        manifest = self.tree.root / "functions" / "events" / "Cargo.toml"
        text = manifest.read_text()
        self.assertIn('build = "../../tools/link-no-pie.rs"\n', text)
        manifest.write_text(text.replace('build = "../../tools/link-no-pie.rs"\n', ""))
        errors = self.tree.errors()
        self.assertTrue(mentions(errors, "crate functions/events", "link-no-pie.rs"), errors)
        self.assertFalse(mentions(errors, "crate functions/capture", "link-no-pie.rs"), errors)

    def test_a_store_call_the_role_does_not_allow(self):
        lib = self.tree.root / "functions" / "feedback" / "src" / "lib.rs"
        lib.write_text(lib.read_text() + "\nasync fn _forget(s: &S) { let _ = s.delete_send(&id).await; }\n")
        errors = self.tree.errors()
        self.assertTrue(mentions(errors, "FeedbackRole", "lacks dynamodb:DeleteItem", "delete_send"), errors)

    def test_a_router_path_the_api_does_not_route(self):
        self.tree.write(
            "functions/capture/src/extra_routes.rs",
            'fn r(x: R) -> R { x.route("/a/{token}", get(h)).route("/healthz", get(h)) }\n',
        )
        errors = self.tree.errors()
        self.assertTrue(mentions(errors, "CaptureFunction", "/healthz"), errors)
        self.assertFalse(mentions(errors, "/a/{token}"), errors)


class Pieces(unittest.TestCase):
    def test_route_matching(self):
        m = check_consistency.route_matches
        seg = lambda p: [s for s in p.split("/") if s]  # noqa: E731
        self.assertTrue(m(seg("/a/{proxy+}"), seg("/a/{token}")))
        self.assertTrue(m(seg("/a/{proxy+}"), seg("/a/{token}/comment")))
        self.assertFalse(m(seg("/a/{proxy+}"), seg("/a")))
        self.assertFalse(m(seg("/a/{proxy+}"), seg("/u/{token}")))
        self.assertTrue(m(seg("/v1/events"), seg("/v1/events")))
        self.assertFalse(m(seg("/v1/events"), seg("/v1/events/x")))
        self.assertTrue(m(seg("/r/{token}"), seg("/r/{key}")))

    def test_strip_tests(self):
        src = 'a("PULSO_A");\n#[cfg(test)]\nmod tests { fn f() { g("PULSO_B"); } }\nb("PULSO_C");\n#[cfg(test)]\nuse x;\n'
        out = check_consistency.strip_tests(src)
        self.assertIn("PULSO_A", out)
        self.assertNotIn("PULSO_B", out)
        self.assertIn("PULSO_C", out)

    def test_the_data_model_parser_reads_the_documented_table(self):
        doc = check_consistency.parse_data_model((ROOT / "docs" / "data-model.md").read_text())
        self.assertEqual(doc["key"], ("PK", "SK"))
        self.assertEqual([i[0] for i in doc["indexes"]], ["GSI1", "GSI2", "GSI3"])
        with self.assertRaises(ValueError):
            check_consistency.parse_data_model("# nothing here\n")

    def test_the_evaluator(self):
        ev = cfn_model.Evaluator(TEMPLATE, cfn_model.SAMPLE_PARAMETERS)
        self.assertEqual(ev.eval({"Fn::Sub": "${AWS::Region}-${CompanyName}"}), "eu-west-1-Acme Analytics")
        self.assertEqual(ev.eval({"Fn::Join": [",", {"Fn::Split": [";", "a;b"]}]}), "a,b")
        self.assertEqual(ev.eval({"Fn::If": ["HasReplyTo", "x", {"Ref": "AWS::NoValue"}]}), cfn_model.NO_VALUE)
        self.assertEqual(ev.eval({"Fn::Sub": "${!Literal}"}), "${Literal}")
        with self.assertRaises(cfn_model.TemplateError):
            cfn_model.Evaluator(TEMPLATE, {})  # required parameters missing


class Reach(unittest.TestCase):
    """The name resolution behind the DynamoDB rule, on a small made-up pulso-core."""

    def test_only_what_the_function_can_reach_counts(self):
        with tempfile.TemporaryDirectory() as tmp:
            core = Path(tmp)
            (core / "b").mkdir()
            (core / "lib.rs").write_text("pub mod a;\npub mod b;\n")
            (core / "a.rs").write_text(
                "use crate::b::helper;\n"
                "pub fn entry(s: &S) { helper(s); local(s); }\n"
                "fn local(s: &S) { s.store.contact(&id); }\n"
                "pub fn unused(s: &S) { s.store.delete_send(&id); }\n"
            )
            (core / "b" / "mod.rs").write_text(
                "mod c;\npub use c::Thing;\npub const LIMIT: u32 = 1;\n"
                "pub fn helper(s: &S) { c::deep(s); }\n"
            )
            (core / "b" / "c.rs").write_text(
                "pub fn deep(s: &S) { s.store.put_send(&x); }\n"
                "pub struct Thing;\nimpl Thing { fn m(&self, s: &S) { s.store.rollups(a, b); } }\n"
                "#[cfg(test)]\nmod tests { fn t(s: &S) { s.store.save_response(&r, &d); } }\n"
            )
            function = "use pulso_core::a;\nfn main() { a::entry(&s); let _ = pulso_core::b::LIMIT; }\n"
            texts = check_consistency.CoreReach(core).reach([function])
            calls = {m for t in texts for m in re.findall(r"\.store\.([a-z_]+)\(", t)}
            self.assertEqual(calls, {"contact", "put_send"})
            # Naming a type reaches its file (its methods), naming a constant reaches nothing.
            texts = check_consistency.CoreReach(core).reach(["fn main() { pulso_core::b::Thing.m(&s); }"])
            calls = {m for t in texts for m in re.findall(r"\.store\.([a-z_]+)\(", t)}
            self.assertEqual(calls, {"put_send", "rollups"})

    def test_the_documented_operations(self):
        ops = check_consistency.store_operations((ROOT / "docs" / "data-model.md").read_text())
        self.assertEqual(ops["put_contact"][0], {"PutItem"})
        self.assertEqual(ops["save_response"][0], {"PutItem", "UpdateItem"})
        self.assertEqual(ops["delete_contact"][0], {"GetItem", "DeleteItem"})
        self.assertEqual(ops["contacts_of_account"], ({"Query"}, True))
        self.assertEqual(ops["rollups"], ({"Query"}, False))
        self.assertEqual(ops["suppression"][0], {"GetItem", "PutItem"})
        with self.assertRaises(ValueError):
            check_consistency.store_operations("## Access patterns\n| a | b | c |\n")


class CheckovGate(unittest.TestCase):
    def report(self, failed=(), skipped=()):
        return {
            "check_type": "cloudformation",
            "results": {
                "passed_checks": [{"check_id": "CKV_AWS_1", "resource": "AWS::X::Y.A"}],
                "failed_checks": list(failed),
                "skipped_checks": list(skipped),
                "parsing_errors": [],
            },
        }

    def skipped_as_in_template(self):
        out = []
        for lid, check in checkov_gate.template_skips(TEMPLATE):
            out.append({"check_id": check, "resource": f"AWS::Any::Type.{lid}", "check_result": {"suppress_comment": "why"}})
        return out

    def test_a_clean_report_passes(self):
        self.assertEqual(checkov_gate.judge(self.report(skipped=self.skipped_as_in_template()), TEMPLATE), [])

    def test_a_failed_check_fails(self):
        failed = [{"check_id": "CKV_AWS_28", "resource": "AWS::DynamoDB::Table.Table", "check_name": "PITR"}]
        problems = checkov_gate.judge(self.report(failed, self.skipped_as_in_template()), TEMPLATE)
        self.assertTrue(mentions(problems, "CKV_AWS_28", "Table"), problems)

    def test_a_skip_without_a_reason_fails(self):
        skipped = self.skipped_as_in_template()
        skipped[0]["check_result"]["suppress_comment"] = "No comment provided"
        problems = checkov_gate.judge(self.report(skipped=skipped), TEMPLATE)
        self.assertTrue(mentions(problems, "without a written reason"), problems)

    def test_a_stale_skip_fails(self):
        skipped = self.skipped_as_in_template()[1:]
        problems = checkov_gate.judge(self.report(skipped=skipped), TEMPLATE)
        self.assertTrue(mentions(problems, "stale checkov skip"), problems)


if __name__ == "__main__":
    unittest.main()
