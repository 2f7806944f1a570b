// The dashboard page: asks for the API key when the server wants one (once per tab), then
// follows /dashboard/api/stream (stats, tree snapshot and deltas, requests) and reconnects
// when it ends. Query parameters of the page's own URL: max_nodes and interval_ms, passed on.
import { ApiError, apiKey, getJson, openStream, readEvents, setApiKey } from "./api.js";
import { Charts } from "./charts.js";
import { Playground } from "./playground.js";
import { RequestsTable } from "./requests.js";
import { TreeModel, TreeView } from "./tree.js";

const $ = (sel) => document.querySelector(sel);

const model = new TreeModel();
const tree = new TreeView($("#tree"), $("#crumbs"), $("#tip"), $("#namespace"), model);
const charts = new Charts($("#charts"));
const status = $("#status");
const requests = new RequestsTable($("#requests tbody"), $("#requests-summary"), (m) => (status.textContent = m));
const playground = new Playground($("#chat"), $("#chat-log"), $("#chat-status"), tree);

const own = new URLSearchParams(location.search);
const passOn = new URLSearchParams();
for (const k of ["max_nodes", "interval_ms"]) if (own.has(k)) passOn.set(k, own.get(k));

/** Asks for the key (a dialog); resolves once one is given. */
function askKey(message) {
  return new Promise((resolve) => {
    const dialog = $("#key-dialog");
    $("#key-message").textContent = message;
    dialog.showModal();
    $("#key-form").onsubmit = (e) => {
      e.preventDefault();
      setApiKey($("#key-input").value.trim());
      dialog.close();
      resolve();
    };
  });
}

async function info() {
  for (;;) {
    try {
      return await getJson("/dashboard/api/info");
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) await askKey(apiKey() ? "That key was refused. API key:" : "This server needs its API key:");
      else {
        status.textContent = `waiting for the server: ${e.message}`;
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }
}

function showInfo(i) {
  $("#model").textContent = i.model;
  $("#pool").textContent = `KV pool ${i.kv_capacity} tokens, context ${i.context_length}`;
  playground.model = i.model;
}

async function follow() {
  for (;;) {
    const q = new URLSearchParams(passOn);
    if (model.version > 0) q.set("since", String(model.version));
    try {
      const r = await openStream(`/dashboard/api/stream?${q}`);
      status.textContent = "live";
      document.body.dataset.live = "true";
      await readEvents(r, (name, data) => {
        const msg = JSON.parse(data);
        if (name === "history") charts.reset(msg);
        else if (name === "stats") {
          charts.add(msg);
          showNumbers(msg);
        } else if (name === "tree") {
          // A delta from another version than ours: start again from a snapshot.
          if (!model.apply(msg)) throw new Error("tree out of step");
          tree.draw();
          document.body.dataset.treeVersion = String(model.version);
        } else if (name === "requests") requests.update(msg);
      });
      status.textContent = "the stream ended; reconnecting";
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        await askKey("This server needs its API key:");
        continue;
      }
      if (e.message === "tree out of step") model.version = 0;
      status.textContent = `reconnecting (${e.message})`;
    }
    document.body.dataset.live = "false";
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function showNumbers(s) {
  const pct = (x) => `${(100 * x).toFixed(1)}%`;
  $("#n-hit").textContent = s.hit_rate === null ? pct(s.hit_rate_total) : pct(s.hit_rate);
  $("#n-gen").textContent = s.generated_tps.toFixed(1);
  $("#n-running").textContent = `${s.running} / ${s.queued}`;
  $("#n-pool").textContent = pct((s.kv.capacity - s.kv.free) / Math.max(1, s.kv.capacity));
  $("#n-ttft").textContent = s.ttft ? `${s.ttft.p50.toFixed(0)} ms` : "–";
}

$("#forget-key").onclick = () => {
  setApiKey(null);
  location.reload();
};

showInfo(await info());
void follow();
