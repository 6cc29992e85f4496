//! A coalition's performance and cohesion scores, both 0–1.

/// Counts the performance score is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PerformanceInputs {
    pub objectives_total: usize,
    /// Objectives whose progress reached 1.0.
    pub objectives_completed: usize,
    pub members_total: usize,
    /// Members whose agent's status is `active`.
    pub members_active: usize,
}

/// 0.7 × objective completion rate + 0.3 × share of active members (the original's formula). A
/// coalition without objectives has completed nothing, and one without members has no active
/// share, so a new coalition scores 0.0 as it did in the original.
pub fn performance_score(inputs: PerformanceInputs) -> f64 {
    0.7 * ratio(inputs.objectives_completed, inputs.objectives_total)
        + 0.3 * ratio(inputs.members_active, inputs.members_total)
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { part.min(whole) as f64 / whole as f64 }
}

/// The mean of the members' trust scores. With no members there is no distrust, so cohesion is
/// 1.0, the original's starting value.
pub fn cohesion_score(trust: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, count) = trust.into_iter().fold((0.0, 0usize), |(sum, count), t| (sum + t, count + 1));
    if count == 0 { 1.0 } else { sum / count as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn performance_weights_completion_and_activity() {
        let inputs =
            PerformanceInputs { objectives_total: 4, objectives_completed: 1, members_total: 5, members_active: 2 };
        assert!(close(performance_score(inputs), 0.7 * 0.25 + 0.3 * 0.4));
        let all =
            PerformanceInputs { objectives_total: 2, objectives_completed: 2, members_total: 3, members_active: 3 };
        assert!(close(performance_score(all), 1.0));
    }

    #[test]
    fn performance_of_an_empty_coalition_is_zero() {
        assert_eq!(performance_score(PerformanceInputs::default()), 0.0);
        let members_only = PerformanceInputs { members_total: 2, members_active: 2, ..Default::default() };
        assert!(close(performance_score(members_only), 0.3));
    }

    #[test]
    fn inconsistent_counts_cannot_push_the_score_past_one() {
        let odd =
            PerformanceInputs { objectives_total: 1, objectives_completed: 3, members_total: 1, members_active: 2 };
        assert!(close(performance_score(odd), 1.0));
    }

    #[test]
    fn cohesion_is_mean_trust_and_one_when_empty() {
        assert!(close(cohesion_score([1.0, 0.5, 0.0]), 0.5));
        assert!(close(cohesion_score([0.3]), 0.3));
        assert_eq!(cohesion_score([]), 1.0);
    }
}
