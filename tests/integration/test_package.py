#!/usr/bin/env python3
"""Test of tgsearch's install rules, Debian package and systemd unit, from a built tree.

1. `DESTDIR=... cmake --install BUILD --prefix /usr` installs exactly the binary, the unit, the
   example config in /etc/tgsearch and the docs, with their modes and contents.
2. `cmake --install BUILD --prefix DIR` puts the config under DIR/etc/tgsearch, rewrites the
   unit's paths to DIR, and `systemd-analyze verify` accepts that unit, whose programs exist.
   `systemd-analyze security --offline=yes` rates its exposure at 2.0 or lower.
3. `cpack -G DEB` builds one package whose `dpkg-deb -c` listing is exactly the expected
   files and directories, owned by root with the expected modes, whose control fields and
   conffiles are as configured, and whose maintainer scripts are the ones in app/dist.

It builds nothing: cpack runs with CPACK_CMAKE_GENERATOR=Ninja, a generator that has no
preinstall target, so that cpack installs the binary already built instead of building the
whole project first. Steps whose tools are missing (systemd-analyze, dpkg-deb, cpack's
dpkg-shlibdeps or file) are skipped with a printed reason.

Usage: test_package.py --build-dir BUILD --source-dir SOURCE --version 0.1.0
Prints one line per failed check and a final "N passed, N failed"; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

COMMAND_TIMEOUT_SECONDS = 60
CONFIG_FILE = "etc/tgsearch/tgsearch.toml"
UNIT_FILE = "usr/lib/systemd/system/tgsearch.service"
BINARY_FILE = "usr/bin/tgsearch"
DOC_DIR = "usr/share/doc/tgsearch"
MAINTAINER_SCRIPTS = ("postinst", "prerm", "postrm")
MAX_EXPOSURE = 2.0


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def check(self, condition: bool, name: str, detail: str = "") -> bool:
        if condition:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {name}{': ' + detail if detail else ''}")
        return condition

    def skip(self, name: str, reason: str) -> None:
        self.skipped += 1
        print(f"SKIP {name}: {reason}")


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=env,
                          timeout=COMMAND_TIMEOUT_SECONDS)


def describe(result: subprocess.CompletedProcess) -> str:
    output = (result.stdout + result.stderr).strip()
    return f"exit code {result.returncode}: {output[-2000:]}"


def expected_files(source: Path) -> dict[str, int]:
    """Return the mode of each file that an install with prefix /usr creates, by path."""
    files = {
        BINARY_FILE: 0o755,
        UNIT_FILE: 0o644,
        CONFIG_FILE: 0o644,
        f"{DOC_DIR}/README.md": 0o644,
        f"{DOC_DIR}/LICENSE": 0o644,
        f"{DOC_DIR}/copyright": 0o644,
    }
    for page in sorted((source / "docs").glob("*.md")):
        files[f"{DOC_DIR}/docs/{page.name}"] = 0o644
    return files


def expected_directories(files: dict[str, int]) -> set[str]:
    directories = set()
    for path in files:
        parent = Path(path).parent
        while str(parent) != ".":
            directories.add(str(parent))
            parent = parent.parent
    return directories


def installed_files(root: Path) -> dict[str, int]:
    files = {}
    for path in root.rglob("*"):
        if not path.is_dir():
            files[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return files


def check_install_usr(checks: Checks, args: argparse.Namespace, work: Path) -> None:
    """Check the files, modes and contents of a DESTDIR install with prefix /usr."""
    destdir = work / "destdir"
    env = dict(os.environ, DESTDIR=str(destdir))
    result = run([args.cmake, "--install", str(args.build_dir), "--prefix", "/usr"], env)
    if not checks.check(result.returncode == 0, "cmake --install --prefix /usr succeeds",
                        describe(result)):
        return
    expected = expected_files(args.source_dir)
    installed = installed_files(destdir)
    checks.check(set(installed) == set(expected), "install creates exactly the expected files",
                 f"missing {sorted(set(expected) - set(installed))}, "
                 f"unexpected {sorted(set(installed) - set(expected))}")
    for path, mode in sorted(expected.items()):
        if path in installed:
            checks.check(installed[path] == mode, f"installed {path} has mode {mode:o}",
                         f"mode {installed[path]:o}")

    sources = {
        UNIT_FILE: args.source_dir / "app/dist/tgsearch.service",
        CONFIG_FILE: args.source_dir / "app/dist/tgsearch.toml",
        f"{DOC_DIR}/README.md": args.source_dir / "README.md",
        f"{DOC_DIR}/LICENSE": args.source_dir / "LICENSE",
        f"{DOC_DIR}/copyright": args.source_dir / "LICENSE",
    }
    for path, source in sources.items():
        target = destdir / path
        if target.exists() and source.exists():
            checks.check(target.read_bytes() == source.read_bytes(),
                         f"installed {path} equals {source.relative_to(args.source_dir)}")
    binary = destdir / BINARY_FILE
    if binary.exists():
        checks.check(binary.read_bytes() == args.binary.read_bytes(),
                     "installed binary is the built binary")

    # The docs keep README.md's relative links working.
    readme = (args.source_dir / "README.md").read_text(encoding="utf-8")
    for link in sorted(set(re.findall(r"\]\((docs/[^)#]+\.md)", readme))):
        checks.check((destdir / DOC_DIR / link).is_file(), f"README link {link} resolves",
                     f"{DOC_DIR}/{link} is not installed")


def check_install_prefix(checks: Checks, args: argparse.Namespace, work: Path) -> None:
    """Check an install into a prefix of its own, and verify its rewritten unit."""
    prefix = work / "prefix"
    result = run([args.cmake, "--install", str(args.build_dir), "--prefix", str(prefix)])
    if not checks.check(result.returncode == 0, "cmake --install --prefix DIR succeeds",
                        describe(result)):
        return
    config_dir = prefix / "etc/tgsearch"
    checks.check((config_dir / "tgsearch.toml").is_file(),
                 "prefix install puts the config in <prefix>/etc/tgsearch")
    unit_path = prefix / "lib/systemd/system/tgsearch.service"
    if not checks.check(unit_path.is_file(), "prefix install puts the unit in <prefix>/lib"):
        return
    unit = unit_path.read_text(encoding="utf-8")
    checks.check(f"ExecStart={prefix}/bin/tgsearch --config {config_dir}/tgsearch.toml "
                 "--token-file %d/token" in unit, "unit ExecStart follows the prefix",
                 next((line for line in unit.splitlines() if line.startswith("ExecStart=")),
                      "no ExecStart line"))
    checks.check(f"LoadCredential=token:{config_dir}/token" in unit,
                 "unit token path follows the prefix")
    unit_outside_prefix = unit.replace(str(prefix), "<prefix>")
    stray_paths = re.findall(r"(?<![\w>])/(?:usr|etc)/\S*", unit_outside_prefix)
    checks.check(not stray_paths, "unit names no /usr or /etc path outside the prefix",
                 str(stray_paths))

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        checks.skip("systemd-analyze verify", "systemd-analyze is not installed")
        return
    result = run([analyze, "verify", str(unit_path)])
    checks.check(result.returncode == 0, "systemd-analyze verify accepts the unit",
                 describe(result))
    checks.check(not result.stderr.strip(), "systemd-analyze verify warns of nothing",
                 describe(result))

    result = run([analyze, "security", "--offline=yes", "--no-pager", str(unit_path)])
    exposure = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    if exposure is None:
        checks.skip("systemd-analyze security", f"no exposure level in its output, "
                    f"{describe(result)}")
        return
    print(f"systemd-analyze security --offline=yes: exposure {exposure.group(1)}")
    checks.check(float(exposure.group(1)) <= MAX_EXPOSURE,
                 f"unit exposure is at most {MAX_EXPOSURE}", exposure.group(0))


def missing_deb_tools() -> list[str]:
    return [tool for tool in ("dpkg-deb", "dpkg-shlibdeps", "file", "dpkg")
            if shutil.which(tool) is None]


def parse_listing(listing: str) -> dict[str, tuple[str, str]]:
    """Return (mode string, owner) for each path of a `dpkg-deb -c` listing, without "./"."""
    entries = {}
    for line in listing.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6:
            continue
        path = fields[5].split(" -> ")[0].removeprefix("./").rstrip("/")
        entries[path] = (fields[0], fields[1])
    return entries


def mode_string(mode: int, directory: bool) -> str:
    letters = "rwxrwxrwx"
    bits = "".join(letters[i] if mode & (1 << (8 - i)) else "-" for i in range(9))
    return ("d" if directory else "-") + bits


def check_package(checks: Checks, args: argparse.Namespace, work: Path) -> None:
    """Check the Debian package that cpack builds from the build directory."""
    missing = missing_deb_tools()
    if missing:
        checks.skip("Debian package", f"{', '.join(missing)} not installed")
        return
    output = work / "packages"
    result = run([args.cpack, "-G", "DEB", "--config", str(args.build_dir / "CPackConfig.cmake"),
                  "-B", str(output), "-D", "CPACK_CMAKE_GENERATOR=Ninja"])
    if not checks.check(result.returncode == 0, "cpack -G DEB succeeds", describe(result)):
        return
    packages = sorted(output.glob("*.deb"))
    if not checks.check(len(packages) == 1, "cpack builds one package",
                        f"found {[p.name for p in packages]}"):
        return
    package = packages[0]
    architecture = run(["dpkg", "--print-architecture"]).stdout.strip()
    version = run(["dpkg-deb", "-f", str(package), "Version"]).stdout.strip()
    checks.check(package.name == f"tgsearch_{version}_{architecture}.deb",
                 "package file name is tgsearch_VERSION_ARCH.deb", package.name)

    # The file list, with owners and modes.
    result = run(["dpkg-deb", "-c", str(package)])
    if checks.check(result.returncode == 0, "dpkg-deb -c reads the package", describe(result)):
        listing = parse_listing(result.stdout)
        files = expected_files(args.source_dir)
        expected = {path: (mode_string(mode, False), "root/root") for path, mode in files.items()}
        for directory in expected_directories(files):
            expected[directory] = (mode_string(0o755, True), "root/root")
        expected.pop("", None)
        listing.pop("", None)
        checks.check(set(listing) == set(expected), "package lists exactly the expected paths",
                     f"missing {sorted(set(expected) - set(listing))}, "
                     f"unexpected {sorted(set(listing) - set(expected))}")
        for path in sorted(set(listing) & set(expected)):
            checks.check(listing[path] == expected[path],
                         f"package entry {path} is {' '.join(expected[path])}",
                         " ".join(listing[path]))

    # The control fields.
    fields = {}
    result = run(["dpkg-deb", "-f", str(package)])
    for line in result.stdout.splitlines():
        if line and not line.startswith(" ") and ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    checks.check(fields.get("Package") == "tgsearch", "control Package is tgsearch",
                 str(fields.get("Package")))
    checks.check(fields.get("Version", "").startswith(args.version),
                 f"control Version starts with {args.version}", str(fields.get("Version")))
    checks.check(fields.get("Architecture") == architecture,
                 f"control Architecture is {architecture}", str(fields.get("Architecture")))
    checks.check(re.fullmatch(r".+ <[^<>@\s]+@[^<>\s]+>", fields.get("Maintainer", "")) is not None,
                 "control Maintainer is a name and an address", str(fields.get("Maintainer")))
    checks.check(fields.get("Section") == "net", "control Section is net",
                 str(fields.get("Section")))
    checks.check(fields.get("Description", "").startswith("Telegram bot"),
                 "control Description has its summary", str(fields.get("Description")))
    depends = [item.split()[0] for item in fields.get("Depends", "").split(", ") if item]
    for dependency in ("adduser", "procps", "libc6", "libstdc++6", "libssl3"):
        checks.check(dependency in depends, f"control Depends names {dependency}",
                     fields.get("Depends", "no Depends field"))

    # The control archive: conffiles and the maintainer scripts.
    control = work / "control"
    result = run(["dpkg-deb", "-e", str(package), str(control)])
    if not checks.check(result.returncode == 0, "dpkg-deb -e extracts the control archive",
                        describe(result)):
        return
    conffiles = (control / "conffiles").read_text() if (control / "conffiles").exists() else ""
    checks.check(conffiles.split() == ["/" + CONFIG_FILE], "conffiles lists the config alone",
                 repr(conffiles))
    for name in MAINTAINER_SCRIPTS:
        script = control / name
        if not checks.check(script.is_file(), f"package has a {name} script"):
            continue
        checks.check(stat.S_IMODE(script.stat().st_mode) == 0o755, f"{name} has mode 755",
                     f"mode {stat.S_IMODE(script.stat().st_mode):o}")
        checks.check(script.read_bytes() == (args.source_dir / "app/dist" / name).read_bytes(),
                     f"{name} equals app/dist/{name}")
        syntax = run(["sh", "-n", str(script)])
        checks.check(syntax.returncode == 0, f"{name} is valid sh", describe(syntax))

    # The data archive: the unit and config as in the source tree, and a stripped binary.
    data = work / "data"
    result = run(["dpkg-deb", "-x", str(package), str(data)])
    if not checks.check(result.returncode == 0, "dpkg-deb -x extracts the files", describe(result)):
        return
    for path, source in ((UNIT_FILE, "app/dist/tgsearch.service"),
                         (CONFIG_FILE, "app/dist/tgsearch.toml")):
        packaged = data / path
        if checks.check(packaged.is_file(), f"package contains {path}"):
            checks.check(packaged.read_bytes() == (args.source_dir / source).read_bytes(),
                         f"packaged {path} equals {source}")
    readelf = shutil.which("readelf")
    if readelf is None:
        checks.skip("stripped binary", "readelf is not installed")
    else:
        sections = run([readelf, "-S", str(data / BINARY_FILE)]).stdout
        checks.check(".text" in sections, "packaged binary is an ELF executable")
        checks.check(".symtab" not in sections, "packaged binary is stripped")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, required=True)
    parser.add_argument("--source-dir", type=Path, required=True)
    parser.add_argument("--binary", type=Path, required=True, help="the built tgsearch")
    parser.add_argument("--version", required=True, help="the project version")
    parser.add_argument("--cmake", default="cmake")
    parser.add_argument("--cpack", default="cpack")
    args = parser.parse_args()
    args.build_dir = args.build_dir.resolve()
    args.source_dir = args.source_dir.resolve()

    checks = Checks()
    if not (args.source_dir / "app/dist/tgsearch.toml").is_file():
        checks.check(False, "app/dist/tgsearch.toml exists", "the package needs its config")
    with tempfile.TemporaryDirectory(prefix="tgsearch-package-") as directory:
        work = Path(directory)
        check_install_usr(checks, args, work)
        check_install_prefix(checks, args, work)
        check_package(checks, args, work)

    skipped = f", {checks.skipped} skipped" if checks.skipped else ""
    print(f"{checks.passed} passed, {checks.failed} failed{skipped}")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
