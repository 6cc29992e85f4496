//! Policy enumeration in pymdp's `construct_policies` order: `itertools.product` over the controls
//! of every factor at every timestep, so the last factor of the last timestep varies fastest.

/// The number of policies, or `None` past `usize`.
pub(crate) fn count(num_controls: &[usize], policy_len: usize) -> Option<usize> {
    let per_step = num_controls.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n))?;
    (0..policy_len).try_fold(1usize, |acc, _| acc.checked_mul(per_step))
}

/// Every policy flattened as `[policy][timestep][factor]`.
pub(crate) fn enumerate(num_controls: &[usize], policy_len: usize, num_policies: usize) -> Vec<u32> {
    let nf = num_controls.len();
    let width = nf * policy_len;
    let mut out = Vec::with_capacity(num_policies * width);
    let mut digits = vec![0u32; width];
    for _ in 0..num_policies {
        out.extend_from_slice(&digits);
        // Increment the mixed-radix counter, last digit fastest.
        for pos in (0..width).rev() {
            digits[pos] += 1;
            if (digits[pos] as usize) < num_controls[pos % nf] {
                break;
            }
            digits[pos] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_itertools_product_order() {
        // itertools.product(range(2), range(1), range(3)) for one timestep of three factors.
        let p = enumerate(&[2, 1, 3], 1, 6);
        assert_eq!(p, vec![0, 0, 0, 0, 0, 1, 0, 0, 2, 1, 0, 0, 1, 0, 1, 1, 0, 2]);
        // Two timesteps of one factor with two controls: (0,0), (0,1), (1,0), (1,1).
        assert_eq!(enumerate(&[2], 2, 4), vec![0, 0, 0, 1, 1, 0, 1, 1]);
        assert_eq!(count(&[5], 3), Some(125));
        assert_eq!(count(&[usize::MAX, 2], 1), None);
    }
}
