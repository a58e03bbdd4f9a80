"""No crate of the workspace has modules that import each other in a circle.

A module's imports are the `crate::a::b` paths its non-test code names (in `use` trees and in
expressions), resolved to the deepest module that exists; a module's own descendants and
ancestors do not count (a parent declares its children, a child may use its parent's items),
nor does the crate root. A cycle is a strongly connected set of two or more modules.

    python3 tests/check_module_cycles.py            # every crates/*/src and functions/*/src
    python3 tests/check_module_cycles.py DIR...     # those source roots

Before the workspace, it checks itself on a planted cycle, so a checker that finds nothing
cannot pass silently.
"""

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = re.compile(r"#\[cfg\(test\)\]\s*(?:pub(?:\(crate\))?\s+)?mod\s+\w+\s*\{")
PATH = re.compile(r"crate::(\{[^;]*?\}|[a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)")
IN_TREE = re.compile(r"(?:^|[{,\s])([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)")


def module_name(src: Path, file: Path) -> str:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return "::".join(parts)


def imports(text: str) -> set[str]:
    text = re.sub(r"//.*", "", text)
    text = TESTS.split(text)[0]
    found = set()
    for match in PATH.finditer(text):
        path = match.group(1)
        if path.startswith("{"):
            found.update(IN_TREE.findall(path[1:-1]))
        else:
            found.add(path)
    return found


def graph(src: Path) -> dict[str, set[str]]:
    raw = {module_name(src, f): imports(f.read_text()) for f in src.rglob("*.rs")}
    names = set(raw)

    def resolve(path: str):
        parts = path.split("::")
        for end in range(len(parts), 0, -1):
            name = "::".join(parts[:end])
            if name in names:
                return name
        return None

    edges: dict[str, set[str]] = {name: set() for name in names}
    for module, paths in raw.items():
        for path in paths:
            target = resolve(path)
            related = target is None or target == module or not module or not target
            related = related or module.startswith(target + "::")
            related = related or target.startswith(module + "::")
            if not related:
                edges[module].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of two or more modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def self_check() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        (src / "read").mkdir()
        (src / "lib.rs").write_text("mod read; mod rules;\n")
        (src / "read" / "mod.rs").write_text("pub mod typed;\n// crate::rules is in a comment\n")
        (src / "read" / "typed.rs").write_text("use crate::{rules::{classify, Plausible}};\n")
        (src / "rules.rs").write_text(
            "use super::x;\nfn f() { crate::read::typed::g(); }\n"
            "#[cfg(test)]\nmod tests { use crate::read; }\n"
        )
        found = cycles(graph(src))
        assert found == [["read::typed", "rules"]], found
        (src / "rules.rs").write_text("#[cfg(test)]\nmod tests { use crate::read::typed; }\n")
        assert cycles(graph(src)) == [], "a test module's imports counted"


def main() -> int:
    self_check()
    roots = [Path(a) for a in sys.argv[1:]] or sorted(
        [*ROOT.glob("crates/*/src"), *ROOT.glob("functions/*/src")]
    )
    failed = False
    for src in roots:
        edges = graph(src)
        for cycle in cycles(edges):
            failed = True
            print(f"{src}: modules import each other in a circle: {' -> '.join(cycle)}")
    if not failed:
        print(f"no import cycles among the modules of {len(roots)} crates")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
