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
  backup-job RENDER OUTDIR        the backup CronJob's scripts (from its ConfigMap) and
                                  its command, args and env, to run it against PostgreSQL
  k8s-prometheus SRC OUT          prometheus.yml with kubernetes_sd_configs swapped
                                  for static targets (Debian's promtool has no k8s SD)
  dashboards DIR OUT_RULES        Grafana file-provisioning format + runbook
                                  time/refresh; writes every expr as a recording
                                  rule so `promtool check rules` parses the PromQL
  scrape BINARY OUT               run the freeagentics binary, exercise it, save /metrics
  metrics [--exposition FILE] RULES... -- DASHBOARDS...
                                  our metric names/labels in rules and dashboards against
                                  what the binary exports (FILE, from scrape)
  alert-tests RULES TESTS...      every alert fires in one test and stays silent
                                  in another (Watchdog: always fires)
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

# Custom resources checked against a hand-written schema in deploy/schemas
# (no registry package carries these CRDs' schemas).
CRD_SCHEMAS = {
    ("autoscaling.k8s.io/v1", "VerticalPodAutoscaler"): "verticalpodautoscaler.autoscaling.k8s.io.v1.json",
    ("postgresql.cnpg.io/v1", "Cluster"): "cluster.postgresql.cnpg.io.v1.json",
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): "scheduledbackup.postgresql.cnpg.io.v1.json",
    ("postgresql.cnpg.io/v1", "Pooler"): "pooler.postgresql.cnpg.io.v1.json",
}
# Custom resources checked by deploy/checks/crs.mjs against the npm packages
# @kubernetes-models/{istio,cert-manager,prometheus-operator}.
CRD_MODELS = {"networking.istio.io/v1", "cert-manager.io/v1", "monitoring.coreos.com/v1"}
CRD_GROUPS = ("cert-manager.io", "networking.istio.io", "autoscaling.k8s.io", "postgresql.cnpg.io", "monitoring.coreos.com")

# The backend's routes that probes may use (the server contract).
BACKEND_PROBE_PATHS = {"/health", "/health/live", "/health/ready", "/api/v1/health"}

# Metrics the backend exports, with their labels and types: filled from the
# running binary's /metrics (subcommand scrape, then metrics --exposition),
# never from a list kept here.
HIST = "histogram"
OUR_METRICS: dict[str, tuple[set[str], str]] = {}
TARGET_LABELS = {"job", "instance", "namespace", "pod"}
# ConfigMap backup-scripts key -> file under deploy/scripts.
BACKUP_SCRIPT_KEYS = {"backup.sh": "backup.sh", "restore.sh": "restore.sh",
                      "lib-common.sh": "lib/common.sh", "lib-manifest.sh": "lib/manifest.sh"}
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
    core, unknown, modelled = [], [], []
    counts: dict[str, int] = {}
    for i, d in enumerate(docs):
        api, kind = d.get("apiVersion", ""), d.get("kind", "")
        group = api.split("/")[0] if "/" in api else ""
        if group in CRD_GROUPS:
            if api in CRD_MODELS:
                modelled.append({"file": f"{Path(render).name}#{i}", "object": d})
                counts[kind] = counts.get(kind, 0) + 1
                continue
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
    with open(out / "crs.json", "w", encoding="utf-8") as fh:
        json.dump(modelled, fh)
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

    # The data tier: single-pod Deployments (overlays/small), or the
    # CloudNativePG Cluster and the Redis StatefulSets (production). Either
    # way the runbook's `-l app=postgres` / `-l app=redis` select its pods.
    ha = find(docs, "Cluster", "postgres", ns) is not None
    workloads = {"backend": "Deployment", "frontend": "Deployment"}
    workloads.update({"redis": "StatefulSet", "redis-sentinel": "StatefulSet"} if ha else {"postgres": "Deployment", "redis": "Deployment"})
    for name, kind in workloads.items():
        d = find(docs, kind, name, ns)
        f.check(d is not None, f"{kind} {name}")
        if d:
            f.check(d["spec"]["template"]["metadata"]["labels"].get("app") == name, f"{kind} {name} pods labelled app={name}")
    if ha:
        cluster = find(docs, "Cluster", "postgres", ns)["spec"]
        f.check(cluster.get("instances") == 3, "Cluster postgres: 3 instances")
        sync = cluster.get("postgresql", {}).get("synchronous", {})
        f.check(sync.get("number") == 1 and sync.get("dataDurability") == "required", "Cluster postgres: one synchronous standby, required")
        f.check(cluster.get("inheritedMetadata", {}).get("labels", {}).get("app") == "postgres", "Cluster pods labelled app=postgres")
        f.check("barmanObjectStore" in cluster.get("backup", {}), "Cluster postgres: WAL archive and base backups in object storage")
        f.check(find(docs, "ScheduledBackup", "postgres-daily", ns) is not None, "ScheduledBackup postgres-daily")
        pooler = find(docs, "Pooler", "postgres-pooler", ns)
        f.check(pooler is not None and pooler["spec"]["pgbouncer"]["poolMode"] == "transaction"
                and int(pooler["spec"]["pgbouncer"]["parameters"].get("max_prepared_statements", "0")) > 0,
                "Pooler postgres-pooler: transaction mode with max_prepared_statements")
        svc = find(docs, "Service", "postgres", ns)
        f.check(svc is not None and svc["spec"]["selector"] == {"cnpg.io/poolerName": "postgres-pooler"}, "Service postgres leads to the Pooler")
        redis = find(docs, "StatefulSet", "redis", ns)
        f.check(redis is not None and redis["spec"]["replicas"] == 3, "Redis: a primary and 2 replicas")
        sentinels = find(docs, "StatefulSet", "redis-sentinel", ns)
        f.check(sentinels is not None and sentinels["spec"]["replicas"] == 3, "3 Redis sentinels")
        scripts = (find(docs, "ConfigMap", "redis-ha-scripts", ns) or {"data": {}})["data"]
        f.check("appendonly yes" in scripts.get("redis-conf.sh", ""), "Redis nodes run with AOF")
        f.check(all(f"sentinel-{i}.redis-sentinel:26379" in (find(docs, "ConfigMap", "backend-config", ns) or {"data": {}})["data"].get("REDIS_SENTINELS", "")
                    for i in range(3)), "backend-config REDIS_SENTINELS lists the 3 sentinels")
    for name in ("backend", "backend-stable", "backend-canary", "frontend", "postgres", "redis"):
        f.check(find(docs, "Service", name, ns) is not None, f"Service {name}")
    f.check(find(docs, "Service", "backend-stable", ns)["spec"]["selector"].get("track") == "stable", "backend-stable selects track=stable")
    f.check(find(docs, "Service", "backend-canary", ns)["spec"]["selector"].get("track") == "canary", "backend-canary selects track=canary")
    f.check((find(docs, "ConfigMap", "backend-config", ns) or {"data": {}})["data"].get("METRICS_BIND_ADDR") == "0.0.0.0:9091",
            "backend-config METRICS_BIND_ADDR=0.0.0.0:9091 (metrics on their own listener)")
    for dep in ("backend", "backend-canary"):
        d = find(docs, "Deployment", dep, ns)
        ports = {p["name"]: p["containerPort"] for c in (d or {"spec": {"template": {"spec": {"containers": []}}}})["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        f.check(ports.get("metrics") == 9091 and ports.get("http") == 8000, f"{dep}: ports http 8000 and metrics 9091")
    for svc_name in ("backend", "backend-stable", "backend-canary"):
        svc = find(docs, "Service", svc_name, ns)
        f.check(svc is not None and all(p["port"] != 9091 and p.get("targetPort") != "metrics" for p in svc["spec"]["ports"]),
                f"Service {svc_name} does not expose the metrics port")
    bi = find(docs, "NetworkPolicy", "backend-ingress", ns)
    if bi:
        by_port: dict[int, list] = {}
        for rule in bi["spec"]["ingress"]:
            for port in rule.get("ports", []):
                by_port.setdefault(port["port"], []).extend(rule.get("from", []))
        apps = lambda peers: {p.get("podSelector", {}).get("matchLabels", {}).get("app") or p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name") for p in peers}
        f.check(apps(by_port.get(9091, [])) == {"prometheus"}, "NetworkPolicy backend-ingress: port 9091 from Prometheus only")
        f.check("prometheus" not in apps(by_port.get(8000, [])), "NetworkPolicy backend-ingress: Prometheus not on the API port")

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
    # The backup and restore-test Jobs run the repository's scripts (ConfigMap
    # backup-scripts, byte for byte); .ci/deploy-checks.sh executes them.
    scripts_cm = next((d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("backup-scripts")), None)
    repo = Path(__file__).resolve().parents[1] / "scripts"
    for key, rel in BACKUP_SCRIPT_KEYS.items():
        f.check(scripts_cm is not None and scripts_cm["data"].get(key) == (repo / rel).read_text(encoding="utf-8"),
                f"ConfigMap backup-scripts {key} is deploy/scripts/{rel}")
    cj = find(docs, "CronJob", "postgres-backup", ns)
    f.check(cj is not None, "CronJob postgres-backup")
    if cj:
        dump = pod_spec(cj)["initContainers"][0]
        f.check(dump.get("command") == ["/bin/bash", "/scripts/backup.sh"] and "local" in dump.get("args", []),
                "postgres-backup runs /scripts/backup.sh --target local")
    rt = find(docs, "CronJob", "postgres-restore-test", ns)
    f.check(rt is not None and "restore.sh --target local --file /backups/db-latest.sql.gz --test-only"
            in pod_spec(rt)["containers"][0]["args"][0], "CronJob postgres-restore-test runs restore.sh --test-only")

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
    # (production: redis-exporter is a sidecar of every Redis node)
    for name in ("alertmanager", "grafana", "jaeger", "loki", "postgres-exporter", "kube-state-metrics") + (() if ha else ("redis-exporter",)):
        f.check(find(docs, "Deployment", name, ns) is not None, f"monitoring Deployment {name}")
    if ha:
        f.check(any(c["name"] == "redis-exporter" for c in find(docs, "StatefulSet", "redis", ns)["spec"]["template"]["spec"]["containers"]),
                "redis-exporter sidecar on every Redis node")
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
        # Scripts shipped in ConfigMaps (backup-scripts holds deploy/scripts/*,
        # which are checked from the repository with their libraries).
        if d["kind"] == "ConfigMap" and not d["metadata"]["name"].startswith("backup-scripts"):
            for key, text in (d.get("data") or {}).items():
                if key.endswith(".sh"):
                    (out / f"{d['metadata']['name']}--{key}").write_text(text, encoding="utf-8")
                    n += 1
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


def cmd_backup_job(render: str, outdir: str) -> None:
    """The backup CronJob as the cluster would run it: the scripts of the
    rendered ConfigMap laid out like its volume (OUTDIR/scripts), and the dump
    container's command, arguments and plain environment (OUTDIR/job.json)."""
    docs = load_docs(render)
    cj = find(docs, "CronJob", "postgres-backup")
    spec = pod_spec(cj)
    container = spec["initContainers"][0]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "scripts")
    volume = next(v for v in spec["volumes"] if v["name"] == "scripts")
    cm = find(docs, "ConfigMap", volume["configMap"]["name"])
    out = Path(outdir)
    for item in volume["configMap"]["items"]:
        path = out / "scripts" / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(cm["data"][item["key"]], encoding="utf-8")
        path.chmod(0o555)
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    job = {"mount": mount["mountPath"], "command": container["command"], "args": container.get("args", []), "env": env}
    (out / "job.json").write_text(json.dumps(job), encoding="utf-8")
    print(f"postgres-backup: {' '.join(job['command'] + job['args'])} (scripts from ConfigMap {cm['metadata']['name']})")


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


def parse_exposition(text: str) -> dict[str, tuple[set[str], str]]:
    """Prometheus text format -> {metric family: (label names, type)}; histogram
    and summary families are keyed by their base name."""
    types: dict[str, str] = {}
    labels: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind.strip()
            labels.setdefault(name, set())
        elif line and not line.startswith("#"):
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s", line)
            if not m:
                continue
            name = m.group(1)
            family = name
            for suffix in ("_bucket", "_sum", "_count"):
                if name.endswith(suffix) and types.get(name[: -len(suffix)]) in ("histogram", "summary"):
                    family = name[: -len(suffix)]
            found = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or "")) - {"le", "quantile"}
            labels.setdefault(family, set()).update(found)
    return {name: (labels.get(name, set()), "histogram" if types.get(name) == "histogram" else types.get(name, "untyped"))
            for name in set(types) | set(labels)}


# Families the server does not export at the scrape: the step-time histogram
# appears with the first agent step (the scrape steps none). It must still look
# like one of ours (name and labels are checked when it appears).
PENDING = {
    "freeagentics_inference_duration_seconds": (set(), HIST),
}


def cmd_scrape(binary: str, out: str) -> None:
    """Runs the freeagentics binary (embedded profile, local Redis when it
    answers), exercises it so that lazily registered series exist (auth
    outcomes, routes, errors), and writes its /metrics to OUT."""
    import subprocess
    import tempfile
    import urllib.error
    import urllib.request
    import uuid as uuidlib
    workdir = tempfile.mkdtemp(prefix="fa-scrape-")
    env = {"PATH": os.environ.get("PATH", ""), "BIND_ADDR": "127.0.0.1:0", "LOG_FORMAT": "json",
           "DATA_DIR": workdir, "SQLITE_PATH": f"{workdir}/db.sqlite",
           "JWT_SECRET": "deploy-checks-only-0123456789abcdef0123456789",
           "REDIS_URL": os.environ.get("SCRAPE_REDIS_URL", "redis://127.0.0.1:6379/0"),
           "REDIS_KEY_PREFIX": f"fa:deploychecks:{uuidlib.uuid4().hex}:", "MAINTENANCE_FILE": f"{workdir}/maintenance",
           # one registration per hour: the second attempt below is rate limited
           "RATE_LIMIT_REGISTER": "1,1/3600"}
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        addr = None
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("message") == "serving" or event.get("fields", {}).get("message") == "serving":
                addr = event.get("addr") or event.get("fields", {}).get("addr")
                break
        if not addr:
            raise SystemExit(f"{binary} exited without logging the address it serves on")
        base = f"http://{addr}"

        def call(method, path, body=None, token=None):
            data = json.dumps(body).encode() if body is not None else None
            req = urllib.request.Request(base + path, data=data, method=method)
            if data is not None:
                req.add_header("Content-Type", "application/json")
            if token:
                req.add_header("Authorization", f"Bearer {token}")
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    return resp.status, resp.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()

        for path in ("/health", "/health/live", "/api/v1/health", "/health/ready", "/api/v1/openapi.json", "/no-such-route"):
            call("GET", path)
        user = f"scrape{uuidlib.uuid4().hex[:10]}"
        password = "Scrape-check-" + uuidlib.uuid4().hex[:12]
        status, body = call("POST", "/api/v1/auth/register", {"username": user, "email": f"{user}@example.com", "password": password})
        if status != 201:
            raise SystemExit(f"register answered {status}: {body[:200]!r}")
        call("POST", "/api/v1/auth/register", {"username": user + "x", "email": f"{user}x@example.com", "password": password})
        call("POST", "/api/v1/auth/login", {"username_or_email": user, "password": "wrong-password-123"})
        status, body = call("POST", "/api/v1/auth/login", {"username_or_email": user, "password": password})
        session = json.loads(body)
        call("GET", "/api/v1/auth/me", token=session["access_token"])
        status, body = call("POST", "/api/v1/auth/refresh", {"refresh_token": session["refresh_token"]})
        rotated = json.loads(body) if status == 200 else session
        call("POST", "/api/v1/auth/refresh", {"refresh_token": session["refresh_token"]})  # reuse of a rotated token
        call("POST", "/api/v1/auth/refresh", {"refresh_token": "not-a-token"})
        call("POST", "/api/v1/auth/logout", {"refresh_token": rotated.get("refresh_token", "")}, token=rotated.get("access_token"))
        call("GET", "/api/v1/auth/me", token="not-a-jwt")
        status, body = call("GET", "/metrics")
        if status != 200:
            raise SystemExit(f"/metrics answered {status}")
        Path(out).write_bytes(body)
        families = parse_exposition(body.decode())
        print(f"scraped {len(families)} metric families from {binary} at {base}/metrics")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def cmd_metrics(args: list[str]) -> None:
    if args[:1] != ["--exposition"]:
        raise SystemExit("metrics needs --exposition FILE: the /metrics of the running binary (subcommand scrape)")
    if args[:1] == ["--exposition"]:
        exported = parse_exposition(Path(args[1]).read_text(encoding="utf-8"))
        args = args[2:]
        ours = {n: v for n, v in exported.items() if n.startswith(OUR_PREFIXES)}
        OUR_METRICS.clear()
        OUR_METRICS.update(ours)
        for name, value in PENDING.items():
            OUR_METRICS.setdefault(name, value)
        print(f"contract: {len(ours)} families of ours exported by the binary (+{len(set(PENDING) - set(ours))} pending)")
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


# Alerts that fire by design whatever the input (the dead-man's-switch heartbeat).
ALWAYS_FIRING = {"Watchdog"}


def cmd_alert_tests(rules_file: str, *tests_files: str) -> None:
    with open(rules_file, encoding="utf-8") as fh:
        alerts = [r["alert"] for g in yaml.safe_load(fh)["groups"] for r in g["rules"] if "alert" in r]
    tests = []
    for tests_file in tests_files:
        with open(tests_file, encoding="utf-8") as fh:
            tests += yaml.safe_load(fh)["tests"]
    fires, silent = set(), set()
    for t in tests:
        for a in t.get("alert_rule_test", []):
            (fires if a.get("exp_alerts") else silent).add(a["alertname"])
    f = Failures("alert unit-test coverage")
    for a in alerts:
        f.check(a in fires, f"{a}: no test where it fires")
        f.check(a in silent or a in ALWAYS_FIRING, f"{a}: no test where it stays silent")
    for a in ("PostgresBackupMissing", "PostgresRestoreTestMissing", "Watchdog"):
        f.check(a in alerts, f"absent()/heartbeat alert {a} exists")
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
        "backup-job": lambda: cmd_backup_job(*args),
        "k8s-prometheus": lambda: cmd_k8s_prometheus(*args),
        "dashboards": lambda: cmd_dashboards(*args),
        "metrics": lambda: cmd_metrics(args),
        "scrape": lambda: cmd_scrape(*args),
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
