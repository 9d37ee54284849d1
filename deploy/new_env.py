"""Write a new .env for docker-compose from .env.example, every CHANGE_ME replaced by a fresh
random secret (letters and digits, safe inside database URLs; a real Fernet key for
AIRFLOW_FERNET_KEY) and AIRFLOW_UID set to the calling user's uid. Standard library only.

    python3 deploy/new_env.py .env.example .env      (what `make env` runs)

Refuses to overwrite an existing file: rotating a secret is a deliberate edit (docs/runbook.md).
"""
from __future__ import annotations

import base64
import os
import re
import secrets
import sys
from pathlib import Path


def fill(example: str, uid: int) -> str:
    lines = []
    for line in example.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            if key == "AIRFLOW_FERNET_KEY":
                value = base64.urlsafe_b64encode(os.urandom(32)).decode()
            elif key == "AIRFLOW_UID" and uid != 0:
                value = str(uid)
            else:
                value = re.sub("CHANGE_ME", lambda _: secrets.token_hex(24), value)
            line = f"{key}={value}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    example, target = Path(argv[1]), Path(argv[2])
    if target.exists():
        print(f"{target} exists; not overwritten", file=sys.stderr)
        return 1
    target.write_text(fill(example.read_text("utf-8"), os.getuid()), "utf-8")
    target.chmod(0o600)
    print(f"wrote {target} (secrets generated; review SMTP_CONNECTION, COMPOSE_PROFILES and the folders)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
