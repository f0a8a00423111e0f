"""docs/security.md cites tests as evidence; a cited test that is renamed or removed makes the
table untrue, so every citation must name a test function that exists.

A citation is `file::test` (the file under tests/), or `::test` after one, meaning the same file.
A bare `file.py` citation must name an existing test file.
"""

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "security.md"
TESTS = ROOT / "tests"
CITATION = re.compile(r"`((?:[a-z_]+/)*test_[a-z0-9_]+\.py)?(?:::(test_[A-Za-z0-9_]+))?`")
ROW = re.compile(r"^\| (\d+\.\d+\.\d+) \|")


@cache
def _test_names(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text())
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    )


def _citations(table: Path = TABLE) -> list[tuple[str, str | None, str | None]]:
    """(requirement id, test file, test name or None) for every citation in the table's rows."""
    found = []
    for line in table.read_text().splitlines():
        row = ROW.match(line)
        if row is None:
            continue
        current_file = None
        for match in CITATION.finditer(line):
            cited_file, name = match.groups()
            if cited_file is None and name is None:
                continue
            current_file = cited_file or current_file
            found.append((row.group(1), current_file, name))
    return found


def test_the_table_cites_tests():
    assert len(_citations()) > 50


def test_every_cited_test_exists():
    missing = []
    for requirement, cited_file, name in _citations():
        if cited_file is None:
            missing.append(f"{requirement}: ::{name} follows no file")
            continue
        path = TESTS / cited_file
        if not path.is_file():
            missing.append(f"{requirement}: {cited_file} is no test file")
        elif name is not None and name not in _test_names(path):
            missing.append(f"{requirement}: {cited_file}::{name} does not exist")
    assert missing == []


def test_the_check_reads_a_following_citation_as_the_same_file(tmp_path):
    table = tmp_path / "security.md"
    table.write_text(
        "| 9.9.9 | made up | 1 | met |"
        " `config/test_security_table.py::test_every_cited_test_exists`, `::test_not_here` |\n"
    )
    assert _citations(table) == [
        ("9.9.9", "config/test_security_table.py", "test_every_cited_test_exists"),
        ("9.9.9", "config/test_security_table.py", "test_not_here"),
    ]
    assert "test_not_here" not in _test_names(TESTS / "config" / "test_security_table.py")
