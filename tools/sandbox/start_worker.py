"""A sandbox worker's entry script: `python -E -S start_worker.py CONFIG_JSON` (see `worker.py`).

A script is compiled from source at every start; a module it imports is compiled once and cached. So this
file is one line, and the fork server itself is the `worker` module beside it.
"""

from worker import main

main()
