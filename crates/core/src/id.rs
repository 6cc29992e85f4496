use uuid::Uuid;

/// New primary key. UUIDv7 is time-ordered, so inserts append to the B-tree instead of scattering,
/// and "newest first" listings can use the id as a tie-breaker.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_7_and_ordered() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.get_version_num(), 7);
        assert!(a < b);
    }
}
