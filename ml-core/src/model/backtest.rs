//! What trading a signal would have done: positions from predicted directions, bar-to-bar
//! returns net of costs, and the statistics a quant reads first (return, Sharpe, Sortino,
//! drawdown, exposure, turnover, hit rate), with the probabilistic and deflated Sharpe ratios
//! that say whether the Sharpe ratio is distinguishable from luck.
//!
//! The rule, exactly (docs/metrics.md repeats it):
//! - Row t has the bar's close `c_t` and the next bar's `c_{t+1}`; its return is
//!   `r_t = c_{t+1} / c_t - 1`.
//! - The position taken at the close of bar t is `p_t`: +1 for BULLISH, -1 for BEARISH
//!   (0 when long-only), 0 for NEUTRAL, held to the close of bar t+1.
//! - Each change of position pays `cost = cost_bps / 10_000` per unit traded, at bar t:
//!   `n_t = p_t * r_t - cost * |p_t - p_{t-1}|`, with `p_{-1} = 0` (the first position is
//!   bought) and no charge after the last bar (the book is marked, not closed).
//! - Equity compounds: `E_t = E_{t-1} * (1 + n_t)`, `E_{-1} = 1`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::stats::{Moments, normal_cdf, normal_quantile};
use crate::labels::Direction;

/// Cost per unit of turnover, in basis points, unless the caller says otherwise: a liquid
/// instrument's spread and fees (5 bps = 0.05 % each way).
pub const DEFAULT_COST_BPS: f64 = 5.0;
/// Points of an equity curve kept for plotting.
pub const CURVE_POINTS: usize = 200;

/// Which positions a direction maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Book {
    /// BULLISH +1, NEUTRAL 0, BEARISH -1.
    LongShort,
    /// BULLISH +1, otherwise flat.
    LongOnly,
}

impl Book {
    pub fn position(self, direction: Direction) -> f64 {
        match (direction, self) {
            (Direction::Bullish, _) => 1.0,
            (Direction::Bearish, Self::LongShort) => -1.0,
            _ => 0.0,
        }
    }
}

/// The bars a backtest runs over: per row its time and its next-bar return, and how many
/// bars the instrument trades in a year (from the data: equities, FX and crypto differ).
#[derive(Debug, Clone)]
pub struct Market<'a> {
    pub times: &'a [DateTime<Utc>],
    pub returns: &'a [f64],
    pub bars_per_year: f64,
}

/// Bars per year of a series, from its own timestamps: (bars - 1) / years spanned. `None`
/// for fewer than two bars or no time between them.
pub fn bars_per_year(times: &[DateTime<Utc>]) -> Option<f64> {
    let (first, last) = (times.first()?, times.last()?);
    let years = (*last - *first).as_seconds_f64() / (365.25 * 86_400.0);
    #[expect(clippy::cast_precision_loss, reason = "bar counts are far below 2^52")]
    (years > 0.0).then(|| (times.len() - 1) as f64 / years)
}

/// One point of an equity curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub ts: DateTime<Utc>,
    pub equity: f64,
}

/// A strategy's statistics over the backtest's bars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Performance {
    pub bars: usize,
    pub total_return: f64,
    pub annualized_return: f64,
    /// Annualised, risk-free rate 0; `None` when the returns do not vary (a flat book).
    pub sharpe: Option<f64>,
    /// Annualised, target 0, downside deviation over all bars; `None` without a losing bar.
    pub sortino: Option<f64>,
    /// The largest fall from a running peak of equity, as a fraction (0.2 = -20 %).
    pub max_drawdown: f64,
    /// Share of bars with a position.
    pub exposure: f64,
    /// Units traded in all (a flip from long to short is 2).
    pub turnover: f64,
    /// Changes of position.
    pub trades: usize,
    /// Share of bars with a position whose gross return was positive; `None` when never in.
    pub hit_rate: Option<f64>,
    /// P(true Sharpe > 0) given the sample (Bailey and López de Prado 2012).
    pub probabilistic_sharpe: Option<f64>,
    /// The per-bar net returns' moments, for a deflated Sharpe ratio once the number of
    /// trials is known ([`deflated_sharpe`]); `None` for fewer than two bars.
    pub return_moments: Option<Moments>,
    /// The equity curve, at most [`CURVE_POINTS`] points (the last one always kept).
    pub equity_curve: Vec<CurvePoint>,
}

/// A signal's backtest beside what it has to beat, over the same bars and costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    pub cost_bps: f64,
    pub bars_per_year: f64,
    /// The model's signal, long and short.
    pub long_short: Performance,
    /// The model's signal, long only.
    pub long_only: Performance,
    /// Long on every bar.
    pub buy_and_hold: Performance,
    /// The baselines' signals, long and short; persistence is `None` for the live backtest,
    /// whose forecasts carry no past return.
    pub majority: Performance,
    pub persistence: Option<Performance>,
}

impl Backtest {
    /// Backtests the model's directions and the baselines' on `market`.
    pub fn of_signals(
        market: &Market<'_>,
        model: &[Direction],
        majority: &[Direction],
        persistence: Option<&[Direction]>,
        cost_bps: f64,
    ) -> Self {
        let book = |directions: &[Direction], book: Book| -> Vec<f64> {
            directions.iter().map(|d| book.position(*d)).collect()
        };
        Self {
            cost_bps,
            bars_per_year: market.bars_per_year,
            long_short: run(&book(model, Book::LongShort), market, cost_bps),
            long_only: run(&book(model, Book::LongOnly), market, cost_bps),
            buy_and_hold: run(&vec![1.0; market.returns.len()], market, cost_bps),
            majority: run(&book(majority, Book::LongShort), market, cost_bps),
            persistence: persistence.map(|p| run(&book(p, Book::LongShort), market, cost_bps)),
        }
    }
}

/// The per-bar net returns of a book of positions.
pub fn net_returns(positions: &[f64], returns: &[f64], cost_bps: f64) -> Vec<f64> {
    debug_assert_eq!(positions.len(), returns.len());
    let cost = cost_bps / 10_000.0;
    let mut previous = 0.0;
    positions
        .iter()
        .zip(returns)
        .map(|(&position, &r)| {
            let net = position * r - cost * (position - previous).abs();
            previous = position;
            net
        })
        .collect()
}

/// Runs `positions` over the market.
pub fn run(positions: &[f64], market: &Market<'_>, cost_bps: f64) -> Performance {
    debug_assert_eq!(positions.len(), market.returns.len());
    debug_assert_eq!(positions.len(), market.times.len());
    let net = net_returns(positions, market.returns, cost_bps);
    let bars = net.len();
    #[expect(clippy::cast_precision_loss, reason = "bar counts are far below 2^52")]
    let bars_f = bars as f64;

    let mut equity = 1.0_f64;
    let mut peak = 1.0_f64;
    let mut max_drawdown = 0.0_f64;
    let mut curve = Vec::with_capacity(bars);
    for (&n, &ts) in net.iter().zip(market.times) {
        equity *= 1.0 + n;
        peak = peak.max(equity);
        max_drawdown = max_drawdown.max(1.0 - equity / peak);
        curve.push(CurvePoint { ts, equity });
    }
    let total_return = equity - 1.0;
    let annualized_return =
        if bars == 0 || equity <= 0.0 { -1.0 } else { equity.powf(market.bars_per_year / bars_f) - 1.0 };

    let moments = Moments::of(&net);
    let per_bar_sharpe = moments.filter(|m| m.std > 0.0).map(|m| m.mean / m.std);
    let annualize = market.bars_per_year.sqrt();
    let downside = (net.iter().map(|n| n.min(0.0).powi(2)).sum::<f64>() / bars_f.max(1.0)).sqrt();
    let sortino = (downside > 0.0).then(|| moments.map_or(0.0, |m| m.mean) / downside * annualize);

    let mut turnover = 0.0;
    let mut trades = 0;
    let mut previous = 0.0;
    for &position in positions {
        let traded = (position - previous).abs();
        turnover += traded;
        trades += usize::from(traded > 0.0);
        previous = position;
    }
    let in_market: Vec<f64> =
        positions.iter().zip(market.returns).filter(|(p, _)| **p != 0.0).map(|(p, r)| p * r).collect();
    #[expect(clippy::cast_precision_loss, reason = "bar counts are far below 2^52")]
    let hit_rate = (!in_market.is_empty())
        .then(|| in_market.iter().filter(|g| **g > 0.0).count() as f64 / in_market.len() as f64);
    #[expect(clippy::cast_precision_loss, reason = "bar counts are far below 2^52")]
    let exposure = if bars == 0 { 0.0 } else { in_market.len() as f64 / bars_f };

    Performance {
        bars,
        total_return,
        annualized_return,
        sharpe: per_bar_sharpe.map(|s| s * annualize),
        sortino,
        max_drawdown,
        exposure,
        turnover,
        trades,
        hit_rate,
        probabilistic_sharpe: moments.and_then(|m| probabilistic_sharpe(&m, 0.0)),
        return_moments: moments,
        equity_curve: downsample(&curve, CURVE_POINTS),
    }
}

/// Every `len / points`-th point, and the last.
fn downsample(curve: &[CurvePoint], points: usize) -> Vec<CurvePoint> {
    if curve.len() <= points {
        return curve.to_vec();
    }
    let step = curve.len().div_ceil(points - 1);
    let mut kept: Vec<CurvePoint> = curve.iter().step_by(step).copied().collect();
    if let Some(last) = curve.last().filter(|last| kept.last() != Some(last)) {
        kept.push(*last);
    }
    kept
}

/// The probabilistic Sharpe ratio: the probability that the true per-bar Sharpe ratio
/// exceeds `benchmark` (per bar), given the sample's length, skewness and raw kurtosis
/// (Bailey and López de Prado 2012, eq. 9):
/// `Φ((SR - SR*) √(n - 1) / √(1 - γ3 SR + (γ4 - 1) / 4 SR²))`.
/// `None` for a series that does not vary.
pub fn probabilistic_sharpe(moments: &Moments, benchmark: f64) -> Option<f64> {
    let sharpe = (moments.std > 0.0).then(|| moments.mean / moments.std)?;
    #[expect(clippy::cast_precision_loss, reason = "bar counts are far below 2^52")]
    let n = moments.n as f64;
    let variance_term = 1.0 - moments.skewness * sharpe + (moments.kurtosis - 1.0) / 4.0 * sharpe * sharpe;
    // A pathological sample (huge skewness) can make the denominator vanish: no verdict.
    (variance_term > 0.0).then(|| normal_cdf((sharpe - benchmark) * (n - 1.0).sqrt() / variance_term.sqrt()))
}

/// The Euler–Mascheroni constant, in the expected maximum of N normal draws.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// The deflated Sharpe ratio (Bailey and López de Prado 2014): the probabilistic Sharpe
/// ratio against the Sharpe ratio the best of `trials` independent tries would show by luck,
/// `SR* = √V · ((1 - γ) Φ⁻¹(1 - 1/N) + γ Φ⁻¹(1 - 1/(N e)))`, where V is the variance of the
/// trials' Sharpe ratios. Without the trials' own ratios, V is the variance of this Sharpe
/// estimate, `(1 - γ3 SR + (γ4 - 1)/4 SR²) / (n - 1)`. With one trial there is nothing to
/// deflate: it is the probabilistic Sharpe ratio against 0.
pub fn deflated_sharpe(moments: &Moments, trials: usize, trial_sharpe_variance: Option<f64>) -> Option<f64> {
    if trials <= 1 {
        return probabilistic_sharpe(moments, 0.0);
    }
    let sharpe = (moments.std > 0.0).then(|| moments.mean / moments.std)?;
    #[expect(clippy::cast_precision_loss, reason = "trial and bar counts are far below 2^52")]
    let (trials, n) = (trials as f64, moments.n as f64);
    let variance = trial_sharpe_variance.unwrap_or_else(|| {
        (1.0 - moments.skewness * sharpe + (moments.kurtosis - 1.0) / 4.0 * sharpe * sharpe) / (n - 1.0)
    });
    let expected_max = variance.max(0.0).sqrt()
        * ((1.0 - EULER_GAMMA) * normal_quantile(1.0 - 1.0 / trials)
            + EULER_GAMMA * normal_quantile(1.0 - 1.0 / (trials * std::f64::consts::E)));
    probabilistic_sharpe(moments, expected_max)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn days(n: usize) -> Vec<DateTime<Utc>> {
        (0..n)
            .map(|i| Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::days(i as i64))
            .collect()
    }

    /// A series worked by hand: closes 100, 102, 99, 99, 104.94, 100, so returns +2 %,
    /// -2.941176 %, 0 %, +6 %, -4.70745 % for the five rows that have a next bar.
    #[test]
    fn a_hand_computed_series_matches_to_1e_12_costs_included() {
        let closes = [100.0, 102.0, 99.0, 99.0, 104.94, 100.0];
        let returns: Vec<f64> = closes.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
        let times = days(5);
        let market = Market { times: &times, returns: &returns, bars_per_year: 252.0 };
        // Long, short, flat, long, short: trades of 1, 2, 1, 1, 2 units.
        let directions = [
            Direction::Bullish,
            Direction::Bearish,
            Direction::Neutral,
            Direction::Bullish,
            Direction::Bearish,
        ];
        let positions: Vec<f64> = directions.iter().map(|d| Book::LongShort.position(*d)).collect();
        let performance = run(&positions, &market, 10.0);
        let cost = 0.001;
        let expected_net = [
            0.02 - cost,
            -(99.0 / 102.0 - 1.0) - 2.0 * cost,
            0.0 - cost,
            (104.94 / 99.0 - 1.0) - cost,
            -(100.0 / 104.94 - 1.0) - 2.0 * cost,
        ];
        for (got, want) in net_returns(&positions, &returns, 10.0).iter().zip(expected_net) {
            assert!((got - want).abs() < 1e-12, "{got} != {want}");
        }
        let equity: f64 = expected_net.iter().map(|n| 1.0 + n).product();
        assert!((performance.total_return - (equity - 1.0)).abs() < 1e-12);
        assert!((performance.annualized_return - (equity.powf(252.0 / 5.0) - 1.0)).abs() < 1e-9);
        assert_eq!((performance.trades, performance.turnover), (5, 7.0));
        assert!((performance.exposure - 0.8).abs() < 1e-12);
        assert_eq!(performance.hit_rate, Some(1.0), "every position earned before costs");
        let drawdown = 1.0
            - (1.0 + expected_net[0]) * (1.0 + expected_net[1]) * (1.0 + expected_net[2])
                / ((1.0 + expected_net[0]) * (1.0 + expected_net[1]));
        assert!((performance.max_drawdown - drawdown).abs() < 1e-12, "the flat bar's cost is the only fall");
        let mean = expected_net.iter().sum::<f64>() / 5.0;
        let std = (expected_net.iter().map(|n| (n - mean).powi(2)).sum::<f64>() / 4.0).sqrt();
        assert!((performance.sharpe.unwrap() - mean / std * 252.0_f64.sqrt()).abs() < 1e-12);
        let downside = (cost * cost / 5.0).sqrt();
        assert!((performance.sortino.unwrap() - mean / downside * 252.0_f64.sqrt()).abs() < 1e-9);
        assert_eq!(performance.equity_curve.len(), 5);
        assert!((performance.equity_curve[4].equity - equity).abs() < 1e-12);

        let long_only: Vec<f64> = directions.iter().map(|d| Book::LongOnly.position(*d)).collect();
        assert_eq!(long_only, [1.0, 0.0, 0.0, 1.0, 0.0]);
        let buy_and_hold = run(&[1.0; 5], &market, 10.0);
        // One purchase at the first bar, then the price's own path back to 100.
        assert!((buy_and_hold.total_return - ((1.02 - 0.001) / 1.02 - 1.0)).abs() < 1e-12);
    }

    /// A fixed-seed Gaussian stream (xorshift64* and Box–Muller).
    fn gaussian(seed: u64) -> impl FnMut() -> f64 {
        let mut state = seed;
        let mut uniform = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            ((state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        move || (-2.0 * uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform()).cos()
    }

    #[test]
    fn the_probabilistic_sharpe_ratio_rejects_luck_only_for_a_real_edge() {
        let mut noise = gaussian(7);
        let walk: Vec<f64> = (0..1000).map(|_| 0.01 * noise()).collect();
        let luck = probabilistic_sharpe(&Moments::of(&walk).unwrap(), 0.0).unwrap();
        assert!(luck < 0.95, "a random walk does not look skilled at 95 %: PSR {luck}");
        // The same noise with a planted edge of 0.2 standard deviations per bar.
        let edge: Vec<f64> = walk.iter().map(|r| r + 0.002).collect();
        let skill = probabilistic_sharpe(&Moments::of(&edge).unwrap(), 0.0).unwrap();
        assert!(skill > 0.99, "a planted signal does: PSR {skill}");
        // Deflation by many trials can only lower it.
        let deflated = deflated_sharpe(&Moments::of(&edge).unwrap(), 100, None).unwrap();
        assert!(deflated < skill && deflated > 0.0, "{deflated}");
        assert_eq!(deflated_sharpe(&Moments::of(&edge).unwrap(), 1, None), Some(skill));
    }

    #[test]
    fn the_probabilistic_sharpe_ratio_matches_the_paper_formula() {
        // A sample with SR 0.1 per bar, skewness -1, kurtosis 6 over 101 bars, against 0:
        // z = 0.1 * 10 / sqrt(1 + 0.1 + 5/4 * 0.01) = 1 / sqrt(1.1125).
        let moments = Moments { n: 101, mean: 0.1, std: 1.0, skewness: -1.0, kurtosis: 6.0 };
        let expected = normal_cdf(1.0 / 1.1125_f64.sqrt());
        assert!((probabilistic_sharpe(&moments, 0.0).unwrap() - expected).abs() < 1e-15);
    }

    #[test]
    fn bars_per_year_come_from_the_timestamps() {
        let daily = days(366);
        let per_year = bars_per_year(&daily).unwrap();
        assert!((per_year - 365.25).abs() < 1e-9, "{per_year}");
        assert_eq!(bars_per_year(&daily[..1]), None);
    }

    #[test]
    fn an_equity_curve_is_downsampled_keeping_its_last_point() {
        let times = days(1000);
        let returns = vec![0.001; 1000];
        let market = Market { times: &times, returns: &returns, bars_per_year: 365.25 };
        let performance = run(&[1.0; 1000], &market, 0.0);
        let curve = &performance.equity_curve;
        assert!(curve.len() <= CURVE_POINTS, "{}", curve.len());
        assert_eq!(curve.last().unwrap().ts, times[999]);
        assert!((curve.last().unwrap().equity - 1.001_f64.powi(1000)).abs() < 1e-9);
    }
}
