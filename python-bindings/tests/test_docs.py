"""The documentation runs: every ```python block of the package README and of
docs/api.md is executed (each block on its own, in a fresh namespace), and every public
method and property has a docstring that ``help()`` shows.

A block that is deliberately not runnable is fenced as ```python-norun (keep them rare).
"""

import contextlib
import io
import pathlib
import pydoc
import re

import pytest

import timelog

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "docs" / "api.md"]
# The repository's README shows the package too: its ```python blocks run here as well
# (its other fences are Rust and shell, tested elsewhere).
REPO_README = ROOT.parent / "README.md"
_FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def _blocks():
    out = []
    sources = [(path, path.name) for path in DOCS]
    if REPO_README.exists():
        sources.append((REPO_README, "repo-README.md"))
    for path, name in sources:
        text = path.read_text()
        for m in _FENCE.finditer(text):
            if m.group(1) == "python":
                line = text.count("\n", 0, m.start()) + 1
                out.append(pytest.param(m.group(2), id=f"{name}:{line}"))
    return out


BLOCKS = _blocks()


def test_docs_have_examples():
    per_file = {p.name: sum(1 for b in BLOCKS if b.id.startswith(p.name + ":")) for p in DOCS}
    assert per_file["README.md"] >= 2 and per_file["api.md"] >= 10, per_file
    if REPO_README.exists():
        assert any(b.id.startswith("repo-README.md:") for b in BLOCKS), "the repository README's Python example"


def test_every_fence_is_marked():
    # A ```python-norun block is allowed; an unlabelled or misspelled one is a mistake.
    for path in DOCS:
        for m in _FENCE.finditer(path.read_text()):
            assert m.group(1) in {"python", "python-norun", "sh", "text"}, (path.name, m.group(1))


def test_api_md_names_every_public_method():
    text = (ROOT / "docs" / "api.md").read_text()
    for name in _public_names(timelog.Timelog):
        if name.startswith("__"):
            continue  # the context manager and repr are described in prose
        assert f"`{name}" in text or f".{name}" in text, name


@pytest.mark.parametrize("source", BLOCKS)
def test_doc_example_runs(source):
    if "numpy" in source or "to_numpy" in source:
        pytest.importorskip("numpy")
    for lib in ("pyarrow", "polars", "duckdb"):
        if f"import {lib}" in source:
            pytest.importorskip(lib)
    code = compile(source, "<doc example>", "exec")
    with contextlib.redirect_stdout(io.StringIO()):
        exec(code, {"__name__": "__doc_example__"})  # noqa: S102 - our own documentation


# ----- docstrings -------------------------------------------------------------------

PUBLIC_CLASSES = [
    timelog.Timelog,
    timelog.TimelogIter,
    timelog.PageSpan,
    timelog.PageSpanIter,
    timelog.PageSpanObjectsView,
    timelog.TimelogArrowStream,
]
_DUNDERS_WITH_OWN_DOCS = {"__init__", "__enter__", "__exit__", "__reversed__", "__repr__"}


def _public_names(cls):
    names = []
    for name in dir(cls):
        if name.startswith("_") and name not in _DUNDERS_WITH_OWN_DOCS:
            continue
        if name in _DUNDERS_WITH_OWN_DOCS and name not in vars(cls):
            # inherited (e.g. object.__init__ of a non-constructible native class)
            if not any(name in vars(base) for base in cls.__mro__[:-1]):
                continue
        names.append(name)
    return names


CASES = [(cls, name) for cls in PUBLIC_CLASSES for name in _public_names(cls)]


@pytest.mark.parametrize("cls,name", CASES, ids=[f"{c.__name__}.{n}" for c, n in CASES])
def test_public_member_has_docstring(cls, name):
    member = getattr(cls, name)
    doc = (getattr(member, "__doc__", None) or "").strip()
    assert doc, f"{cls.__name__}.{name} has no docstring"
    assert not doc.startswith("Initialize self."), f"{cls.__name__}.{name}: generic docstring"
    shown = pydoc.render_doc(member, renderer=pydoc.plaintext)
    assert doc.splitlines()[0].strip() in shown


@pytest.mark.parametrize(
    "obj",
    [timelog, *PUBLIC_CLASSES, timelog.TimelogError, timelog.TimelogBusyError],
    ids=lambda o: getattr(o, "__name__", repr(o)),
)
def test_module_and_classes_have_docstrings(obj):
    assert (obj.__doc__ or "").strip()
