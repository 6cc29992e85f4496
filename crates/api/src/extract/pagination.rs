use crate::extract::Validate;
use freeagentics_core::ValidationErrors;
use freeagentics_store::Cursor;
use serde::Deserialize;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// `?limit=` (1–100, default 20) and the opaque `cursor` from the previous page's `next_cursor`.
#[derive(Debug, Clone, Deserialize)]
pub struct PageParams {
    /// Items per page, 1–100.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_LIMIT)
    }

    pub fn cursor(&self) -> Option<Cursor> {
        self.cursor.as_deref().and_then(Cursor::decode)
    }

    pub fn check(&self, errors: &mut ValidationErrors) {
        if !(1..=MAX_LIMIT).contains(&self.limit()) {
            errors.add("limit", format!("must be 1 to {MAX_LIMIT}"));
        }
        if self.cursor.is_some() && self.cursor().is_none() {
            errors.add("cursor", "is not a cursor this API issued");
        }
    }
}

impl Validate for PageParams {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        self.check(&mut errors);
        errors.into_result()
    }
}
