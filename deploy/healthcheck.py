"""The container's health check: GET a path on the local service; exit 0 when it answers 200.

The image has no curl; this needs only the standard library.
Usage: python healthcheck.py [/healthz | /readyz]
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else "/healthz"
    url = f"http://127.0.0.1:{os.environ.get('CHANGEWARD_PORT', '8080')}{path}"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as error:
        sys.stderr.write(f"{url}: {error}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
