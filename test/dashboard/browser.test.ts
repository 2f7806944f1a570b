// The dashboard in a real browser (headless Chromium, playwright-core; skipped, saying why,
// where there is none: test/helpers/browser.ts). Against a server with an API key: the page
// asks for the key once; requests sharing a prefix, sent through the API, show in the tree as
// one node with the prefix's token count; the hit-rate chart moves; hovering and zooming work;
// the playground streams an answer and lights up its path; abort from the page aborts a
// running request. Screenshots go to $TMPDIR/radixlm-dashboard-shots; the one under the demo
// model's shared-prefix workload, with RADIXLM_UPDATE_SCREENSHOT=1, replaces docs/dashboard.png
// (the README's picture).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromiumSkip, launchChromium, type BrowserPage, type HeadlessBrowser } from "../helpers/browser.js";
import { start, withExtra, type Running } from "../server/harness.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import { loadModel } from "../../src/model/load.js";
import { common, ids } from "./prompt-ids.js";

const KEY = "dashboard-test-key";
const AUTH = { authorization: `Bearer ${KEY}` };
const T = { timeout: 180_000 };
const SYSTEM = "You are radixlm's demo assistant. Keep answers short and friendly, and say when you do not know. ";
const SHOTS = path.join(os.tmpdir(), "radixlm-dashboard-shots");
const DEMO_MODEL = path.resolve(process.cwd(), "models", "demo", "radixlm-demo-q8_0.gguf");


/** Chromium with one page at the screenshots' size, and their folder made. */
async function openPage(): Promise<{ browser: HeadlessBrowser; bp: BrowserPage }> {
  const browser = (await launchChromium())!;
  const bp = await browser.newPage();
  await bp.page.setViewportSize({ width: 1440, height: 1000 });
  fs.mkdirSync(SHOTS, { recursive: true });
  return { browser, bp };
}

describe("the dashboard in a browser", { skip: chromiumSkip() }, () => {
  let srv: Running;
  let browser: HeadlessBrowser;
  let bp: BrowserPage;

  before(async () => {
    // The reference backend: slow enough that a long request is still running when the page aborts it.
    srv = await start({ backend: referenceBackend }, { apiKey: KEY });
    ({ browser, bp } = await openPage());
  });
  after(async () => {
    await bp?.close();
    await browser?.close();
    await srv?.close();
  });

  const page = (): BrowserPage["page"] => bp.page;

  test("asks for the API key once, then goes live", T, async () => {
    await page().goto(`${srv.url}/dashboard/?interval_ms=250`);
    await page().waitForSelector("#key-dialog[open]");
    await page().fill("#key-input", KEY);
    await page().click("#key-form button[type=submit]");
    await page().waitForSelector("body[data-live=true]");
    assert.equal(await page().textContent("#model"), "tiny-test");
    // A reload in the same tab keeps the key: no second question.
    await page().reload();
    await page().waitForSelector("body[data-live=true]");
    assert.equal(await page().locator("#key-dialog[open]").count(), 0);
    // The only errors: the 401s that made the page ask for the key.
    assert.deepEqual(bp.console.filter((l) => (l.startsWith("error") && !l.includes("status of 401")) || l.startsWith("pageerror")), []);
  });

  test("requests sharing a prefix show as one node with the prefix's token count; the hit-rate chart moves", T, async () => {
    const hitChart = page().locator("#chart-hit-rate");
    const pointsBefore = Number(await hitChart.getAttribute("data-points"));
    const prompts = ["What colour is the sky?", "How many legs has a spider?", "Why is the sea salty?"].map((q) => SYSTEM + q);
    for (const prompt of prompts) await srv.client.completions.create({ model: "tiny-test", prompt, max_tokens: 6, temperature: 0 });
    const all = await Promise.all(prompts.map((p) => ids(srv.url, p, AUTH)));
    const shared = Math.min(common(all[0]!, all[1]!), common(all[0]!, all[2]!), common(all[1]!, all[2]!));
    assert.ok(shared > 10);
    // Its children: one per token the prompts go on with (two questions may start alike).
    const branches = new Set(all.map((a) => a[shared])).size;
    // Evictable once no request holds it (a view taken while the last one ran shows it locked).
    const node = page().locator(`#tree rect[data-depth="0"][data-tokens="${shared}"][data-children="${branches}"][data-state="evictable"]`);
    await node.waitFor({ timeout: 20_000 });
    assert.ok(Number(await node.getAttribute("data-hits")) >= 3);
    // The chart: more points, and a hit rate above zero among the last values.
    await page().waitForFunction((before: number) => {
      const box = document.querySelector("#chart-hit-rate") as HTMLElement;
      const last = JSON.parse(box.dataset.last ?? "[]") as (number | null)[];
      return Number(box.dataset.points) > before && (last[1] ?? 0) > 0;
    }, pointsBefore, { timeout: 20_000 });
    const hitText = await page().textContent("#n-hit");
    assert.match(hitText!, /^\d+\.\d%$/);
    // Hover: the node's text and counts.
    await node.hover();
    const tip = page().locator("#tip");
    await tip.waitFor({ state: "visible" });
    const tipText = (await tip.textContent())!;
    assert.match(tipText, new RegExp(`${shared} tokens \\(positions 0–${shared - 1}\\)`));
    assert.match(tipText, /evictable, \d+ hits/);
    // Zoom in on it: the path above it shows; zoom out again.
    await node.click();
    await page().waitForFunction((n: number) => [...document.querySelectorAll("#crumbs button")].some((b) => b.textContent!.startsWith(`${n} tok`)), shared);
    await page().screenshot({ path: path.join(SHOTS, "zoomed.png") });
    await page().click("#crumbs button:first-child");
    await page().waitForFunction(() => document.querySelectorAll("#crumbs button").length === 1);
  });

  test("the playground streams an answer and lights up the path it used; the next turn reuses the first", T, async () => {
    await page().fill("#chat [name=system]", SYSTEM);
    await page().fill("#chat [name=max_tokens]", "24");
    const turn = async (text: string, n: number): Promise<{ chunks: number; reused: number; answer: string }> => {
      await page().fill("#chat [name=prompt]", text);
      await page().click("#chat button[type=submit]");
      const answer = page().locator(".msg.assistant").nth(n);
      await answer.and(page().locator("[data-done=true]")).waitFor({ timeout: 60_000 });
      await page().waitForFunction((i: number) => (document.querySelector("#chat-status") as HTMLElement).textContent!.includes("prompt tokens reused") &&
        document.querySelectorAll(".msg.assistant").length === i + 1, n);
      return {
        chunks: Number(await answer.getAttribute("data-chunks")),
        reused: Number(await page().getAttribute("#chat-status", "data-reused")),
        answer: (await answer.textContent())!,
      };
    };
    const first = await turn("Hello there, who are you?", 0);
    assert.ok(first.chunks > 1, `streamed in ${first.chunks} chunks`);
    assert.ok(first.answer.length > 0);
    const second = await turn("And what can you do?", 1);
    assert.ok(second.chunks > 1);
    // The second turn's prompt starts with the whole first exchange, cached by the first turn.
    assert.ok(second.reused > 20, `reused ${second.reused}`);
    // The path the answer used is highlighted once the tree holds it.
    await page().waitForSelector("#tree rect.lit", { timeout: 20_000 });
    assert.ok(await page().locator("#tree rect.lit").count() >= 2);
  });

  test("a salted namespace shows under its hash, never its salt; the picker shows it alone", T, async () => {
    const salt = "tenant-a-secret";
    await srv.client.completions.create(withExtra({ model: "tiny-test", prompt: SYSTEM + "salted question", max_tokens: 4 }, { cache_salt: salt }));
    await page().waitForFunction(() => [...document.querySelectorAll("#namespace option")].some((o) => /^ns-[0-9a-f]{12}$/.test((o as HTMLOptionElement).value)));
    const name = await page().evaluate(() => [...document.querySelectorAll("#namespace option")].map((o) => (o as HTMLOptionElement).value).find((v) => v.startsWith("ns-"))!);
    assert.equal(await page().locator("#tree rect[data-state=root]").count(), 2);
    await page().selectOption("#namespace", name);
    await page().waitForFunction(() => document.querySelectorAll("#tree rect[data-state=root]").length === 1);
    const labels = await page().evaluate(() => [...document.querySelectorAll("#tree text.label")].map((t) => t.textContent));
    assert.ok(labels.includes(name), JSON.stringify(labels));
    assert.ok(!labels.includes("shared"));
    assert.ok(!(await page().content()).includes(salt));
    await page().selectOption("#namespace", "");
    await page().waitForFunction(() => document.querySelectorAll("#tree rect[data-state=root]").length === 2);
  });

  test("abort from the page aborts a running request", T, async () => {
    const prompt = SYSTEM + "Count slowly to ten thousand.";
    const maxTokens = srv.engine.contextLength - (await ids(srv.url, prompt, AUTH)).length - 4;
    const stream = await srv.client.completions.create(withExtra({ model: "tiny-test", prompt, max_tokens: maxTokens, temperature: 0, stream: true as const, stream_options: { include_usage: true } }, { ignore_eos: true }));
    const it = stream[Symbol.asyncIterator]();
    const first = await it.next();
    assert.ok(!first.done);
    const id = first.value.id;
    const row = page().locator(`#requests tr[data-id="${id}"]`);
    await row.waitFor({ timeout: 20_000 });
    assert.equal(await row.getAttribute("data-status"), "running");
    await writeShot(page(), "requests.png");
    await row.locator("button.abort").click();
    let finish: string | null = null;
    let completion = 0;
    for (let r = await it.next(); !r.done; r = await it.next()) {
      finish = r.value.choices[0]?.finish_reason ?? finish;
      if (r.value.usage) completion = r.value.usage.completion_tokens;
    }
    assert.ok(completion < maxTokens, `${completion} of ${maxTokens} tokens`);
    assert.notEqual(finish, "length");
    await page().waitForFunction(() => [...document.querySelectorAll("#requests button.abort")].every((b) => b.textContent === "aborted") ||
      document.querySelectorAll("#requests tbody tr").length === 0);
    assert.deepEqual(srv.engine.requests(), []);
  });
});

async function writeShot(page: BrowserPage["page"], name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: true });
}

// The README's picture: the bundled demo model (which writes words, not the test model's noise)
// under a shared-prefix workload: chats under two system prompts, two long answers still
// running (their paths locked), a playground turn lit up, the pointer on the system prompt.
describe("the dashboard under a shared-prefix workload, with the demo model", { skip: chromiumSkip() }, () => {
  let srv: Running;
  let browser: HeadlessBrowser;
  let bp: BrowserPage;

  before(async () => {
    // The reference backend, as above: the long answers are still running at the picture.
    srv = await start({ model: await loadModel(DEMO_MODEL), backend: referenceBackend }, { name: "radixlm-demo" });
    ({ browser, bp } = await openPage());
  });
  after(async () => {
    await bp?.close();
    await browser?.close();
    await srv?.close();
  });

  test("the tree shows each system prompt's text once, the requests run, a screenshot is taken", T, async () => {
    const page = bp.page;
    await page.goto(`${srv.url}/dashboard/?interval_ms=250`);
    await page.waitForSelector("body[data-live=true]");
    const systems = [
      "You are a helpful assistant. Answer the question in a sentence or two.",
      "You rewrite the text the user gives so that it is shorter and clearer.",
    ];
    const asks = ["What is a radix tree?", "Why does caching a prompt make answers faster?", "Tell me a short story about a cat.", "What colour is the sea?"];
    for (const system of systems) {
      await Promise.all(asks.map((q) => srv.client.chat.completions.create({
        model: "radixlm-demo", messages: [{ role: "system", content: system }, { role: "user", content: q }], max_tokens: 32, temperature: 0.7,
      })));
    }
    // Two long answers, still running when the picture is taken.
    const long = asks.slice(0, 2).map((q) => srv.client.chat.completions.create(withExtra({
      model: "radixlm-demo", messages: [{ role: "system", content: systems[0]! }, { role: "user", content: q + " Explain at length." }], max_tokens: 400, temperature: 0.7,
    }, { ignore_eos: true })));
    // A playground turn, its path lit up.
    await page.fill("#chat [name=system]", systems[0]!);
    await page.fill("#chat [name=prompt]", "What is a radix tree?");
    await page.fill("#chat [name=max_tokens]", "40");
    await page.click("#chat button[type=submit]");
    await page.waitForSelector(".msg.assistant[data-done=true]", { timeout: 60_000 });
    await page.waitForSelector("#tree rect.lit", { timeout: 20_000 });
    await page.waitForSelector("#requests tbody tr[data-status=running]", { timeout: 20_000 });
    // Each system prompt is a node of its own, carrying its detokenized text (past the tokens
    // both share: the turn's start and "You"); the label drawn on it is that text, cut to the
    // node's width (which shrinks as the long answers deepen the tree).
    const nodes = await page.evaluate(() => [...document.querySelectorAll("#tree g.node")].map((g) => ({
      text: g.querySelector("rect")?.getAttribute("data-text") ?? "",
      label: g.querySelector("text.label")?.textContent ?? null,
    })));
    for (const s of systems) {
      const words = s.split(" ").slice(1, 4).join(" ");
      const mine = nodes.filter((n) => n.text.startsWith(" " + words));
      assert.equal(mine.length, 1, `${words} in ${JSON.stringify(nodes.map((n) => n.text))}`);
      const label = mine[0]!.label;
      if (label !== null) assert.ok(mine[0]!.text.startsWith(label.replace(/…$/, "")), `label ${JSON.stringify(label)} of ${JSON.stringify(mine[0]!.text)}`);
    }
    const top = page.locator("#tree rect[data-state=locked], #tree rect[data-state=evictable]").first();
    await top.hover();
    await page.locator("#tip").waitFor({ state: "visible" });
    await page.waitForTimeout(300);
    await writeShot(page, "demo.png");
    if (process.env["RADIXLM_UPDATE_SCREENSHOT"] === "1") {
      fs.copyFileSync(path.join(SHOTS, "demo.png"), path.resolve(process.cwd(), "docs", "dashboard.png"));
    }
    assert.ok(fs.statSync(path.join(SHOTS, "demo.png")).size > 10_000);
    srv.engine.abortAll();
    await Promise.all(long);
    assert.deepEqual(bp.console.filter((l) => l.startsWith("pageerror") || l.startsWith("error")), []);
  });
});
