"""The manual page: `meson install` puts docs/batchfs.1 where man(1) finds it, it renders
without a single roff warning, and it documents every -o option and every environment
variable that `batchfs --help` names, and every errno of fs/errmap.c. README.md points
readers to it.

`man` comes from man-db (scripts/deps): these tests fail, never skip, without it."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mount import REPO, batchfs_bin

SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "THE TREE", "OPTIONS", "CREDENTIALS",
            "ENVIRONMENT", "FILES", "EXIT STATUS", "ERRORS", "EXAMPLES", "TROUBLESHOOTING",
            "SEE ALSO"]


def build_dir():
    """The meson build directory of the batchfs under test (build/, or build-asan/ when
    the suite runs there), so that the page installed is the one of that build."""
    cand = Path(batchfs_bin()).resolve().parent.parent
    if (cand / "meson-private" / "install.dat").exists():
        return cand
    return REPO / "build"


def meson_dir_option(builddir, name):
    out = subprocess.run(["meson", "introspect", "--buildoptions", str(builddir)],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    for opt in json.loads(out):
        if opt["name"] == name:
            return opt["value"]
    raise AssertionError(f"meson option {name} not found")


@pytest.fixture(scope="module")
def installed_page(tmp_path_factory):
    """meson install --destdir into a temporary root; the path of the installed page."""
    assert shutil.which("meson"), "meson is not installed (scripts/deps)"
    builddir = build_dir()
    destdir = tmp_path_factory.mktemp("destdir")
    res = subprocess.run(["meson", "install", "-C", str(builddir), "--no-rebuild", "--quiet",
                          "--destdir", str(destdir)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"meson install failed:\n{res.stdout}\n{res.stderr}"
    prefix = meson_dir_option(builddir, "prefix")      # /usr/local unless configured otherwise
    mandir = meson_dir_option(builddir, "mandir")      # share/man
    page = destdir / prefix.lstrip("/") / mandir / "man1" / "batchfs.1"
    assert page.is_file(), (
        f"{page} not installed; installed: {sorted(str(p) for p in destdir.rglob('*') if p.is_file())}. "
        f"Is install_man('docs/batchfs.1') in meson.build and {builddir} regenerated "
        f"(ninja -C {builddir})?")
    assert page.read_bytes() == (REPO / "docs" / "batchfs.1").read_bytes()
    return page


def render(page):
    """`man --warnings=w -l PAGE` as a user would run it, output captured (so no pager and no
    overstrike formatting); returns (returncode, stdout, stderr)."""
    man = shutil.which("man")
    assert man, "man is not installed: apt-get install man-db (it is in scripts/deps)"
    env = dict(os.environ)
    for var in ("MAN_KEEP_FORMATTING", "MANOPT", "MANROFFOPT", "MANPAGER", "PAGER"):
        env.pop(var, None)
    env.update({"MANWIDTH": "80", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"})
    # --warnings=w: every troff warning category, not only man-db's default "mac".
    res = subprocess.run([man, "--warnings=w", "-l", str(page)], env=env, capture_output=True,
                         text=True, timeout=120)
    return res.returncode, res.stdout, res.stderr


def plain(text):
    """Rendered text with the typographic characters groff may use in UTF-8 mapped to
    ASCII (hyphen, minus, quotes) and any stray backspace overstrikes removed."""
    text = re.sub(r".\x08", "", text)
    for a, b in (("\u2010", "-"), ("\u2212", "-"), ("\u2011", "-"), ("\u201c", '"'),
                 ("\u201d", '"'), ("\u2018", "'"), ("\u2019", "'"), ("\u00a0", " ")):
        text = text.replace(a, b)
    return text


@pytest.fixture(scope="module")
def page_text(installed_page):
    rc, out, err = render(installed_page)
    assert rc == 0, f"man exited {rc}: {err}"
    # No allowance: roff warnings (unknown macros, bad escapes, lines that cannot be
    # broken or adjusted, ...) all mean the page needs fixing.
    assert err == "", f"man/troff printed warnings:\n{err}"
    return plain(out)


@pytest.fixture(scope="module")
def help_text():
    res = subprocess.run([batchfs_bin(), "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def help_options(help_text):
    """Every -o option --help lists, as (name, takes_value): from lines "    -o a=X, b=Y   text"
    (the description starts after two or more spaces) and the indented continuation lines
    of a spec that ended with a comma ("       stall_timeout_ms=N, max_retries=N   text")."""
    names = []
    continued = False
    for line in help_text.splitlines():
        m = re.match(r"^\s+-o\s+(.*)$", line)
        if m:
            spec = m.group(1)
        elif continued and re.match(r"^\s+[a-z_]", line):
            spec = line.strip()
        else:
            continued = False
            continue
        spec = re.split(r"\s{2,}", spec.strip())[0]   # the description column starts after 2+ spaces
        continued = spec.rstrip().endswith(",")
        # options are separated by ", "; a value may hold commas of its own ("a,b")
        for piece in re.split(r",(?:\s+|$)", spec):
            piece = piece.strip()
            if not piece or piece.startswith("-"):     # "-d" in "-o debug, -d": not an -o name
                continue
            nm = re.match(r"[A-Za-z_][A-Za-z0-9_.*-]*?(?=[=\s]|$)", piece)
            assert nm, f"cannot parse option spec {piece!r} in: {line!r}"
            names.append((nm.group(0), "=" in piece))
    return names


def test_meson_install_puts_the_page_where_man_renders_it_cleanly(installed_page, page_text):
    assert installed_page.parts[-3:] == ("man", "man1", "batchfs.1")
    assert len(page_text) > 5000
    assert "BATCHFS(1)" in page_text
    for section in SECTIONS:
        assert re.search(rf"^{section}$", page_text, re.M), f"section {section} missing"
    assert re.search(r"^\s+batchfs - ", page_text, re.M), "NAME line"
    # man(7), not mdoc(7)
    source = installed_page.read_text()
    assert source.startswith(".\\\"") and re.search(r"^\.TH BATCHFS 1 ", source, re.M)
    assert not re.search(r"^\.(Dd|Dt|Sh|Nm)\b", source, re.M)


def test_every_option_of_help_is_in_the_page(help_text, page_text):
    options = help_options(help_text)
    names = {n for n, _ in options}
    # the parser itself: options from every shape of --help line
    for expected in ("surface", "endpoint", "tenant_id", "client_id", "resource_group",
                     "account_name", "connect_timeout_ms", "stall_timeout_ms", "max_retries",
                     "uid", "gid", "umask", "_netdev", "nofail", "x-systemd.*", "debug",
                     "allow_other", "attr_timeout", "log_level", "management_endpoint",
                     "deployments", "auto_unmount"):
        assert expected in names, f"parser missed {expected}: {sorted(names)}"
    assert len(names) >= 40 and "b" not in names, sorted(names)
    missing = []
    for name, takes_value in options:
        if name.endswith(".*"):
            ok = name[:-1] in page_text                # x-systemd.*: the prefix
        elif takes_value:
            ok = re.search(rf"(?<![\w-]){re.escape(name)}=", page_text)
        else:
            ok = re.search(rf"(?<![\w-]){re.escape(name)}(?![\w=])", page_text)
        if not ok:
            missing.append(name)
    assert not missing, f"-o options of --help not in the man page: {missing}"
    for flag in ("-f", "-d", "--check", "-h", "--help", "-V", "--version"):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", page_text), flag


def test_every_environment_variable_of_help_is_in_the_page(help_text, page_text):
    variables = set(re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", help_text))
    assert "environment:" in help_text
    listed = set(re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", help_text.split("environment:", 1)[1]))
    assert len(listed) >= 15 and "NOTIFY_SOCKET" in listed, sorted(listed)
    env_section = page_text.split("\nENVIRONMENT\n", 1)[1].split("\nFILES\n", 1)[0]
    missing = sorted(v for v in variables if not re.search(rf"\b{v}\b", page_text))
    assert not missing, f"environment variables of --help not in the man page: {missing}"
    undescribed = sorted(v for v in listed if not re.search(rf"\b{v}\b", env_section))
    assert not undescribed, f"not described under ENVIRONMENT: {undescribed}"


def test_every_errno_of_the_errno_table_is_in_errors(page_text):
    source = (REPO / "fs" / "errmap.c").read_text()
    errnos = set(re.findall(r"return -(E[A-Z]+);", source))
    assert {"EINVAL", "EACCES", "ENOSPC"} <= errnos, errnos
    errors = page_text.split("\nERRORS\n", 1)[1].split("\nEXAMPLES\n", 1)[0]
    missing = sorted(e for e in errnos if not re.search(rf"^\s+{e}\b", errors, re.M))
    assert not missing, f"errnos of fs/errmap.c without an entry under ERRORS: {missing}"


def test_readme_points_to_the_man_page():
    readme = (REPO / "README.md").read_text()
    assert re.search(r"\bman batchfs\b", readme), "README.md should tell readers about `man batchfs`"


def test_help_lists_every_option_the_parser_knows(help_text):
    """Every -o option in fs/options.c's fuse_opt table is in --help (and so, by the test
    above, in the manual page)."""
    table = (REPO / "fs" / "options.c").read_text()
    known = set(re.findall(r'OPT\("([a-z_]+)(?:=%[sd])?"', table))
    assert {"endpoint", "auth", "token_command", "subscription_id", "log_level"} <= known, known
    listed = {name for name, _ in help_options(help_text)}
    missing = sorted(known - listed - {"foreground"})   # -f, listed as such
    assert not missing, f"options missing from --help: {missing}"
