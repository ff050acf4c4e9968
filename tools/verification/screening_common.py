"""What the Python and JavaScript screens share: limits, the finding type, the paths that reach descriptors."""

from __future__ import annotations

import re

MAX_SOURCE_CHARS = 300_000  # far beyond any real candidate; screening costs ~10 µs a character
MAX_NESTED_SCREENS = 3  # exec/eval of a constant string is screened too, this many levels deep
TOO_DEEP = "too deeply nested to screen"
Finding = tuple[int, str]  # (line, reason)
FD_PATH = re.compile(r"^/?proc(?:/|$)|/proc(?:/|$)|/dev/(?:fd|mem|kmem|port|tcp|udp)\b")
