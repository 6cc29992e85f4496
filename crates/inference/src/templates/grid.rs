//! `basic-explorer`: the grid explorer. One hidden state per cell (`s = row·width + column`),
//! five outcomes (0 empty, 1 obstacle, 2 goal, 3 other agent, 4 out of bounds), five actions
//! (0 up, 1 down, 2 left, 3 right, 4 stay).
//!
//! - B (both variants): a move reaches its target with 0.9 and stays with 0.1; a move off the
//!   grid or into an obstacle cell, and `stay`, stay with 1.0. Stored sparse.
//! - C (both): `[2, −4, 8, 0, −4]`.
//! - D, `reference` variant: uniform with the start cell weighted ×2, normalised (the original's).
//! - D, `localizing` variant: 0.9 on the start cell, 0.1 spread evenly over the others (the agent
//!   knows where it starts; observations keep it localised as it moves).
//! - A, `reference` variant: the original service's: every cell emits
//!   `normalise([0.8, 0.05, 0.05, 0.05, 0.05] + 0.01)`, so observations say nothing about location
//!   and every policy ties (kept for comparisons).
//! - A, `localizing` variant (default): each cell emits its label with 0.9 and each other outcome
//!   with 0.025. The label is, in order: goal if the cell is a goal; obstacle if the cell is an
//!   obstacle or one of its four neighbours is; out of bounds if the cell is on the grid's edge;
//!   empty otherwise. "Other agent" is never a label (it only carries noise).

use ndarray::{Array1, Array2};
use serde_json::{Value, json};

use super::TemplateInfo;
use super::params::{ParamSpec, ParamType, Params};
use crate::error::FieldError;
use crate::model::{ModelParts, Transition};
use crate::settings::Settings;

pub(super) const NAME: &str = "basic-explorer";

/// Row and column offsets of the five actions: up, down, left, right, stay.
pub const MOVES: [(isize, isize); 5] = [(-1, 0), (1, 0), (0, -1), (0, 1), (0, 0)];

/// The grid's outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GridLabel {
    Empty = 0,
    Obstacle = 1,
    Goal = 2,
    OtherAgent = 3,
    OutOfBounds = 4,
}

const C: [f64; 5] = [2.0, -4.0, 8.0, 0.0, -4.0];
const MAX_SIDE: i64 = 64;

fn specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::int("width", 20, 2, MAX_SIDE, "columns of the grid"),
        ParamSpec::int("height", 20, 2, MAX_SIDE, "rows of the grid"),
        ParamSpec::other(
            "start",
            ParamType::Cell,
            json!([0, 0]),
            "[row, column] of the start cell (localizing: 0.9 of D; reference: weighted ×2 in D)",
        ),
        ParamSpec::other(
            "goals",
            ParamType::Cells,
            Value::Null,
            "goal cells; default: the bottom-right corner [height-1, width-1]",
        ),
        ParamSpec::other("obstacles", ParamType::Cells, json!([]), "obstacle cells: moves into them stay put"),
        ParamSpec::int("horizon", 3, 1, 5, "planning horizon (policy length); 5^horizon policies"),
        ParamSpec::choice(
            "variant",
            "localizing",
            vec!["localizing", "reference"],
            "localizing: each cell emits its content so beliefs localise; reference: the original's A (every cell the same column)",
        ),
    ]
}

pub(super) fn info() -> TemplateInfo {
    TemplateInfo {
        name: NAME,
        kind: "explorer",
        complexity: "simple",
        description: "Grid explorer: one state per cell, five moves, prefers to see the goal and avoids obstacles and edges.",
        parameters: specs(),
    }
}

/// A grid world: the template's parameters, its tensors and the environment they describe.
#[derive(Debug, Clone, PartialEq)]
pub struct GridWorld {
    pub width: usize,
    pub height: usize,
    pub start: (usize, usize),
    pub goals: Vec<(usize, usize)>,
    pub obstacles: Vec<(usize, usize)>,
    pub horizon: usize,
    pub reference: bool,
}

impl GridWorld {
    pub fn from_params(value: &Value) -> Result<GridWorld, Vec<FieldError>> {
        let specs = specs();
        let mut p = Params::new(value, &specs);
        let width = p.int(&specs[0]) as usize;
        let height = p.int(&specs[1]) as usize;
        let max_cells = width * height;
        let start = p.cell("start", height, width).unwrap_or((0, 0));
        let goals = p.cells("goals", height, width, max_cells).unwrap_or_else(|| vec![(height - 1, width - 1)]);
        let obstacles = p.cells("obstacles", height, width, max_cells).unwrap_or_default();
        let horizon = p.int(&specs[5]) as usize;
        let reference = p.choice(&specs[6]) == "reference";
        if obstacles.contains(&start) {
            p.error("start", "the start cell is an obstacle");
        }
        if let Some(i) = goals.iter().position(|g| obstacles.contains(g)) {
            p.error(&format!("goals[{i}]"), "a goal cell is an obstacle");
        }
        p.finish()?;
        Ok(GridWorld { width, height, start, goals, obstacles, horizon, reference })
    }

    pub fn num_cells(&self) -> usize {
        self.width * self.height
    }

    pub fn state(&self, (r, c): (usize, usize)) -> usize {
        r * self.width + c
    }

    /// The cell `action` leads to from `cell`: itself when the move leaves the grid or hits an
    /// obstacle.
    pub fn next_cell(&self, (r, c): (usize, usize), action: usize) -> (usize, usize) {
        let (dr, dc) = MOVES[action.min(4)];
        let (tr, tc) = (r as isize + dr, c as isize + dc);
        if tr < 0 || tc < 0 || tr >= self.height as isize || tc >= self.width as isize {
            return (r, c);
        }
        let t = (tr as usize, tc as usize);
        if self.obstacles.contains(&t) { (r, c) } else { t }
    }

    /// What the localizing variant's cell emits most of the time (and what the environment shows).
    pub fn label(&self, (r, c): (usize, usize)) -> GridLabel {
        if self.goals.contains(&(r, c)) {
            return GridLabel::Goal;
        }
        let near_obstacle = self.obstacles.contains(&(r, c))
            || MOVES[..4].iter().any(|&(dr, dc)| {
                let (nr, nc) = (r as isize + dr, c as isize + dc);
                nr >= 0 && nc >= 0 && self.obstacles.contains(&(nr as usize, nc as usize))
            });
        if near_obstacle {
            GridLabel::Obstacle
        } else if r == 0 || c == 0 || r + 1 == self.height || c + 1 == self.width {
            GridLabel::OutOfBounds
        } else {
            GridLabel::Empty
        }
    }

    pub fn model_parts(&self) -> ModelParts {
        let n = self.num_cells();
        let mut a = Array2::<f64>::zeros((5, n));
        let reference_column: Vec<f64> = {
            let col: Vec<f64> = [0.8, 0.05, 0.05, 0.05, 0.05].iter().map(|x| x + 0.01).collect();
            let sum: f64 = col.iter().sum();
            col.iter().map(|x| x / sum).collect()
        };
        let mut entries = Vec::with_capacity(n * 9);
        for r in 0..self.height {
            for c in 0..self.width {
                let s = self.state((r, c));
                if self.reference {
                    for (o, &p) in reference_column.iter().enumerate() {
                        a[[o, s]] = p;
                    }
                } else {
                    for o in 0..5 {
                        a[[o, s]] = 0.025;
                    }
                    a[[self.label((r, c)) as usize, s]] = 0.9;
                }
                for action in 0..5 {
                    let t = self.state(self.next_cell((r, c), action));
                    if t == s {
                        entries.push((s, s, action, 1.0));
                    } else {
                        entries.push((t, s, action, 0.9));
                        entries.push((s, s, action, 0.1));
                    }
                }
            }
        }
        let start = self.state(self.start);
        let d = if self.reference {
            let mut d = Array1::<f64>::ones(n);
            d[start] *= 2.0;
            let total = d.sum();
            d / total
        } else {
            let mut d = Array1::<f64>::from_elem(n, 0.1 / (n - 1) as f64);
            d[start] = 0.9;
            d
        };
        ModelParts {
            a: vec![a.into_dyn()],
            b: vec![Transition::sparse(n, 5, &entries)],
            c: Some(vec![Array1::from(C.to_vec())]),
            d: Some(vec![d]),
            e: None,
            control_factors: None,
        }
    }

    pub fn settings(&self) -> Settings {
        Settings { policy_len: self.horizon, ..Settings::default() }
    }
}

pub(super) fn build(params: &Value) -> Result<(ModelParts, Settings), Vec<FieldError>> {
    let world = GridWorld::from_params(params)?;
    Ok((world.model_parts(), world.settings()))
}
