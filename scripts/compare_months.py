"""Compare the month folders of two output folders byte for byte.

    python scripts/compare_months.py var/out-backfill var/out-single 2020-05 2020-12

Used to check that backfilled months are identical to single-month runs (`make run`) of the
same months (docs/schedule-and-delivery.md). Exit status 0 when every month is identical.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from supervision.months import Month, months_between  # noqa: E402


def digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    a, b = Path(argv[0]), Path(argv[1])
    ok = True
    for month in months_between(Month.parse(argv[2]), Month.parse(argv[3])):
        da, db = digests(a / str(month)), digests(b / str(month))
        if not da or not db:
            print(f"{month}: missing in {'the first' if not da else 'the second'} folder")
            ok = False
            continue
        differ = sorted(k for k in da.keys() | db.keys() if da.get(k) != db.get(k))
        if differ:
            ok = False
            print(f"{month}: {len(differ)} of {len(da.keys() | db.keys())} files differ: {', '.join(differ[:8])}")
        else:
            print(f"{month}: identical ({len(da)} files, {sum((a / str(month) / k).stat().st_size for k in da)} bytes)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
