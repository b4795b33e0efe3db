#!/usr/bin/env python3
"""Build the sample corpus that tgsearch embeds in its binary.

The sample is a deterministic selection of real documents: about 3,000 English Debian package
descriptions, the 44 Arabic Debian hints and about 300 Russian package descriptions, so that a
first run answers common questions in three languages. Input files are JSON Lines with at least
"id", "title", "text" and "url"; package descriptions also carry "meta": {"package", "section"}.

Usage:
    make_sample.py CORPORA_DIR [--output FILE]

CORPORA_DIR must contain en_debian_packages.jsonl.gz, ru_debian_packages.jsonl.gz,
uk_debian_packages.jsonl.gz and ar_debian_hints.jsonl (Debian 12 package indices, DDTP
translations and fortunes-debian-hints converted to JSON Lines). The same inputs always give
the same output bytes for a given zlib version: records are sorted and gzip's mtime is 0.
"""

import argparse
import gzip
import io
import json
import pathlib
import re
import sys

ENGLISH_COUNT = 3000
RUSSIAN_COUNT = 300

# Packages that people ask about first. Each is included whatever its section or name.
MUST_INCLUDE = """
nginx nginx-light nginx-full nginx-core nginx-extras openssh-client openssh-server ssh apache2
apache2-utils postgresql postgresql-client redis-server redis redis-tools git git-lfs vim
vim-tiny neovim emacs nano python3 python3-pip python3-venv curl wget htop tmux screen rsync zsh
fish bash docker.io podman mariadb-server sqlite3 nodejs npm golang-go rustc cargo gcc g++ make
cmake gdb valgrind strace tcpdump nmap iptables nftables ufw fail2ban certbot haproxy squid
varnish bind9 dnsmasq isc-dhcp-server postfix dovecot-imapd mutt ffmpeg vlc mpv gimp inkscape
imagemagick libreoffice firefox-esr thunderbird keepassxc telegram-desktop zstd libzstd1
qemu-system-x86 lame namazu2 liblucene8-java sylph-searcher node-lunr itools libitl0 jq ripgrep
fd-find tree mc krusader tuxcmd atop sylpheed openjdk-17-jdk default-jdk php perl ruby lua5.4
sudo cron systemd openssl gnupg wireguard openvpn tor transmission-cli yt-dlp pandoc texlive
graphviz ansible kubernetes-client mosquitto memcached rabbitmq-server nextcloud-desktop
""".split()

# Sections whose packages a console user is likely to search for.
SECTIONS = {
    "web", "httpd", "net", "admin", "utils", "editors", "shells", "database", "devel", "vcs",
    "interpreters", "mail", "sound", "video", "graphics", "games", "text", "comm", "misc", "x11",
    "gnome", "kde", "python",
}
# Server and tooling sections get a small bonus over desktop ones.
CORE_SECTIONS = {
    "web", "httpd", "net", "admin", "editors", "shells", "database", "vcs", "interpreters",
    "mail",
}
# Libraries, headers, documentation, debug symbols and data files rarely answer a question.
SKIPPED_NAME = re.compile(r"^lib|-(dev|doc|dbg|dbgsym|data|common)$")

KEPT_FIELDS = ("id", "title", "text", "url")


def read_jsonl(path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def package_of(record):
    return record.get("meta", {}).get("package", "")


def select_english(english, translated_ru, translated_uk):
    """Return the chosen English records, best first.

    DDTP translators work through the most installed packages first, so a Russian or Ukrainian
    translation is a usable sign of popularity. The selection relies on it because no
    popularity-contest data is among the inputs.
    """
    must = set(MUST_INCLUDE)
    by_package = {package_of(record): record for record in english}
    missing = sorted(must - by_package.keys())
    if missing:
        print(f"warning: packages not found: {' '.join(missing)}", file=sys.stderr)

    def score(record):
        package = package_of(record)
        section = record["meta"].get("section", "")
        return (
            2 * (package in translated_ru)
            + 2 * (package in translated_uk)
            + (section in CORE_SECTIONS)
        )

    candidates = [
        record
        for record in english
        if record["meta"].get("section") in SECTIONS and not SKIPPED_NAME.search(package_of(record))
    ]
    # Among equals a shorter name wins: established tools tend to have short names.
    candidates.sort(key=lambda r: (-score(r), len(package_of(r)), package_of(r)))

    chosen = [by_package[name] for name in MUST_INCLUDE if name in by_package]
    seen = {package_of(record) for record in chosen}
    for record in candidates:
        if len(chosen) >= ENGLISH_COUNT:
            break
        if package_of(record) not in seen:
            chosen.append(record)
            seen.add(package_of(record))
    return chosen


def select_russian(russian, english_chosen):
    """Return Russian descriptions of the chosen English packages, best first.

    Translations marked as outdated describe an older English text and are left out.
    """
    by_package = {
        package_of(record): record
        for record in russian
        if not record.get("meta", {}).get("translation_outdated")
    }
    chosen = []
    for english_record in english_chosen:
        record = by_package.get(package_of(english_record))
        if record is not None:
            chosen.append(record)
        if len(chosen) >= RUSSIAN_COUNT:
            break
    return chosen


def write_gzip_jsonl(path, records):
    buffer = io.BytesIO()
    # filename="" and mtime=0 keep the name and the build time out of the gzip header.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as out:
        for record in records:
            trimmed = {field: record.get(field) for field in KEPT_FIELDS}
            line = json.dumps(trimmed, ensure_ascii=False, separators=(",", ":")) + "\n"
            out.write(line.encode("utf-8"))
    path.write_bytes(buffer.getvalue())
    return len(buffer.getvalue())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpora", type=pathlib.Path, help="directory with the input corpora")
    parser.add_argument(
        "--output",
        type=pathlib.Path,
        default=pathlib.Path(__file__).resolve().parent / "sample_corpus.jsonl.gz",
        help="gzip file to write (default: sample_corpus.jsonl.gz beside this script)",
    )
    args = parser.parse_args()

    english = read_jsonl(args.corpora / "en_debian_packages.jsonl.gz")
    russian = read_jsonl(args.corpora / "ru_debian_packages.jsonl.gz")
    ukrainian = read_jsonl(args.corpora / "uk_debian_packages.jsonl.gz")
    arabic = read_jsonl(args.corpora / "ar_debian_hints.jsonl")

    english_chosen = select_english(
        english, {package_of(r) for r in russian}, {package_of(r) for r in ukrainian}
    )
    russian_chosen = select_russian(russian, english_chosen)

    records = (
        sorted(english_chosen, key=lambda r: r["id"])
        + arabic
        + sorted(russian_chosen, key=lambda r: r["id"])
    )
    size = write_gzip_jsonl(args.output, records)
    print(
        f"wrote {args.output}: {len(english_chosen)} English, {len(arabic)} Arabic, "
        f"{len(russian_chosen)} Russian documents, {size} bytes"
    )


if __name__ == "__main__":
    main()
