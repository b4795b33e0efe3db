#!/usr/bin/env python3
"""Prepare the latency benchmark's inputs from a JSONL corpus (gzipped or not).

Writes two files into OUTPUT_DIR:
  corpus.sqlite  an SQLite FTS5 table `docs(title, text, url)` that both peer bots search;
  queries.txt    one query per line: 1 to 3 distinct words of one random document, with a
                 fixed seed, skipping words found in more than 20% of the documents.

Usage: prepare.py CORPUS OUTPUT_DIR [--queries N] [--seed S]
"""

import argparse
import collections
import gzip
import json
import os
import random
import re
import sqlite3
import sys

WORD = re.compile(r"[^\W\d_]{3,}")

# A word in more documents than this share is skipped, as a stop list would drop it.
MAX_DOCUMENT_SHARE = 0.2


def read_documents(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                print(f"skipped {path}:{number}: {error}", file=sys.stderr)
                continue
            yield (str(record.get("title") or ""), str(record.get("text") or ""),
                   record.get("url") or "")


def build_database(documents, path):
    if os.path.exists(path):
        os.remove(path)
    database = sqlite3.connect(path)
    # unicode61 with remove_diacritics 2 is FTS5's usual choice for Latin text: it case-folds
    # and drops accents, as tgsearch's normalizer does for Latin scripts.
    database.execute("CREATE VIRTUAL TABLE docs USING fts5(title, text, url UNINDEXED, "
                     "tokenize = 'unicode61 remove_diacritics 2')")
    database.executemany("INSERT INTO docs(title, text, url) VALUES (?, ?, ?)", documents)
    database.execute("INSERT INTO docs(docs) VALUES ('optimize')")
    database.commit()
    database.close()


def draw_queries(documents, count, seed):
    words_of = [sorted(set(WORD.findall(f"{title} {text}".lower()))) for title, text, _ in documents]
    frequency = collections.Counter(word for words in words_of for word in words)
    limit = MAX_DOCUMENT_SHARE * len(documents)
    random_source = random.Random(seed)
    queries = []
    while len(queries) < count:
        words = [word for word in random_source.choice(words_of) if frequency[word] <= limit]
        if not words:
            continue
        size = min(len(words), random_source.randint(1, 3))
        queries.append(" ".join(random_source.sample(words, size)))
    return queries


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("output_dir")
    parser.add_argument("--queries", type=int, default=2000, help="number of queries")
    parser.add_argument("--seed", type=int, default=20240607, help="seed of the query draw")
    args = parser.parse_args()

    documents = list(read_documents(args.corpus))
    if not documents:
        sys.exit(f"error: no documents in {args.corpus}")
    os.makedirs(args.output_dir, exist_ok=True)
    build_database(documents, os.path.join(args.output_dir, "corpus.sqlite"))
    queries = draw_queries(documents, args.queries, args.seed)
    with open(os.path.join(args.output_dir, "queries.txt"), "w", encoding="utf-8") as out:
        out.write("\n".join(queries) + "\n")
    print(f"prepared {len(documents)} documents and {len(queries)} queries in {args.output_dir}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
