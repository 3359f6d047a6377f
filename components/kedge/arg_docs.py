"""Component arguments listed in their classes' docstrings, from the declarations themselves.

A component's args are TypedDicts whose fields carry their own docstrings (the string under each
field). Python keeps those strings only in the source, so help(EdgeDindRuntimeArgs) would show
neither the fields nor which are required; `document_args(__name__)`, at the end of a component
module, appends to each TypedDict's docstring its fields read from that source: required ones first,
each with its type and its docstring. The declarations stay the one place a field is described.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from typing import Iterator, Optional


def _field_docs(source: str, class_name: str, tree: Optional[ast.Module] = None) -> Iterator[tuple[str, str, str]]:
    """(field, annotation, docstring) of each field of `class_name` in `source` (parsed: `tree`), in order."""
    lines: list[str] = []  # the source's lines, split once (ast.get_source_segment splits it on every call)
    for node in ast.walk(tree or ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            body = node.body
            for index, item in enumerate(body):
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    following = body[index + 1] if index + 1 < len(body) else None
                    doc = (following.value.value if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                           and isinstance(following.value.value, str) else "")
                    lines = lines or re.split(r"(?<=\r\n)|(?<=\n)|(?<=\r)(?!\n)", source)
                    yield item.target.id, _segment(lines, item.annotation), inspect.cleandoc(doc)
            return


def _segment(lines: list[str], node: ast.expr) -> str:
    """The source of `node`, as ast.get_source_segment gives it (offsets are UTF-8 byte columns)."""
    if node.end_lineno is None or node.end_col_offset is None:
        return ""
    first, last = node.lineno - 1, node.end_lineno - 1
    if first == last:
        return lines[first].encode()[node.col_offset:node.end_col_offset].decode()
    return "".join([lines[first].encode()[node.col_offset:].decode(), *lines[first + 1:last],
                    lines[last].encode()[:node.end_col_offset].decode()])


def fields_text(args_type: type, source: str, tree: Optional[ast.Module] = None) -> str:
    """The docstring section listing `args_type`'s fields, required ones first (`tree`: `source` parsed)."""
    required = set(getattr(args_type, "__required_keys__", ()))
    found = list(_field_docs(source, args_type.__name__, tree))
    documented = {name for name, _, _ in found}
    found += [(name, "", "") for name in args_type.__annotations__ if name not in documented]  # inherited fields
    lines = []
    for title, wanted in (("Required arguments", True), ("Optional arguments", False)):
        chosen = [f for f in found if (f[0] in required) == wanted]
        if chosen:
            lines += ["", f"{title}:"]
            for name, annotation, doc in chosen:
                annotation = annotation.removeprefix("NotRequired[").removesuffix("]") if annotation.startswith("NotRequired[") else annotation
                lines.append(f"    {name}" + (f" ({annotation})" if annotation else "") + (":" if doc else ""))
                lines += [f"        {line}" if line else "" for line in doc.splitlines()]
    return "\n".join(lines)


def document_args(module_name: str) -> None:
    """Appends the field list to the docstring of every TypedDict defined in `module_name`."""
    module = sys.modules[module_name]
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):  # no source shipped: the classes keep their own docstrings
        return
    tree = ast.parse(source)  # once for all the module's classes
    for value in vars(module).values():
        if isinstance(value, type) and value.__module__ == module_name and hasattr(value, "__required_keys__"):
            value.__doc__ = (inspect.cleandoc(value.__doc__ or "") + "\n" + fields_text(value, source, tree)).strip() + "\n"
