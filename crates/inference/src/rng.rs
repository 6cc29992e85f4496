//! The agent's random stream for stochastic action selection: ChaCha8 keyed from a `u64` seed
//! (expanded with SplitMix64, so the key derivation is ours and stable), persisted as the seed and
//! the position in the stream. An agent stored between steps continues exactly where it stopped.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RngState {
    pub seed: u64,
    /// 32-bit words consumed so far.
    pub word_pos: u64,
}

impl RngState {
    pub fn new(seed: u64) -> Self {
        Self { seed, word_pos: 0 }
    }

    /// A uniform draw in `[0, 1)` with 53 random bits; advances the state.
    pub fn next_f64(&mut self) -> f64 {
        let mut rng = ChaCha8Rng::from_seed(key(self.seed));
        rng.set_word_pos(u128::from(self.word_pos));
        let x = rng.next_u64();
        self.word_pos = u64::try_from(rng.get_word_pos()).unwrap_or(u64::MAX);
        (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Index drawn from the distribution `p` (which sums to 1).
    pub fn sample(&mut self, p: &[f64]) -> usize {
        let u = self.next_f64();
        let mut cum = 0.0;
        for (i, &x) in p.iter().enumerate() {
            cum += x;
            if u < cum {
                return i;
            }
        }
        // Rounding can leave the cumulative sum a hair below 1: take the last possible index.
        p.iter().rposition(|&x| x > 0.0).unwrap_or(0)
    }
}

fn key(seed: u64) -> [u8; 32] {
    let mut state = seed;
    let mut out = [0u8; 32];
    for chunk in out.chunks_exact_mut(8) {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_state_continues_the_stream() {
        let mut a = RngState::new(7);
        let first: Vec<f64> = (0..5).map(|_| a.next_f64()).collect();
        let saved = serde_json::to_string(&a).unwrap();
        let next_a: Vec<f64> = (0..5).map(|_| a.next_f64()).collect();
        let mut b: RngState = serde_json::from_str(&saved).unwrap();
        let next_b: Vec<f64> = (0..5).map(|_| b.next_f64()).collect();
        assert_eq!(next_a, next_b);
        assert_ne!(first, next_a);
        assert!(first.iter().all(|x| (0.0..1.0).contains(x)));
        let mut c = RngState::new(8);
        assert_ne!(c.next_f64(), first[0]);
    }

    #[test]
    fn sampling_follows_the_distribution() {
        let mut r = RngState::new(1);
        let p = [0.2, 0.0, 0.8];
        let mut counts = [0usize; 3];
        for _ in 0..10_000 {
            counts[r.sample(&p)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((1800..2200).contains(&counts[0]), "{counts:?}");
    }
}
