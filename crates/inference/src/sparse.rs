//! Matrices for the transition step `q' = B[:, :, a] · q`: compressed sparse rows when most
//! entries are zero (a grid moves each cell to at most two cells), dense rows otherwise.

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

/// A square matrix in whichever storage suits it.
#[derive(Debug, Clone, PartialEq)]
pub enum Mat {
    /// Row-major `n × n`.
    Dense {
        n: usize,
        data: Vec<f64>,
    },
    Sparse(Csr),
}

impl Mat {
    /// Chooses the storage from the density of `entries` (row, col, value) of an `n × n` matrix.
    pub fn from_triplets(n: usize, entries: Vec<(usize, usize, f64)>) -> Self {
        let nnz = entries.iter().filter(|e| e.2 != 0.0).count();
        if (nnz as f64) < SPARSE_DENSITY * (n as f64) * (n as f64) {
            Mat::Sparse(Csr::from_triplets(n, n, entries))
        } else {
            let mut data = vec![0.0; n * n];
            for (r, c, v) in entries {
                if r < n && c < n {
                    data[r * n + c] += v;
                }
            }
            Mat::Dense { n, data }
        }
    }

    /// `out = self · x`.
    #[inline]
    pub fn mul_vec(&self, x: &[f64], out: &mut [f64]) {
        match self {
            Mat::Dense { n, data } => {
                for (r, o) in out.iter_mut().enumerate().take(*n) {
                    let row = &data[r * n..(r + 1) * n];
                    *o = row.iter().zip(x).map(|(a, b)| a * b).sum();
                }
            }
            Mat::Sparse(csr) => csr.mul_vec(x, out),
        }
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            Mat::Dense { data, .. } => data.capacity() * 8,
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
}
