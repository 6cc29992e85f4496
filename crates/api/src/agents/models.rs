//! What an agent's model is made from — a template and its parameters, or a GMN spec — and the key
//! its compiled form is cached under.
use crate::digest::sha256_hex;
use freeagentics_inference::{CompiledModel, FieldError, Limits, Model, Settings, gmn, templates};

/// Template name of agents built from a GMN spec.
pub const GMN_TEMPLATE: &str = "gmn_agent";

/// The inputs of a model build.
#[derive(Debug, Clone)]
pub struct ModelDefinition {
    pub template: String,
    pub parameters: serde_json::Value,
    pub gmn_spec: Option<String>,
}

impl ModelDefinition {
    /// The model and the settings its definition chose. Errors name the offending field
    /// (`parameters.<name>`, `gmn_spec` with a line and column or a field path).
    pub fn build(&self, limits: &Limits) -> Result<(Model, Settings), Vec<FieldError>> {
        match (&self.gmn_spec, self.template.as_str()) {
            (Some(spec), GMN_TEMPLATE) => {
                let parsed = gmn::parse(spec).map_err(|e| e.field_errors("gmn_spec"))?;
                let converted = parsed.to_model(limits).map_err(|e| e.field_errors("gmn_spec"))?;
                Ok((converted.model, converted.settings))
            }
            (Some(_), _) => Err(vec![FieldError::new(
                "template",
                format!("an agent with a GMN spec uses the template `{GMN_TEMPLATE}`"),
            )]),
            (None, GMN_TEMPLATE) => Err(vec![FieldError::new("gmn_spec", "the `gmn_agent` template needs a GMN spec")]),
            (None, template) => {
                // the engine calls them `params`; the API calls them `parameters`
                let renamed = |e: FieldError| match e.field.strip_prefix("params") {
                    Some(rest) => FieldError::new(format!("parameters{rest}"), e.message),
                    None => e,
                };
                let built = templates::build(template, &self.parameters, limits)
                    .map_err(|errors| errors.into_iter().map(renamed).collect::<Vec<_>>())?;
                Ok((built.model, built.settings))
            }
        }
    }

    /// Builds and compiles (CPU work: run it on the inference pool).
    pub fn compile(&self, limits: &Limits) -> Result<CompiledModel, Vec<FieldError>> {
        let (model, settings) = self.build(limits)?;
        CompiledModel::new(&model, &settings, limits).map_err(|e| e.field_errors("model"))
    }
}

/// The compiled-model cache key of a definition: a hash of its canonical form, so agents of the
/// same definition share one compiled model and a step does no model building.
pub fn model_key(definition: &ModelDefinition) -> String {
    // serde_json writes object keys sorted (no `preserve_order`): a canonical form
    let parameters = definition.parameters.to_string();
    let spec = definition.gmn_spec.as_deref().unwrap_or_default();
    sha256_hex(&[definition.template.as_bytes(), parameters.as_bytes(), spec.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definition(template: &str, parameters: serde_json::Value) -> ModelDefinition {
        ModelDefinition { template: template.to_owned(), parameters, gmn_spec: None }
    }

    #[test]
    fn keys_depend_on_the_definition_only() {
        let a = model_key(&definition("basic-explorer", json!({"width": 5, "height": 5})));
        let b = model_key(&definition("basic-explorer", json!({"height": 5, "width": 5})));
        let c = model_key(&definition("basic-explorer", json!({"width": 6, "height": 5})));
        assert_eq!(a, b, "key order does not matter");
        assert_ne!(a, c);
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn bad_definitions_name_their_field() {
        let limits = Limits::default();
        let unknown = definition("no-such-template", json!({})).compile(&limits).unwrap_err();
        assert_eq!(unknown[0].field, "template");
        let gmn_without_spec = definition(GMN_TEMPLATE, json!({})).compile(&limits).unwrap_err();
        assert_eq!(gmn_without_spec[0].field, "gmn_spec");
        let bad_spec =
            ModelDefinition { gmn_spec: Some("[nodes]\nbroken".to_owned()), ..definition(GMN_TEMPLATE, json!({})) };
        assert!(bad_spec.compile(&limits).unwrap_err()[0].field.starts_with("gmn_spec"));
        assert!(definition("basic-explorer", json!({"width": 5, "height": 5})).compile(&limits).is_ok());
    }
}
