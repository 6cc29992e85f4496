//! The deployment artifacts agree with the server: every metric of ours used by an alert rule,
//! recording rule or dashboard is exported (with the labels the query uses), and every probe path
//! in the manifests is a route that answers.
use crate::helpers::{Backend, Options, TestApp};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Prefixes of the metrics this service exports; everything else comes from exporters
/// (node, cAdvisor, kube-state-metrics, postgres, redis) or Prometheus itself (`up`).
const OURS: [&str; 3] = ["http_", "freeagentics_", "process_"];
/// Labels Prometheus or the aggregation adds, not the exporter: `le` of `_bucket` series,
/// target labels, and `__name__`.
const ADDED_LABELS: [&str; 8] = ["le", "job", "instance", "namespace", "pod", "service", "container", "__name__"];
/// Families not exported at start-up, with the labels they will carry: the step-time histogram
/// appears with the first step.
const PENDING: [(&str, &[&str]); 1] = [("freeagentics_inference_duration_seconds", &[])];

/// The labels of a pending family (`None` if the family is exported now).
fn pending_labels(name: &str) -> Option<&'static [&'static str]> {
    let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
    PENDING.iter().find(|(pending, _)| *pending == base).map(|(_, labels)| *labels)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path, extensions));
        } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| extensions.contains(&e)) {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// `(source, expr)` of every alerting and recording rule, and the names recording rules define.
fn rule_expressions() -> (Vec<(String, String)>, BTreeSet<String>) {
    let mut exprs = Vec::new();
    let mut recorded = BTreeSet::new();
    for path in files(&root().join("deploy/prometheus"), &["yml", "yaml"]) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.contains("rules") || path.to_string_lossy().contains("/tests/") {
            continue;
        }
        let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for group in doc["groups"].as_sequence().into_iter().flatten() {
            for rule in group["rules"].as_sequence().into_iter().flatten() {
                if let Some(record) = rule["record"].as_str() {
                    recorded.insert(record.to_owned());
                }
                if let Some(expr) = rule["expr"].as_str() {
                    let label = rule["alert"].as_str().or(rule["record"].as_str()).unwrap_or("?");
                    exprs.push((format!("{name}: {label}"), expr.to_owned()));
                }
            }
        }
    }
    (exprs, recorded)
}

fn dashboard_expressions() -> Vec<(String, String)> {
    fn walk(value: &serde_json::Value, source: &str, out: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(expr) = map.get("expr").and_then(|e| e.as_str()) {
                    out.push((source.to_owned(), expr.to_owned()));
                }
                map.values().for_each(|v| walk(v, source, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, source, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for path in files(&root().join("deploy/grafana/dashboards"), &["json"]) {
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        walk(&doc, &path.file_name().unwrap().to_string_lossy(), &mut out);
    }
    out
}

/// Metric names and the label names used with them in one PromQL expression: selectors with their
/// matchers, and `by`/`without` label lists (attributed to every metric of the expression).
fn parse_promql(expr: &str) -> (BTreeMap<String, BTreeSet<String>>, BTreeSet<String>) {
    const KEYWORDS: [&str; 29] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "inf",
        "nan",
        "atan2",
        "start",
        "end",
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
        "limitk",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut metrics: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut grouping = BTreeSet::new();
    let mut i = 0;
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            // skip string literals
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '[' {
            // range or subquery duration
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c == '$' {
            // Grafana variables ($__rate_interval, $route, ${x})
            i += 1;
            while i < chars.len() && (ident(chars[i]) || chars[i] == '{' || chars[i] == '}') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let next = chars.get(j).copied();
            if matches!(word.as_str(), "by" | "without" | "on" | "ignoring" | "group_left" | "group_right") {
                if next == Some('(') {
                    let close = chars[j..].iter().position(|&c| c == ')').map_or(chars.len(), |p| j + p);
                    let list: String = chars[j + 1..close].iter().collect();
                    if matches!(word.as_str(), "by" | "without") {
                        grouping.extend(list.split(',').map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()));
                    }
                    i = close + 1;
                }
                continue;
            }
            if next == Some('(') || KEYWORDS.contains(&word.to_lowercase().as_str()) {
                continue; // a function or keyword
            }
            if start > 0 && chars[start - 1].is_ascii_digit() {
                continue; // unit suffix of a number like 5m
            }
            let labels = metrics.entry(word).or_default();
            if next == Some('{') {
                let close = chars[j..].iter().position(|&c| c == '}').map_or(chars.len(), |p| j + p);
                let body: String = chars[j + 1..close].iter().collect();
                for matcher in split_matchers(&body) {
                    let name: String = matcher.trim().chars().take_while(|c| ident(*c)).collect();
                    if !name.is_empty() {
                        labels.insert(name);
                    }
                }
                i = close + 1;
            }
        } else if c == '{' {
            // a selector without a metric name: {__name__=~"..."}; skip it
            while i < chars.len() && chars[i] != '}' {
                i += 1;
            }
            i += 1;
        } else {
            i += 1;
        }
    }
    (metrics, grouping)
}

fn split_matchers(body: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in body.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
}

/// Metric name → label names seen on its series in an exposition.
fn exposition(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let name: String = line.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
        let labels = out.entry(name).or_default();
        if let (Some(open), Some(close)) = (line.find('{'), line.rfind('}')) {
            for matcher in split_matchers(&line[open + 1..close]) {
                if let Some((label, _)) = matcher.split_once('=') {
                    labels.insert(label.trim().to_owned());
                }
            }
        }
    }
    out
}

#[test]
fn promql_parser_finds_metrics_and_labels() {
    let (metrics, grouping) = parse_promql(
        r#"histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket{job="x", route=~"$route"}[5m]))) > 0.5 and on(instance) up == 1"#,
    );
    assert_eq!(metrics.keys().collect::<Vec<_>>(), ["http_request_duration_seconds_bucket", "up"]);
    assert_eq!(metrics["http_request_duration_seconds_bucket"], BTreeSet::from(["job".to_owned(), "route".to_owned()]));
    assert_eq!(grouping, BTreeSet::from(["le".to_owned(), "route".to_owned()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_in_rules_and_dashboards_is_exported() {
    let options = Options::new(Backend::Postgres).with("RATE_LIMIT_READS", "5,5/60");
    let app = match TestApp::spawn_with(options.clone()).await {
        Some(app) => app,
        None => TestApp::spawn_with(Options { backend: Backend::Sqlite, ..options }).await.unwrap(),
    };
    // exercise the API so the request-labelled series exist
    let session = app.register("metrics").await;
    assert_eq!(app.get_as("/api/v1/auth/me", &session.access).await.status(), 200);
    let _ = app.login("metrics", "wrong password!").await;
    let _ = app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": "nope"})).await;
    for _ in 0..7 {
        let _ = app.get("/api/v1/openapi.json").await;
    }
    let _ = app.get("/api/v1/nothing").await;
    let _ = app.get("/api/v1/health").await;
    let exported = exposition(&app.get("/metrics").await.text().await.unwrap());

    let (mut exprs, recorded) = rule_expressions();
    assert!(!exprs.is_empty(), "no rules found under deploy/prometheus");
    let dashboards = dashboard_expressions();
    assert!(!dashboards.is_empty(), "no dashboard queries found under deploy/grafana/dashboards");
    exprs.extend(dashboards);

    let mut problems = Vec::new();
    for (source, expr) in &exprs {
        let (metrics, grouping) = parse_promql(expr);
        let ours: Vec<(&String, &BTreeSet<String>)> = metrics
            .iter()
            .filter(|(name, _)| OURS.iter().any(|p| name.starts_with(p)) && !recorded.contains(*name))
            .collect();
        for (name, labels) in &ours {
            if let Some(pending) = pending_labels(name) {
                for label in labels.iter().filter(|l| !ADDED_LABELS.contains(&l.as_str())) {
                    if !pending.contains(&label.as_str()) {
                        problems.push(format!("{source}: pending `{name}` will not carry label `{label}`"));
                    }
                }
                continue;
            }
            let Some(available) = exported.get(*name) else {
                problems.push(format!("{source}: `{name}` is not exported"));
                continue;
            };
            for label in labels.iter().filter(|l| !ADDED_LABELS.contains(&l.as_str())) {
                if !available.contains(label) {
                    problems.push(format!("{source}: `{name}` has no label `{label}` (has {available:?})"));
                }
            }
        }
        for label in grouping.iter().filter(|l| !ADDED_LABELS.contains(&l.as_str())) {
            let known = ours.is_empty()
                || ours.iter().any(|(name, _)| exported.get(*name).is_some_and(|l| l.contains(label)))
                || ours.iter().any(|(name, _)| pending_labels(name).is_some_and(|l| l.contains(&label.as_str())))
                || metrics.keys().any(|name| !OURS.iter().any(|p| name.starts_with(p)));
            if !known {
                problems.push(format!("{source}: grouping label `{label}` is on none of the metrics of `{expr}`"));
            }
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_paths_in_manifests_are_routes() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    fn collect(value: &serde_yaml::Value, out: &mut BTreeSet<String>) {
        match value {
            serde_yaml::Value::Mapping(map) => {
                for (key, child) in map {
                    if key.as_str() == Some("httpGet")
                        && let Some(path) = child["path"].as_str()
                    {
                        out.insert(path.to_owned());
                    }
                    collect(child, out);
                }
            }
            serde_yaml::Value::Sequence(items) => items.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut paths = BTreeSet::new();
    for path in files(&root().join("deploy/k8s"), &["yaml", "yml"]) {
        let text = std::fs::read_to_string(&path).unwrap();
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(document).unwrap();
            collect(&value, &mut paths);
        }
    }
    let backend_paths: Vec<&String> =
        paths.iter().filter(|p| p.starts_with("/health") || p.starts_with("/api/")).collect();
    assert!(backend_paths.iter().any(|p| *p == "/health"), "liveness probe on /health: {paths:?}");
    assert!(backend_paths.iter().any(|p| *p == "/api/v1/health"), "readiness probe on /api/v1/health: {paths:?}");
    for path in backend_paths {
        let status = app.get(path).await.status();
        assert!(status.is_success(), "probe path {path} answers {status}");
    }
}

use serde::Deserialize as _;
