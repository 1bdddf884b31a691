"""The declarations: every key of every settings file declared once (type, default, doc,
since), the generated reference up to date, the shipped examples using only declared keys,
and inheritance between tables as one rule of the schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ramsesbuild import __version__, docgen
from ramsesbuild.errors import FamilyError, SettingsError, WrapperError
from ramsesbuild.kinds import Integer, Opt, Text
from ramsesbuild.schema import FileSchema, Inherit, Key, Section, Shape, Sub
from ramsesbuild.schemas.nodes import NODES_TOML
from ramsesbuild.schemas.ramses import RAMSES_TOML
from ramsesbuild.tomlload import parse_document

from ..lib.docs import fenced_blocks
from ..lib.docs import pages as doc_pages
from ..lib.support import REPO, SHIPPED

REFERENCE = REPO / "docs" / "reference"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


def test_reference_pages_are_up_to_date():
    stale = [str(p.relative_to(REPO)) for p in docgen.stale(REFERENCE)]
    assert stale == [], f"stale: {stale}; run python3 -m ramsesbuild.docgen and commit docs/reference/"


def test_docgen_check_fails_on_a_stale_page(tmp_path, capsys):
    assert docgen.main(["--out", str(tmp_path)]) == 0
    assert docgen.main(["--check", "--out", str(tmp_path)]) == 0
    page = tmp_path / "ramses-toml.md"
    page.write_text(page.read_text().replace("| `jobs` |", "| `jbos` |"))
    assert docgen.main(["--check", "--out", str(tmp_path)]) == 1
    assert f"{page}: stale" in capsys.readouterr().err


@pytest.mark.parametrize("schema", docgen.schemas(), ids=lambda s: s.file)
def test_every_key_is_documented_with_type_default_and_since(schema):
    for _, section in schema.walk():
        assert section is schema.root or section.DOC, section
        for key in section.own_keys():
            assert key.name and key.doc and key.type_doc and key.default_doc, (section.TITLE, key)
            assert re.fullmatch(r"\d+\.\d+", key.since) and _version(key.since) <= _version(__version__), key
            page = (REFERENCE / schema.page).read_text()
            assert f"| `{key.name}` |" in page, (schema.page, key.name)


def test_source_signature_keys_are_in_the_reference():
    page = (REFERENCE / "ramses-toml.md").read_text()
    assert re.search(r"^\| `signature_sha256` \| sha256: 64 hex digits \|", page, re.M)
    assert re.search(r"^\| `unsigned` \| string \| \(not set\) \|", page, re.M)


def test_closed_vocabularies_list_their_values_with_docs():
    page = (REFERENCE / "ramses-toml.md").read_text()
    assert "| `nbi`, `elf`, `raw` |" in page and "- `raw`: the plain bzImage" in page
    nodes = (REFERENCE / "nodes-toml.md").read_text()
    assert "| `etherboot`, `3com` |" in nodes and "| `direct`, `ipxe` |" in nodes


# ------------------------------------------------------------------ shipped examples use declared keys

_HEADER = re.compile(r"^\s*#?\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*#?\s*([a-z][a-z0-9_]*)\s*=\s*\S")


def _path(header: str) -> tuple[str, ...]:
    return tuple(p.strip().strip('"') for p in re.findall(r'"[^"]*"|[^.]+', header))


def undeclared_keys(text: str, schema: FileSchema) -> list[str]:
    """Every key, set or commented out (# key = ...), that the schema does not declare where it stands."""
    out = []
    section = schema.root
    where: tuple[str, ...] = ()
    for n, line in enumerate(text.splitlines(), 1):
        if h := _HEADER.match(line):
            where = _path(h.group(1))
            found = schema.section_at(where)
            if found is None:
                out.append(f"{n}: [{'.'.join(where)}]")
            section = found or schema.root
        elif (m := _KEY.match(line)) and m.group(1) not in {k.name for k in section.all_keys()} | {
                s.name for s in section.TABLES}:
            out.append(f"{n}: {'.'.join(where)} {m.group(1)}")
    return out


def _examples() -> list[tuple[Path, FileSchema]]:
    files = [(SHIPPED / "ramses.toml", RAMSES_TOML), (SHIPPED / "nodes.toml", NODES_TOML)]
    for p in sorted((REPO / "examples").rglob("*.toml")):
        files.append((p, NODES_TOML if "node" in p.name else RAMSES_TOML))
    return files


@pytest.mark.parametrize("path, schema", _examples(), ids=lambda x: x.name if isinstance(x, Path) else "")
def test_shipped_examples_use_only_declared_keys(path, schema):
    assert undeclared_keys(path.read_text(), schema) == []


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_toml_snippets_of_readme_and_docs_use_only_declared_keys(page):
    for block in fenced_blocks(page, lang="toml"):
        schema = NODES_TOML if re.search(r"^\[\[node\]\]|^\[network\]|^\[boot\]", block, re.M) else RAMSES_TOML
        assert undeclared_keys(block, schema) == [], block


def test_the_example_check_finds_an_undeclared_key():
    text = (SHIPPED / "ramses.toml").read_text()
    assert undeclared_keys(text.replace("# first32 =", "# frist32 ="), RAMSES_TOML) != []
    assert undeclared_keys(text + "\n[profile.x.netboot]\nmbaa = true\n", RAMSES_TOML) != []
    assert undeclared_keys(text + "\n[profile.x.netbot]\n", RAMSES_TOML) != []


# ------------------------------------------------------------------ inheritance is one rule

class _Top(Section):
    TITLE = "[top]"
    DOC = "defaults"
    arch = Key(Text(), "an inherited key", "i386")
    jobs = Key(Integer(minimum=0), "not inherited", 0)
    note = Key(Opt(Text()), "inherited, optional", None)


class _Child(Section):
    TITLE = "[child.<name>]"
    DOC = "per child"
    base = Key(Text(), "own key", "defconfig")
    INHERITS = Inherit(_Top, (_Top.arch, _Top.note))


class _Root(Section):
    TABLES = (Sub("top", _Top), Sub("child", _Child, Shape.MAP))


def _doc(tmp_path, text):
    return parse_document(tmp_path / "x.toml", text.encode(), SettingsError).root()


def test_a_child_table_inherits_declared_keys_and_overrides_them(tmp_path):
    root = _doc(tmp_path, '[top]\narch = "x86_64"\njobs = 2\n[child.a]\n[child.b]\narch = "i386"\nnote = "n"\n')
    _Root.check_names(root)
    top = _Top.check(root.table("top"))
    children = {n: _Child.layers(t, top) for n, t in root.subtables("child").items()}
    assert children["a"].get(_Top.arch) == "x86_64" and children["b"].get(_Top.arch) == "i386"
    assert children["a"].get(_Top.note) is None and children["b"].get(_Top.note) == "n"
    assert children["a"].get(_Child.base) == "defconfig"


@pytest.mark.parametrize("text, message", [
    ('[top]\n[child.a]\njobs = 2\n', "x.toml:3: [child.a] unknown key 'jobs'; known keys: arch, base, note"),
    ('[top]\narch = 3\n[child.a]\n', "x.toml:2: [top] arch must be a string, not the number 3"),
    ('[top]\n[child.a]\narch = ""\n', "x.toml:3: [child.a] arch must not be empty"),
])
def test_inherited_keys_are_checked_where_they_are_written(tmp_path, text, message):
    root = _doc(tmp_path, text)
    with pytest.raises(SettingsError) as exc:
        top = _Top.check(root.table("top"))
        for t in root.subtables("child").values():
            _Child.layers(t, top).get(_Top.arch)
    assert str(exc.value) == f"{tmp_path}/{message}"


def test_inheritance_is_documented_on_both_sides():
    page = docgen.file_page(FileSchema("x.toml", "x.md", "test", _Root, "tests"))
    assert "Inherits from [top]: `arch`, `note`." in page
    assert "| `arch` | string | `\"i386\"` |  | 0.1 | an inherited key (overridden by [child.&lt;name>]) |" in page
    assert "| `jobs` | integer >= 0 | `0` |  | 0.1 | not inherited |" in page


# ------------------------------------------------------------------ the packaged data files, strictly

def test_wrappers_toml_is_strict(tmp_path):
    from ramsesbuild.pkgdata import DATA
    from ramsesbuild.wrappers import load_wrappers

    text = (DATA / "wrappers.toml").read_text()
    bad = tmp_path / "wrappers.toml"
    bad.write_text(text.replace("env_default = { CCACHE_DIR", "env_defualt = { CCACHE_DIR", 1))
    line = next(i for i, x in enumerate(bad.read_text().splitlines(), 1) if x.startswith("env_defualt"))
    with pytest.raises(WrapperError) as exc:
        load_wrappers(bad)
    assert str(exc.value) == f"{bad}:{line}: [ccache] unknown key 'env_defualt' (did you mean \"env_default\"?)"
    bad.write_text(text.replace('{cache_home}/ramsesbuild', '{cachehome}/ramsesbuild', 1))
    with pytest.raises(WrapperError, match=r"env_default.CCACHE_DIR = '\{cachehome\}/ramsesbuild/ccache': unknown "
                                           r"placeholder \{cachehome\} \(did you mean \"cache_home\"\?\)"):
        load_wrappers(bad)
    bad.write_text(text.replace('prefix = ["distcc"]\n', "", 1))
    with pytest.raises(WrapperError, match=r"wrappers.toml:\d+: \[distcc\] needs prefix = "):
        load_wrappers(bad)


def test_families_toml_is_strict(tmp_path):
    from ramsesbuild.family import load_families
    from ramsesbuild.pkgdata import DATA

    text = (DATA / "families.toml").read_text()
    bad = tmp_path / "families.toml"
    bad.write_text(text.replace("out_of_tree = true", "out_of_tre = true", 1))
    with pytest.raises(FamilyError, match=r"families.toml:\d+: \[modern\] unknown key 'out_of_tre' \(did you mean "
                                          r"\"out_of_tree\"\?\)"):
        load_families(bad)
    bad.write_text(text.replace('tinyconfig = "make:tinyconfig"', 'tinyconfg = "make:tinyconfig"', 1))
    with pytest.raises(FamilyError, match=r"bases.tinyconfg: 'tinyconfg' is not a named base"):
        load_families(bad)


@pytest.mark.slow
def test_mypy_checks_that_a_key_lands_in_a_field_of_its_type(tmp_path):
    """The typed accessors carry the declared type to the dataclass: mypy rejects a str key in an int."""
    import subprocess
    import sys

    snippet = tmp_path / "snippet.py"
    snippet.write_text("from ramsesbuild.schemas.ramses import KernelTable\nfrom ramsesbuild.tomlload import Table\n\n\n"
                       "def jobs(t: Table) -> int:\n    return t.get(KernelTable.version)\n\n\n"
                       "def version(t: Table) -> str:\n    return t.get(KernelTable.version)\n")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(snippet)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 1, proc.stdout
    assert 'snippet.py:6: error: Incompatible return value type (got "str", expected "int")' in proc.stdout, proc.stdout
    assert "snippet.py:10" not in proc.stdout, proc.stdout


def test_every_task_and_every_command_is_documented():
    """docs/reference/tasks.md names every kind of step and cli.md every `ramsesbuild` command,
    with its own --help; a step whose identity has a key its identity_doc does not explain fails."""
    from ramsesbuild.commands import COMMANDS
    from ramsesbuild.steps import Stage

    pages = docgen.pages()
    tasks, cli = pages["tasks.md"], pages["cli.md"]
    for stage in Stage:
        assert f"## `{stage.value}" in tasks, stage
    for name in COMMANDS:
        assert f"## ramsesbuild {name}\n\n```text\nusage: ramsesbuild {name}" in cli, name
    assert "make O=build/&lt;profile>/obj bzImage modules" in tasks  # the real O= directory, as doit list says


def test_an_undocumented_identity_key_fails_the_reference(monkeypatch):
    from ramsesbuild.steps.kernel import Compile

    monkeypatch.setattr(Compile, "identity_doc", {"make_vars": "[kernel] make_vars"})
    with pytest.raises(ValueError, match="Compile.identity_doc does not say what each identity key is"):
        docgen.tasks_page()
