//! Process-node arithmetic: power, performance and area of a chip moved between nodes.
//!
//! A node is four numbers relative to a common baseline (TSMC N7 = 1): logic density, SRAM
//! density (the inverse of the bit-cell area), performance at iso-power and power at
//! iso-performance. Porting a chip divides the target node's numbers by the source node's.
//!
//! Three ways to spend a node change:
//! - iso-power: same design and power, higher clock: performance × perf ratio.
//! - iso-performance: same design and speed, lower power: power × power ratio.
//! - iso-area: keep the die area and fill it. Logic units grow with the logic-density ratio and
//!   each runs at the old speed with the new node's power per unit, so performance × density
//!   ratio and power × density ratio × power ratio; SRAM capacity grows with the SRAM ratio.
//!
//! Each operation then costs the power ratio over the performance ratio of its energy before: W
//! at iso-performance and iso-area, 1/P at iso-power (the die clocked up to spend the same
//! power).
//!
//! In the first two modes the same design shrinks: the logic share of the die scales with the
//! logic-density ratio and the SRAM share with the SRAM-density ratio (analog and I/O are counted
//! as logic, which overstates the shrink).

use std::fmt;

/// A process node, relative to the common baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub logic_density: f64,
    pub sram_density: f64,
    pub perf_iso_power: f64,
    pub power_iso_perf: f64,
}

/// How the node change is spent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    IsoPower,
    IsoPerformance,
    IsoArea,
}

impl Mode {
    pub fn parse(name: &str) -> Result<Mode, PpaError> {
        match name {
            "iso-power" => Ok(Mode::IsoPower),
            "iso-performance" => Ok(Mode::IsoPerformance),
            "iso-area" => Ok(Mode::IsoArea),
            other => Err(PpaError::UnknownMode(other.to_string())),
        }
    }
}

/// Ratios new/old for a ported chip.
#[derive(Clone, Debug, PartialEq)]
pub struct Scaling {
    pub power_ratio: f64,
    pub performance_ratio: f64,
    pub area_ratio: f64,
    /// On-chip SRAM capacity new/old.
    pub sram_capacity_ratio: f64,
    /// SRAM capacity new/old had the die area been kept (whatever the mode).
    pub sram_capacity_ratio_iso_area: f64,
    pub perf_per_watt_ratio: f64,
    /// Energy of one operation (logic or SRAM access) new/old at the clock the mode runs the
    /// die at: the power ratio over the performance ratio, which is W (power at
    /// iso-performance) at iso-performance and iso-area, and 1/P at iso-power, where the die
    /// runs faster at the same power.
    pub energy_per_operation_ratio: f64,
}

/// Why an input was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum PpaError {
    Invalid {
        parameter: &'static str,
        value: f64,
        rule: &'static str,
    },
    UnknownMode(String),
}

impl fmt::Display for PpaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PpaError::Invalid {
                parameter,
                value,
                rule,
            } => {
                write!(f, "{parameter} must be {rule}, got {value}")
            }
            PpaError::UnknownMode(mode) => write!(
                f,
                "mode must be 'iso-power', 'iso-performance' or 'iso-area', got '{mode}'"
            ),
        }
    }
}

impl std::error::Error for PpaError {}

fn positive(parameter: &'static str, value: f64) -> Result<(), PpaError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(PpaError::Invalid {
            parameter,
            value,
            rule: "a finite number > 0",
        })
    }
}

impl Node {
    fn validate(&self, side: &'static [&'static str; 4]) -> Result<(), PpaError> {
        positive(side[0], self.logic_density)?;
        positive(side[1], self.sram_density)?;
        positive(side[2], self.perf_iso_power)?;
        positive(side[3], self.power_iso_perf)
    }
}

const FROM_NAMES: [&str; 4] = [
    "from_logic_density",
    "from_sram_density",
    "from_perf_iso_power",
    "from_power_iso_perf",
];
const TO_NAMES: [&str; 4] = [
    "to_logic_density",
    "to_sram_density",
    "to_perf_iso_power",
    "to_power_iso_perf",
];

/// Scale a chip from node `from` to node `to`.
///
/// `sram_area_fraction` is the share of the die taken by SRAM, in [0, 1).
pub fn scale(
    from: &Node,
    to: &Node,
    mode: Mode,
    sram_area_fraction: f64,
) -> Result<Scaling, PpaError> {
    from.validate(&FROM_NAMES)?;
    to.validate(&TO_NAMES)?;
    if !(sram_area_fraction.is_finite() && (0.0..1.0).contains(&sram_area_fraction)) {
        return Err(PpaError::Invalid {
            parameter: "sram_area_fraction",
            value: sram_area_fraction,
            rule: "in [0, 1)",
        });
    }

    let logic_ratio = to.logic_density / from.logic_density;
    let sram_ratio = to.sram_density / from.sram_density;
    let perf_ratio = to.perf_iso_power / from.perf_iso_power;
    let power_ratio = to.power_iso_perf / from.power_iso_perf;
    let shrunk_area = (1.0 - sram_area_fraction) / logic_ratio + sram_area_fraction / sram_ratio;

    let (power, performance, area, sram, energy) = match mode {
        Mode::IsoPower => (1.0, perf_ratio, shrunk_area, 1.0, 1.0 / perf_ratio),
        Mode::IsoPerformance => (power_ratio, 1.0, shrunk_area, 1.0, power_ratio),
        Mode::IsoArea => (
            logic_ratio * power_ratio,
            logic_ratio,
            1.0,
            sram_ratio,
            power_ratio,
        ),
    };
    Ok(Scaling {
        power_ratio: power,
        performance_ratio: performance,
        area_ratio: area,
        sram_capacity_ratio: sram,
        sram_capacity_ratio_iso_area: sram_ratio,
        perf_per_watt_ratio: performance / power,
        energy_per_operation_ratio: energy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n2() -> Node {
        Node {
            logic_density: 3.31,
            sram_density: 1.54,
            perf_iso_power: 1.53,
            power_iso_perf: 0.34,
        }
    }

    fn nanostack_claimed() -> Node {
        let base = n2();
        Node {
            logic_density: base.logic_density * 2.0,
            sram_density: base.sram_density / 0.6,
            perf_iso_power: base.perf_iso_power * 1.5,
            power_iso_perf: base.power_iso_perf * 0.3,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12
    }

    #[test]
    fn nanostack_claim_round_trips() {
        let iso_power = scale(&n2(), &nanostack_claimed(), Mode::IsoPower, 0.3).unwrap();
        assert!(close(iso_power.performance_ratio, 1.5));
        assert_eq!(iso_power.power_ratio, 1.0);
        let iso_perf = scale(&n2(), &nanostack_claimed(), Mode::IsoPerformance, 0.3).unwrap();
        assert!(close(iso_perf.power_ratio, 0.3));
        // 70 % logic at half the area, 30 % SRAM at 0.6 of the area.
        assert!(close(iso_perf.area_ratio, 0.7 / 2.0 + 0.3 * 0.6));
    }

    #[test]
    fn iso_area_fills_the_die() {
        let s = scale(&n2(), &nanostack_claimed(), Mode::IsoArea, 0.3).unwrap();
        assert_eq!(s.area_ratio, 1.0);
        assert!(close(s.performance_ratio, 2.0));
        assert!(close(s.sram_capacity_ratio, 1.0 / 0.6));
        assert!(close(s.power_ratio, 2.0 * 0.3));
    }

    #[test]
    fn energy_per_operation_is_power_over_performance() {
        for mode in [Mode::IsoPower, Mode::IsoPerformance, Mode::IsoArea] {
            let s = scale(&n2(), &nanostack_claimed(), mode, 0.3).unwrap();
            assert!(close(
                s.energy_per_operation_ratio,
                s.power_ratio / s.performance_ratio
            ));
        }
        let iso_power = scale(&n2(), &nanostack_claimed(), Mode::IsoPower, 0.3).unwrap();
        assert!(close(iso_power.energy_per_operation_ratio, 1.0 / 1.5));
        let iso_area = scale(&n2(), &nanostack_claimed(), Mode::IsoArea, 0.3).unwrap();
        assert!(close(iso_area.energy_per_operation_ratio, 0.3));
    }

    #[test]
    fn same_node_changes_nothing() {
        for mode in [Mode::IsoPower, Mode::IsoPerformance, Mode::IsoArea] {
            let s = scale(&n2(), &n2(), mode, 0.4).unwrap();
            assert_eq!(
                (s.power_ratio, s.performance_ratio, s.area_ratio),
                (1.0, 1.0, 1.0)
            );
        }
    }

    #[test]
    fn refuses_bad_inputs() {
        let mut bad = n2();
        bad.sram_density = 0.0;
        let err = scale(&bad, &n2(), Mode::IsoArea, 0.3).unwrap_err();
        assert!(err.to_string().starts_with("from_sram_density"));
        assert!(scale(&n2(), &n2(), Mode::IsoArea, 1.0).is_err());
        assert!(Mode::parse("iso-volume").is_err());
    }
}
