# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for the get-pip.py bootstrap script that ansible-test downloads.

ansible-test bootstraps pip into every venv it makes by running
https://ci-files.testing.ansible.com/ansible-test/get-pip-<version>.py, a host
this lab cannot reach. It first looks in ~/.ansible/test/cache/get_pip_<v>.py;
scripts/sanity.sh puts this file at the path ansible-test names when that download fails.

ansible-test runs it (through its quiet_pip.py wrapper, with runpy) as:
    <venv python> quiet_pip.py [--disable-pip-version-check] pip==<v> [--no-setuptools] [--no-wheel]

What it does instead of downloading:
1. `python -m ensurepip` in a CHILD process: ensurepip sets
   PIP_CONFIG_FILE=/dev/null in its own process, which would hide the
   machine's pip config (the CA bundle the registry needs, find-links, extra
   indexes) from any pip run later in the same process.
2. `python -m pip install <the requirements given>` with PIP_CONFIG_FILE
   removed from its environment, so /etc/pip.conf and the user's pip.conf
   apply (ansible-test has cleared PIP_CERT and the like from the environment).
"""

from __future__ import annotations

import os
import subprocess
import sys

# get-pip.py options that `pip install` does not know; they only say "do not
# also install setuptools / wheel", which is what a plain pip install does.
DROP = ("--no-setuptools", "--no-wheel")


def log(message):
    sys.stderr.write("get_pip stand-in: %s\n" % message)
    sys.stderr.flush()


def main(argv):
    env = dict(os.environ)
    env.pop("PIP_CONFIG_FILE", None)
    env.pop("GET_PIP", None)

    have_pip = subprocess.call([sys.executable, "-c", "import pip"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0
    if not have_pip:
        log("ensurepip into %s" % sys.prefix)
        subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], env=env)

    args = [a for a in argv if a not in DROP]
    if not any(not a.startswith("-") for a in args):
        return 0  # nothing to install beyond what ensurepip gave
    command = [sys.executable, "-m", "pip", "install"] + args
    log(" ".join(command[1:]))
    return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
