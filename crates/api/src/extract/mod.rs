//! Our own JSON, query and path extractors: axum's rejections are plain text, ours are
//! problem+json with the failing field named.
mod client_ip;
mod json;
mod pagination;
mod path;
mod query;

pub use client_ip::ClientIp;
pub use json::{RequestBodyLimit, ValidJson, Validate, no_null, whole_number};
pub use pagination::{DEFAULT_LIMIT, MAX_LIMIT, PageParams};
pub use path::ValidPath;
pub use query::ValidQuery;
