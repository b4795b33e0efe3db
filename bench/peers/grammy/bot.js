// A grammY search bot, the Node.js peer of tgsearch in the latency benchmark.
//
// @grammyjs/runner fetches updates and handles up to 500 at once. Each handler searches an
// SQLite FTS5 table with better-sqlite3, synchronously on the one JavaScript thread. It replies
// with the same shape of message as tgsearch: the query in bold, then the top 5 titles with a
// snippet. @grammyjs/auto-retry waits out 429 responses for retry_after, as grammY's
// documentation recommends for bots that may hit flood limits.
//
//   node bot.js --api-url http://127.0.0.1:PORT --token-file FILE --db corpus.sqlite

import { autoRetry } from "@grammyjs/auto-retry";
import { run } from "@grammyjs/runner";
import Database from "better-sqlite3";
import { Bot } from "grammy";
import { readFileSync } from "node:fs";

const RESULTS_PER_REPLY = 5;
const MAX_INLINE_RESULTS = 50;

function parseArguments(argv) {
  const options = {};
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i];
    if (!name.startsWith("--") || i + 1 >= argv.length) {
      throw new Error(`invalid argument ${name}: expected --api-url, --token-file and --db`);
    }
    options[name.slice(2)] = argv[i + 1];
  }
  for (const required of ["api-url", "token-file", "db"]) {
    if (!options[required]) {
      throw new Error(`missing --${required}`);
    }
  }
  return options;
}

function escapeHtml(text) {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

// FTS5 snippets mark matches with these control characters, which corpus text never contains,
// so that the text can be escaped before the marks become <b> tags.
const MATCH_START = "\u0002";
const MATCH_END = "\u0003";

function snippetHtml(snippet) {
  return escapeHtml(snippet ?? "").replaceAll(MATCH_START, "<b>").replaceAll(MATCH_END, "</b>");
}

/// Turns typed words into FTS5 queries: every word (AND), and any word (OR) as a fallback.
function ftsQueries(text, prefixLast) {
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  if (words.length === 0) {
    return null;
  }
  const terms = words.map((word) => `"${word}"`);
  if (prefixLast) {
    terms[terms.length - 1] += "*";
  }
  return { all: terms.join(" "), any: terms.join(" OR ") };
}

class Searcher {
  constructor(path) {
    this.database = new Database(path, { readonly: true });
    this.statement = this.database.prepare(
      `SELECT title, url, snippet(docs, 1, '${MATCH_START}', '${MATCH_END}', '…', 24) AS snippet
         FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, 3.0, 1.0) LIMIT ?`);
  }

  search(text, limit, prefixLast) {
    const queries = ftsQueries(text, prefixLast);
    if (queries === null) {
      return [];
    }
    const hits = this.statement.all(queries.all, limit);
    return hits.length > 0 ? hits : this.statement.all(queries.any, limit);
  }
}

function titleHtml(hit) {
  const title = escapeHtml(hit.title || "untitled");
  return hit.url ? `<a href="${escapeHtml(hit.url)}">${title}</a>` : `<b>${title}</b>`;
}

function renderReply(query, hits) {
  if (hits.length === 0) {
    return `Nothing found for <b>${escapeHtml(query)}</b>. Try other or fewer words.`;
  }
  const entries = hits.map((hit, i) => `${i + 1}. ${titleHtml(hit)}\n${snippetHtml(hit.snippet)}`);
  return `🔎 <b>${escapeHtml(query)}</b>\n\n${entries.join("\n\n")}`;
}

function inlineArticles(hits) {
  return hits.map((hit, i) => ({
    type: "article",
    id: String(i),
    title: hit.title || "untitled",
    description: (hit.snippet ?? "").replaceAll(MATCH_START, "").replaceAll(MATCH_END, ""),
    input_message_content: {
      message_text: `${titleHtml(hit)}\n${snippetHtml(hit.snippet)}`,
      parse_mode: "HTML",
    },
  }));
}

const options = parseArguments(process.argv.slice(2));
const token = readFileSync(options["token-file"], "utf8").trim();
const searcher = new Searcher(options.db);
const bot = new Bot(token, { client: { apiRoot: options["api-url"] } });
bot.api.config.use(autoRetry({ maxRetryAttempts: 5, maxDelaySeconds: 300 }));

bot.on("message:text", (ctx) => {
  const hits = searcher.search(ctx.message.text, RESULTS_PER_REPLY, false);
  return ctx.reply(renderReply(ctx.message.text, hits), {
    parse_mode: "HTML",
    reply_parameters: { message_id: ctx.message.message_id, allow_sending_without_reply: true },
    link_preview_options: { is_disabled: true },
  });
});

bot.on("inline_query", (ctx) => {
  const hits = searcher.search(ctx.inlineQuery.query, MAX_INLINE_RESULTS, true);
  return ctx.answerInlineQuery(inlineArticles(hits), { cache_time: 0 });
});

bot.catch((error) => {
  console.error(`update ${error.ctx.update.update_id} failed: ${error.message}`);
});

const runner = run(bot, {
  runner: { fetch: { allowed_updates: ["message", "inline_query"] } },
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.once(signal, () => {
    if (runner.isRunning()) {
      runner.stop().then(() => process.exit(0));
    } else {
      process.exit(0);
    }
  });
}
