"""Tests of the cold-start harness's own measurements (harness.py). Run by scripts/test:
`python3 -m unittest discover -s scripts/coldstart`."""

from __future__ import annotations

import subprocess
import sys
import time
import unittest

from harness import cpu_ms, own_by_step


class CpuTimeTest(unittest.TestCase):
    def test_a_busy_process_reports_the_cpu_it_used_and_an_idle_one_almost_none(self) -> None:
        busy = subprocess.Popen([sys.executable, "-c", "import time\nt=time.process_time()\n"
                                 "while time.process_time()-t<0.2: pass\nimport sys; sys.stdout.write('x'); "
                                 "sys.stdout.flush(); time.sleep(30)"], stdout=subprocess.PIPE)
        idle = subprocess.Popen([sys.executable, "-c", "import sys,time; sys.stdout.write('x'); sys.stdout.flush(); "
                                 "time.sleep(30)"], stdout=subprocess.PIPE)
        try:
            # Each writes once its work is done.
            self.assertEqual(busy.stdout.read(1), b"x")
            self.assertEqual(idle.stdout.read(1), b"x")
            busy_ms, idle_ms = cpu_ms(busy.pid), cpu_ms(idle.pid)
            self.assertIsNotNone(busy_ms)
            self.assertIsNotNone(idle_ms)
            # 200 ms of spinning, plus the interpreter's start.
            self.assertGreaterEqual(busy_ms, 200.0)
            self.assertLess(busy_ms, 5000.0)
            self.assertLess(idle_ms, busy_ms - 150.0)
            # Asleep, the busy one gains nothing more.
            time.sleep(0.1)
            self.assertLess(cpu_ms(busy.pid) - busy_ms, 20.0)
        finally:
            for p in (busy, idle):
                p.kill()
                p.wait()

    def test_a_process_that_is_gone_has_no_figure(self) -> None:
        p = subprocess.Popen([sys.executable, "-c", "pass"])
        p.wait()
        self.assertIsNone(cpu_ms(p.pid))


class OwnByStepTest(unittest.TestCase):
    def test_own_time_is_split_by_the_call_each_uncovered_stretch_came_before(self) -> None:
        calls = [
            (2.0, 3.0, 1, "secretsmanager GetSecretValue"),  # 2.0-5.0
            (3.0, 4.0, 2, "dynamodb Query"),                  # 3.0-7.0: no gap
            (7.5, 1.0, 2, "dynamodb PutItem"),                # 0.5 after the query
            (8.7, 1.0, 1, "dynamodb PutItem"),                # 0.2 after the first put
        ]
        steps = own_by_step(10.0, list(reversed(calls)))
        self.assertEqual([s for s, _ in steps], [
            "before secretsmanager GetSecretValue", "before dynamodb Query", "before dynamodb PutItem",
            "before dynamodb PutItem #2", "before the answer"])
        for (_, got), want in zip(steps, [2.0, 0.0, 0.5, 0.2, 0.3]):
            self.assertAlmostEqual(got, want)
        # The parts are the own time: the cold start less the union of the calls.
        self.assertAlmostEqual(sum(ms for _, ms in steps), 10.0 - (7.0 - 2.0) - 1.0 - 1.0)

    def test_a_function_that_calls_nothing_spends_it_all_before_its_answer(self) -> None:
        self.assertEqual(own_by_step(2.5, []), [("before the answer", 2.5)])


if __name__ == "__main__":
    unittest.main()
