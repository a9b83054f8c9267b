//! A small deterministic PRNG for generated data: the mixed history (`mixed_history`)
//! and the benchmarks' workloads.

/// SplitMix64: a deterministic, dependency-free stream of pseudo-random numbers, so every
/// run generates the same data.
pub struct Mix(pub u64);

impl Mix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `bound` (0 when `bound` is 0).
    pub fn below_u64(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    /// An index below `len` (0 when `len` is 0).
    pub fn below(&mut self, len: usize) -> usize {
        usize::try_from(self.below_u64(u64::try_from(len).unwrap_or(u64::MAX))).unwrap_or(0)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below_u64(100) < percent
    }

    /// One entry of `from` ("" when it is empty).
    pub fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from.get(self.below(from.len()))
            .copied()
            .unwrap_or_default()
    }

    /// `count` distinct entries of `from`, in a random order.
    pub fn distinct(&mut self, from: &[&str], count: usize) -> Vec<String> {
        let mut pool: Vec<&str> = from.to_vec();
        (0..count.min(pool.len()))
            .map(|_| pool.swap_remove(self.below(pool.len())).to_owned())
            .collect()
    }
}
