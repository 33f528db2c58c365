"""Run a command as the child of this small process; write its exit status, wall time and own peak RSS as JSON.

A process started straight from a large one (the benchmark holds TensorFlow)
reports the large one's peak RSS as its own: at exec Linux keeps the high-water
mark of the memory it replaces, and a (v)forked child replaces its parent's.
Forked from this bare interpreter instead (``python -I``, standard library
only, about 10 MB), the command's ``ru_maxrss`` is its own, floored at this
process's size.

    python -I launch.py RESULT.json COMMAND [ARGS...]
"""

import json
import os
import sys
import time


def main() -> int:
    """Fork, exec the command, wait for it; the result file gets what ``wait4`` says; exit with its status."""
    result, command = sys.argv[1], sys.argv[2:]
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w") as f:
        json.dump({"exit": code, "wall_s": wall, "peak_rss_kb": usage.ru_maxrss}, f)
    return code


if __name__ == "__main__":
    sys.exit(main())
