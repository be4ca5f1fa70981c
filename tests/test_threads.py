"""The OpenMP wait policy the package sets before torch loads, unless the environment sets one."""

import os
import subprocess
import sys


def _policy(env_value):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "SHARED_CPU_DEFAULTS")}
    env["SHARED_CPU_DEFAULTS"] = "0"
    if env_value is not None:
        env["OMP_WAIT_POLICY"] = env_value
    code = "import synesthesia, os; print(os.environ.get('OMP_WAIT_POLICY'))"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_passive_waits_by_default_and_the_users_setting_wins():
    assert _policy(None) == "PASSIVE"
    assert _policy("ACTIVE") == "ACTIVE"
