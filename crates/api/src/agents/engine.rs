//! The inference engine as the API runs it: compiled models cached in-process by the hash of their
//! definition (a step does no model building), and every build and step on a bounded pool of
//! inference threads (`cpu::CpuPool`), each with its own scratch space, under a time budget.
use super::models::ModelDefinition;
use crate::ApiError;
use crate::cpu::{CpuPool, CpuPoolError};
use freeagentics_core::coalition::{FormationError, FormationInput, FormationLimits, FormationOutcome, Strategy};
use freeagentics_inference::{
    AgentState, CompiledModel, FieldError, Limits, RunRequest, RunResult, StepError, StepOutput, Workspace, gmn,
    step_with,
};
use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct InferenceSettings {
    pub limits: Limits,
    pub threads: usize,
    /// Budget of one agent step, from the moment it is queued.
    pub step_timeout: Duration,
    /// Budget of one stateless run.
    pub run_timeout: Duration,
    /// Bound on the compiled-model cache (bytes of compiled models).
    pub model_cache_bytes: u64,
    /// Steps kept per agent.
    pub history_limit: u32,
}

impl Default for InferenceSettings {
    fn default() -> Self {
        InferenceSettings {
            limits: Limits::default(),
            threads: 2,
            step_timeout: Duration::from_secs(2),
            run_timeout: Duration::from_secs(10),
            model_cache_bytes: 256 * 1024 * 1024,
            history_limit: 1000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The model, its definition or the input is invalid (422 with these fields).
    #[error("invalid model or input")]
    Invalid(Vec<FieldError>),
    /// The time budget ran out, in the queue or during the work (503: retry later).
    #[error("the inference time budget was exceeded")]
    Busy,
    #[error(transparent)]
    Pool(#[from] CpuPoolError),
    /// A persisted agent state that no longer fits its model.
    #[error("agent state does not fit its model: {0}")]
    State(String),
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Invalid(errors) => ApiError::Validation(
                errors.into_iter().map(|e| freeagentics_core::FieldError::new(e.field, e.message)).collect(),
            ),
            EngineError::Busy => ApiError::Unavailable {
                detail: "the inference workers could not finish this in its time budget; retry later".to_owned(),
                retry_after: Duration::from_secs(1),
            },
            other => ApiError::internal("running the inference engine", other),
        }
    }
}

thread_local! {
    /// Scratch buffers of the step on this inference thread, reused from step to step.
    static WORKSPACE: RefCell<Workspace> = RefCell::new(Workspace::new());
}

#[derive(Debug, Clone)]
pub struct Engine {
    pool: CpuPool,
    models: moka::sync::Cache<String, Arc<CompiledModel>>,
    settings: Arc<InferenceSettings>,
}

impl Engine {
    pub fn new(settings: InferenceSettings) -> Self {
        let models = moka::sync::Cache::builder()
            .max_capacity(settings.model_cache_bytes)
            .weigher(|_: &String, model: &Arc<CompiledModel>| u32::try_from(model.heap_bytes()).unwrap_or(u32::MAX))
            .build();
        Engine { pool: CpuPool::new("inference", settings.threads), models, settings: Arc::new(settings) }
    }

    pub fn settings(&self) -> &InferenceSettings {
        &self.settings
    }

    /// The compiled model of `definition` (cached under `key`), compiled on the pool on a miss.
    pub async fn compiled(&self, key: &str, definition: &ModelDefinition) -> Result<Arc<CompiledModel>, EngineError> {
        if let Some(model) = self.models.get(key) {
            return Ok(model);
        }
        let definition = definition.clone();
        let limits = self.settings.limits.clone();
        let model = self.pool.run(move || definition.compile(&limits)).await?.map_err(EngineError::Invalid)?;
        let model = Arc::new(model);
        self.models.insert(key.to_owned(), Arc::clone(&model));
        Ok(model)
    }

    /// One perception–action cycle: the output, the agent's next state and the time the step took
    /// on its thread. The agent's state is only changed in the copy returned.
    pub async fn step(
        &self,
        model: Arc<CompiledModel>,
        mut state: AgentState,
        observation: Vec<usize>,
    ) -> Result<(StepOutput, AgentState, Duration), EngineError> {
        let deadline = Instant::now() + self.settings.step_timeout;
        let outcome = self
            .pool
            .run(move || {
                if Instant::now() >= deadline {
                    return Err(StepError::DeadlineExceeded);
                }
                let started = Instant::now();
                let output =
                    WORKSPACE.with_borrow_mut(|ws| step_with(&model, &mut state, &observation, Some(deadline), ws))?;
                Ok((output, state, started.elapsed()))
            })
            .await?;
        outcome.map_err(|error| match error {
            StepError::DeadlineExceeded => EngineError::Busy,
            StepError::StateMismatch(message) => EngineError::State(message),
            invalid @ (StepError::ObservationLength { .. } | StepError::ObservationOutOfRange { .. }) => {
                let field = match &invalid {
                    StepError::ObservationOutOfRange { modality, .. } => format!("observation[{modality}]"),
                    _ => "observation".to_owned(),
                };
                EngineError::Invalid(vec![FieldError::new(field, invalid.to_string())])
            }
        })
    }

    /// A stateless run of the agent loop over a model given inline.
    pub async fn run(&self, request: RunRequest) -> Result<RunResult, EngineError> {
        let deadline = Instant::now() + self.settings.run_timeout;
        let limits = self.settings.limits.clone();
        let outcome = self
            .pool
            .run(move || {
                if Instant::now() >= deadline {
                    return Err(None);
                }
                request.run(&limits, Some(deadline)).map_err(Some)
            })
            .await?;
        outcome.map_err(|error| match error {
            None => EngineError::Busy,
            Some(error) if error.is_deadline() => EngineError::Busy,
            Some(error) => EngineError::Invalid(error.field_errors()),
        })
    }

    /// Coalition formation on the same threads: it is the agent domain's other CPU-bound work,
    /// and sharing the pool bounds both together.
    pub async fn form_coalitions(
        &self,
        input: FormationInput,
        strategy: Strategy,
        limits: FormationLimits,
    ) -> Result<Result<FormationOutcome, FormationError>, EngineError> {
        Ok(self.pool.run(move || freeagentics_core::coalition::form(&input, strategy, &limits)).await?)
    }

    /// Parses, converts and compiles a GMN spec: its dimensions, or every error with its position.
    pub async fn validate_gmn(&self, spec: String) -> Result<gmn::Dimensions, EngineError> {
        let limits = self.settings.limits.clone();
        self.pool
            .run(move || gmn::validate(&spec, &limits))
            .await?
            .map_err(|errors| EngineError::Invalid(errors.field_errors("spec")))
    }
}
