// deploy/: every Kubernetes manifest parses (yaml) and validates against the Kubernetes schemas
// (kubernetes-models for the core and apps APIs, @kubernetes-models/gateway-api for Gateway and
// HTTPRoute, the InferencePool CRD's schema with ajv), the objects refer to each other
// consistently (labels, ports, DNS names, the pool, the metric the HPA scales on), the
// commands in them are flags radixlm has, and the Dockerfile has the structure the image needs.
// No Docker engine or cluster is run here: the image is not built and nothing is applied.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Ajv } from "ajv";
import { parse, parseAllDocuments } from "yaml";
import { Metrics } from "../../src/server/metrics.js";
import { parseMetricNameSets } from "../../src/server/gateway-metrics.js";

const ROOT = process.cwd();
const KUBE = path.join(ROOT, "deploy", "kubernetes");

type Obj = Record<string, any>;
interface Manifest { readonly file: string; readonly doc: Obj }

function yamlFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(e.name) ? [p] : [];
  }).sort();
}

function load(): Manifest[] {
  const out: Manifest[] = [];
  for (const file of yamlFiles(KUBE)) {
    for (const d of parseAllDocuments(fs.readFileSync(file, "utf8"), { uniqueKeys: true, strict: true })) {
      const rel = path.relative(ROOT, file);
      assert.deepEqual(d.errors.map(String), [], rel);
      assert.deepEqual(d.warnings.map(String), [], rel);
      const doc = d.toJS() as Obj | null;
      if (doc !== null) out.push({ file: rel, doc });
    }
  }
  return out;
}

const manifests = load();
const all = (kind: string): Obj[] => manifests.filter((m) => m.doc.kind === kind).map((m) => m.doc);
const one = (kind: string, name: string): Obj => {
  const found = all(kind).filter((d) => d.metadata.name === name);
  assert.equal(found.length, 1, `one ${kind} ${name}`);
  return found[0]!;
};
const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined): boolean =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);
/** A container's args as a flag -> values map (flags may repeat). */
function flags(args: readonly string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (let i = 1; i < args.length; i++) {
    const a = args[i]!;
    assert.ok(a.startsWith("--"), `${args[0]}: "${a}" is not a flag`);
    const v = args[i + 1] !== undefined && !args[i + 1]!.startsWith("--") ? args[++i]! : "";
    m.set(a, [...(m.get(a) ?? []), v]);
  }
  return m;
}
const containerOf = (workload: Obj): Obj => workload.spec.template.spec.containers[0];

const INFERENCE_POOL_SCHEMA = JSON.parse(fs.readFileSync(path.join(ROOT, "test", "deploy", "inferencepool-v1.schema.json"), "utf8")) as object;

/** The kubernetes-models class module for an apiVersion. */
async function modelModule(apiVersion: string): Promise<Record<string, unknown>> {
  if (apiVersion.startsWith("gateway.networking.k8s.io/")) return import(`@kubernetes-models/gateway-api/${apiVersion}`) as Promise<Record<string, unknown>>;
  return import(`kubernetes-models/${apiVersion}`) as Promise<Record<string, unknown>>;
}

test("deploy/kubernetes: every manifest parses and names an apiVersion, a kind and a unique name", () => {
  assert.ok(manifests.length >= 12, `${manifests.length} objects`);
  const seen = new Set<string>();
  for (const { file, doc } of manifests) {
    assert.equal(typeof doc.apiVersion, "string", file);
    assert.equal(typeof doc.kind, "string", file);
    assert.equal(typeof doc.metadata?.name, "string", file);
    assert.equal(doc.metadata.namespace, undefined, `${file}: ${doc.kind} ${doc.metadata.name} is applied with -n, not pinned to a namespace`);
    const key = `${doc.kind}/${doc.metadata.name}`;
    assert.ok(!seen.has(key), `${key} twice`);
    seen.add(key);
  }
});

test("deploy/kubernetes: every object validates against its API's schema", async () => {
  const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: false });
  const pool = ajv.compile(INFERENCE_POOL_SCHEMA);
  for (const { file, doc } of manifests) {
    const what = `${file}: ${doc.kind} ${doc.metadata.name}`;
    if (doc.apiVersion === "inference.networking.k8s.io/v1") {
      assert.equal(doc.kind, "InferencePool", what);
      assert.ok(pool(doc), `${what}: ${ajv.errorsText(pool.errors)}`);
      continue;
    }
    const mod = await modelModule(doc.apiVersion);
    const Model = mod[doc.kind] as (new (data: Obj) => { validate(): void }) | undefined;
    assert.ok(Model, `${what}: no model for ${doc.apiVersion} ${doc.kind}`);
    assert.doesNotThrow(() => new Model(doc).validate(), what);
  }
});

test("the schemas reject what the cluster would: a wrong type, a missing field, an unknown pool field", async () => {
  const sts = structuredClone(one("StatefulSet", "radixlm-worker"));
  sts.spec.template.spec.containers[0].ports[0].containerPort = "30000";
  const { StatefulSet } = await import("kubernetes-models/apps/v1");
  assert.throws(() => new StatefulSet(sts as ConstructorParameters<typeof StatefulSet>[0]).validate(), /containerPort must be integer/);
  const hpa = structuredClone(one("HorizontalPodAutoscaler", "radixlm-worker"));
  delete hpa.spec.maxReplicas;
  const { HorizontalPodAutoscaler } = await import("kubernetes-models/autoscaling/v2");
  assert.throws(() => new HorizontalPodAutoscaler(hpa as ConstructorParameters<typeof HorizontalPodAutoscaler>[0]).validate(), /maxReplicas/);
  const ajv = new Ajv({ allErrors: true, strict: true });
  const pool = ajv.compile(INFERENCE_POOL_SCHEMA);
  const p = structuredClone(one("InferencePool", "radixlm-pool"));
  for (const broken of [
    (x: Obj) => { x.spec.targetPortNumber = 30000; }, // the v1alpha2 field
    (x: Obj) => { delete x.spec.endpointPickerRef.port; }, // a Service needs its port
    (x: Obj) => { x.spec.targetPorts = []; },
    (x: Obj) => { x.spec.selector = { app: "radixlm" }; }, // v1 wants matchLabels
  ]) {
    const q = structuredClone(p);
    broken(q);
    assert.equal(pool(q), false, JSON.stringify(q.spec));
  }
});

test("workers: a StatefulSet behind its headless Service, ready on /health, non-root, serving the gateway's metric names", () => {
  const sts = one("StatefulSet", "radixlm-worker");
  const svc = one("Service", sts.spec.serviceName);
  assert.equal(svc.spec.clusterIP, "None");
  assert.ok(matches(sts.spec.selector.matchLabels, sts.spec.template.metadata.labels));
  assert.ok(matches(svc.spec.selector, sts.spec.template.metadata.labels));
  const c = containerOf(sts);
  const port = c.ports.find((p: Obj) => p.name === "http");
  assert.equal(svc.spec.ports[0].targetPort, "http");
  assert.equal(c.args[0], "serve");
  const f = flags(c.args);
  assert.deepEqual(f.get("--host"), ["0.0.0.0"]);
  assert.deepEqual(f.get("--port"), [String(port.containerPort)]);
  const sets = parseMetricNameSets(f.get("--metrics-names")![0]!);
  assert.ok(sets.includes("vllm"), "the EPP reads vLLM's names by default");
  for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
    assert.equal(c[probe]?.httpGet?.path, "/health", probe);
    assert.equal(c[probe]?.httpGet?.port, "http", probe);
  }
  const pod = sts.spec.template.spec;
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.runAsUser, 10001, "the image's user");
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.ok(c.volumeMounts.some((m: Obj) => m.mountPath === "/models"), "the model volume at /models (HF_HOME)");
  assert.ok(sts.spec.volumeClaimTemplates.some((v: Obj) => v.metadata.name === "models"));
  // serve drains for --grace-period before the pod's grace period ends
  assert.ok(pod.terminationGracePeriodSeconds > Number(f.get("--grace-period")![0]));
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;
  assert.equal(c.image, `radixlm:${version}`);
});

test("router: one --worker per StatefulSet pod by its stable DNS name, on the workers' port", () => {
  const sts = one("StatefulSet", "radixlm-worker");
  const router = one("Deployment", "radixlm-router");
  const c = containerOf(router);
  assert.equal(c.args[0], "route");
  const f = flags(c.args);
  const port = containerOf(sts).ports.find((p: Obj) => p.name === "http").containerPort;
  const expected = Array.from({ length: sts.spec.replicas }, (_, i) => `http://${sts.metadata.name}-${i}.${sts.spec.serviceName}:${port}`);
  assert.deepEqual(f.get("--worker"), expected);
  assert.deepEqual(f.get("--host"), ["0.0.0.0"]);
  assert.equal(c.readinessProbe.httpGet.path, "/health");
  const svc = one("Service", "radixlm");
  assert.ok(matches(svc.spec.selector, router.spec.template.metadata.labels));
  assert.ok(!matches(svc.spec.selector, sts.spec.template.metadata.labels), "clients reach the router, not a worker");
  assert.equal(router.spec.template.spec.securityContext.runAsNonRoot, true);
});

test("the manifests' radixlm flags are flags of radixlm serve and radixlm route", (t) => {
  const known = (cmd: string): Set<string> | null => {
    const r = spawnSync(process.execPath, [path.join(ROOT, "bin", "radixlm.js"), cmd, "--help"], { encoding: "utf8" });
    if (r.status !== 0) return null;
    return new Set([...r.stdout.matchAll(/(--[a-z][a-z-]*)/g)].map((m) => m[1]!));
  };
  for (const [cmd, workload] of [["serve", one("StatefulSet", "radixlm-worker")], ["route", one("Deployment", "radixlm-router")]] as const) {
    const options = known(cmd);
    if (options === null) {
      t.diagnostic(`radixlm ${cmd} is not built in this checkout; its flags are not checked`);
      continue;
    }
    for (const flag of flags(containerOf(workload).args).keys()) assert.ok(options.has(flag), `radixlm ${cmd} has no ${flag}`);
  }
});

test("inference gateway: the pool selects the workers on their port, names the EPP's Service, and the route sends to the pool", () => {
  const sts = one("StatefulSet", "radixlm-worker");
  const pool = one("InferencePool", "radixlm-pool");
  assert.ok(matches(pool.spec.selector.matchLabels, sts.spec.template.metadata.labels));
  assert.ok(!matches(pool.spec.selector.matchLabels, one("Deployment", "radixlm-router").spec.template.metadata.labels), "the router is not in the pool");
  assert.equal(pool.spec.targetPorts[0].number, containerOf(sts).ports[0].containerPort);
  const eppSvc = one("Service", pool.spec.endpointPickerRef.name);
  assert.ok(eppSvc.spec.ports.some((p: Obj) => p.port === pool.spec.endpointPickerRef.port.number && p.appProtocol === "http2"), "ext-proc is gRPC");
  const epp = one("Deployment", "radixlm-epp");
  assert.ok(matches(eppSvc.spec.selector, epp.spec.template.metadata.labels));
  const c = containerOf(epp);
  const f = flags(["epp", ...c.args]);
  assert.deepEqual(f.get("--pool-name"), [pool.metadata.name]);
  assert.equal(epp.spec.template.spec.serviceAccountName, one("ServiceAccount", "radixlm-epp").metadata.name);
  const binding = one("RoleBinding", "radixlm-epp");
  assert.equal(one("Role", binding.roleRef.name).rules.some((r: Obj) => r.resources.includes("inferencepools") && r.apiGroups.includes("inference.networking.k8s.io")), true);
  // The plugins file the EPP is given is in the ConfigMap it mounts, and parses.
  const configFile = f.get("--config-file")![0]!;
  const mount = c.volumeMounts.find((m: Obj) => configFile.startsWith(m.mountPath + "/"));
  const volume = epp.spec.template.spec.volumes.find((v: Obj) => v.name === mount.name);
  const config = parse(one("ConfigMap", volume.configMap.name).data[path.basename(configFile)]) as Obj;
  assert.equal(config.kind, "EndpointPickerConfig");
  const declared = new Set(config.plugins.map((p: Obj) => p.type));
  for (const profile of config.schedulingProfiles) for (const p of profile.plugins) assert.ok(declared.has(p.pluginRef), p.pluginRef);
  const route = one("HTTPRoute", "radixlm");
  assert.deepEqual(route.spec.rules[0].backendRefs.map((b: Obj) => [b.group, b.kind, b.name]), [["inference.networking.k8s.io", "InferencePool", pool.metadata.name]]);
  assert.equal(one("Gateway", route.spec.parentRefs[0].name).kind, "Gateway");
});

test("autoscaling: the HPA scales the workers on the queue gauge the adapter serves from a series the workers export", async () => {
  const sts = one("StatefulSet", "radixlm-worker");
  const hpa = one("HorizontalPodAutoscaler", "radixlm-worker");
  assert.deepEqual([hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name], ["StatefulSet", sts.metadata.name]);
  assert.ok(hpa.spec.minReplicas >= 1 && hpa.spec.maxReplicas >= hpa.spec.minReplicas);
  const metric = hpa.spec.metrics[0];
  assert.equal(metric.type, "Pods");
  const rules = (parse(one("ConfigMap", "adapter-config").data["config.yaml"]) as { rules: Obj[] }).rules;
  const rule = rules.find((r) => r.name.as === metric.pods.metric.name);
  assert.ok(rule, `an adapter rule serves ${metric.pods.metric.name}`);
  const series = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{/.exec(rule.seriesQuery)![1]!;
  assert.match(series, new RegExp(rule.name.matches));
  assert.deepEqual(Object.keys(rule.resources.overrides).sort(), ["namespace", "pod"]);
  // The series is a gauge the workers' /metrics carries with their --metrics-names.
  const sets = parseMetricNameSets(flags(containerOf(sts).args).get("--metrics-names")![0]!);
  const text = await new Metrics("m", sets).text();
  assert.match(text, new RegExp(`^# TYPE ${series} gauge$`, "m"));
});

/** Dockerfile instructions, continuation lines joined and comments dropped, by stage. */
function dockerStages(text: string): { from: string; name?: string; lines: { op: string; args: string }[] }[] {
  const joined = text.split("\n").filter((l) => !/^\s*#/.test(l)).join("\n").replace(/\\\n/g, " ");
  const stages: { from: string; name?: string; lines: { op: string; args: string }[] }[] = [];
  const args = new Map<string, string>();
  for (const line of joined.split("\n").map((l) => l.trim()).filter((l) => l.length > 0)) {
    const [, op, rest] = /^(\S+)\s+(.*)$/.exec(line)!;
    const upper = op!.toUpperCase();
    if (upper === "ARG" && stages.length === 0) {
      const [k, v = ""] = rest!.split("=");
      args.set(k!, v);
    } else if (upper === "FROM") {
      const [image, as, name] = rest!.split(/\s+/);
      stages.push({ from: image!.replace(/^\$\{(\w+)\}$/, (_, k: string) => args.get(k) ?? ""), name: as?.toUpperCase() === "AS" ? name : undefined, lines: [] });
    } else {
      assert.ok(stages.length > 0, `${upper} before FROM`);
      stages.at(-1)!.lines.push({ op: upper, args: rest! });
    }
  }
  return stages;
}

/** Whether .dockerignore (a `**` and `!path` exceptions, as ours is) lets `p` into the build context. */
function inContext(ignore: string, p: string): boolean {
  let included = true;
  for (const raw of ignore.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))) {
    const neg = raw.startsWith("!");
    const pat = (neg ? raw.slice(1) : raw).replace(/\/$/, "");
    const hit = pat === "**" || p === pat || p.startsWith(pat + "/");
    if (hit) included = neg;
  }
  return included;
}

test("Dockerfile: multi-stage on node:20-bookworm-slim, non-root, radixlm as the entrypoint, no download at run time but the model's", () => {
  const stages = dockerStages(fs.readFileSync(path.join(ROOT, "deploy", "Dockerfile"), "utf8"));
  const ignore = fs.readFileSync(path.join(ROOT, ".dockerignore"), "utf8");
  assert.ok(stages.length >= 2, "multi-stage");
  for (const s of stages) assert.equal(s.from, "node:20-bookworm-slim");
  const [build, runtime] = [stages[0]!, stages.at(-1)!];
  const ops = (s: typeof runtime, op: string): string[] => s.lines.filter((l) => l.op === op).map((l) => l.args);
  assert.ok(ops(build, "RUN").some((r) => /npm ci\b/.test(r)), "build: npm ci");
  assert.ok(ops(build, "RUN").some((r) => /tsc -p tsconfig\.json/.test(r)), "build: tsc");
  assert.ok(ops(runtime, "RUN").some((r) => /npm ci\b.*--omit=dev/.test(r)), "runtime: production dependencies only");
  assert.ok(ops(runtime, "COPY").some((c) => c.startsWith(`--from=${build.name} `) && /\bdist\//.test(c)), "runtime: dist/ from the build stage");
  for (const src of ["bin/", "prebuilds/", "models/demo/radixlm-demo-q8_0.gguf"]) assert.ok(ops(runtime, "COPY").some((c) => c.startsWith(src + " ")), `runtime: COPY ${src}`);
  // Every file copied from the context exists here and passes .dockerignore.
  for (const s of stages) {
    for (const c of ops(s, "COPY").filter((c) => !c.startsWith("--from="))) {
      for (const src of c.split(/\s+/).slice(0, -1)) {
        assert.ok(fs.existsSync(path.join(ROOT, src)), `COPY ${src}: not in the repository`);
        assert.ok(inContext(ignore, src.replace(/\/$/, "")), `COPY ${src}: excluded by .dockerignore`);
      }
    }
  }
  assert.ok(!inContext(ignore, "node_modules") && !inContext(ignore, "dist") && !inContext(ignore, ".git"), "nothing built here goes in");
  const user = ops(runtime, "USER");
  assert.equal(user.length, 1);
  assert.ok(!/^(root|0)(:|$)/.test(user[0]!), `USER ${user[0]}`);
  assert.equal(user[0], "10001:10001", "the uid the manifests run as");
  assert.deepEqual(JSON.parse(ops(runtime, "ENTRYPOINT")[0]!), ["radixlm"]);
  const cmd = JSON.parse(ops(runtime, "CMD")[0]!) as string[];
  assert.equal(cmd[0], "serve");
  assert.equal(cmd[cmd.indexOf("--host") + 1], "0.0.0.0");
  assert.deepEqual(ops(runtime, "EXPOSE"), [cmd[cmd.indexOf("--port") + 1]]);
  assert.match(ops(runtime, "HEALTHCHECK")[0] ?? "", /\/health/);
  assert.match(ops(runtime, "ENV").join(" "), /HF_HOME=\/models/);
  // Nothing is fetched but npm packages at build time; ADD (which can fetch URLs) is not used.
  for (const s of stages) {
    assert.deepEqual(ops(s, "ADD"), []);
    for (const r of ops(s, "RUN")) assert.doesNotMatch(r, /\b(curl|wget|git clone|apt-get)\b|https?:\/\//, r);
  }
});
