use crate::ApiError;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// Query parameters; a bad one is a 422 naming the parameter instead of axum's plain-text 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ValidQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + super::Validate,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await.map_err(|rejection| {
            let text = rejection.body_text();
            let message = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text);
            let (field, message) = match message.split_once(": ") {
                Some((field, rest)) if !field.contains(' ') => (field.to_owned(), rest.to_owned()),
                _ => ("query".to_owned(), message.to_owned()),
            };
            ApiError::validation(field, message)
        })?;
        value.validate()?;
        Ok(ValidQuery(value))
    }
}
