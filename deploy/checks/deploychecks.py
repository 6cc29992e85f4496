#!/usr/bin/env python3
"""Structural checks for the deployment artifacts, used by .ci/deploy-checks.sh.

Each subcommand prints what it checked and exits non-zero on the first class
of failure it finds (all problems of that class are listed). Needs PyYAML
(installed with kubernetes-validate).

  split-manifests RENDER OUTDIR   core.yaml for kubernetes-validate, one file
                                  per custom resource for check-jsonschema
  contract RENDER                 the runbook's names, numbers and safety rules
  extract-shell RENDER OUTDIR     shell scripts embedded in manifests (shellcheck)
  nginx-test RENDER OUTDIR        nginx.conf wrapper around nginx-config for `nginx -t`
  k8s-prometheus SRC OUT          prometheus.yml with kubernetes_sd_configs swapped
                                  for static targets (Debian's promtool has no k8s SD)
  dashboards DIR OUT_RULES        Grafana file-provisioning format + runbook
                                  time/refresh; writes every expr as a recording
                                  rule so `promtool check rules` parses the PromQL
  metrics RULES... -- DASHBOARDS...  our metric names/labels against the contract
  alert-tests RULES TESTS         every alert fires in one test and stays silent
                                  in another
  compose-mounts COMPOSE          every bind-mounted repository file exists
  anchors DOC RULES               every runbook_url anchor and every #link in DOC
                                  exists as a heading (GitHub slugs)
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import yaml

CRD_SCHEMAS = {
    ("cert-manager.io/v1", "Certificate"): "certificate.cert-manager.io.v1.json",
    ("networking.istio.io/v1", "Gateway"): "gateway.networking.istio.io.v1.json",
    ("networking.istio.io/v1", "VirtualService"): "virtualservice.networking.istio.io.v1.json",
    ("networking.istio.io/v1", "DestinationRule"): "destinationrule.networking.istio.io.v1.json",
    ("autoscaling.k8s.io/v1", "VerticalPodAutoscaler"): "verticalpodautoscaler.autoscaling.k8s.io.v1.json",
}
CRD_GROUPS = ("cert-manager.io", "networking.istio.io", "autoscaling.k8s.io")

# The backend's routes that probes may use (the server contract).
BACKEND_PROBE_PATHS = {"/health", "/health/live", "/health/ready", "/api/v1/health"}

# Metrics the backend exports, with their labels (the contract with the lead).
HIST = "histogram"
OUR_METRICS: dict[str, tuple[set[str], str]] = {
    "http_requests_total": ({"method", "route", "status"}, "counter"),
    "http_request_duration_seconds": ({"method", "route", "status"}, HIST),
    "http_requests_in_flight": (set(), "gauge"),
    "freeagentics_build_info": ({"version", "git_sha"}, "gauge"),
    "freeagentics_ready": (set(), "gauge"),
    "freeagentics_maintenance_mode": (set(), "gauge"),
    "freeagentics_db_pool_connections": ({"state"}, "gauge"),
    "freeagentics_db_pool_max_connections": (set(), "gauge"),
    "freeagentics_db_pool_acquire_timeouts_total": (set(), "counter"),
    "freeagentics_db_query_duration_seconds": ({"operation"}, HIST),
    "freeagentics_redis_up": (set(), "gauge"),
    "freeagentics_redis_errors_total": (set(), "counter"),
    "freeagentics_rate_limited_total": ({"class", "backend"}, "counter"),
    "freeagentics_rate_limit_fallback_active": (set(), "gauge"),
    "freeagentics_cache_requests_total": ({"cache", "outcome"}, "counter"),
    "freeagentics_active_connections": (set(), "gauge"),
    "freeagentics_http_connections_open": ({"listener"}, "gauge"),
    "freeagentics_http_connections_max": ({"listener"}, "gauge"),
    "freeagentics_http_connections_refused_total": ({"listener"}, "counter"),
    "freeagentics_http_connection_timeouts_total": ({"listener", "kind"}, "counter"),
    "freeagentics_user_registrations_total": (set(), "counter"),
    "freeagentics_logins_total": ({"outcome"}, "counter"),
    "freeagentics_token_refreshes_total": ({"outcome"}, "counter"),
    "freeagentics_agent_interactions_total": (set(), "counter"),
    "freeagentics_inference_duration_seconds": (set(), HIST),
    "freeagentics_coalition_formations_total": ({"strategy", "outcome"}, "counter"),
    "freeagentics_events_published_total": ({"topic_kind"}, "counter"),
    "process_cpu_seconds_total": (set(), "counter"),
    "process_resident_memory_bytes": (set(), "gauge"),
    "process_virtual_memory_bytes": (set(), "gauge"),
    "process_open_fds": (set(), "gauge"),
    "process_max_fds": (set(), "gauge"),
    "process_start_time_seconds": (set(), "gauge"),
    "process_threads": (set(), "gauge"),
}
TARGET_LABELS = {"job", "instance", "namespace", "pod"}
OUR_PREFIXES = ("http_", "freeagentics_", "process_")

# Dashboards the runbook describes: title fragment -> (time from, refresh).
RUNBOOK_DASHBOARDS = {
    "System Overview": ("now-24h", "30s"),
    "Application Performance": ("now-6h", "15s"),
    "Infrastructure": ("now-12h", "1m"),
}


class Failures:
    def __init__(self, what: str):
        self.what = what
        self.items: list[str] = []
        self.count = 0

    def check(self, cond: bool, msg: str) -> None:
        self.count += 1
        if not cond:
            self.items.append(msg)

    def finish(self) -> None:
        if self.items:
            for m in self.items:
                print(f"  - {m}")
            print(f"{self.what}: {len(self.items)} of {self.count} checks failed")
            sys.exit(1)
        print(f"{self.what}: {self.count} checks passed")


def load_docs(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d]


def find(docs, kind, name, namespace=None):
    for d in docs:
        md = d.get("metadata", {})
        if d.get("kind") == kind and md.get("name") == name and (namespace is None or md.get("namespace") == namespace):
            return d
    return None


def pod_spec(doc):
    kind = doc.get("kind")
    if kind in ("Deployment", "DaemonSet", "StatefulSet", "Job"):
        return doc["spec"]["template"]["spec"]
    if kind == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def all_containers(spec):
    return list(spec.get("initContainers", [])) + list(spec.get("containers", []))


# ---------------------------------------------------------------- manifests
def cmd_split_manifests(render: str, outdir: str) -> None:
    docs = load_docs(render)
    out = Path(outdir)
    (out / "crd").mkdir(parents=True, exist_ok=True)
    core, unknown = [], []
    counts: dict[str, int] = {}
    for i, d in enumerate(docs):
        api, kind = d.get("apiVersion", ""), d.get("kind", "")
        group = api.split("/")[0] if "/" in api else ""
        if group in CRD_GROUPS:
            schema = CRD_SCHEMAS.get((api, kind))
            if schema is None:
                unknown.append(f"{api} {kind} {d['metadata'].get('name')}")
                continue
            stem = schema[: -len(".json")]
            with open(out / "crd" / f"{stem}--{i:03d}-{d['metadata']['name']}.yaml", "w", encoding="utf-8") as fh:
                yaml.safe_dump(d, fh, sort_keys=False)
            counts[kind] = counts.get(kind, 0) + 1
        else:
            core.append(d)
    with open(out / "core.yaml", "w", encoding="utf-8") as fh:
        yaml.safe_dump_all(core, fh, sort_keys=False)
    print(f"{len(core)} core objects -> core.yaml; custom resources: "
          + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())))
    if unknown:
        print("custom resources without a schema in deploy/schemas: " + "; ".join(unknown))
        sys.exit(1)


def cmd_contract(render: str) -> None:
    docs = load_docs(render)
    f = Failures("runbook contract")
    ns = "freeagentics-prod"
    f.check(find(docs, "Namespace", ns) is not None, f"Namespace {ns}")

    for name in ("backend", "frontend", "postgres", "redis"):
        d = find(docs, "Deployment", name, ns)
        f.check(d is not None, f"Deployment {name}")
        if d:
            f.check(d["spec"]["template"]["metadata"]["labels"].get("app") == name, f"Deployment {name} pods labelled app={name}")
    for name in ("backend", "backend-stable", "backend-canary", "frontend", "postgres", "redis"):
        f.check(find(docs, "Service", name, ns) is not None, f"Service {name}")
    f.check(find(docs, "Service", "backend-stable", ns)["spec"]["selector"].get("track") == "stable", "backend-stable selects track=stable")
    f.check(find(docs, "Service", "backend-canary", ns)["spec"]["selector"].get("track") == "canary", "backend-canary selects track=canary")

    bc = find(docs, "ConfigMap", "backend-config", ns) or {"data": {}}
    f.check(bc["data"].get("DATABASE_POOL_SIZE") == "20", "backend-config DATABASE_POOL_SIZE=20")
    f.check(bc["data"].get("DATABASE_MAX_OVERFLOW") == "10", "backend-config DATABASE_MAX_OVERFLOW=10")
    f.check(bc["data"].get("APP_ENV") == "production", "backend-config APP_ENV=production")
    f.check(bc["data"].get("DEV_ENDPOINTS") == "false", "backend-config DEV_ENDPOINTS=false")
    rc = find(docs, "ConfigMap", "redis-config", ns) or {"data": {}}
    f.check(rc["data"].get("maxmemory") == "2gb", "redis-config maxmemory 2gb")
    f.check(rc["data"].get("maxmemory-policy") == "allkeys-lru", "redis-config allkeys-lru")
    nc = find(docs, "ConfigMap", "nginx-config", ns) or {"data": {}}
    f.check(nc["data"].get("maintenance") == "false", 'nginx-config maintenance "false"')
    for cm in ("backend-config", "redis-config", "nginx-config"):
        f.check(find(docs, "ConfigMap", cm, ns) is not None, f"ConfigMap {cm} keeps its plain name (no hash suffix)")

    be = find(docs, "Deployment", "backend", ns)
    if be:
        spec = be["spec"]
        f.check("replicas" not in spec, "backend has no spec.replicas (the HPA owns it)")
        ru = spec.get("strategy", {}).get("rollingUpdate", {})
        f.check(spec.get("strategy", {}).get("type") == "RollingUpdate" and ru.get("maxUnavailable") in (0, "0", "0%"),
                "backend RollingUpdate maxUnavailable 0")
        ps = spec["template"]["spec"]
        c = next((c for c in ps["containers"] if c["name"] == "backend"), None)
        f.check(c is not None, "backend container named backend")
        if c:
            r = c.get("resources", {})
            f.check(r.get("requests") == {"cpu": "500m", "memory": "1Gi"}, "backend requests 500m/1Gi")
            f.check(r.get("limits") == {"cpu": "1000m", "memory": "2Gi"}, "backend limits 1000m/2Gi")
            f.check(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/health", "liveness /health")
            f.check(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/api/v1/health", "readiness /api/v1/health")
            f.check("startupProbe" in c, "startup probe")
            sleep = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
            f.check(isinstance(sleep, int) and sleep > 0, "native preStop sleep")
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            f.check(env.get("MAINTENANCE_FILE", "").endswith("/maintenance"), "MAINTENANCE_FILE set")
            mount = next((m for m in c.get("volumeMounts", []) if env.get("MAINTENANCE_FILE", "").startswith(m["mountPath"] + "/")), None)
            vol = next((v for v in ps.get("volumes", []) if mount and v["name"] == mount["name"]), None)
            f.check(vol is not None and vol.get("configMap", {}).get("name") == "nginx-config" and "subPath" not in (mount or {}),
                    "maintenance file is nginx-config mounted without subPath")
            drain = int(bc["data"].get("SHUTDOWN_DRAIN_SECONDS", "0"))
            timeout = int(bc["data"].get("SHUTDOWN_TIMEOUT_SECONDS", "0"))
            grace = ps.get("terminationGracePeriodSeconds", 30)
            f.check(grace > (sleep or 0) + drain + timeout,
                    f"terminationGracePeriodSeconds {grace} > preStop {sleep} + drain {drain} + timeout {timeout}")

    hpa = find(docs, "HorizontalPodAutoscaler", "backend", ns)
    f.check(hpa is not None and hpa["apiVersion"] == "autoscaling/v2", "HPA backend autoscaling/v2")
    if hpa:
        s = hpa["spec"]
        f.check((s["minReplicas"], s["maxReplicas"]) == (3, 20), "HPA 3-20")
        f.check(any(m.get("resource", {}).get("name") == "cpu" and m["resource"]["target"].get("averageUtilization") == 70
                    for m in s.get("metrics", [])), "HPA 70% CPU")
    vpa = find(docs, "VerticalPodAutoscaler", "backend", ns)
    f.check(vpa is not None and vpa["spec"]["updatePolicy"]["updateMode"] == "Off", "VPA backend updateMode Off")
    f.check(find(docs, "PodDisruptionBudget", "backend", ns) is not None, "PDB backend")

    vs = find(docs, "VirtualService", "freeagentics-vs", ns)
    f.check(vs is not None, "VirtualService freeagentics-vs")
    if vs:
        hosts = {r["destination"]["host"] for h in vs["spec"]["http"] for r in h.get("route", [])}
        f.check(hosts == {"backend-stable", "backend-canary"}, "freeagentics-vs routes to backend-stable and backend-canary")
        for h in vs["spec"]["http"]:
            w = [r.get("weight", 100 if len(h.get("route", [])) == 1 else 0) for r in h.get("route", [])]
            f.check(sum(w) == 100, f"freeagentics-vs route {h.get('name')} weights sum to 100")
    f.check(find(docs, "Gateway", "freeagentics-gateway", ns) is not None, "Istio Gateway")
    f.check(any(d["kind"] == "DestinationRule" for d in docs), "DestinationRule")
    cert = find(docs, "Certificate", "freeagentics-tls", ns)
    f.check(cert is not None and cert["spec"]["secretName"] == "freeagentics-tls", "Certificate freeagentics-tls")

    ingresses = [d for d in docs if d["kind"] == "Ingress"]
    f.check(all(d["spec"].get("ingressClassName") == "nginx" for d in ingresses) and ingresses, "Ingresses use class nginx")
    f.check(all(t.get("secretName") == "freeagentics-tls" for d in ingresses for t in d["spec"].get("tls", [])), "Ingress TLS from freeagentics-tls")
    blocked = False
    for d in ingresses:
        for rule in d["spec"].get("rules", []):
            for p in rule.get("http", {}).get("paths", []):
                if p["path"] == "/metrics":
                    blocked = "0.0.0.0/0" in d["metadata"].get("annotations", {}).get("nginx.ingress.kubernetes.io/denylist-source-range", "")
    f.check(blocked, "Ingress denies /metrics to everyone")
    f.check("location ~ ^/+metrics" in nc["data"].get("default.conf", ""), "nginx load balancer returns 404 for /metrics")

    job = find(docs, "Job", "backend-migrate", ns)
    f.check(job is not None and job["spec"]["template"]["spec"]["containers"][0].get("args") == ["migrate", "run"], "migration Job runs migrate run")
    cj = find(docs, "CronJob", "postgres-backup", ns)
    f.check(cj is not None, "CronJob postgres-backup")
    if cj:
        script = "\n".join(" ".join(c.get("args", [])) for c in all_containers(pod_spec(cj)))
        for needle in ("set -euo pipefail", "pg_dump", "gzip -t", "-s ", "dump complete", "-mtime", "BACKUP_RETENTION_DAYS"):
            f.check(needle in script, f"backup script contains {needle!r}")

    prom = find(docs, "Deployment", "prometheus", ns)
    if prom:
        srcs = [s["configMap"]["name"] for v in pod_spec(prom)["volumes"] if "projected" in v for s in v["projected"]["sources"]]
        f.check(any(s.startswith("prometheus-rules") for s in srcs) and any(s.startswith("prometheus-config") for s in srcs),
                "Prometheus mounts its config and rules ConfigMaps together")
        rules_cm = next((d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("prometheus-rules")), None)
        f.check(rules_cm is not None and {"alert-rules.yml", "recording-rules.yml"} <= set(rules_cm.get("data", {})),
                "prometheus-rules ConfigMap holds alert-rules.yml and recording-rules.yml")
    else:
        f.check(False, "Deployment prometheus")
    for name in ("alertmanager", "grafana", "jaeger", "loki", "postgres-exporter", "redis-exporter", "kube-state-metrics"):
        f.check(find(docs, "Deployment", name, ns) is not None, f"monitoring Deployment {name}")
    for name in ("node-exporter", "promtail"):
        f.check(any(d["kind"] == "DaemonSet" and d["metadata"]["name"] == name for d in docs), f"DaemonSet {name}")
    dash_cm = next((d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("grafana-dashboards")), None)
    f.check(dash_cm is not None and len(dash_cm.get("data", {})) >= 4, "grafana-dashboards ConfigMap with the dashboards")

    # Pods in the application namespace meet the restricted Pod Security level.
    netpol_pods = {d["spec"]["podSelector"].get("matchLabels", {}).get("app") for d in docs if d["kind"] == "NetworkPolicy"}
    f.check("postgres" in netpol_pods and "redis" in netpol_pods, "NetworkPolicies for postgres and redis")
    f.check(any(d["kind"] == "NetworkPolicy" and d["spec"]["podSelector"] == {} for d in docs), "default-deny NetworkPolicy")
    for d in docs:
        spec = pod_spec(d)
        if spec is None:
            continue
        name = f"{d['kind']} {d['metadata']['name']}"
        if d["metadata"].get("namespace") == ns:
            sc = spec.get("securityContext", {})
            f.check(sc.get("runAsNonRoot") is True, f"{name}: runAsNonRoot")
            f.check(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{name}: seccomp RuntimeDefault")
            f.check(not spec.get("hostNetwork") and not spec.get("hostPID"), f"{name}: no host namespaces")
            for c in all_containers(spec):
                csc = c.get("securityContext", {})
                f.check(csc.get("readOnlyRootFilesystem") is True, f"{name}/{c['name']}: readOnlyRootFilesystem")
                f.check(csc.get("allowPrivilegeEscalation") is False, f"{name}/{c['name']}: allowPrivilegeEscalation false")
                f.check(csc.get("capabilities", {}).get("drop") == ["ALL"], f"{name}/{c['name']}: drop ALL")
                f.check("resources" in c and "limits" in c["resources"], f"{name}/{c['name']}: resource limits")
        for c in all_containers(spec):
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                hg = c.get(probe, {}).get("httpGet")
                if hg:
                    f.check(hg.get("path") in BACKEND_PROBE_PATHS,
                            f"{name}/{c['name']} {probe} httpGet {hg.get('path')} is a backend route")
    f.finish()


def cmd_extract_shell(render: str, outdir: str) -> None:
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for d in load_docs(render):
        spec = pod_spec(d)
        if spec is None:
            continue
        for c in all_containers(spec):
            cmd = c.get("command", [])
            if len(cmd) == 2 and cmd[1] == "-c" and cmd[0] in ("/bin/sh", "/bin/bash", "sh", "bash") and c.get("args"):
                shell = "bash" if cmd[0].endswith("bash") else "sh"
                path = out / f"{d['metadata']['name']}--{c['name']}.{shell}"
                path.write_text(f"#!/bin/{shell}\n{c['args'][0]}", encoding="utf-8")
                n += 1
    print(f"{n} embedded shell scripts extracted")


def cmd_nginx_test(render: str, outdir: str) -> None:
    docs = load_docs(render)
    cm = find(docs, "ConfigMap", "nginx-config")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    conf = cm["data"]["default.conf"]
    # nginx -t resolves upstream host names: point them at loopback.
    conf = re.sub(r"server (backend|frontend):(\d+);", r"server 127.0.0.1:\2;", conf)
    (out / "default.conf").write_text(conf, encoding="utf-8")
    (out / "nginx.conf").write_text(
        f"pid {out}/nginx.pid;\nerror_log {out}/error.log;\nevents {{}}\nhttp {{\n"
        f"  access_log off;\n  client_body_temp_path {out}/body;\n  proxy_temp_path {out}/proxy;\n"
        f"  fastcgi_temp_path {out}/fastcgi;\n  uwsgi_temp_path {out}/uwsgi;\n  scgi_temp_path {out}/scgi;\n"
        f"  include {out}/default.conf;\n}}\n", encoding="utf-8")
    print(f"nginx test configuration written to {out}/nginx.conf")


# --------------------------------------------------------------- prometheus
def cmd_k8s_prometheus(src: str, out: str) -> None:
    with open(src, encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    n = 0
    for sc in cfg.get("scrape_configs", []):
        for key in [k for k in sc if k.endswith("_sd_configs")]:
            for sd in sc[key]:
                if key == "kubernetes_sd_configs":
                    assert sd.get("role") in ("node", "pod", "service", "endpoints", "endpointslice", "ingress"), sd
            del sc[key]
            sc["static_configs"] = [{"targets": ["placeholder.invalid:80"]}]
            n += 1
        if "authorization" in sc and "credentials_file" in sc["authorization"]:
            sc["authorization"]["credentials"] = "placeholder"
            del sc["authorization"]["credentials_file"]
        if "tls_config" in sc and "ca_file" in sc["tls_config"]:
            del sc["tls_config"]["ca_file"]
    with open(out, "w", encoding="utf-8") as fh:
        yaml.safe_dump(cfg, fh, sort_keys=False)
    print(f"{n} service-discovery blocks replaced by static targets in {out}")


def exprs_in_dashboard(d) -> list[str]:
    found = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                found.append(node["expr"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(d)
    return found


def cmd_dashboards(ddir: str, out_rules: str) -> None:
    f = Failures("grafana dashboards")
    rules = []
    titles = []
    for path in sorted(Path(ddir).glob("*.json")):
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            f.check(False, f"{path.name}: invalid JSON ({e})")
            continue
        f.check("dashboard" not in d, f"{path.name}: file-provisioning format (no HTTP-API wrapper)")
        f.check(bool(d.get("uid")) and bool(d.get("title")) and isinstance(d.get("panels"), list), f"{path.name}: uid, title, panels")
        f.check(d.get("id") in (None,), f"{path.name}: no fixed numeric id")
        titles.append(d.get("title", ""))
        for fragment, (tfrom, refresh) in RUNBOOK_DASHBOARDS.items():
            if fragment in d.get("title", ""):
                f.check(d.get("time", {}).get("from") == tfrom, f"{path.name}: time range {tfrom}")
                f.check(d.get("refresh") == refresh, f"{path.name}: refresh {refresh}")
        for p in d.get("panels", []):
            if p.get("type") == "row":
                continue
            ds = p.get("datasource", {})
            f.check(ds.get("uid") == "prometheus", f"{path.name}: panel {p.get('title')!r} uses datasource uid prometheus")
            for t in p.get("targets", []):
                f.check(t.get("datasource", {}).get("uid") == "prometheus", f"{path.name}: target of {p.get('title')!r} uses uid prometheus")
        for i, e in enumerate(exprs_in_dashboard(d)):
            f.check("$" not in e, f"{path.name}: expr without Grafana variables (plain PromQL): {e}")
            rules.append({"record": f"dashboard:{path.stem.replace('-', '_')}:expr_{i}", "expr": e})
    for fragment in list(RUNBOOK_DASHBOARDS) + ["Business"]:
        f.check(any(fragment in t for t in titles), f"a dashboard titled ...{fragment}")
    with open(out_rules, "w", encoding="utf-8") as fh:
        yaml.safe_dump({"groups": [{"name": "dashboard-exprs", "rules": rules}]}, fh, sort_keys=False)
    print(f"{len(rules)} dashboard expressions written to {out_rules} for promtool")
    f.finish()


SELECTOR_RE = re.compile(r"(?<![\w:])([a-zA-Z_][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?")
MATCHER_RE = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*\"")
GROUPING_RE = re.compile(r"\b(by|without)\s*\(([^)]*)\)")
KEYWORDS = {"sum", "avg", "max", "min", "count", "rate", "irate", "increase", "histogram_quantile", "by", "without",
            "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool", "absent", "time",
            "topk", "bottomk", "quantile", "stddev", "stdvar", "delta", "deriv", "predict_linear", "abs", "vector",
            "scalar", "clamp_min", "clamp_max", "label_replace", "sort", "sort_desc", "inf", "nan", "le"}


def base_metric(name: str) -> str | None:
    if name in OUR_METRICS:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and OUR_METRICS.get(name[: -len(suffix)], (None, None))[1] == HIST:
            return name[: -len(suffix)]
    return None


def strip_strings(expr: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def matching_paren(s: str, start: int) -> int:
    depth = 0
    for i in range(start, len(s)):
        if s[i] == "(":
            depth += 1
        elif s[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return len(s) - 1


def check_expr(expr: str, where: str, f: Failures) -> set[str]:
    used = set()
    for m in SELECTOR_RE.finditer(expr):
        name, braces = m.group(1), m.group(2)
        if ":" in name or not name.startswith(OUR_PREFIXES):
            continue
        base = base_metric(name)
        f.check(base is not None, f"{where}: {name} is not a metric the backend exports")
        if base is None:
            continue
        used.add(name)
        allowed = OUR_METRICS[base][0] | TARGET_LABELS | ({"le"} if name.endswith("_bucket") else set())
        for lm in MATCHER_RE.finditer(braces or ""):
            f.check(lm.group(1) in allowed, f"{where}: {name} has no label {lm.group(1)!r}")
    # by()/without(): each grouping label must exist on some metric of ours in
    # the aggregated expression (or be a target label).
    bare = strip_strings(expr)
    for g in GROUPING_RE.finditer(bare):
        labels = {x.strip() for x in g.group(2).split(",") if x.strip()}
        # The aggregated expression: the parenthesised group after the clause,
        # or (for "sum(...) by (x)") the one before it.
        after = bare[g.end():].lstrip()
        if after.startswith("("):
            start = g.end() + (len(bare[g.end():]) - len(after))
            inner = bare[start: matching_paren(bare, start) + 1]
        else:
            before = bare[: g.start()].rstrip()
            depth, i = 0, len(before) - 1
            while i >= 0:
                if before[i] == ")":
                    depth += 1
                elif before[i] == "(":
                    depth -= 1
                    if depth == 0:
                        break
                i -= 1
            inner = before[i:]
        ours = [n for n in (m.group(1) for m in SELECTOR_RE.finditer(inner)) if ":" not in n and base_metric(n)]
        if not ours:
            continue
        allowed = set(TARGET_LABELS)
        for n in ours:
            allowed |= OUR_METRICS[base_metric(n)][0] | ({"le"} if n.endswith("_bucket") else set())
        for lab in labels:
            f.check(lab in allowed, f"{where}: {g.group(1)} ({lab}) over {', '.join(sorted(set(ours)))} - no such label")
    return used


def cmd_metrics(args: list[str]) -> None:
    sep = args.index("--")
    rule_files, dash_files = args[:sep], args[sep + 1:]
    f = Failures("metric contract")
    used: set[str] = set()
    n = 0
    for rf in rule_files:
        with open(rf, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
        for g in doc.get("groups", []):
            for r in g.get("rules", []):
                n += 1
                used |= check_expr(r["expr"], f"{Path(rf).name} {r.get('alert') or r.get('record')}", f)
    for df in dash_files:
        d = json.loads(Path(df).read_text(encoding="utf-8"))
        for e in exprs_in_dashboard(d):
            n += 1
            used |= check_expr(e, f"{Path(df).name}", f)
    for name in ("freeagentics_active_connections", "freeagentics_user_registrations_total",
                 "freeagentics_agent_interactions_total", "freeagentics_coalition_formations_total",
                 "http_requests_total", "http_request_duration_seconds_bucket"):
        f.check(name in used, f"the runbook's {name} is used by a rule or dashboard")
    print(f"{n} expressions scanned, {len(used)} of our series names used")
    f.finish()


def cmd_alert_tests(rules_file: str, tests_file: str) -> None:
    with open(rules_file, encoding="utf-8") as fh:
        alerts = [r["alert"] for g in yaml.safe_load(fh)["groups"] for r in g["rules"] if "alert" in r]
    with open(tests_file, encoding="utf-8") as fh:
        tests = yaml.safe_load(fh)["tests"]
    fires, silent = set(), set()
    for t in tests:
        for a in t.get("alert_rule_test", []):
            (fires if a.get("exp_alerts") else silent).add(a["alertname"])
    f = Failures("alert unit-test coverage")
    for a in alerts:
        f.check(a in fires, f"{a}: no test where it fires")
        f.check(a in silent, f"{a}: no test where it stays silent")
    for name in ("HighErrorRate", "HighResponseTime", "DatabaseConnectionIssues", "HighMemoryUsage", "HighCPUUsage"):
        f.check(name in alerts, f"runbook alert {name} exists")
    print(f"{len(alerts)} alerts, {len(tests)} test cases")
    f.finish()


def cmd_compose_mounts(compose: str) -> None:
    base = Path(compose).resolve().parent
    with open(compose, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    f = Failures("compose bind mounts")
    for name, svc in doc.get("services", {}).items():
        for v in svc.get("volumes", []):
            src = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
            if src.startswith("."):
                f.check((base / src).exists(), f"{name}: {src} exists")
        build = svc.get("build")
        if isinstance(build, dict):
            ctx = base / build.get("context", ".")
            f.check((ctx / build.get("dockerfile", "Dockerfile")).exists(), f"{name}: Dockerfile exists")
    f.finish()


def github_slug(heading: str) -> str:
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def cmd_anchors(doc: str, rules: str) -> None:
    text = Path(doc).read_text(encoding="utf-8")
    slugs: set[str] = set()
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m and not in_code:
            base = github_slug(m.group(2))
            slug, k = base, 1
            while slug in slugs:
                slug, k = f"{base}-{k}", k + 1
            slugs.add(slug)
    f = Failures("documentation anchors")
    with open(rules, encoding="utf-8") as fh:
        for g in yaml.safe_load(fh)["groups"]:
            for r in g["rules"]:
                url = r.get("annotations", {}).get("runbook_url", "")
                if "alert" in r:
                    f.check(url.startswith("docs/OPERATIONS.md#") and url.split("#", 1)[1] in slugs,
                            f"{r['alert']}: runbook_url {url!r} resolves")
    for link in re.findall(r"\]\(#([^)]+)\)", text):
        f.check(link in slugs, f"internal link #{link} resolves")
    f.finish()


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(argv) >= 2 else 2)
    cmd, args = argv[1], argv[2:]
    table = {
        "split-manifests": lambda: cmd_split_manifests(*args),
        "contract": lambda: cmd_contract(*args),
        "extract-shell": lambda: cmd_extract_shell(*args),
        "nginx-test": lambda: cmd_nginx_test(*args),
        "k8s-prometheus": lambda: cmd_k8s_prometheus(*args),
        "dashboards": lambda: cmd_dashboards(*args),
        "metrics": lambda: cmd_metrics(args),
        "alert-tests": lambda: cmd_alert_tests(*args),
        "compose-mounts": lambda: cmd_compose_mounts(*args),
        "anchors": lambda: cmd_anchors(*args),
    }
    if cmd not in table:
        print(f"unknown subcommand {cmd}\n{__doc__}", file=sys.stderr)
        sys.exit(2)
    os.umask(0o022)
    table[cmd]()


if __name__ == "__main__":
    main(sys.argv)
