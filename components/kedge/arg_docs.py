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
import sys
from typing import Iterator


def _field_docs(source: str, class_name: str) -> Iterator[tuple[str, str, str]]:
    """(field, annotation, docstring) of each field of `class_name` in `source`, in order."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            body = node.body
            for index, item in enumerate(body):
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    following = body[index + 1] if index + 1 < len(body) else None
                    doc = (following.value.value if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                           and isinstance(following.value.value, str) else "")
                    yield item.target.id, ast.get_source_segment(source, item.annotation) or "", inspect.cleandoc(doc)
            return


def fields_text(args_type: type, source: str) -> str:
    """The docstring section listing `args_type`'s fields, required ones first."""
    required = set(getattr(args_type, "__required_keys__", ()))
    found = list(_field_docs(source, args_type.__name__))
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
    for value in vars(module).values():
        if isinstance(value, type) and value.__module__ == module_name and hasattr(value, "__required_keys__"):
            value.__doc__ = (inspect.cleandoc(value.__doc__ or "") + "\n" + fields_text(value, source)).strip() + "\n"
