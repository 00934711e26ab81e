"""Tests of the cold-start harness's own measurements (harness.py). Run by scripts/test:
`python3 -m unittest discover -s scripts/coldstart`."""

from __future__ import annotations

import subprocess
import sys
import time
import unittest

from harness import cpu_ms


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


if __name__ == "__main__":
    unittest.main()
