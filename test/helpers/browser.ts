// Headless Chromium for tests that need a real browser (CORS from a page on another origin, a
// dashboard, screenshots), driven by playwright-core. The browser is Debian's `chromium`
// package (/usr/bin/chromium, or the binary CHROMIUM_PATH names): playwright's own browser
// download needs the network and is never used. Without one, `chromiumSkip()` gives the one
// message a test's `describe(..., { skip })` shows, and `launchChromium()` returns null.
//
// Chromium is started so that it reaches for nothing on the network by itself (no background
// requests, component updates, sync, QUIC, proxy or first-run pages), headless and without the
// sandbox (tests run as root on CI), in a fresh empty profile that playwright makes and
// removes. Only the pages a test opens make requests.
import fs from "node:fs";
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from "playwright-core";

export const CHROMIUM_HINT = "install Debian's chromium (`apt-get install chromium`) or set CHROMIUM_PATH to a Chromium binary";

const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  // the pages tests open are on this machine: no proxy from the environment
  "--no-proxy-server",
] as const;

/** The Chromium binary to use: CHROMIUM_PATH when set, else /usr/bin/chromium; null when it is not there. */
export function chromiumPath(): string | null {
  const env = process.env["CHROMIUM_PATH"];
  const p = env !== undefined && env !== "" ? env : "/usr/bin/chromium";
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return p;
  } catch {
    return null;
  }
}

/** For `{ skip }`: false when Chromium is there, else the reason and how to get it. */
export function chromiumSkip(): string | false {
  if (chromiumPath() !== null) return false;
  const env = process.env["CHROMIUM_PATH"];
  const where = env !== undefined && env !== "" ? `CHROMIUM_PATH=${env}` : "/usr/bin/chromium";
  return `no Chromium at ${where}: ${CHROMIUM_HINT}`;
}

export interface HeadlessBrowser {
  readonly browser: Browser;
  /** The binary that runs. */
  readonly executablePath: string;
  /** Chromium's own version, e.g. "150.0.7871.100". */
  readonly version: string;
  /**
   * A page in a context of its own (no cookies or cache shared with other pages). Its console
   * lines, Chromium's own messages among them (a request blocked by CORS is reported there),
   * collect in `console` as "type: text".
   */
  newPage(): Promise<BrowserPage>;
  /** Closes every page and the browser; its profile is removed. */
  close(): Promise<void>;
}

export interface BrowserPage {
  readonly page: Page;
  readonly context: BrowserContext;
  readonly console: string[];
  close(): Promise<void>;
}

export interface LaunchOptions {
  /** Flags added to the defaults above. */
  readonly args?: readonly string[];
  /** Limit on the launch, in ms (default 60 s). */
  readonly timeoutMs?: number;
}

/** Starts headless Chromium, or returns null when there is none (see `chromiumSkip()`). */
export async function launchChromium(opts: LaunchOptions = {}): Promise<HeadlessBrowser | null> {
  const executablePath = chromiumPath();
  if (executablePath === null) return null;
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    chromiumSandbox: false,
    args: [...FLAGS, ...(opts.args ?? [])],
    timeout: opts.timeoutMs ?? 60_000,
  });
  const contexts = new Set<BrowserContext>();
  return {
    browser,
    executablePath,
    version: browser.version(),
    async newPage(): Promise<BrowserPage> {
      const context = await browser.newContext();
      contexts.add(context);
      const page = await context.newPage();
      const lines: string[] = [];
      page.on("console", (m: ConsoleMessage) => lines.push(`${m.type()}: ${m.text()}`));
      page.on("pageerror", (e: Error) => lines.push(`pageerror: ${e.message}`));
      return {
        page, context, console: lines,
        close: async () => {
          contexts.delete(context);
          await context.close();
        },
      };
    },
    async close(): Promise<void> {
      for (const c of contexts) await c.close().catch(() => {});
      contexts.clear();
      await browser.close();
    },
  };
}
