//! The few statistics the evaluation needs, written out so that their definitions are the
//! ones the docs state: sample moments and the standard normal distribution.

/// Mean, sample standard deviation (n - 1), skewness and raw (not excess) kurtosis of a
/// series; the last two are the population moments ratios `m3 / m2^1.5` and `m4 / m2^2`,
/// as Bailey and López de Prado's probabilistic Sharpe ratio takes them (a normal series has
/// skewness 0 and kurtosis 3).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Moments {
    pub n: usize,
    pub mean: f64,
    pub std: f64,
    pub skewness: f64,
    pub kurtosis: f64,
}

impl Moments {
    /// `None` for fewer than two values.
    pub fn of(values: &[f64]) -> Option<Self> {
        let n = values.len();
        if n < 2 {
            return None;
        }
        #[expect(clippy::cast_precision_loss, reason = "series lengths are far below 2^52")]
        let n_f = n as f64;
        let mean = values.iter().sum::<f64>() / n_f;
        let central = |power: i32| values.iter().map(|v| (v - mean).powi(power)).sum::<f64>() / n_f;
        let (m2, m3, m4) = (central(2), central(3), central(4));
        let std = (m2 * n_f / (n_f - 1.0)).sqrt();
        // A constant series has no shape: call it normal rather than divide by zero.
        let (skewness, kurtosis) = if m2 > 0.0 { (m3 / m2.powf(1.5), m4 / (m2 * m2)) } else { (0.0, 3.0) };
        Some(Self { n, mean, std, skewness, kurtosis })
    }
}

/// The standard normal distribution function Φ, to about 1e-15 (W. J. Cody's rational
/// approximations of erfc, as in Hart et al. 1968, via Graeme West's 2005 formulation).
pub fn normal_cdf(x: f64) -> f64 {
    let z = x.abs();
    let tail = if z > 37.0 {
        0.0
    } else {
        let e = (-z * z / 2.0).exp();
        if z < 7.071_067_811_865_47 {
            let numerator = horner(
                &[
                    3.526_249_659_989_11e-2,
                    0.700_383_064_443_688,
                    6.373_962_203_531_65,
                    33.912_866_078_383,
                    112.079_291_497_871,
                    221.213_596_169_931,
                    220.206_867_912_376,
                ],
                z,
            );
            let denominator = horner(
                &[
                    8.838_834_764_831_84e-2,
                    1.755_667_163_182_64,
                    16.064_177_579_207,
                    86.780_732_202_946_1,
                    296.564_248_779_674,
                    637.333_633_378_831,
                    793.826_512_519_948,
                    440.413_735_824_752,
                ],
                z,
            );
            e * numerator / denominator
        } else {
            let continued = z + 1.0 / (z + 2.0 / (z + 3.0 / (z + 4.0 / (z + 0.65))));
            e / continued / 2.506_628_274_631
        }
    };
    if x > 0.0 { 1.0 - tail } else { tail }
}

/// The polynomial with these coefficients (highest power first) at x.
fn horner(coefficients: &[f64], x: f64) -> f64 {
    coefficients.iter().fold(0.0, |sum, c| sum * x + c)
}

/// The standard normal quantile Φ⁻¹(p) for p in (0, 1): Acklam's rational approximation
/// (relative error 1.15e-9), refined by one Halley step on [`normal_cdf`] to full precision.
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    const LOW: f64 = 0.024_25;
    let tail = |q: f64| horner(&C, q) / (horner(&D, q) * q + 1.0);
    let x = if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - LOW {
        let q = p - 0.5;
        let r = q * q;
        horner(&A, r) * q / (horner(&B, r) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    };
    // Halley's step: e is the error in probability, u the error in x to first order.
    let e = normal_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_distribution_matches_its_tables() {
        // Φ at a few points, from the tables (to 15 digits).
        for (x, expected) in [
            (0.0, 0.5),
            (1.0, 0.841_344_746_068_543),
            (-1.959_963_984_540_054, 0.025),
            (3.0, 0.998_650_101_968_37),
            (-6.0, 9.865_876_450_377e-10),
        ] {
            let got = normal_cdf(x);
            assert!(
                (got - expected).abs() <= 1e-14_f64.max(expected * 1e-12),
                "Φ({x}) = {got}, not {expected}"
            );
        }
        for p in [1e-9, 0.001, 0.025, 0.3, 0.5, 0.8, 0.975, 0.999_999] {
            let x = normal_quantile(p);
            assert!((normal_cdf(x) - p).abs() < 1e-14, "Φ(Φ⁻¹({p})) = {}", normal_cdf(x));
        }
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-12);
    }

    #[test]
    fn moments_of_a_known_series() {
        let m = Moments::of(&[1.0, 2.0, 3.0, 4.0, 10.0]).unwrap();
        assert!((m.mean - 4.0).abs() < 1e-15);
        assert!((m.std - 12.5_f64.sqrt()).abs() < 1e-12, "sample variance 50 / 4");
        // Deviations -3, -2, -1, 0, 6: m2 = 50 / 5, m3 = 180 / 5, m4 = 1394 / 5.
        assert!((m.skewness - 36.0 / 10.0_f64.powf(1.5)).abs() < 1e-12);
        assert!((m.kurtosis - 278.8 / 100.0).abs() < 1e-12);
        assert!(Moments::of(&[1.0]).is_none());
        assert_eq!(Moments::of(&[2.0, 2.0]).unwrap().kurtosis, 3.0);
    }
}
