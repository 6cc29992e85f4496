//! GMN spec → model. Nodes are linked by any edge between them, in either direction:
//! - each `state` node is a hidden-state factor (`num_states`), in the order written;
//! - each `observation` node is a modality (`num_observations`), in the order written;
//! - an `action` node (`num_actions`) controls the one state it is linked to, directly or
//!   through a `transition` node; a state without an action is uncontrolled (one control);
//! - a `transition` node linked to a state gives its `B` (`matrix`, shape
//!   `[num_states, num_states, num_controls]`; default identity for every control);
//! - a `likelihood` node linked to an observation gives its `A` (`matrix`, shape
//!   `[num_observations, num_states of the linked states in factor order]`, broadcast over the
//!   states it is not linked to; linked to no state, it depends on all; default uniform);
//! - a `preference` node linked to an observation gives its `C` (`vector`, or
//!   `preferred_observation` for a one-hot preference of 1; default zeros);
//! - a `belief` node linked to a state gives its `D` (`vector`; default uniform);
//! - one optional `policy` node sets `policy_len` (alias `horizon`), `gamma` and `alpha`;
//! - `llm_query` nodes do not enter the model.

use ndarray::{Array1, Array3, ArrayD, IxDyn};

use super::dimensions::{Dimensions, FactorDimension, GmnModel, ModalityDimension};
use super::spec::{GmnError, GmnErrors, GmnSpec, Node, NodeKind, Position};
use crate::error::ModelError;
use crate::limits::Limits;
use crate::model::{Model, ModelParts, Transition};
use crate::policy;
use crate::settings::Settings;
use crate::tensor::parse_tensor;

struct Ctx<'a> {
    spec: &'a GmnSpec,
    limits: &'a Limits,
    errors: Vec<GmnError>,
}

impl Ctx<'_> {
    fn err(&mut self, pos: Position, msg: impl Into<String>) {
        self.errors.push(GmnError::new(pos, msg));
    }

    /// Indices of the nodes of `kind` linked to node `i` (either direction), without repeats.
    fn linked(&self, i: usize, kind: NodeKind) -> Vec<usize> {
        let id = &self.spec.nodes[i].id;
        let mut out = Vec::new();
        for e in &self.spec.edges {
            let other = if &e.source == id {
                &e.target
            } else if &e.target == id {
                &e.source
            } else {
                continue;
            };
            if let Some(j) = self.spec.nodes.iter().position(|n| &n.id == other)
                && self.spec.nodes[j].kind == kind
                && !out.contains(&j)
            {
                out.push(j);
            }
        }
        out
    }

    fn count(&mut self, node: &Node, key: &str, max: usize) -> usize {
        let pos = node.position.child(&format!(".properties.{key}"));
        match node.properties.get(key) {
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 && n as usize <= max => n as usize,
                _ => {
                    self.err(pos, format!("expected an integer between 1 and {max}, found {v}"));
                    1
                }
            },
            None => {
                self.err(pos, format!("required: the {} node's size", node.kind.as_str()));
                1
            }
        }
    }

    /// The one node of `kind` linked to node `i`, or an error naming the problem.
    fn one_linked(&mut self, i: usize, kind: NodeKind) -> Option<usize> {
        let linked = self.linked(i, kind);
        let node = &self.spec.nodes[i];
        match linked.as_slice() {
            [j] => Some(*j),
            [] => {
                self.err(
                    node.position.clone(),
                    format!("{} node {:?} is linked to no {} node", node.kind.as_str(), node.id, kind.as_str()),
                );
                None
            }
            _ => {
                self.err(
                    node.position.clone(),
                    format!(
                        "{} node {:?} is linked to {} {} nodes, expected one",
                        node.kind.as_str(),
                        node.id,
                        linked.len(),
                        kind.as_str()
                    ),
                );
                None
            }
        }
    }

    fn tensor(&mut self, node: &Node, key: &str, rank: usize) -> Option<ArrayD<f64>> {
        let value = node.properties.get(key)?;
        let pos = node.position.child(&format!(".properties.{key}"));
        match parse_tensor(value, &pos.field, Some(rank), rank, self.limits.max_tensor_elements) {
            Ok(t) => Some(t),
            Err(e) => {
                self.err(
                    Position { field: e.field(), line: pos.line, column: pos.column },
                    format!("{} ({})", e.message, e.rule),
                );
                None
            }
        }
    }
}

impl GmnSpec {
    /// Converts to a validated model with the settings the spec's policy node gives.
    pub fn to_model(&self, limits: &Limits) -> Result<GmnModel, GmnErrors> {
        let mut cx = Ctx { spec: self, limits, errors: Vec::new() };
        let nodes = &self.nodes;
        let of = |k: NodeKind| {
            nodes.iter().enumerate().filter(move |(_, n)| n.kind == k).map(|(i, _)| i).collect::<Vec<_>>()
        };
        let (states, observations) = (of(NodeKind::State), of(NodeKind::Observation));
        if states.len() > limits.max_factors {
            cx.err(
                Position::field("nodes"),
                format!("{} state nodes, at most {} (max_factors)", states.len(), limits.max_factors),
            );
        }
        if observations.len() > limits.max_modalities {
            cx.err(
                Position::field("nodes"),
                format!("{} observation nodes, at most {} (max_modalities)", observations.len(), limits.max_modalities),
            );
        }
        if !cx.errors.is_empty() {
            return Err(GmnErrors(cx.errors));
        }
        let ns: Vec<usize> =
            states.iter().map(|&i| cx.count(&nodes[i], "num_states", limits.max_states_per_factor)).collect();
        let no: Vec<usize> = observations
            .iter()
            .map(|&i| cx.count(&nodes[i], "num_observations", limits.max_observations_per_modality))
            .collect();
        let factor_of = |node: usize| states.iter().position(|&s| s == node);
        let modality_of = |node: usize| observations.iter().position(|&o| o == node);

        // Actions: the state each controls, directly or through a transition node.
        let mut nc = vec![1usize; states.len()];
        let mut action_of: Vec<Option<usize>> = vec![None; states.len()];
        for a in of(NodeKind::Action) {
            let mut targets = cx.linked(a, NodeKind::State);
            for t in cx.linked(a, NodeKind::Transition) {
                for s in cx.linked(t, NodeKind::State) {
                    if !targets.contains(&s) {
                        targets.push(s);
                    }
                }
            }
            let n = cx.count(&nodes[a], "num_actions", limits.max_policies);
            let node = &nodes[a];
            match targets.as_slice() {
                [s] => {
                    let Some(f) = factor_of(*s) else { continue };
                    if let Some(prev) = action_of[f] {
                        cx.err(
                            node.position.clone(),
                            format!("state {:?} is already controlled by action {:?}", nodes[*s].id, nodes[prev].id),
                        );
                    } else {
                        action_of[f] = Some(a);
                        nc[f] = n;
                    }
                }
                [] => cx.err(
                    node.position.clone(),
                    format!("action node {:?} controls no state: link it to one state (or to its transition)", node.id),
                ),
                _ => cx.err(
                    node.position.clone(),
                    format!("action node {:?} is linked to {} states, expected one", node.id, targets.len()),
                ),
            }
        }
        // Tensor shapes follow from the sizes: with a bad size every shape check would fail too.
        if !cx.errors.is_empty() {
            return Err(GmnErrors(cx.errors));
        }

        let mut b: Vec<Option<(Transition, Option<usize>)>> = vec![None; states.len()];
        for t in of(NodeKind::Transition) {
            let Some(f) = cx.one_linked(t, NodeKind::State).and_then(factor_of) else { continue };
            if b[f].is_some() {
                cx.err(
                    nodes[t].position.clone(),
                    format!("state {:?} already has a transition node", nodes[states[f]].id),
                );
                continue;
            }
            let Some(m) = cx.tensor(&nodes[t], "matrix", 3) else {
                if !nodes[t].properties.contains_key("matrix") {
                    b[f] = Some((identity(ns[f], nc[f]), Some(t)));
                }
                continue;
            };
            let want = [ns[f], ns[f], nc[f]];
            if m.shape() != want {
                cx.err(nodes[t].position.child(".properties.matrix"), format!("shape {:?}, expected {want:?} ([num_states, num_states, num_actions of the controlling action])", m.shape()));
                continue;
            }
            if let Ok(m) = m.into_dimensionality::<ndarray::Ix3>() {
                b[f] = Some((Transition::from_dense(m), Some(t)));
            }
        }

        let mut a_tensors: Vec<Option<(ArrayD<f64>, Option<usize>)>> = vec![None; observations.len()];
        for l in of(NodeKind::Likelihood) {
            let Some(m) = cx.one_linked(l, NodeKind::Observation).and_then(modality_of) else { continue };
            if a_tensors[m].is_some() {
                cx.err(
                    nodes[l].position.clone(),
                    format!("observation {:?} already has a likelihood node", nodes[observations[m]].id),
                );
                continue;
            }
            let mut deps: Vec<usize> = cx.linked(l, NodeKind::State).into_iter().filter_map(factor_of).collect();
            deps.sort_unstable();
            if deps.is_empty() {
                deps = (0..states.len()).collect();
            }
            let full: Vec<usize> = std::iter::once(no[m]).chain(ns.iter().copied()).collect();
            let Some(given) = cx.tensor(&nodes[l], "matrix", deps.len() + 1) else {
                if !nodes[l].properties.contains_key("matrix") {
                    a_tensors[m] = Some((uniform(&full), Some(l)));
                }
                continue;
            };
            let want: Vec<usize> = std::iter::once(no[m]).chain(deps.iter().map(|&f| ns[f])).collect();
            if given.shape() != want.as_slice() {
                cx.err(
                    nodes[l].position.child(".properties.matrix"),
                    format!(
                        "shape {:?}, expected {want:?} ([num_observations, num_states of each linked state])",
                        given.shape()
                    ),
                );
                continue;
            }
            let count = full.iter().product::<usize>();
            if count > limits.max_tensor_elements {
                cx.err(
                    nodes[l].position.clone(),
                    format!(
                        "A would hold {count} elements, more than {} (max_tensor_elements)",
                        limits.max_tensor_elements
                    ),
                );
                continue;
            }
            let expanded = ArrayD::from_shape_fn(IxDyn(&full), |idx| {
                let sub: Vec<usize> = std::iter::once(idx[0]).chain(deps.iter().map(|&f| idx[f + 1])).collect();
                given[IxDyn(&sub)]
            });
            a_tensors[m] = Some((expanded, Some(l)));
        }

        let mut c: Vec<Option<(Array1<f64>, usize)>> = vec![None; observations.len()];
        for p in of(NodeKind::Preference) {
            let Some(m) = cx.one_linked(p, NodeKind::Observation).and_then(modality_of) else { continue };
            if c[m].is_some() {
                cx.err(
                    nodes[p].position.clone(),
                    format!("observation {:?} already has a preference node", nodes[observations[m]].id),
                );
                continue;
            }
            let node = &nodes[p];
            let vector = if node.properties.contains_key("vector") {
                cx.tensor(node, "vector", 1).and_then(|t| t.into_dimensionality::<ndarray::Ix1>().ok())
            } else if let Some(v) = node.properties.get("preferred_observation") {
                match v.as_u64() {
                    Some(o) if (o as usize) < no[m] => {
                        let mut x = Array1::zeros(no[m]);
                        x[o as usize] = 1.0;
                        Some(x)
                    }
                    _ => {
                        cx.err(
                            node.position.child(".properties.preferred_observation"),
                            format!("expected an outcome index in 0..{}, found {v}", no[m]),
                        );
                        None
                    }
                }
            } else {
                Some(Array1::zeros(no[m]))
            };
            if let Some(v) = vector {
                c[m] = Some((v, p));
            }
        }

        let mut d: Vec<Option<(Array1<f64>, usize)>> = vec![None; states.len()];
        for bn in of(NodeKind::Belief) {
            let Some(f) = cx.one_linked(bn, NodeKind::State).and_then(factor_of) else { continue };
            if d[f].is_some() {
                cx.err(
                    nodes[bn].position.clone(),
                    format!("state {:?} already has a belief node", nodes[states[f]].id),
                );
                continue;
            }
            if let Some(v) =
                cx.tensor(&nodes[bn], "vector", 1).and_then(|t| t.into_dimensionality::<ndarray::Ix1>().ok())
            {
                d[f] = Some((v, bn));
            } else if !nodes[bn].properties.contains_key("vector") {
                d[f] = Some((Array1::from_elem(ns[f], 1.0 / ns[f] as f64), bn));
            }
        }

        let settings = policy_settings(&mut cx, &of(NodeKind::Policy));
        if !cx.errors.is_empty() {
            cx.errors.truncate(crate::error::MAX_REPORTED_ERRORS);
            return Err(GmnErrors(cx.errors));
        }

        let parts = ModelParts {
            a: a_tensors
                .iter()
                .enumerate()
                .map(|(m, x)| {
                    x.as_ref().map_or_else(
                        || uniform(&[no[m]].iter().chain(&ns).copied().collect::<Vec<_>>()),
                        |x| x.0.clone(),
                    )
                })
                .collect(),
            b: b.iter()
                .enumerate()
                .map(|(f, x)| x.as_ref().map_or_else(|| identity(ns[f], nc[f]), |x| x.0.clone()))
                .collect(),
            c: Some(
                c.iter()
                    .enumerate()
                    .map(|(m, x)| x.as_ref().map_or_else(|| Array1::zeros(no[m]), |x| x.0.clone()))
                    .collect(),
            ),
            d: Some(
                d.iter()
                    .enumerate()
                    .map(|(f, x)| {
                        x.as_ref().map_or_else(|| Array1::from_elem(ns[f], 1.0 / ns[f] as f64), |x| x.0.clone())
                    })
                    .collect(),
            ),
            e: None,
            control_factors: None,
        };
        let model = Model::new(parts, limits).map_err(|errs| {
            GmnErrors(
                errs.0
                    .iter()
                    .map(|e| {
                        let source = model_error_source(e, &states, &observations, &a_tensors, &b, &c, &d);
                        let pos =
                            source.map_or_else(|| Position::field("model"), |(i, key)| nodes[i].position.child(key));
                        GmnError::new(pos, format!("{} ({}; model tensor {})", e.message, e.rule, e.field()))
                    })
                    .collect(),
            )
        })?;
        let dimensions = Dimensions {
            factors: states
                .iter()
                .enumerate()
                .map(|(f, &i)| FactorDimension {
                    id: nodes[i].id.clone(),
                    num_states: ns[f],
                    num_controls: nc[f],
                    action: action_of[f].map(|a| nodes[a].id.clone()),
                })
                .collect(),
            modalities: observations
                .iter()
                .enumerate()
                .map(|(m, &i)| ModalityDimension { id: nodes[i].id.clone(), num_observations: no[m] })
                .collect(),
            num_states: ns,
            num_obs: no,
            num_controls: model.num_controls(),
            control_factors: model.control_factors().to_vec(),
            policy_len: settings.policy_len,
            num_policies: policy::count(&model.num_controls(), settings.policy_len).unwrap_or(usize::MAX),
            nodes: self.nodes.len(),
            edges: self.edges.len(),
        };
        Ok(GmnModel { model, settings, dimensions, metadata: self.metadata.clone() })
    }
}

type Sourced<T> = Vec<Option<(T, usize)>>;

/// The node (and property) a model error comes from.
fn model_error_source(
    e: &ModelError,
    states: &[usize],
    observations: &[usize],
    a: &[Option<(ArrayD<f64>, Option<usize>)>],
    b: &[Option<(Transition, Option<usize>)>],
    c: &Sourced<Array1<f64>>,
    d: &Sourced<Array1<f64>>,
) -> Option<(usize, &'static str)> {
    let (name, idx) = e.tensor.split_once('[')?;
    let i: usize = idx.trim_end_matches(']').parse().ok()?;
    match name {
        "A" => Some(
            a.get(i)?.as_ref().and_then(|x| x.1).map_or((*observations.get(i)?, ""), |n| (n, ".properties.matrix")),
        ),
        "B" => Some(b.get(i)?.as_ref().and_then(|x| x.1).map_or((*states.get(i)?, ""), |n| (n, ".properties.matrix"))),
        "C" => c.get(i)?.as_ref().map(|x| (x.1, ".properties.vector")),
        "D" => d.get(i)?.as_ref().map(|x| (x.1, ".properties.vector")),
        _ => None,
    }
}

fn uniform(shape: &[usize]) -> ArrayD<f64> {
    ArrayD::from_elem(IxDyn(shape), 1.0 / shape[0].max(1) as f64)
}

fn identity(n: usize, controls: usize) -> Transition {
    let entries: Vec<_> = (0..controls).flat_map(|c| (0..n).map(move |s| (s, s, c, 1.0))).collect();
    if n <= 4 {
        let mut t = Array3::zeros((n, n, controls));
        for &(to, from, c, v) in &entries {
            t[[to, from, c]] = v;
        }
        Transition::from_dense(t)
    } else {
        Transition::sparse(n, controls, &entries)
    }
}

fn policy_settings(cx: &mut Ctx<'_>, policies: &[usize]) -> Settings {
    let mut settings = Settings::default();
    let Some(&first) = policies.first() else { return settings };
    let nodes = &cx.spec.nodes;
    if policies.len() > 1 {
        cx.err(nodes[policies[1]].position.clone(), "at most one policy node");
    }
    let node = &nodes[first];
    for (key, value) in &node.properties {
        let pos = node.position.child(&format!(".properties.{key}"));
        match key.as_str() {
            "policy_len" | "horizon" => match value.as_u64() {
                Some(n) if n >= 1 && n as usize <= cx.limits.max_policy_len => settings.policy_len = n as usize,
                _ => cx
                    .err(pos, format!("expected an integer between 1 and {}, found {value}", cx.limits.max_policy_len)),
            },
            "gamma" | "alpha" => match value.as_f64() {
                Some(x) if x.is_finite() && (0.0..=1e6).contains(&x) => {
                    if key == "gamma" {
                        settings.gamma = x
                    } else {
                        settings.alpha = x
                    }
                }
                _ => cx.err(pos, format!("expected a number between 0 and 1e6, found {value}")),
            },
            _ => {}
        }
    }
    settings
}
