//! Matrices for the transition step `q' = B[:, :, a] · q`: dense rows when many entries are
//! non-zero; diagonals when the non-zeros sit on a few of them (a grid moves each cell to
//! itself or one neighbour, a fixed offset per action); compressed sparse rows otherwise.

/// Below this fraction of non-zeros a matrix is stored sparse: CSR costs 12 bytes and an
/// indirect load per non-zero against 8 bytes and a streaming load per dense entry.
pub const SPARSE_DENSITY: f64 = 0.25;

/// A `rows × cols` matrix in compressed sparse row form.
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    rows: usize,
    cols: usize,
    row_ptr: Vec<u32>,
    col_idx: Vec<u32>,
    vals: Vec<f64>,
}

impl Csr {
    /// Builds from `(row, col, value)` entries in any order; duplicates are summed and zeros
    /// dropped. Entries outside the shape are ignored (callers index within it).
    pub fn from_triplets(rows: usize, cols: usize, mut entries: Vec<(usize, usize, f64)>) -> Self {
        entries.retain(|&(r, c, _)| r < rows && c < cols);
        entries.sort_by_key(|e| (e.0, e.1));
        let mut row_ptr = vec![0u32; rows + 1];
        let mut col_idx = Vec::with_capacity(entries.len());
        let mut vals: Vec<f64> = Vec::with_capacity(entries.len());
        let mut last: Option<(usize, usize)> = None;
        let mut row_of = Vec::with_capacity(entries.len());
        for (r, c, v) in entries {
            if last == Some((r, c)) {
                if let Some(x) = vals.last_mut() {
                    *x += v;
                }
                continue;
            }
            last = Some((r, c));
            col_idx.push(c as u32);
            vals.push(v);
            row_of.push(r);
        }
        // Drop entries that are (or summed to) zero: they add nothing to a product.
        let mut keep_cols = Vec::with_capacity(col_idx.len());
        let mut keep_vals = Vec::with_capacity(vals.len());
        for ((&c, &v), &r) in col_idx.iter().zip(&vals).zip(&row_of) {
            if v != 0.0 {
                keep_cols.push(c);
                keep_vals.push(v);
                row_ptr[r + 1] += 1;
            }
        }
        for r in 0..rows {
            row_ptr[r + 1] += row_ptr[r];
        }
        keep_cols.shrink_to_fit();
        keep_vals.shrink_to_fit();
        Self { rows, cols, row_ptr, col_idx: keep_cols, vals: keep_vals }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn nnz(&self) -> usize {
        self.vals.len()
    }

    /// `out = self · x`.
    #[inline]
    pub fn mul_vec(&self, x: &[f64], out: &mut [f64]) {
        for (o, span) in out.iter_mut().zip(self.row_ptr.windows(2)) {
            let (start, end) = (span[0] as usize, span[1] as usize);
            let mut acc = 0.0;
            for (&c, &v) in self.col_idx[start..end].iter().zip(&self.vals[start..end]) {
                acc += v * x[c as usize];
            }
            *o = acc;
        }
    }

    /// The non-zeros of row `r` as `(r, col, value)`.
    #[inline]
    pub fn row(&self, r: usize) -> impl Iterator<Item = (usize, usize, f64)> + '_ {
        let (start, end) = (self.row_ptr[r] as usize, self.row_ptr[r + 1] as usize);
        self.col_idx[start..end].iter().zip(&self.vals[start..end]).map(move |(&c, &v)| (r, c as usize, v))
    }

    /// Non-zeros in row-major order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize, f64)> + '_ {
        (0..self.rows).flat_map(move |r| {
            let (start, end) = (self.row_ptr[r] as usize, self.row_ptr[r + 1] as usize);
            (start..end).map(move |k| (r, self.col_idx[k] as usize, self.vals[k]))
        })
    }

    pub fn heap_bytes(&self) -> usize {
        self.row_ptr.capacity() * 4 + self.col_idx.capacity() * 4 + self.vals.capacity() * 8
    }
}

/// An `n × n` matrix stored by its non-zero diagonals: `values[k * n + r]` is the entry at row
/// `r`, column `r + offsets[k]` (zero where that column is off the matrix). A product streams
/// through contiguous rows with no index loads, which the compiler vectorises.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagonals {
    n: usize,
    /// Ascending, so each row sums its terms in column order, as the CSR product does.
    offsets: Vec<isize>,
    values: Vec<f64>,
}

impl Diagonals {
    /// `None` when the non-zeros would fill less than half of the diagonals they lie on.
    fn from_triplets(n: usize, entries: &[(usize, usize, f64)]) -> Option<Self> {
        let csr = Csr::from_triplets(n, n, entries.to_vec());
        let mut offsets: Vec<isize> = csr.iter().map(|(r, c, _)| c as isize - r as isize).collect();
        offsets.sort_unstable();
        offsets.dedup();
        if offsets.len().saturating_mul(n) > csr.nnz().saturating_mul(2) {
            return None;
        }
        let mut values = vec![0.0; offsets.len() * n];
        for (r, c, v) in csr.iter() {
            let k = offsets.binary_search(&(c as isize - r as isize)).ok()?;
            values[k * n + r] = v;
        }
        Some(Self { n, offsets, values })
    }

    /// `out = self · x`.
    #[inline]
    pub fn mul_vec(&self, x: &[f64], out: &mut [f64]) {
        let n = self.n;
        for (k, (&off, diag)) in self.offsets.iter().zip(self.values.chunks_exact(n)).enumerate() {
            // Rows whose column `r + off` is inside the matrix.
            let lo = off.min(0).unsigned_abs();
            let hi = n - off.max(0).unsigned_abs();
            let cols = (lo as isize + off) as usize..(hi as isize + off) as usize;
            if k == 0 {
                // The first diagonal sets the rows (and zeroes those it misses) instead of adding
                // to zeros: the same sums with one pass fewer.
                out[..lo].fill(0.0);
                out[hi..n].fill(0.0);
            }
            let terms = out[lo..hi].iter_mut().zip(&diag[lo..hi]).zip(&x[cols]);
            if k == 0 {
                for ((o, &v), &xv) in terms {
                    *o = v * xv;
                }
            } else {
                for ((o, &v), &xv) in terms {
                    *o += v * xv;
                }
            }
        }
        if self.offsets.is_empty() {
            out[..n].fill(0.0);
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.offsets.capacity() * 8 + self.values.capacity() * 8
    }
}

/// `Σ a[i]·b[i]` over four running sums: independent additions the compiler turns into vector
/// instructions (one running sum would serialise every addition behind the previous one).
#[inline]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = a4.remainder().iter().zip(b4.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a4.zip(b4) {
        for i in 0..4 {
            acc[i] += x[i] * y[i];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// A square matrix in whichever storage suits it.
#[derive(Debug, Clone, PartialEq)]
pub enum Mat {
    /// Row-major `n × n`.
    Dense {
        n: usize,
        data: Vec<f64>,
    },
    Diagonals(Diagonals),
    Sparse(Csr),
}

impl Mat {
    /// Chooses the storage from where the non-zeros of `entries` (row, col, value) of an `n × n`
    /// matrix lie.
    pub fn from_triplets(n: usize, entries: Vec<(usize, usize, f64)>) -> Self {
        let nnz = entries.iter().filter(|e| e.2 != 0.0).count();
        if (nnz as f64) >= SPARSE_DENSITY * (n as f64) * (n as f64) {
            let mut data = vec![0.0; n * n];
            for (r, c, v) in entries {
                if r < n && c < n {
                    data[r * n + c] += v;
                }
            }
            return Mat::Dense { n, data };
        }
        match Diagonals::from_triplets(n, &entries) {
            Some(d) => Mat::Diagonals(d),
            None => Mat::Sparse(Csr::from_triplets(n, n, entries)),
        }
    }

    /// `out = self · x`.
    #[inline]
    pub fn mul_vec(&self, x: &[f64], out: &mut [f64]) {
        match self {
            Mat::Dense { n, data } => {
                for (o, row) in out.iter_mut().zip(data.chunks_exact(*n)) {
                    *o = dot(row, x);
                }
            }
            Mat::Diagonals(d) => d.mul_vec(x, out),
            Mat::Sparse(csr) => csr.mul_vec(x, out),
        }
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            Mat::Dense { data, .. } => data.capacity() * 8,
            Mat::Diagonals(d) => d.heap_bytes(),
            Mat::Sparse(csr) => csr.heap_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_merges_duplicates_drops_zeros_and_multiplies() {
        let m = Csr::from_triplets(3, 3, vec![(2, 0, 1.0), (0, 1, 0.5), (0, 1, 0.25), (1, 1, 0.0), (0, 2, 2.0)]);
        assert_eq!(m.nnz(), 3);
        let mut out = [0.0; 3];
        m.mul_vec(&[1.0, 2.0, 3.0], &mut out);
        assert_eq!(out, [0.75 * 2.0 + 6.0, 0.0, 1.0]);
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![(0, 1, 0.75), (0, 2, 2.0), (2, 0, 1.0)]);
    }

    #[test]
    fn storage_follows_density_and_both_agree() {
        let entries = vec![(0, 0, 1.0), (1, 0, 2.0), (1, 1, 3.0), (0, 1, 4.0)];
        let dense = Mat::from_triplets(2, entries.clone());
        assert!(matches!(dense, Mat::Dense { .. }));
        let sparse = Mat::Sparse(Csr::from_triplets(2, 2, entries));
        let (mut a, mut b) = ([0.0; 2], [0.0; 2]);
        dense.mul_vec(&[1.0, 1.0], &mut a);
        sparse.mul_vec(&[1.0, 1.0], &mut b);
        assert_eq!(a, b);
        assert!(matches!(Mat::from_triplets(10, vec![(0, 0, 1.0)]), Mat::Sparse(_)));
    }

    /// A 4×4 grid's "up" move (0.9 to the cell above, 0.1 stays; the top row stays): two
    /// diagonals, the same products as CSR to the last bit.
    #[test]
    fn diagonal_storage_matches_csr_exactly() {
        let (w, n) = (4usize, 16usize);
        let mut entries = Vec::new();
        for s in 0..n {
            if s >= w {
                entries.push((s - w, s, 0.9));
                entries.push((s, s, 0.1));
            } else {
                entries.push((s, s, 1.0));
            }
        }
        let diag = Mat::from_triplets(n, entries.clone());
        let Mat::Diagonals(d) = &diag else { panic!("expected diagonal storage, got {diag:?}") };
        assert_eq!(d.offsets, vec![0, w as isize]);
        let csr = Csr::from_triplets(n, n, entries);
        let x: Vec<f64> = (0..n).map(|i| 1.0 / (i as f64 + 3.0)).collect();
        let (mut a, mut b) = (vec![f64::NAN; n], vec![f64::NAN; n]);
        diag.mul_vec(&x, &mut a);
        csr.mul_vec(&x, &mut b);
        assert_eq!(a, b);
        // Scattered non-zeros: one per diagonal would waste the storage, so CSR.
        let scattered = vec![(0, 5, 1.0), (1, 9, 1.0), (2, 0, 1.0), (3, 14, 1.0)];
        assert!(matches!(Mat::from_triplets(n, scattered), Mat::Sparse(_)));
    }

    #[test]
    fn dot_sums_every_term_including_the_tail() {
        let a: Vec<f64> = (1..=7).map(f64::from).collect();
        assert_eq!(dot(&a, &a), 140.0);
        assert_eq!(dot(&[], &[]), 0.0);
    }
}
