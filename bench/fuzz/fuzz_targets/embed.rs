//! Embedding and exemplar search: on any text and dimension, no panic, every value finite, each
//! vector of unit length or all zeros; an index over the vectors scores within [-1, 1] and its
//! top-k is sorted, ties to the lower index.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_core::embed::{embed, embed_one, ExemplarIndex};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let dim = usize::from(first) % 96 + 1;
    let text = String::from_utf8_lossy(rest).into_owned();
    let texts: Vec<String> = text.split('\u{1}').map(str::to_owned).collect();

    let vectors = embed(&texts, dim).expect("dim in range");
    for vector in &vectors {
        assert_eq!(vector.len(), dim);
        assert!(vector.iter().all(|value| value.is_finite()));
        let norm: f64 = vector.iter().map(|value| value * value).sum();
        assert!(norm == 0.0 || (norm - 1.0).abs() < 1e-9, "norm {norm}");
    }
    assert_eq!(embed_one(&text, dim).expect("dim in range").len(), dim);

    let flat: Vec<f64> = vectors.iter().flatten().copied().collect();
    let index = ExemplarIndex::new(flat, dim).expect("finite rows of dim");
    assert_eq!(index.len(), vectors.len());
    let query = &vectors[vectors.len() - 1];
    let scores = index.scores(query).expect("query of dim");
    assert!(scores.iter().all(|score| score.is_finite() && score.abs() <= 1.0 + 1e-12));
    let top = index.top_k(query, 3).expect("query of dim");
    for pair in top.windows(2) {
        let ((first, a), (second, b)) = (pair[0], pair[1]);
        assert!(a > b || (a == b && first < second), "top_k order");
    }
});
