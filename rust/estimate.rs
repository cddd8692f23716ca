//! Quality estimates for every candidate model from a prompt's nearest labelled exemplars.
//!
//! One call per routing decision: the neighbours found by the exemplar index (`embed.rs`) go in,
//! `(quality, evidence)` for each labelled model and each model known only by its ability come
//! out. The pure-Python twin (`shoal/_pure/estimate.py`) performs the same floating-point
//! operations in the same order, with correctly rounded sums (`exact_sum`, as `math.fsum`), so
//! both give the same bits.
//!
//! For neighbour `j` with cosine `s_j`, difficulty `d_j` and weight `w_j = max(s_j, 0)^power`:
//!
//! * a labelled model `m` with ability `a_m` has the per-prompt item-response expectation
//!   `irt_m = Σ w_j σ(a_m − d_j) / Σ w_j` (its mean score when no weight is positive); its
//!   quality is `(Σ' w_j score_jm + shrinkage · irt_m) / (Σ' w_j + shrinkage)` with `Σ'` over the
//!   neighbours labelled for `m`, then mapped through the model's calibration knots (piecewise
//!   linear, flat beyond the ends); evidence is `Σ' w_j / (Σ' w_j + shrinkage)`;
//! * a model known only by an ability `a` and its expected mean score `μ` has quality
//!   `(Σ w_j σ(a − d_j) + shrinkage · μ) / (Σ w_j + shrinkage)`, evidence `Σ w_j / (Σ w_j +
//!   shrinkage)`.

use std::fmt;

use crate::embed::exact_sum;

/// What can go wrong when building an estimator or estimating.
#[derive(Debug, Clone, PartialEq)]
pub enum EstimateError {
    /// A per-model or per-exemplar list has the wrong length.
    Length {
        name: &'static str,
        len: usize,
        expected: usize,
    },
    /// A value that must be finite is NaN or infinite.
    NotFinite { name: &'static str },
    /// A parameter is out of its range.
    Parameter { name: &'static str, value: f64 },
    /// A neighbour index is not an exemplar of the estimator.
    Index { index: usize, count: usize },
    /// A model's calibration knots do not rise strictly in x.
    Knots { model: usize },
}

impl fmt::Display for EstimateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length {
                name,
                len,
                expected,
            } => write!(f, "{name} has {len} entries, expected {expected}"),
            Self::NotFinite { name } => write!(f, "{name} holds a NaN or infinite value"),
            Self::Parameter { name, value } => write!(f, "{name} is out of range: {value}"),
            Self::Index { index, count } => {
                write!(f, "neighbour index {index} is outside 0..{count}")
            }
            Self::Knots { model } => write!(
                f,
                "calibration knots of model {model} must be finite with strictly rising x"
            ),
        }
    }
}

impl std::error::Error for EstimateError {}

/// One candidate's estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Predicted score in the labels' scale.
    pub quality: f64,
    /// Share of the estimate that rests on the neighbours (0-1).
    pub evidence: f64,
}

/// The labelled exemplars' scores and difficulties, the models' abilities and calibration.
#[derive(Debug, Clone)]
pub struct Estimator {
    models: usize,
    /// Exemplar after exemplar, one score per model; `None` where the model was not labelled.
    scores: Vec<Option<f64>>,
    difficulties: Vec<f64>,
    abilities: Vec<f64>,
    mean_scores: Vec<f64>,
    knots: Vec<Vec<(f64, f64)>>,
    similarity_power: f64,
    shrinkage: f64,
}

/// Settings of the neighbour vote.
#[derive(Debug, Clone, Copy)]
pub struct Vote {
    /// Weight of a neighbour is `max(cosine, 0)^similarity_power`.
    pub similarity_power: f64,
    /// Pseudo-weight of the prior in each estimate.
    pub shrinkage: f64,
}

/// Logistic function, stable for large magnitudes (as `shoal.router_model.sigmoid`).
pub fn sigmoid(value: f64) -> f64 {
    if value >= 0.0 {
        1.0 / (1.0 + (-value).exp())
    } else {
        let exp_value = value.exp();
        exp_value / (1.0 + exp_value)
    }
}

fn check_length(name: &'static str, len: usize, expected: usize) -> Result<(), EstimateError> {
    if len == expected {
        Ok(())
    } else {
        Err(EstimateError::Length {
            name,
            len,
            expected,
        })
    }
}

fn check_finite(name: &'static str, values: &[f64]) -> Result<(), EstimateError> {
    if values.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(EstimateError::NotFinite { name })
    }
}

/// Piecewise linear through `knots`, flat beyond the first and last; identity without knots.
pub fn calibrate(knots: &[(f64, f64)], value: f64) -> f64 {
    if knots.is_empty() {
        return value;
    }
    // bisect_left: the first knot whose x is not below the value.
    let position = knots.partition_point(|&(x, _)| x < value);
    if position == 0 {
        return knots[0].1;
    }
    if position == knots.len() {
        return knots[knots.len() - 1].1;
    }
    let (x0, y0) = knots[position - 1];
    let (x1, y1) = knots[position];
    y0 + (y1 - y0) * (value - x0) / (x1 - x0)
}

impl Estimator {
    /// Builds an estimator; `scores` holds `models` entries per exemplar, row after row.
    pub fn new(
        scores: Vec<Option<f64>>,
        difficulties: Vec<f64>,
        abilities: Vec<f64>,
        mean_scores: Vec<f64>,
        knots: Vec<Vec<(f64, f64)>>,
        vote: Vote,
    ) -> Result<Self, EstimateError> {
        let models = abilities.len();
        check_length("scores", scores.len(), difficulties.len() * models)?;
        check_length("mean_scores", mean_scores.len(), models)?;
        check_length("calibration", knots.len(), models)?;
        check_finite("difficulties", &difficulties)?;
        check_finite("abilities", &abilities)?;
        check_finite("mean_scores", &mean_scores)?;
        if scores.iter().flatten().any(|x| !x.is_finite()) {
            return Err(EstimateError::NotFinite { name: "scores" });
        }
        for (model, model_knots) in knots.iter().enumerate() {
            let finite = model_knots
                .iter()
                .all(|(x, y)| x.is_finite() && y.is_finite());
            let rising = model_knots.windows(2).all(|pair| pair[0].0 < pair[1].0);
            if !finite || !rising {
                return Err(EstimateError::Knots { model });
            }
        }
        for (name, value) in [
            ("similarity_power", vote.similarity_power),
            ("shrinkage", vote.shrinkage),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(EstimateError::Parameter { name, value });
            }
        }
        Ok(Self {
            models,
            scores,
            difficulties,
            abilities,
            mean_scores,
            knots,
            similarity_power: vote.similarity_power,
            shrinkage: vote.shrinkage,
        })
    }

    /// Number of labelled models.
    pub fn models(&self) -> usize {
        self.models
    }

    /// Number of exemplars.
    pub fn len(&self) -> usize {
        self.difficulties.len()
    }

    /// True without exemplars.
    pub fn is_empty(&self) -> bool {
        self.difficulties.is_empty()
    }

    /// Estimates for every labelled model (in model order), then for each model known only by
    /// `prior_abilities[i]` with expected mean score `prior_means[i]`.
    pub fn estimate(
        &self,
        neighbours: &[(usize, f64)],
        prior_abilities: &[f64],
        prior_means: &[f64],
    ) -> Result<Vec<Estimate>, EstimateError> {
        check_length("prior_means", prior_means.len(), prior_abilities.len())?;
        check_finite("prior_abilities", prior_abilities)?;
        check_finite("prior_means", prior_means)?;
        let mut weights = Vec::with_capacity(neighbours.len());
        let mut difficulties = Vec::with_capacity(neighbours.len());
        for &(index, similarity) in neighbours {
            if index >= self.len() {
                return Err(EstimateError::Index {
                    index,
                    count: self.len(),
                });
            }
            if !similarity.is_finite() {
                return Err(EstimateError::NotFinite {
                    name: "similarities",
                });
            }
            weights.push(similarity.max(0.0).powf(self.similarity_power));
            difficulties.push(self.difficulties[index]);
        }
        let weight_total = exact_sum(weights.iter().copied());

        let mut estimates = Vec::with_capacity(self.models + prior_abilities.len());
        for model in 0..self.models {
            let labelled = neighbours
                .iter()
                .zip(&weights)
                .filter_map(|(&(index, _), &w)| {
                    self.scores[index * self.models + model].map(|score| (w, score))
                });
            let (labels_weight, labels_value) = weighted_sums(labelled);
            let expected = if weight_total > 0.0 {
                let ability = self.abilities[model];
                let value = exact_sum(
                    weights
                        .iter()
                        .zip(&difficulties)
                        .map(|(w, d)| w * sigmoid(ability - d)),
                );
                value / weight_total
            } else {
                self.mean_scores[model]
            };
            let raw = self.shrunk(labels_weight, labels_value, expected);
            estimates.push(Estimate {
                quality: calibrate(&self.knots[model], raw.quality),
                evidence: raw.evidence,
            });
        }
        for (&ability, &mean) in prior_abilities.iter().zip(prior_means) {
            let value = exact_sum(
                weights
                    .iter()
                    .zip(&difficulties)
                    .map(|(w, d)| w * sigmoid(ability - d)),
            );
            estimates.push(self.shrunk(weight_total, value, mean));
        }
        Ok(estimates)
    }

    fn shrunk(&self, weight: f64, value: f64, prior: f64) -> Estimate {
        let denominator = weight + self.shrinkage;
        if denominator > 0.0 {
            Estimate {
                quality: (value + self.shrinkage * prior) / denominator,
                evidence: weight / denominator,
            }
        } else {
            Estimate {
                quality: prior,
                evidence: 0.0,
            }
        }
    }
}

/// `(Σ w, Σ w · score)` with correctly rounded sums.
fn weighted_sums(pairs: impl Iterator<Item = (f64, f64)>) -> (f64, f64) {
    let pairs: Vec<(f64, f64)> = pairs.collect();
    let weight = exact_sum(pairs.iter().map(|&(w, _)| w));
    let value = exact_sum(pairs.iter().map(|&(w, s)| w * s));
    (weight, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote() -> Vote {
        Vote {
            similarity_power: 2.0,
            shrinkage: 1.0,
        }
    }

    fn two_models() -> Estimator {
        // Three exemplars, two models; model 1 is unlabelled on exemplar 2.
        let scores = vec![Some(1.0), Some(0.0), Some(0.0), Some(1.0), Some(1.0), None];
        Estimator::new(
            scores,
            vec![0.0, 1.0, -1.0],
            vec![0.5, -0.5],
            vec![0.6, 0.4],
            vec![Vec::new(), Vec::new()],
            vote(),
        )
        .unwrap()
    }

    #[test]
    fn labelled_estimate_shrinks_towards_the_item_response_expectation() {
        let estimator = two_models();
        let neighbours = [(0, 0.5), (2, 1.0), (1, -0.3)];
        let estimates = estimator.estimate(&neighbours, &[], &[]).unwrap();

        // Weights 0.25, 1 and 0 (negative cosine).
        let expected_irt = exact_sum([0.25 * sigmoid(0.5), sigmoid(0.5 + 1.0), 0.0]) / 1.25;
        assert_eq!(estimates[0].quality, (1.25 + expected_irt) / 2.25);
        assert_eq!(estimates[0].evidence, 1.25 / 2.25);
        // Model 1 has labels on exemplars 0 and 1 only: weights 0.25 and 0.
        assert_eq!(estimates[1].evidence, 0.25 / 1.25);
    }

    #[test]
    fn prior_models_follow_after_the_labelled_ones() {
        let estimator = two_models();
        let estimates = estimator
            .estimate(&[(0, 1.0), (1, 1.0)], &[2.0], &[0.7])
            .unwrap();
        assert_eq!(estimates.len(), 3);
        let value = exact_sum([sigmoid(2.0), sigmoid(1.0)]);
        assert_eq!(estimates[2].quality, (value + 0.7) / 3.0);
        assert_eq!(estimates[2].evidence, 2.0 / 3.0);
    }

    #[test]
    fn without_positive_weight_the_prior_stands() {
        let estimator = two_models();
        let estimates = estimator.estimate(&[(0, -0.2)], &[0.0], &[0.5]).unwrap();
        assert_eq!(estimates[0].quality, (0.0 + 0.6) / 1.0);
        assert_eq!(estimates[0].evidence, 0.0);
        assert_eq!(estimates[2].quality, 0.5);
    }

    #[test]
    fn calibration_is_piecewise_linear_and_flat_outside() {
        let knots = [(0.2, 0.1), (0.6, 0.5), (0.8, 0.9)];
        assert_eq!(calibrate(&knots, 0.0), 0.1);
        assert_eq!(calibrate(&knots, 0.2), 0.1);
        assert!((calibrate(&knots, 0.4) - 0.3).abs() < 1e-15);
        assert_eq!(calibrate(&knots, 0.9), 0.9);
        assert_eq!(calibrate(&[], 0.37), 0.37);
    }

    #[test]
    fn bad_input_is_named() {
        let error = Estimator::new(
            vec![Some(1.0)],
            vec![0.0, 1.0],
            vec![0.0],
            vec![0.5],
            vec![Vec::new()],
            vote(),
        )
        .unwrap_err();
        assert_eq!(
            error,
            EstimateError::Length {
                name: "scores",
                len: 1,
                expected: 2
            }
        );
        let error = Estimator::new(
            vec![Some(1.0)],
            vec![0.0],
            vec![0.0],
            vec![0.5],
            vec![vec![(0.5, 0.1), (0.5, 0.2)]],
            vote(),
        )
        .unwrap_err();
        assert_eq!(error, EstimateError::Knots { model: 0 });
        let estimator = two_models();
        assert_eq!(
            estimator.estimate(&[(3, 0.5)], &[], &[]).unwrap_err(),
            EstimateError::Index { index: 3, count: 3 }
        );
    }
}
