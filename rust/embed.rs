//! Hashed text embeddings and a brute-force cosine exemplar index.
//!
//! The embedding needs no model download and is reproduced bit for bit by the pure-Python
//! fallback (`shoal/_pure/embed.py`), so every step is defined on exact operations:
//!
//! 1. ASCII letters are lower-cased; every other character is kept as it is (Unicode case
//!    tables differ between Rust and Python releases, so they are not used).
//! 2. Words are maximal runs of ASCII letters and digits and of non-ASCII characters that are not
//!    in a fixed list of Unicode spaces and punctuation.
//! 3. Features: each word (weight 1), each pair of adjacent words (weight 1) and each character
//!    3-, 4- and 5-gram of the word wrapped as `<word>` (weight 1/2).
//! 4. Each feature is hashed (FNV-1a 64 over a tag byte and its UTF-8 bytes, then the MurmurHash3
//!    finaliser); the hash modulo `dim` picks the bucket and its top bit the sign.
//! 5. Bucket sums (exact: dyadic weights) become `sign * sqrt(|sum|)` (sublinear term frequency),
//!    then the vector is L2-normalised with a correctly rounded sum, as Python's `math.fsum`.
//!
//! The exemplar index scores cosine similarity on int8 exemplar codes and an int16 query with
//! exact integer dot products, so the result does not depend on the order of additions either.

use std::cmp::Ordering;
use std::fmt;

/// Largest embedding dimension accepted; beyond it a vector per text stops being cheap.
pub const MAX_DIM: usize = 1 << 20;

const FNV_OFFSET: u64 = 0xCBF2_9CE4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01B3;

const TAG_WORD: u8 = b'w';
const TAG_BIGRAM: u8 = b'b';
const TAG_CHARGRAM: u8 = b'c';

const WORD_WEIGHT: f64 = 1.0;
const BIGRAM_WEIGHT: f64 = 1.0;
const CHARGRAM_WEIGHT: f64 = 0.5;
const CHARGRAM_SIZES: [usize; 3] = [3, 4, 5];

/// Non-ASCII code point ranges (inclusive) that separate words: Unicode spaces and common
/// punctuation. Everything else outside ASCII counts as part of a word.
const SEPARATORS: [(u32, u32); 17] = [
    (0x0085, 0x0085),
    (0x00A0, 0x00A1),
    (0x00AB, 0x00AB),
    (0x00B7, 0x00B7),
    (0x00BB, 0x00BB),
    (0x00BF, 0x00BF),
    (0x1680, 0x1680),
    (0x2000, 0x206F),
    (0x3000, 0x3003),
    (0x3008, 0x3011),
    (0xFE10, 0xFE19),
    (0xFE30, 0xFE4F),
    (0xFEFF, 0xFEFF),
    (0xFF01, 0xFF0F),
    (0xFF1A, 0xFF20),
    (0xFF3B, 0xFF40),
    (0xFF5B, 0xFF65),
];

/// What can go wrong when embedding or searching.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbedError {
    /// `dim` is 0 or above [`MAX_DIM`].
    BadDim(usize),
    /// The flat vector buffer is not a whole number of rows of `dim` values.
    RaggedVectors { len: usize, dim: usize },
    /// A vector has a NaN or infinite value (row index, or `None` for the query).
    NotFinite { row: Option<usize> },
    /// The query does not have `dim` values.
    QueryLength { len: usize, dim: usize },
    /// The centre subtracted from embeddings does not have `dim` values.
    CentreLength { len: usize, dim: usize },
    /// The centre subtracted from embeddings has a NaN or infinite value.
    CentreNotFinite,
}

impl fmt::Display for EmbedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadDim(dim) => write!(f, "dim must be between 1 and {MAX_DIM}, got {dim}"),
            Self::RaggedVectors { len, dim } => {
                write!(
                    f,
                    "vectors hold {len} values, which is not a multiple of dim={dim}"
                )
            }
            Self::NotFinite { row: Some(row) } => {
                write!(f, "vectors row {row} has a NaN or infinite value")
            }
            Self::NotFinite { row: None } => write!(f, "query has a NaN or infinite value"),
            Self::QueryLength { len, dim } => {
                write!(f, "query has {len} values but the index has dim={dim}")
            }
            Self::CentreLength { len, dim } => {
                write!(f, "centre has {len} values, expected dim={dim}")
            }
            Self::CentreNotFinite => write!(f, "centre has a NaN or infinite value"),
        }
    }
}

impl std::error::Error for EmbedError {}

fn check_dim(dim: usize) -> Result<(), EmbedError> {
    if dim == 0 || dim > MAX_DIM {
        return Err(EmbedError::BadDim(dim));
    }
    Ok(())
}

/// A running correctly rounded sum (Shewchuk's algorithm as in CPython's `math.fsum`): the
/// exact sum kept as non-overlapping partials, rounded once when read.
///
/// Inputs must be finite and their partial sums must not overflow; callers guarantee it by
/// working on normalised vectors.
#[derive(Debug, Clone, Default)]
pub struct ExactSum {
    partials: Vec<f64>,
}

impl ExactSum {
    /// Adds `value` exactly.
    pub fn add(&mut self, value: f64) {
        let partials = &mut self.partials;
        let mut x = value;
        let mut kept = 0;
        for index in 0..partials.len() {
            let mut y = partials[index];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        partials.truncate(kept);
        if x != 0.0 {
            partials.push(x);
        }
    }

    /// Adds everything `other` holds, exactly.
    pub fn merge(&mut self, other: &ExactSum) {
        for &partial in &other.partials {
            self.add(partial);
        }
    }

    /// The sum of everything added, correctly rounded.
    pub fn value(&self) -> f64 {
        round_partials(&self.partials)
    }
}

/// Correctly rounded sum of `values` (see [`ExactSum`]).
pub fn exact_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut sum = ExactSum::default();
    for value in values {
        sum.add(value);
    }
    sum.value()
}

/// Sums the non-overlapping partials from the largest down, with CPython's half-even fix-up.
fn round_partials(partials: &[f64]) -> f64 {
    let mut n = partials.len();
    if n == 0 {
        return 0.0;
    }
    n -= 1;
    let mut hi = partials[n];
    let mut lo = 0.0;
    while n > 0 {
        let x = hi;
        n -= 1;
        let y = partials[n];
        hi = x + y;
        let y_rounded = hi - x;
        lo = y - y_rounded;
        if lo != 0.0 {
            break;
        }
    }
    if n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        let y_rounded = x - hi;
        if y == y_rounded {
            hi = x;
        }
    }
    hi
}

/// Scales `vector` to unit L2 norm in place; an all-zero vector stays zero.
///
/// Dividing by the largest magnitude first keeps the squares from overflowing.
pub fn l2_normalise(vector: &mut [f64]) {
    let largest = vector.iter().fold(0.0_f64, |acc, x| acc.max(x.abs()));
    if largest == 0.0 {
        return;
    }
    for x in vector.iter_mut() {
        *x /= largest;
    }
    let norm = exact_sum(vector.iter().map(|x| x * x)).sqrt();
    for x in vector.iter_mut() {
        *x /= norm;
    }
}

fn fnv1a(tag: u8, parts: &[&[u8]]) -> u64 {
    let mut hash = FNV_OFFSET;
    hash = (hash ^ u64::from(tag)).wrapping_mul(FNV_PRIME);
    for part in parts {
        for &byte in *part {
            hash = (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
        }
    }
    finalise(hash)
}

/// MurmurHash3's 64-bit finaliser: spreads FNV's weak high bits, which carry the sign.
fn finalise(mut hash: u64) -> u64 {
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    hash ^ (hash >> 33)
}

fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    let code = u32::from(c);
    !SEPARATORS
        .iter()
        .any(|&(low, high)| low <= code && code <= high)
}

fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if is_word_char(c) {
            current.push(c.to_ascii_lowercase());
        } else if !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn add_feature(vector: &mut [f64], hash: u64, weight: f64) {
    let bucket = (hash % vector.len() as u64) as usize;
    if hash >> 63 == 1 {
        vector[bucket] -= weight;
    } else {
        vector[bucket] += weight;
    }
}

/// Embeds one text into a unit vector of `dim` values (all zero when the text has no words).
pub fn embed_one(text: &str, dim: usize) -> Result<Vec<f64>, EmbedError> {
    check_dim(dim)?;
    let mut vector = vec![0.0; dim];
    let words = split_words(text);

    for word in &words {
        add_feature(
            &mut vector,
            fnv1a(TAG_WORD, &[word.as_bytes()]),
            WORD_WEIGHT,
        );
    }
    for pair in words.windows(2) {
        let hash = fnv1a(TAG_BIGRAM, &[pair[0].as_bytes(), b" ", pair[1].as_bytes()]);
        add_feature(&mut vector, hash, BIGRAM_WEIGHT);
    }
    for word in &words {
        add_chargrams(&mut vector, word);
    }

    for x in vector.iter_mut() {
        *x = x.abs().sqrt().copysign(*x);
    }
    l2_normalise(&mut vector);
    Ok(vector)
}

fn add_chargrams(vector: &mut [f64], word: &str) {
    let mut wrapped: Vec<char> = Vec::with_capacity(word.len() + 2);
    wrapped.push('<');
    wrapped.extend(word.chars());
    wrapped.push('>');

    let mut buffer = String::new();
    for size in CHARGRAM_SIZES {
        if wrapped.len() < size {
            continue;
        }
        for gram in wrapped.windows(size) {
            buffer.clear();
            buffer.extend(gram.iter());
            add_feature(
                vector,
                fnv1a(TAG_CHARGRAM, &[buffer.as_bytes()]),
                CHARGRAM_WEIGHT,
            );
        }
    }
}

/// Embeds each text; see the module documentation for the exact definition.
pub fn embed(texts: &[String], dim: usize) -> Result<Vec<Vec<f64>>, EmbedError> {
    check_dim(dim)?;
    texts.iter().map(|text| embed_one(text, dim)).collect()
}

/// Per dimension, the correctly rounded sum of the texts' embeddings (as `math.fsum` over each
/// column), without holding more than one embedding per thread at a time.
///
/// The sums are exact until they are read, so neither the order of the texts nor how they are
/// split between threads changes a bit of the result.
pub fn embedding_sums(texts: &[String], dim: usize) -> Result<Vec<f64>, EmbedError> {
    embedding_sums_on(texts, dim, embedding_workers(texts.len()))
}

fn embedding_sums_on(texts: &[String], dim: usize, workers: usize) -> Result<Vec<f64>, EmbedError> {
    check_dim(dim)?;
    let part_sums = |part: &[String]| -> Result<Vec<ExactSum>, EmbedError> {
        let mut sums = vec![ExactSum::default(); dim];
        for text in part {
            for (sum, x) in sums.iter_mut().zip(embed_one(text, dim)?) {
                sum.add(x);
            }
        }
        Ok(sums)
    };
    let mut sums = vec![ExactSum::default(); dim];
    for part in in_parts(texts, workers, part_sums) {
        for (sum, other) in sums.iter_mut().zip(part?) {
            sum.merge(&other);
        }
    }
    Ok(sums.iter().map(ExactSum::value).collect())
}

/// Each text's embedding minus `centre`, as int8 codes row after row: a row is scaled so its
/// largest magnitude becomes 127 and rounded half to even (all zero when it equals `centre`),
/// as [`ExemplarIndex::new`] codes its rows.
pub fn embed_int8(texts: &[String], dim: usize, centre: &[f64]) -> Result<Vec<i8>, EmbedError> {
    embed_int8_on(texts, dim, centre, embedding_workers(texts.len()))
}

fn embed_int8_on(
    texts: &[String],
    dim: usize,
    centre: &[f64],
    workers: usize,
) -> Result<Vec<i8>, EmbedError> {
    check_dim(dim)?;
    if centre.len() != dim {
        return Err(EmbedError::CentreLength {
            len: centre.len(),
            dim,
        });
    }
    if centre.iter().any(|x| !x.is_finite()) {
        return Err(EmbedError::CentreNotFinite);
    }
    let part_codes = |part: &[String]| -> Result<Vec<i8>, EmbedError> {
        let mut codes = Vec::with_capacity(part.len() * dim);
        for text in part {
            let mut vector = embed_one(text, dim)?;
            for (x, c) in vector.iter_mut().zip(centre) {
                *x -= c;
            }
            codes.extend(quantise(&vector, ROW_CODE_MAX).into_iter().map(|c| c as i8));
        }
        Ok(codes)
    };
    let mut codes = Vec::with_capacity(texts.len().saturating_mul(dim));
    for part in in_parts(texts, workers, part_codes) {
        codes.extend(part?);
    }
    Ok(codes)
}

/// Fewest texts one embedding thread is given (tens of milliseconds of work), so that each
/// thread's share outweighs its start-up.
const TEXTS_PER_WORKER: usize = 1024;

/// Threads that embed `texts` texts: one per [`TEXTS_PER_WORKER`] up to the cores (at most
/// [`MAX_WORKERS`]).
fn embedding_workers(texts: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(MAX_WORKERS).min(texts / TEXTS_PER_WORKER).max(1)
}

/// `work` on `workers` contiguous parts of `texts`, one thread each (on this thread when there
/// is one part), and the parts' results in order.
fn in_parts<T: Send>(
    texts: &[String],
    workers: usize,
    work: impl Fn(&[String]) -> T + Sync,
) -> Vec<T> {
    if workers <= 1 || texts.len() < 2 {
        return vec![work(texts)];
    }
    let per_worker = texts.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = texts
            .chunks(per_worker)
            .map(|part| scope.spawn(move || work(part)))
            .collect();
        handles
            .into_iter()
            .map(|handle| match handle.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Largest code of an exemplar component: rows are stored as int8, scaled by their largest
/// magnitude.
const ROW_CODE_MAX: f64 = 127.0;
/// Largest code of a query component: the query is scaled by its largest magnitude to int16.
const QUERY_CODE_MAX: f64 = 32_767.0;
/// Components per block of the dot product, summed in `i32`.
///
/// A product is at most `127 * 32767 < 2^22`, so a block of 256 (16 per lane) stays below
/// `2^26`; blocks are then summed in `i64`. Integer sums are exact and order-free, so Rust and
/// Python agree bit for bit.
const DOT_BLOCK: usize = 256;
/// Independent `i32` accumulators per block. Fixed-size lanes over fixed-size blocks let the
/// compiler keep every lane in a vector register and turn the loop into packed multiply-adds
/// (`pmaddwd` on the SSE2 baseline): about 15 times faster than one running sum per block.
const DOT_LANES: usize = 16;

/// Rounds `vector` to integer codes, the largest magnitude becoming `code_max` (ties to even).
///
/// An all-zero vector gives all-zero codes.
fn quantise(vector: &[f64], code_max: f64) -> Vec<f64> {
    let largest = vector.iter().fold(0.0_f64, |acc, x| acc.max(x.abs()));
    if largest == 0.0 {
        return vec![0.0; vector.len()];
    }
    vector
        .iter()
        .map(|x| (x / largest * code_max).round_ties_even())
        .collect()
}

fn sum_of_squares<T: Copy + Into<i64>>(codes: &[T]) -> i64 {
    codes.iter().map(|&c| c.into() * c.into()).sum()
}

fn dot(row: &[i8], query: &[i16]) -> i64 {
    let mut total: i64 = row
        .chunks_exact(DOT_BLOCK)
        .zip(query.chunks_exact(DOT_BLOCK))
        .map(|(a, b)| i64::from(block_dot(a, b)))
        .sum();
    let done = row.len() - row.len() % DOT_BLOCK;
    for (&x, &y) in row[done..].iter().zip(&query[done..]) {
        total += i64::from(x) * i64::from(y);
    }
    total
}

/// Dot product of one full block, `DOT_LANES` running sums at a time.
#[inline(always)]
fn block_dot(row: &[i8], query: &[i16]) -> i32 {
    let mut lanes = [0_i32; DOT_LANES];
    for (a, b) in row
        .chunks_exact(DOT_LANES)
        .zip(query.chunks_exact(DOT_LANES))
    {
        for lane in 0..DOT_LANES {
            lanes[lane] += i32::from(a[lane]) * i32::from(b[lane]);
        }
    }
    lanes.iter().sum()
}

/// Indexes with at least this many codes are scored on several threads (about 0.5 ms of work
/// on one core); below it, starting threads costs more than it saves.
const PARALLEL_MIN_CODES: usize = 1 << 23;
/// Fewest codes one thread is given, so that each thread's share outweighs its start-up.
const CODES_PER_WORKER: usize = 1 << 22;
/// Most threads one search uses.
const MAX_WORKERS: usize = 4;

/// Exemplar vectors searched by brute-force cosine similarity.
///
/// Rows are held as int8 codes (each scaled so its largest magnitude is 127) and the query as
/// int16 codes (largest magnitude 32767). A score is the exact integer dot product divided by
/// the product of the square roots of the exact integer squared norms, so it is the cosine of
/// the quantised vectors, computed the same way by the pure-Python twin.
#[derive(Debug, Clone)]
pub struct ExemplarIndex {
    dim: usize,
    codes: Vec<i8>,
    norms: Vec<f64>,
}

impl ExemplarIndex {
    /// Builds an index from `rows * dim` values laid out row after row (quantised to int8).
    pub fn new(vectors: Vec<f64>, dim: usize) -> Result<Self, EmbedError> {
        check_dim(dim)?;
        if vectors.len() % dim != 0 {
            return Err(EmbedError::RaggedVectors {
                len: vectors.len(),
                dim,
            });
        }
        let mut codes = Vec::with_capacity(vectors.len());
        for (row, chunk) in vectors.chunks(dim).enumerate() {
            if chunk.iter().any(|x| !x.is_finite()) {
                return Err(EmbedError::NotFinite { row: Some(row) });
            }
            codes.extend(quantise(chunk, ROW_CODE_MAX).into_iter().map(|c| c as i8));
        }
        Self::from_codes(codes, dim)
    }

    /// Builds an index from int8 codes laid out row after row, used as they are.
    pub fn from_codes(codes: Vec<i8>, dim: usize) -> Result<Self, EmbedError> {
        check_dim(dim)?;
        if codes.len() % dim != 0 {
            return Err(EmbedError::RaggedVectors {
                len: codes.len(),
                dim,
            });
        }
        let norms = codes
            .chunks(dim)
            .map(|row| (sum_of_squares(row) as f64).sqrt())
            .collect();
        Ok(Self { dim, codes, norms })
    }

    /// Number of values per vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of exemplars.
    pub fn len(&self) -> usize {
        self.norms.len()
    }

    /// True when the index holds no exemplar.
    pub fn is_empty(&self) -> bool {
        self.norms.is_empty()
    }

    /// Cosine similarity of `query` with every exemplar, in exemplar order; 0 for a zero vector.
    pub fn scores(&self, query: &[f64]) -> Result<Vec<f64>, EmbedError> {
        let (coded, query_norm) = self.code_query(query)?;
        let mut scores = vec![0.0; self.len()];
        let workers = self.workers();
        if workers == 1 {
            self.score_rows(0, &coded, query_norm, &mut scores);
            return Ok(scores);
        }
        // Each score depends on its own row only, so splitting the rows changes no bit.
        let rows_per_worker = self.len().div_ceil(workers);
        std::thread::scope(|scope| {
            for (part, out) in scores.chunks_mut(rows_per_worker).enumerate() {
                let coded = &coded;
                scope.spawn(move || {
                    self.score_rows(part * rows_per_worker, coded, query_norm, out);
                });
            }
        });
        Ok(scores)
    }

    /// The query as int16 codes and the square root of their exact squared norm.
    fn code_query(&self, query: &[f64]) -> Result<(Vec<i16>, f64), EmbedError> {
        if query.len() != self.dim {
            return Err(EmbedError::QueryLength {
                len: query.len(),
                dim: self.dim,
            });
        }
        if query.iter().any(|x| !x.is_finite()) {
            return Err(EmbedError::NotFinite { row: None });
        }
        let coded: Vec<i16> = quantise(query, QUERY_CODE_MAX)
            .into_iter()
            .map(|c| c as i16)
            .collect();
        let query_norm = (sum_of_squares(&coded) as f64).sqrt();
        Ok((coded, query_norm))
    }

    /// Threads one search uses: one below [`PARALLEL_MIN_CODES`], else one per
    /// [`CODES_PER_WORKER`] codes up to the cores (at most [`MAX_WORKERS`]).
    fn workers(&self) -> usize {
        if self.codes.len() < PARALLEL_MIN_CODES {
            return 1;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        cores
            .min(MAX_WORKERS)
            .min(self.codes.len() / CODES_PER_WORKER)
            .max(1)
    }

    fn score_row(&self, index: usize, coded: &[i16], query_norm: f64) -> f64 {
        let denominator = self.norms[index] * query_norm;
        if denominator == 0.0 {
            return 0.0;
        }
        let row = &self.codes[index * self.dim..(index + 1) * self.dim];
        dot(row, coded) as f64 / denominator
    }

    fn score_rows(&self, first: usize, coded: &[i16], query_norm: f64, out: &mut [f64]) {
        for (offset, score) in out.iter_mut().enumerate() {
            *score = self.score_row(first + offset, coded, query_norm);
        }
    }

    /// The `k` most similar exemplars as `(index, cosine)`, best first; equal scores are
    /// ordered by lower index so the answer never depends on sorting internals.
    pub fn top_k(&self, query: &[f64], k: usize) -> Result<Vec<(usize, f64)>, EmbedError> {
        let (coded, query_norm) = self.code_query(query)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let workers = self.workers();
        let mut best = if workers == 1 {
            self.best_rows(0, self.len(), &coded, query_norm, k)
        } else {
            let rows_per_worker = self.len().div_ceil(workers);
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..workers)
                    .map(|part| {
                        let first = (part * rows_per_worker).min(self.len());
                        let last = (first + rows_per_worker).min(self.len());
                        let coded = &coded;
                        scope.spawn(move || self.best_rows(first, last, coded, query_norm, k))
                    })
                    .collect();
                let mut merged = Vec::new();
                for handle in handles {
                    match handle.join() {
                        Ok(part) => merged.extend(part),
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                }
                merged
            })
        };
        keep_best(&mut best, k);
        best.sort_by(rank_order);
        Ok(best)
    }

    /// The `k` best of rows `first..last` (unsorted). Rows come in index order, so once `k`
    /// are kept a row must score strictly above the worst kept one to displace it: an equal
    /// score has a higher index and ranks below. The result is exact, not approximate.
    fn best_rows(
        &self,
        first: usize,
        last: usize,
        coded: &[i16],
        query_norm: f64,
        k: usize,
    ) -> Vec<(usize, f64)> {
        let batch = k.saturating_mul(2);
        let mut kept = Vec::with_capacity(batch.min(last - first));
        let mut threshold = None;
        for index in first..last {
            let score = self.score_row(index, coded, query_norm);
            if threshold.is_some_and(|worst| score <= worst) {
                continue;
            }
            kept.push((index, score));
            if kept.len() >= batch {
                keep_best(&mut kept, k);
                threshold = kept.last().map(|&(_, worst)| worst);
            }
        }
        keep_best(&mut kept, k);
        kept
    }
}

/// Best first: higher score, then lower index. Scores are finite, so the order is total.
fn rank_order(a: &(usize, f64), b: &(usize, f64)) -> Ordering {
    b.1.partial_cmp(&a.1)
        .unwrap_or(Ordering::Equal)
        .then(a.0.cmp(&b.0))
}

/// Keeps the `k` best of `ranked` (in any order) with the worst of them last.
fn keep_best(ranked: &mut Vec<(usize, f64)>, k: usize) {
    if k < ranked.len() {
        ranked.select_nth_unstable_by(k - 1, rank_order);
        ranked.truncate(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(vector: &[f64]) -> f64 {
        exact_sum(vector.iter().map(|x| x * x)).sqrt()
    }

    #[test]
    fn exact_sum_is_correctly_rounded() {
        assert_eq!(exact_sum([1e100, 1.0, -1e100, 1e-100]), 1.0);
        assert_eq!(exact_sum([0.1; 10]), 1.0);
        assert_eq!(exact_sum(Vec::<f64>::new()), 0.0);
        // Half-even fix-up across partials (a CPython math.fsum test case).
        assert_eq!(
            exact_sum([1.0, 2f64.powi(-53), 2f64.powi(-106)]),
            1.0 + f64::EPSILON
        );
    }

    #[test]
    fn embedding_is_unit_and_deterministic() {
        let first = embed_one("Write a Python function that reverses a list.", 256).unwrap();
        let second = embed_one("Write a Python function that reverses a list.", 256).unwrap();
        assert_eq!(first, second);
        assert!((norm(&first) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn case_and_punctuation_do_not_matter() {
        let plain = embed_one("hello world", 128).unwrap();
        let shouted = embed_one("HELLO, World!!", 128).unwrap();
        assert_eq!(plain, shouted);
    }

    #[test]
    fn text_without_words_embeds_to_zero() {
        assert_eq!(embed_one("", 16).unwrap(), vec![0.0; 16]);
        assert_eq!(
            embed_one(" ,.;\u{3000}\u{2014} ", 16).unwrap(),
            vec![0.0; 16]
        );
    }

    #[test]
    fn non_ascii_words_are_kept() {
        assert_eq!(
            split_words("naïve café\u{00A0}東京、大阪"),
            ["naïve", "café", "東京", "大阪"]
        );
        assert_eq!(split_words("ÄBC Abc"), ["Äbc", "abc"]);
    }

    #[test]
    fn bad_dim_is_rejected() {
        assert_eq!(embed_one("x", 0), Err(EmbedError::BadDim(0)));
        assert!(embed(&["x".to_string()], MAX_DIM + 1).is_err());
    }

    fn sample_texts() -> Vec<String> {
        [
            "Solve the equation 3x + 5 = 20 for x.",
            "Translate this sentence into French: the cat sleeps.",
            "naïve café crème brûlée",
            "",
            "Write a SQL query that counts orders per customer.",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn embedding_sums_are_the_exact_column_sums_in_any_order() {
        let mut texts = sample_texts();
        let vectors = embed(&texts, 64).unwrap();
        let columns: Vec<f64> = (0..64)
            .map(|d| exact_sum(vectors.iter().map(|v| v[d])))
            .collect();
        assert_eq!(embedding_sums(&texts, 64).unwrap(), columns);
        texts.reverse();
        assert_eq!(embedding_sums(&texts, 64).unwrap(), columns);
        assert_eq!(embedding_sums(&[], 3).unwrap(), vec![0.0; 3]);
        assert_eq!(embedding_sums(&texts, 0), Err(EmbedError::BadDim(0)));
    }

    #[test]
    fn int8_codes_are_the_centred_embeddings_quantised() {
        let texts = sample_texts();
        let centre: Vec<f64> = (0..32).map(|d| f64::from(d) / 1000.0 - 0.01).collect();
        let codes = embed_int8(&texts, 32, &centre).unwrap();
        let mut expected = Vec::new();
        for vector in embed(&texts, 32).unwrap() {
            let centred: Vec<f64> = vector.iter().zip(&centre).map(|(x, c)| x - c).collect();
            expected.extend(
                quantise(&centred, ROW_CODE_MAX)
                    .into_iter()
                    .map(|c| c as i8),
            );
        }
        assert_eq!(codes, expected);
        assert_eq!(codes.iter().map(|c| c.unsigned_abs()).max(), Some(127));
        // A text without words is the zero vector: its row is minus the centre, scaled.
        let empty = &codes[3 * 32..4 * 32];
        assert_eq!((empty[0], empty[10], empty[31]), (60, 0, -127));
        assert_eq!(
            embed_int8(&[String::new()], 2, &[0.0, 0.0]).unwrap(),
            vec![0, 0]
        );
    }

    #[test]
    fn threaded_sums_and_codes_equal_single_threaded_ones() {
        let texts: Vec<String> = (0..50)
            .map(|i| format!("prompt {i} asks for {} things", i * 7919 % 101))
            .collect();
        let sums = embedding_sums_on(&texts, 48, 1).unwrap();
        let centre: Vec<f64> = sums.iter().map(|total| total / 50.0).collect();
        let codes = embed_int8_on(&texts, 48, &centre, 1).unwrap();
        for workers in [2, 3, 7, 50, 80] {
            assert_eq!(embedding_sums_on(&texts, 48, workers).unwrap(), sums);
            assert_eq!(embed_int8_on(&texts, 48, &centre, workers).unwrap(), codes);
        }
    }

    #[test]
    fn int8_codes_check_the_centre() {
        let texts = sample_texts();
        assert_eq!(
            embed_int8(&texts, 4, &[0.0; 3]),
            Err(EmbedError::CentreLength { len: 3, dim: 4 })
        );
        assert_eq!(
            embed_int8(&texts, 2, &[0.0, f64::NAN]),
            Err(EmbedError::CentreNotFinite)
        );
        assert_eq!(embed_int8(&texts, 0, &[]), Err(EmbedError::BadDim(0)));
    }

    #[test]
    fn similar_texts_score_higher() {
        let texts: Vec<String> = [
            "Solve the equation 3x + 5 = 20 for x.",
            "Translate this sentence into French: the cat sleeps.",
            "Solve for x: 7x - 2 = 12.",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        let vectors = embed(&texts, 512).unwrap();
        let index = ExemplarIndex::new(vectors[..2].concat(), 512).unwrap();
        let ranked = index.top_k(&vectors[2], 2).unwrap();
        assert_eq!(ranked[0].0, 0);
        assert!(ranked[0].1 > ranked[1].1);
    }

    #[test]
    fn ties_go_to_the_lower_index() {
        let index = ExemplarIndex::new(vec![1.0, 0.0, 0.0, 1.0, 2.0, 0.0], 2).unwrap();
        let ranked = index.top_k(&[1.0, 0.0], 3).unwrap();
        assert_eq!(ranked, vec![(0, 1.0), (2, 1.0), (1, 0.0)]);
        assert_eq!(index.top_k(&[1.0, 0.0], 0).unwrap(), vec![]);
        assert_eq!(index.top_k(&[1.0, 0.0], 10).unwrap().len(), 3);
    }

    #[test]
    fn index_validates_its_input() {
        assert_eq!(
            ExemplarIndex::new(vec![1.0, 2.0, 3.0], 2).unwrap_err(),
            EmbedError::RaggedVectors { len: 3, dim: 2 }
        );
        assert_eq!(
            ExemplarIndex::new(vec![1.0, f64::NAN], 2).unwrap_err(),
            EmbedError::NotFinite { row: Some(0) }
        );
        let index = ExemplarIndex::new(vec![1.0, 0.0], 2).unwrap();
        assert_eq!(
            index.top_k(&[1.0], 1).unwrap_err(),
            EmbedError::QueryLength { len: 1, dim: 2 }
        );
        assert_eq!(
            index.top_k(&[f64::INFINITY, 0.0], 1).unwrap_err(),
            EmbedError::NotFinite { row: None }
        );
    }

    #[test]
    fn scores_are_the_cosine_of_the_codes() {
        let index = ExemplarIndex::from_codes(vec![3, -4, 0, 127, 0, 0], 3).unwrap();
        let scores = index.scores(&[0.6, -0.8, 0.0]).unwrap();
        // Query codes: [24575, -32767, 0] (24575.25 rounds down); cosine of the codes.
        let query_norm = ((24575_i64 * 24575 + 32767 * 32767) as f64).sqrt();
        let expected = (3 * 24575 + 4 * 32767) as f64 / (5.0 * query_norm);
        assert_eq!(scores[0], expected);
        assert_eq!(scores[1], 24575.0 * 127.0 / (127.0 * query_norm));
    }

    #[test]
    fn long_rows_sum_in_blocks_without_overflow() {
        let dim = 4096;
        let index = ExemplarIndex::from_codes(vec![-127; dim], dim).unwrap();
        let scores = index.scores(&vec![-1.0; dim]).unwrap();
        assert_eq!(scores, vec![1.0]);
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn lane_dot_equals_a_plain_sum_for_every_length() {
        for dim in [1, 15, 16, 17, 255, 256, 257, 512, 700, 4096] {
            let row: Vec<i8> = (0..dim)
                .map(|i| if i % 3 == 0 { -127 } else { (i % 251) as i8 })
                .collect();
            let query: Vec<i16> = (0..dim)
                .map(|i| {
                    if i % 2 == 0 {
                        -32767
                    } else {
                        (i * 97 % 32767) as i16
                    }
                })
                .collect();
            let plain: i64 = row
                .iter()
                .zip(&query)
                .map(|(&x, &y)| i64::from(x) * i64::from(y))
                .sum();
            assert_eq!(dot(&row, &query), plain, "dim {dim}");
        }
    }

    #[test]
    fn top_k_selection_matches_a_full_sort() {
        let dim = 8;
        let values: Vec<f64> = (0..400).map(|i| f64::from(i * 37 % 23 - 11)).collect();
        let index = ExemplarIndex::new(values, dim).unwrap();
        let query = [1.0, -2.0, 0.5, 3.0, 0.0, -1.0, 2.0, 1.0];
        let full = index.top_k(&query, index.len()).unwrap();
        for k in [1, 5, 17, 49] {
            assert_eq!(index.top_k(&query, k).unwrap(), full[..k]);
        }
    }

    #[test]
    fn threaded_scores_equal_single_threaded_ones() {
        let dim = 64;
        let rows = PARALLEL_MIN_CODES / dim + 7;
        let codes: Vec<i8> = (0..rows * dim)
            .map(|i| {
                i8::try_from((i * 7919) % 255)
                    .unwrap_or(0)
                    .wrapping_sub(100)
            })
            .collect();
        let index = ExemplarIndex::from_codes(codes, dim).unwrap();
        let query: Vec<f64> = (0..dim).map(|i| (i as f64).sin()).collect();
        let threaded = index.scores(&query).unwrap();
        let coded: Vec<i16> = quantise(&query, QUERY_CODE_MAX)
            .into_iter()
            .map(|c| c as i16)
            .collect();
        let mut single = vec![0.0; index.len()];
        index.score_rows(
            0,
            &coded,
            (sum_of_squares(&coded) as f64).sqrt(),
            &mut single,
        );
        assert_eq!(threaded, single);
    }

    #[test]
    fn bounded_and_threaded_top_k_equals_a_full_sort_with_ties() {
        // Rows repeat every 97, so equal scores abound; the index is large enough for threads.
        let dim = 64;
        let rows = PARALLEL_MIN_CODES / dim + 13;
        let codes: Vec<i8> = (0..rows * dim)
            .map(|i| {
                let (row, column) = (i / dim % 97, i % dim);
                i8::try_from((row * 31 + column * 7) % 255)
                    .unwrap_or(0)
                    .wrapping_sub(100)
            })
            .collect();
        let index = ExemplarIndex::from_codes(codes, dim).unwrap();
        let query: Vec<f64> = (0..dim).map(|i| (i as f64 * 0.37).cos()).collect();
        let mut full: Vec<(usize, f64)> = index
            .scores(&query)
            .unwrap()
            .into_iter()
            .enumerate()
            .collect();
        full.sort_by(rank_order);
        for k in [1, 2, 40, 97, 1000] {
            assert_eq!(index.top_k(&query, k).unwrap(), full[..k], "k {k}");
        }
        assert!(index.workers() > 1 || std::thread::available_parallelism().unwrap().get() == 1);
    }

    #[test]
    fn zero_vectors_score_zero() {
        let index = ExemplarIndex::new(vec![0.0, 0.0, 3.0, 4.0], 2).unwrap();
        assert_eq!(index.scores(&[0.0, 0.0]).unwrap(), vec![0.0, 0.0]);
        let scores = index.scores(&[3.0, 4.0]).unwrap();
        assert_eq!(scores[0], 0.0);
        assert!((scores[1] - 1.0).abs() < 1e-6);
    }
}
