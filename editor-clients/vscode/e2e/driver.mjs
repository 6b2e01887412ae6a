// One headless Debian chromium page driven by playwright-core, for tests written in Python
// (tests/clients/vscode_workbench.py). Reads one JSON command a line on stdin, writes one JSON
// answer a line on stdout: {"id": n, "result": ...} or {"id": n, "error": "..."}.
//
//   {"op": "launch", "url", "width", "height", "initScript"}   start chromium, open `url`
//   {"op": "page" | "keyboard" | "mouse", "method", "args"}    page.<method>(...args) etc.
//   {"op": "locator", "selector", "nth"?, "method", "args"}    page.locator(selector)[.nth(n)].<method>
//   {"op": "evaluate", "expression"}                           page.evaluate(expression)
//   {"op": "frames", "urlIncludes", "expression"}              evaluate in each frame whose URL matches
//   {"op": "console"}                                          the page's console messages since the last call
//   {"op": "close"}
import * as readline from 'node:readline';

import { chromium } from 'playwright-core';

// Debian's chromium; Playwright's own browser download is not used. The network flags keep
// chromium from calling out at start (nothing is reachable from a test machine anyway).
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

let browser;
let page;
let consoleLines = [];

async function run(cmd) {
  switch (cmd.op) {
    case 'launch': {
      browser = await chromium.launch({
        executablePath: process.env.QWILL_CHROMIUM ?? '/usr/bin/chromium',
        headless: true,
        args: CHROMIUM_ARGS,
      });
      const context = await browser.newContext({
        viewport: { width: cmd.width ?? 1280, height: cmd.height ?? 800 },
        // VS Code reads the clipboard for paste; deny nothing it asks for
        permissions: ['clipboard-read', 'clipboard-write'],
      });
      page = await context.newPage();
      page.on('console', (msg) => consoleLines.push(`[${msg.type()}] ${msg.text()}`));
      page.on('pageerror', (err) => consoleLines.push(`[pageerror] ${err.message}`));
      if (cmd.initScript) {
        await page.addInitScript(cmd.initScript);
      }
      await page.goto(cmd.url, { waitUntil: 'domcontentloaded', timeout: 120000 });
      return null;
    }
    case 'page':
    case 'keyboard':
    case 'mouse': {
      const target = cmd.op === 'page' ? page : page[cmd.op];
      return await target[cmd.method](...(cmd.args ?? []));
    }
    case 'locator': {
      let loc = page.locator(cmd.selector);
      if (typeof cmd.nth === 'number') {
        loc = loc.nth(cmd.nth);
      }
      return await loc[cmd.method](...(cmd.args ?? []));
    }
    case 'evaluate':
      return await page.evaluate(cmd.expression);
    case 'frames': {
      const out = [];
      for (const frame of page.frames()) {
        if (frame.url().includes(cmd.urlIncludes)) {
          try {
            out.push(await frame.evaluate(cmd.expression));
          } catch (err) {
            out.push(null); // a frame navigating away meanwhile
          }
        }
      }
      return out;
    }
    case 'console': {
      const out = consoleLines;
      consoleLines = [];
      return out;
    }
    case 'close':
      await browser?.close();
      return null;
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

function answer(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) {
    continue;
  }
  const cmd = JSON.parse(line);
  try {
    const result = await run(cmd);
    // values that are not JSON (a screenshot's Buffer, a handle) come back as null
    answer({ id: cmd.id, result: result === undefined || Buffer.isBuffer(result) ? null : result });
  } catch (err) {
    answer({ id: cmd.id, error: String(err?.stack ?? err) });
  }
  if (cmd.op === 'close') {
    break;
  }
}
await browser?.close().catch(() => undefined);
