"""The pages in docs/ and the README: links that resolve, and the statements that can go stale
(messages, warnings, keys, module paths) checked against what the code says today."""

import importlib
import json
import re
import sys
from pathlib import Path

import pytest

from kedge.config.devices import COMMON_DEVICE_KEYS, DIND_DEVICE_KEYS, VM_DEVICE_KEYS
from kedge.config.settings import SettingsError, load_settings
from tests.config.test_settings import DictSource
from tests.harness import ROOT, STACKS_DIR, example_stacks

DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]

# Pages other helpers are writing in this session. A link to one passes while it does not exist
# yet; once it exists, its links and anchors are checked like any other. The coordinator removes
# each entry after merging the page.
PENDING: set = set()  # monitoring.md and rotation.md exist now (branch opsday2)

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def without_code(text):
    """The page with fenced blocks and inline code removed: links there are examples, not links."""
    text = re.sub(r"^[ \t]*```.*?^[ \t]*```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(page):
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    seen, ids = {}, set()
    for heading in re.findall(r"^#{1,6} (.+?)\s*$", without_code_blocks(page.read_text()), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        ids.add(slug if count == 0 else f"{slug}-{count}")
    return ids


def without_code_blocks(text):
    return re.sub(r"^[ \t]*```.*?^[ \t]*```", "", text, flags=re.S | re.M)


def links(page):
    for target in LINK.findall(without_code(page.read_text())):
        if not re.match(r"[a-z]+:", target):  # http:, https:, mailto: are not checked offline
            yield target


def broken_links(page):
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if resolved in PENDING and not resolved.exists():
            continue
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (resolved.suffix != ".md" or anchor not in anchors(resolved)):
            where = resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved.name
            broken.append(f"{target}: no heading #{anchor} in {where}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert not broken_links(page)


def test_the_link_check_finds_a_missing_page_and_a_missing_heading(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## A heading, with `code`\n")
    page.write_text("[a](other.md#a-heading-with-code) [b](gone.md) [c](other.md#nope) [d](https://example.com/x)\n"
                    "`[e](in-code.md)`\n```\n[f](in-a-block.md)\n```\n")
    assert broken_links(page) == ["gone.md: no such file", "other.md#nope: no heading #nope in other.md"]


def test_a_pending_page_stops_being_pending_once_it_exists():
    """The allowance is for pages still being written: once one exists, its links are checked like any other."""
    assert not [p.name for p in PENDING if p.exists()]


def test_every_docs_page_is_reachable_from_the_readme():
    reached, queue = set(), [ROOT / "README.md"]
    while queue:
        page = queue.pop()
        if page in reached or not page.exists():
            continue
        reached.add(page)
        queue += [(page.parent / t.partition("#")[0]).resolve() for t in links(page) if t.partition("#")[0].endswith(".md")]
    assert not [str(p.relative_to(ROOT)) for p in DOCS.rglob("*.md") if p.resolve() not in reached]


# --- statements that can go stale ---------------------------------------------------------------


def documented_settings_errors():
    """(settings, message) pairs of docs/troubleshooting.md: a settings comment, then the message."""
    text = (DOCS / "troubleshooting.md").read_text()
    return re.findall(r"<!-- settings: (\{.*?\}) -->\n```text\n(.*?)\n```", text, re.S)


def test_troubleshooting_quotes_the_settings_layer_word_for_word():
    examples = documented_settings_errors()
    assert len(examples) >= 8
    for settings, shown in examples:
        with pytest.raises(SettingsError) as refused:
            load_settings(DictSource(json.loads(settings)), "kedge", "x")
        assert shown == str(refused.value), settings


def expected_warnings():
    """The table of docs/first-site.md: stack -> the keys it is said to warn about."""
    text = (DOCS / "first-site.md").read_text()
    table = text.split("<!-- expected warnings", 1)[1].split("<!-- end of expected warnings -->", 1)[0]
    rows = re.findall(r"^\| `([\w-]+)` \| `([^`]+)` \|", table, re.M)
    found = {}
    for stack, key in rows:
        found.setdefault(stack, set()).add(key)
    return found


def warned_keys(stack, tmp_path):
    from tests.tools.test_check import check, secret_args

    status, out = check(str(STACKS_DIR / f"Pulumi.{stack}.yaml"), *secret_args(stack, tmp_path))
    assert status == 0, out
    return {line.split(": ", 2)[1] for line in out.splitlines() if line.startswith("warning: ")}


@pytest.mark.parametrize("stack", example_stacks())
def test_first_site_names_exactly_the_warnings_each_example_stack_prints(stack, tmp_path):
    assert warned_keys(stack, tmp_path) == expected_warnings().get(stack, set())


def test_every_device_key_is_documented():
    text = (DOCS / "devices.md").read_text()
    table = text.split("<!-- device keys", 1)[1].split("<!-- end of device keys -->", 1)[0]
    documented = set(re.findall(r"`(\w+)`", table))
    accepted = {*COMMON_DEVICE_KEYS, *VM_DEVICE_KEYS, *DIND_DEVICE_KEYS}
    assert accepted <= documented, accepted - documented


def test_the_components_table_imports_and_lists_the_required_arguments():
    text = (DOCS / "components.md").read_text()
    table = text.split("<!-- components", 1)[1].split("<!-- end of components -->", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| `from ([\w.]+) import (\w+), (\w+)` \| (.*) \|$", table, re.M)
    assert len(rows) >= 10
    for name, module, component, args, required in rows:
        loaded = importlib.import_module(module)
        assert getattr(loaded, component).__name__ == name
        assert set(re.findall(r"`(\w+)`", required)) == set(getattr(loaded, args).__required_keys__), name


def test_every_file_of_this_repository_the_pages_name_exists():
    """`tests/...`, `components/...` and the like in the pages are this repository's paths (upstream
    paths are named with their project), so each must exist: a moved or renamed file fails here."""
    local = re.compile(r"`((?:tests|components|lab|benchmarks|images|profiles|policy|examples|stacks|\.github|\.ci)/[\w./-]+)`")
    named = {(p, path) for p in PAGES for path in local.findall(p.read_text())}
    assert len(named) > 30  # the pattern finds the paths the pages cite
    missing = {f"{p.relative_to(ROOT)}: {path}" for p, path in named if not (ROOT / path.rstrip("/")).exists()}
    assert not missing


def test_docs_name_no_readme_section_that_moved():
    """Pages point at each other by link, not at README sections that are now pages of their own."""
    stale = re.compile(r'README[\'’]?s? (?:section|"[A-Z])|see the README[^.;)]*|\(see "[A-Z][^"]*"\)')
    offenders = {(str(p.relative_to(ROOT)), m.group(0)) for p in PAGES if p.name != "lab.md"
                 for m in stale.finditer(p.read_text())}
    assert not offenders, offenders


if __name__ == "__main__":
    sys.exit(pytest.main([str(Path(__file__))]))
