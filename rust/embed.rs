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
//! The exemplar index scores cosine similarity on 24-bit fixed-point unit vectors with exact
//! integer dot products, so the result does not depend on the order of additions either.

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

/// Correctly rounded sum of `values` (Shewchuk's algorithm as in CPython's `math.fsum`).
///
/// Inputs must be finite and their partial sums must not overflow; callers guarantee it by
/// working on normalised vectors.
pub fn exact_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut partials: Vec<f64> = Vec::new();
    for value in values {
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
    round_partials(&partials)
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

/// Fixed-point scale of unit vectors in the index: 24 fractional bits.
///
/// Integer dot products are exact and order-free, so Rust and Python agree without a
/// correctly rounded float sum, and run at integer speed. By Cauchy-Schwarz the sum of
/// `|a_i * b_i|` stays below `(2^24 + 2^10)^2 < 2^49`, so `i64` never overflows and the total
/// converts to `f64` exactly.
const FIXED_POINT_SCALE: f64 = 16_777_216.0;
const DOT_SCALE: f64 = FIXED_POINT_SCALE * FIXED_POINT_SCALE;

/// L2-normalises `vector` and rounds it to 24-bit fixed point (ties to even).
fn to_fixed_point(vector: &mut [f64]) -> Vec<i32> {
    l2_normalise(vector);
    vector
        .iter()
        .map(|x| (x * FIXED_POINT_SCALE).round_ties_even() as i32)
        .collect()
}

/// Unit-normalised exemplar vectors searched by brute-force cosine similarity.
///
/// Rows and queries are L2-normalised and stored in 24-bit fixed point; a score is the exact
/// integer dot product divided by 2^48, within about 1e-6 of the float cosine.
#[derive(Debug, Clone)]
pub struct ExemplarIndex {
    dim: usize,
    vectors: Vec<i32>,
}

impl ExemplarIndex {
    /// Builds an index from `rows * dim` values laid out row after row.
    pub fn new(mut vectors: Vec<f64>, dim: usize) -> Result<Self, EmbedError> {
        check_dim(dim)?;
        if vectors.len() % dim != 0 {
            return Err(EmbedError::RaggedVectors {
                len: vectors.len(),
                dim,
            });
        }
        let mut fixed = Vec::with_capacity(vectors.len());
        for (row, chunk) in vectors.chunks_mut(dim).enumerate() {
            if chunk.iter().any(|x| !x.is_finite()) {
                return Err(EmbedError::NotFinite { row: Some(row) });
            }
            fixed.extend(to_fixed_point(chunk));
        }
        Ok(Self {
            dim,
            vectors: fixed,
        })
    }

    /// Number of values per vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of exemplars.
    pub fn len(&self) -> usize {
        self.vectors.len() / self.dim
    }

    /// True when the index holds no exemplar.
    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// Cosine similarity of `query` with every exemplar, in exemplar order.
    pub fn scores(&self, query: &[f64]) -> Result<Vec<f64>, EmbedError> {
        if query.len() != self.dim {
            return Err(EmbedError::QueryLength {
                len: query.len(),
                dim: self.dim,
            });
        }
        if query.iter().any(|x| !x.is_finite()) {
            return Err(EmbedError::NotFinite { row: None });
        }
        let unit = to_fixed_point(&mut query.to_vec());
        let scores = self
            .vectors
            .chunks(self.dim)
            .map(|row| {
                let dot: i64 = row
                    .iter()
                    .zip(&unit)
                    .map(|(&a, &b)| i64::from(a) * i64::from(b))
                    .sum();
                dot as f64 / DOT_SCALE
            })
            .collect();
        Ok(scores)
    }

    /// The `k` most similar exemplars as `(index, cosine)`, best first; equal scores are
    /// ordered by lower index so the answer never depends on sorting internals.
    pub fn top_k(&self, query: &[f64], k: usize) -> Result<Vec<(usize, f64)>, EmbedError> {
        let scores = self.scores(query)?;
        let mut ranked: Vec<(usize, f64)> = scores.into_iter().enumerate().collect();
        ranked.sort_by(|a, b| {
            b.1.partial_cmp(&a.1)
                .unwrap_or(Ordering::Equal)
                .then(a.0.cmp(&b.0))
        });
        ranked.truncate(k);
        Ok(ranked)
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
    fn zero_vectors_score_zero() {
        let index = ExemplarIndex::new(vec![0.0, 0.0, 3.0, 4.0], 2).unwrap();
        assert_eq!(index.scores(&[0.0, 0.0]).unwrap(), vec![0.0, 0.0]);
        let scores = index.scores(&[3.0, 4.0]).unwrap();
        assert_eq!(scores[0], 0.0);
        assert!((scores[1] - 1.0).abs() < 1e-6);
    }
}
