// The dashboard's static files: the page (web/dashboard in the package: plain HTML, JS
// modules and CSS, no build step) and uPlot from its installed package, under /dashboard/.
// Nothing is fetched from elsewhere: the page's content security policy allows only this
// server. The files are open (a browser opening the page sends no key); the page asks for the
// key and sends it with every call to /dashboard/api/ and the API.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply } from "fastify";
import fastifyStatic from "@fastify/static";

export const DASHBOARD_PATH = "/dashboard";
const API_PREFIX = "/dashboard/api/";

const CSP = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/** A request for one of the page's files (these need no key and no engine). */
export function isDashboardAsset(method: string, url: string): boolean {
  if (method !== "GET" && method !== "HEAD") return false;
  const p = url.split("?")[0]!;
  return p === DASHBOARD_PATH || (p.startsWith(DASHBOARD_PATH + "/") && !p.startsWith(API_PREFIX));
}

/** web/dashboard of the package this file is in (found upward: dist/ and dist-test/ sit at different depths). */
export function pageDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, "web", "dashboard");
    if (fs.existsSync(path.join(candidate, "index.html"))) return candidate;
    const up = path.dirname(dir);
    if (up === dir) throw new Error("radixlm: the dashboard's files (web/dashboard) are missing from the package");
    dir = up;
  }
}

/** uPlot's dist folder, as installed beside radixlm. */
export function uplotDir(): string {
  return path.join(path.dirname(createRequire(import.meta.url).resolve("uplot/package.json")), "dist");
}

export async function registerDashboardAssets(app: FastifyInstance): Promise<void> {
  const headers = (reply: FastifyReply): void => {
    reply.header("content-security-policy", CSP);
    reply.header("x-content-type-options", "nosniff");
    reply.header("referrer-policy", "no-referrer");
  };
  app.get(DASHBOARD_PATH, async (_req, reply) => reply.redirect(DASHBOARD_PATH + "/", 302));
  await app.register(fastifyStatic, {
    root: pageDir(), prefix: DASHBOARD_PATH + "/", index: "index.html", wildcard: false, decorateReply: false,
    cacheControl: true, maxAge: 0, setHeaders: headers,
  });
  await app.register(fastifyStatic, {
    root: uplotDir(), prefix: DASHBOARD_PATH + "/vendor/uplot/", wildcard: false, decorateReply: false, index: false,
    allowedPath: (p) => p === "/uPlot.esm.js" || p === "/uPlot.min.css", setHeaders: headers,
  });
}
