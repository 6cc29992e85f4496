//! Our own JSON, query and path extractors: axum's rejections are plain text, ours are
//! problem+json with the failing field named.
mod json;
mod path;
mod query;

pub use json::{ValidJson, Validate};
pub use path::ValidPath;
pub use query::ValidQuery;
