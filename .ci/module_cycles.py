#!/usr/bin/env python3
"""Fails when the modules of a crate import each other in a circle.

For every crate of the workspace (a folder with Cargo.toml and src/), each source file is a
module; a `crate::a::b` path in it (in a `use`, a `use crate::{…}` group, or an
expression) is an edge to the deepest module file of that path. Declaring a child module
(`mod x;`) is no edge: a parent may hold children that import each other's parents'
siblings. Prints every circle (strongly connected component of more than one file) and
exits 1 if there is any. Usage: module_cycles.py [WORKSPACE]
"""
import pathlib
import re
import sys

COMMENT = re.compile(r"//[^\n]*")
GROUP = re.compile(r"crate::\{")
PATH = re.compile(r"crate::((?:[A-Za-z_]\w*::)*[A-Za-z_]\w*)")


def module_path(src, file):
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts.pop()
    return tuple(parts)


def group_paths(text, start):
    """The paths of the `{…}` group opening at `start`, nested groups flattened."""
    depth, end = 1, start
    while depth and end < len(text):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        end += 1
    body, paths, prefix, item = text[start:end - 1], [], [], ""
    stack = []
    for char in body + ",":
        if char == "{":
            stack.append(prefix)
            prefix = prefix + [p for p in item.strip().strip(":").split("::") if p]
            item = ""
        elif char in ",}":
            name = item.strip().split(" as ")[0]
            if name and name != "self":
                paths.append(prefix + [p for p in name.split("::") if p])
            elif name == "self":
                paths.append(list(prefix))
            item = ""
            if char == "}":
                prefix = stack.pop() if stack else []
        else:
            item += char
    return paths


def imports(text):
    text = COMMENT.sub("", text)
    found = [m.group(1).split("::") for m in PATH.finditer(text)]
    for match in GROUP.finditer(text):
        found += group_paths(text, match.end())
    return found


def circles(graph):
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index, low, on_stack, stack, result = {}, {}, set(), [], []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            advanced = False
            for target in edges:
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph[target])))
                    advanced = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    result.append(sorted(component))
    return result


def crate_circles(src):
    files = {module_path(src, f): f for f in src.rglob("*.rs")}
    graph = {}
    for module, file in files.items():
        targets = set()
        for path in imports(file.read_text(encoding="utf-8")):
            for length in range(len(path), 0, -1):
                target = tuple(path[:length])
                if target in files:
                    if target != module:
                        targets.add(target)
                    break
        graph[module] = sorted(targets)
    return [[str(files[m].relative_to(src.parent.parent)) for m in c] for c in circles(graph)]


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    found = []
    for manifest in sorted(root.glob("*/Cargo.toml")):
        src = manifest.parent / "src"
        if src.is_dir():
            found += crate_circles(src)
    for circle in found:
        print(f"import circle of {len(circle)} files: " + ", ".join(circle), file=sys.stderr)
    print(f"module import circles: {len(found)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
