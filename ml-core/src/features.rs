//! The technical feature set: versioned, ordered, and causal (the value at bar t is a function
//! of bars `..=t` only), computed with polars expressions.
//!
//! [`FEATURES`] lists every column in output order with its warm-up. Two families live there:
//! - the original pipeline's columns, with its conventions (pandas `ewm(span, adjust=False)`
//!   seeded with the first value for EMA, RSI, ATR and ADX; `min_periods=1` SMAs of close;
//!   population std for Bollinger, sample std elsewhere; the first true range is high - low).
//!   They match `../shared/data/reference` to 1e-9 (see `tests/parity.rs`);
//! - scale-free derivatives of the price-level columns (ratios to close), because trees trained on
//!   price levels do not carry across years. [`TRAINING_FEATURES`] are all scale-free.
//!
//! Where the original divided by zero (a flat range, no move), the value is missing (null),
//! never ±inf; RSI and MFI over a window with no down move are 100 (the limit), where the
//! original gave NaN. A row is [`READY_COLUMN`] when it is past [`TRAINING_WARM_UP`] and every training
//! feature is finite: only ready rows train or predict. No value is ever back-filled.
//!
//! `docs/features.md` documents each column; a test keeps it in step with [`FEATURES`].

use polars::lazy::dsl::{max_horizontal, sum_horizontal};
use polars::prelude::*;

use crate::bar::Bar;

/// Bumped whenever a column is added, removed, reordered or computed differently; an artifact
/// trained on another version is refused.
pub const FEATURE_SCHEMA_VERSION: u32 = 1;

/// One output column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    pub name: &'static str,
    /// Index of the first row with a settled value: earlier rows are missing, or computed from a
    /// partial window (`min_periods=1` SMAs, freshly seeded EMAs).
    pub warm_up: usize,
    /// Part of the default training set (scale-free).
    pub trains: bool,
}

const fn feature(name: &'static str, warm_up: usize, trains: bool) -> Feature {
    Feature { name, warm_up, trains }
}

/// Every feature column, in output order.
pub const FEATURES: &[Feature] = &[
    feature("returns_1d", 1, true),
    feature("returns_5d", 5, true),
    feature("returns_20d", 20, true),
    feature("sma_5", 4, false),
    feature("sma_10", 9, false),
    feature("sma_20", 19, false),
    feature("sma_50", 49, false),
    feature("sma_200", 199, false),
    feature("ema_12", 11, false),
    feature("ema_26", 25, false),
    feature("macd", 25, false),
    feature("macd_signal", 33, false),
    feature("macd_hist", 33, false),
    feature("macd_hist_prev", 34, false),
    feature("rsi_14", 14, true),
    feature("bb_upper", 19, false),
    feature("bb_middle", 19, false),
    feature("bb_lower", 19, false),
    feature("bb_width", 19, true),
    feature("bb_pct_b", 19, true),
    feature("bb_std", 19, false),
    feature("bb_band_position", 19, true),
    feature("bb_width_pct", 68, true),
    feature("bb_expansion_ratio", 68, true),
    feature("bb_squeeze", 19, true),
    feature("plus_di", 14, true),
    feature("minus_di", 14, true),
    feature("adx", 27, true),
    feature("adx_normalized", 27, false),
    feature("di_divergence", 14, true),
    feature("adx_momentum", 28, true),
    feature("trend_bullish", 14, true),
    feature("trend_bearish", 14, true),
    feature("adx_strength", 27, true),
    feature("kdj_k", 12, true),
    feature("kdj_d", 16, true),
    feature("kdj_j", 16, true),
    feature("kdj_j_divergence", 16, true),
    feature("stoch_k", 12, false),
    feature("stoch_d", 16, false),
    feature("williams_r", 13, true),
    feature("cci", 19, true),
    feature("atr", 10, false),
    feature("atr_14", 14, false),
    feature("atr_normalized", 14, true),
    feature("volume_sma_20", 19, false),
    feature("volume_ratio", 19, true),
    feature("mfi_14", 13, true),
    feature("mfi", 13, false),
    feature("obv", 0, false),
    feature("obv_sma", 19, false),
    feature("volatility_20d", 20, true),
    feature("price_vs_sma20", 19, true),
    feature("price_vs_sma50", 49, true),
    feature("vol_of_vol", 29, true),
    feature("vol_trend", 40, true),
    // Scale-free forms of the price-level columns above.
    feature("price_vs_sma5", 4, true),
    feature("price_vs_sma10", 9, true),
    feature("ema_ratio", 25, true),
    feature("macd_pct", 25, true),
    feature("macd_signal_pct", 33, true),
    feature("macd_hist_pct", 33, true),
    feature("macd_hist_prev_pct", 34, true),
    feature("atr_pct", 10, true),
    feature("obv_vs_sma", 19, true),
];

/// The first row at which every training feature is settled: the largest training warm-up.
pub const TRAINING_WARM_UP: usize = {
    let mut longest = 0;
    let mut i = 0;
    while i < FEATURES.len() {
        if FEATURES[i].trains && FEATURES[i].warm_up > longest {
            longest = FEATURES[i].warm_up;
        }
        i += 1;
    }
    longest
};

/// Boolean column: the row is past the warm-up and every training feature is finite.
pub const READY_COLUMN: &str = "ready";

/// The default training set, in model-input order.
pub fn training_features() -> impl Iterator<Item = &'static str> {
    FEATURES.iter().filter(|f| f.trains).map(|f| f.name)
}

/// The bars as a frame: `ts` (ms since the epoch, UTC), `open`, `high`, `low`, `close`, `volume`.
pub fn bars_frame(bars: &[Bar]) -> PolarsResult<DataFrame> {
    let column = |name: &str, field: fn(&Bar) -> f64| {
        Column::new(name.into(), bars.iter().map(field).collect::<Vec<f64>>())
    };
    let ts: Vec<i64> = bars.iter().map(|b| b.ts.timestamp_millis()).collect();
    DataFrame::new(
        bars.len(),
        vec![
            Column::new("ts".into(), ts)
                .cast(&DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC)))?,
            column("open", |b| b.open),
            column("high", |b| b.high),
            column("low", |b| b.low),
            column("close", |b| b.close),
            column("volume", |b| b.volume),
        ],
    )
}

/// The bars with every column of [`FEATURES`] and [`READY_COLUMN`]. Missing values are null.
///
/// The computation runs in stages; each stage's columns are functions of earlier stages'. A
/// series used more than once is a (`_`-prefixed, dropped) column of its own, so that nothing
/// is evaluated twice.
pub fn compute(bars: &[Bar]) -> PolarsResult<DataFrame> {
    let rows = Column::new(ROW_COLUMN.into(), row_numbers(bars.len()));
    let frame = bars_frame(bars)?.hstack(&[rows])?;
    let frame = features(frame.lazy(), Rows::OneSeries)?.drop(cols([ROW_COLUMN])).collect()?;
    debug_assert_eq!(frame.width(), 6 + FEATURES.len() + 1);
    Ok(frame)
}

/// [`compute`] for many series at once: every series' rows one after another, with a
/// [`SERIES_COLUMN`] naming the series (its index in `series`) of each. Each series' values are
/// exactly what [`compute`] gives it alone (`tests/features.rs`), at the cost of one query
/// plan for all: planning costs polars about 3 ms whatever the rows, more than a forecast's
/// 500 bars take to compute.
pub fn compute_many(series: &[&[Bar]]) -> PolarsResult<DataFrame> {
    let all: Vec<Bar> = series.iter().flat_map(|bars| bars.iter().copied()).collect();
    let (mut index, mut rows) = (Vec::with_capacity(all.len()), Vec::with_capacity(all.len()));
    for (i, bars) in series.iter().enumerate() {
        let i = u32::try_from(i).map_err(|_| polars_err!(ComputeError: "more series than u32 holds"))?;
        index.extend(std::iter::repeat_n(i, bars.len()));
        rows.extend(row_numbers(bars.len()));
    }
    let frame = bars_frame(&all)?
        .hstack(&[Column::new(SERIES_COLUMN.into(), index), Column::new(ROW_COLUMN.into(), rows)])?;
    features(frame.lazy(), Rows::ManySeries)?.drop(cols([ROW_COLUMN])).collect()
}

/// Which series a row of [`compute_many`] belongs to.
pub const SERIES_COLUMN: &str = "series";

/// Each row's place in its series (dropped from the output).
const ROW_COLUMN: &str = "_row";

fn row_numbers(count: usize) -> Vec<u32> {
    (0..count).map(|row| u32::try_from(row).unwrap_or(u32::MAX)).collect()
}

/// The feature stages over `frame` (the bars, [`ROW_COLUMN`], and [`SERIES_COLUMN`] when
/// there are many series), keeping the bars, the features, the ready flag and those two.
fn features(frame: LazyFrame, rows: Rows) -> PolarsResult<LazyFrame> {
    let kept = ["ts", "open", "high", "low", "close", "volume"]
        .into_iter()
        .chain(FEATURES.iter().map(|f| f.name))
        .chain([ROW_COLUMN])
        .chain((rows == Rows::ManySeries).then_some(SERIES_COLUMN))
        .map(col)
        .collect::<Vec<Expr>>();
    Ok(frame
        .with_columns(stage_1_inputs(rows))
        .with_columns(stage_2_indicators(rows))
        .with_columns(stage_3_combinations(rows))
        .with_columns(stage_4_second_order(rows)?)
        .with_columns(stage_5_third_order(rows))
        .with_columns(stage_6_from_adx_and_histogram(rows))
        .with_column(pct_of_close("macd_hist_prev"))
        .select(kept)
        .with_column(ready()?))
}

/// How the order-dependent expressions (shifts, differences, rolling windows, EMAs, running
/// sums) read the rows: as one series, or as many series one after another, each on its own
/// (a window over [`SERIES_COLUMN`]). Elementwise expressions read rows alike either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rows {
    OneSeries,
    ManySeries,
}

impl Rows {
    /// `e`, order-dependent, over each series alone.
    fn each(self, e: Expr) -> Expr {
        match self {
            Self::OneSeries => e,
            Self::ManySeries => e.over([col(SERIES_COLUMN)]).expect("a partition is given"),
        }
    }
}

// --- building blocks, named after the pandas calls they reproduce -------------------------

fn c() -> Expr {
    col("close")
}

fn window(size: usize, min_periods: usize) -> RollingOptionsFixedWindow {
    RollingOptionsFixedWindow { window_size: size, min_periods, ..Default::default() }
}

/// `rolling(n).std(ddof)`, needing a full window.
fn rolling_std(rows: Rows, e: Expr, n: usize, ddof: u8) -> Expr {
    rows.each(e.rolling_std(RollingOptionsFixedWindow {
        fn_params: Some(RollingFnParams::Var(RollingVarParams { ddof })),
        ..window(n, n)
    }))
}

/// `rolling(n).mean()`, needing a full window.
fn rolling_mean(rows: Rows, e: Expr, n: usize) -> Expr {
    rows.each(e.rolling_mean(window(n, n)))
}

/// `ewm(span=n, adjust=False).mean()`: seeded with the first non-null value; a null input
/// carries the previous value, as pandas does.
fn ema(rows: Rows, e: Expr, span: usize) -> Expr {
    #[expect(clippy::cast_precision_loss, reason = "spans are small")]
    let alpha = 2.0 / (span as f64 + 1.0);
    rows.each(e.ewm_mean(EWMOptions {
        alpha,
        adjust: false,
        bias: false,
        min_periods: 1,
        ignore_nulls: false,
    }))
}

/// The value `n` rows back in the same series. Over many series a plain shift, with the rows
/// whose `n` rows back are another series' masked: as exact as a window, and much cheaper
/// (a window per shift made [`compute_many`] twice as slow).
fn shift(rows: Rows, e: Expr, n: i64) -> Expr {
    match rows {
        Rows::OneSeries => e.shift(lit(n)),
        Rows::ManySeries => {
            let back = u32::try_from(n).expect("shifts are back, by a small window");
            when(col(ROW_COLUMN).gt_eq(lit(back))).then(e.shift(lit(n))).otherwise(lit(NULL))
        }
    }
}

/// `diff(n)`: the change over `n` rows.
fn diff(rows: Rows, e: Expr, n: i64) -> Expr {
    e.clone() - shift(rows, e, n)
}

/// `pct_change(n)` of a series without missing values, as polars computes it: the change over
/// `n` rows over the value `n` rows back.
fn pct_change(rows: Rows, e: Expr, n: i64) -> Expr {
    let back = shift(rows, e.clone(), n);
    (e - back.clone()) / back
}

/// `a / b`, missing where `b` is zero (the original's `b.replace(0, NaN)`).
fn ratio(a: Expr, b: Expr) -> Expr {
    a / when(b.clone().eq(lit(0.0))).then(lit(NULL)).otherwise(b)
}

/// `x.where(cond, 0)`: `x` where the condition holds, else 0 (also where it is missing).
fn where_or_zero(condition: Expr, x: Expr) -> Expr {
    when(condition).then(x).otherwise(lit(0.0))
}

fn flag(condition: Expr) -> Expr {
    condition.fill_null(lit(false)).cast(DataType::Float64)
}

// --- stages -----------------------------------------------------------------------------

/// True range, typical price, price changes and the stochastic ranges.
fn stage_1_inputs(rows: Rows) -> Vec<Expr> {
    let prev_close = shift(rows, c(), 1);
    vec![
        // The first bar has no previous close, and max_horizontal skips the null.
        max_horizontal([
            col("high") - col("low"),
            (col("high") - prev_close.clone()).abs(),
            (col("low") - prev_close).abs(),
        ])
        .expect("three inputs")
        .alias("_tr"),
        ((col("high") + col("low") + c()) / lit(3.0)).alias("_tp"),
        diff(rows, c(), 1).alias("_delta"),
        diff(rows, col("high"), 1).alias("_up"),
        (-diff(rows, col("low"), 1)).alias("_down"),
        pct_change(rows, c(), 1).alias("returns_1d"),
        // KDJ's 9-bar range allows partial windows; Williams %R's 14-bar one does not.
        rows.each(col("low").rolling_min(window(9, 1))).alias("_low_9"),
        rows.each(col("high").rolling_max(window(9, 1))).alias("_high_9"),
        rows.each(col("low").rolling_min(window(14, 14))).alias("_low_14"),
        rows.each(col("high").rolling_max(window(14, 14))).alias("_high_14"),
    ]
}

/// Moving averages, EMAs and rolling sums of price, volume and stage 1.
fn stage_2_indicators(rows: Rows) -> Vec<Expr> {
    let (up, down) = (col("_up"), col("_down"));
    let plus_dm = where_or_zero(up.clone().gt(down.clone()).and(up.clone().gt(lit(0.0))), up.clone());
    let minus_dm = where_or_zero(down.clone().gt(up).and(down.clone().gt(lit(0.0))), down);
    let tp_change = diff(rows, col("_tp"), 1);
    let money_flow = col("_tp") * col("volume");
    // RSI's gains and losses; the first bar's missing change counts as 0.
    let gains = where_or_zero(col("_delta").gt(lit(0.0)), col("_delta"));
    let losses = where_or_zero(col("_delta").lt(lit(0.0)), -col("_delta"));
    let rsv = lit(100.0) * ratio(c() - col("_low_9"), col("_high_9") - col("_low_9"));
    let mut exprs = vec![
        pct_change(rows, c(), 5).alias("returns_5d"),
        pct_change(rows, c(), 20).alias("returns_20d"),
        ema(rows, c(), 12).alias("ema_12"),
        ema(rows, c(), 26).alias("ema_26"),
        rolling_mean(rows, c(), 20).alias("bb_middle"),
        rolling_std(rows, c(), 20, 0).alias("bb_std"),
        ema(rows, col("_tr"), 10).alias("atr"),
        ema(rows, col("_tr"), 14).alias("atr_14"),
        rolling_mean(rows, col("volume"), 20).alias("volume_sma_20"),
        (rolling_std(rows, col("returns_1d"), 20, 1) * lit(252f64.sqrt())).alias("volatility_20d"),
        ema(rows, gains, 14).alias("_avg_gain"),
        ema(rows, losses, 14).alias("_avg_loss"),
        (lit(-100.0) * ratio(col("_high_14") - c(), col("_high_14") - col("_low_14"))).alias("williams_r"),
        rolling_mean(rows, col("_tp"), 20).alias("_tp_mean_20"),
        rows.each(
            where_or_zero(tp_change.clone().gt(lit(0.0)), money_flow.clone()).rolling_sum(window(14, 14)),
        )
        .alias("_flow_up"),
        rows.each(where_or_zero(tp_change.lt(lit(0.0)), money_flow).rolling_sum(window(14, 14)))
            .alias("_flow_down"),
        obv(rows).alias("obv"),
        // The Keltner channel of the squeeze: EMA(20) of close, a plain 10-bar mean of TR.
        ema(rows, c(), 20).alias("_kc_middle"),
        rolling_mean(rows, col("_tr"), 10).alias("_kc_atr"),
        ema(rows, rsv, 5).alias("kdj_k"),
        ema(rows, plus_dm, 14).alias("_plus_dm"),
        ema(rows, minus_dm, 14).alias("_minus_dm"),
    ];
    for n in [5, 10, 20, 50, 200] {
        exprs.push(rows.each(c().rolling_mean(window(n, 1))).alias(format!("sma_{n}")));
    }
    exprs
}

/// Combinations of stage 2: oscillators, bands, ratios.
fn stage_3_combinations(rows: Rows) -> Vec<Expr> {
    let upper = col("bb_middle") + lit(2.0) * col("bb_std");
    let lower = col("bb_middle") - lit(2.0) * col("bb_std");
    let band_range = upper.clone() - lower.clone();
    let kc_upper = col("_kc_middle") + lit(2.0) * col("_kc_atr");
    let kc_lower = col("_kc_middle") - lit(2.0) * col("_kc_atr");
    let vol_20 = col("volatility_20d");
    vec![
        up_share(col("_avg_gain"), col("_avg_loss")).alias("rsi_14"),
        up_share(col("_flow_up"), col("_flow_down")).alias("mfi_14"),
        mean_deviation(rows, "_tp", "_tp_mean_20", 20).alias("_tp_deviation_20"),
        ema(rows, col("kdj_k"), 5).alias("kdj_d"),
        col("kdj_k").alias("stoch_k"),
        (lit(100.0) * ratio(col("_plus_dm"), col("atr_14"))).alias("plus_di"),
        (lit(100.0) * ratio(col("_minus_dm"), col("atr_14"))).alias("minus_di"),
        upper.clone().alias("bb_upper"),
        lower.clone().alias("bb_lower"),
        (band_range.clone() / col("bb_middle") * lit(100.0)).alias("bb_width"),
        when(band_range.clone().gt(lit(0.0)))
            .then((c() - lower.clone()) / band_range)
            .otherwise(lit(0.5))
            .alias("bb_pct_b"),
        when(col("bb_std").gt(lit(0.0)))
            .then((c() - col("bb_middle")) / col("bb_std"))
            .otherwise(lit(0.0))
            .alias("bb_band_position"),
        flag(upper.lt(kc_upper).and(lower.gt(kc_lower))).alias("bb_squeeze"),
        (col("ema_12") - col("ema_26")).alias("macd"),
        (col("ema_12") / col("ema_26") - lit(1.0)).alias("ema_ratio"),
        (col("atr_14") / c() * lit(100.0)).alias("atr_normalized"),
        (col("atr") / c() * lit(100.0)).alias("atr_pct"),
        (col("volume") / col("volume_sma_20")).alias("volume_ratio"),
        rolling_mean(rows, col("obv"), 20).alias("obv_sma"),
        price_vs("sma_5").alias("price_vs_sma5"),
        price_vs("sma_10").alias("price_vs_sma10"),
        price_vs("sma_20").alias("price_vs_sma20"),
        price_vs("sma_50").alias("price_vs_sma50"),
        rolling_std(rows, vol_20.clone(), 10, 1).alias("vol_of_vol"),
        diff(rows, vol_20, 20).alias("vol_trend"),
    ]
}

/// What needs stage 3: CCI, the rest of KDJ, the DI comparisons, the band-width statistics,
/// the MACD signal.
fn stage_4_second_order(rows: Rows) -> PolarsResult<Vec<Expr>> {
    let (k, d) = (col("kdj_k"), col("kdj_d"));
    Ok(vec![
        ratio(col("_tp") - col("_tp_mean_20"), lit(0.015) * col("_tp_deviation_20")).alias("cci"),
        (lit(3.0) * k - lit(2.0) * d.clone()).alias("kdj_j"),
        d.alias("stoch_d"),
        col("mfi_14").alias("mfi"),
        ratio((col("plus_di") - col("minus_di")).abs() * lit(100.0), col("plus_di") + col("minus_di"))
            .alias("_dx"),
        (col("plus_di") - col("minus_di")).abs().alias("di_divergence"),
        flag(col("plus_di").gt(col("minus_di"))).alias("trend_bullish"),
        flag(col("minus_di").gt(col("plus_di"))).alias("trend_bearish"),
        width_percentile(rows, "bb_width", 50).alias("bb_width_pct"),
        rolling_mean(rows, col("bb_width"), 50).alias("_width_mean_50"),
        ema(rows, col("macd"), 9).alias("macd_signal"),
        pct_of_close("macd"),
        ratio(col("obv") - col("obv_sma"), col("volume_sma_20")).alias("obv_vs_sma"),
    ])
}

fn stage_5_third_order(rows: Rows) -> Vec<Expr> {
    let average_width = col("_width_mean_50");
    vec![
        (col("kdj_j") - col("kdj_d")).alias("kdj_j_divergence"),
        ema(rows, col("_dx"), 14).alias("adx"),
        when(average_width.clone().gt(lit(0.0)))
            .then(col("bb_width") / average_width)
            .otherwise(lit(1.0))
            .alias("bb_expansion_ratio"),
        (col("macd") - col("macd_signal")).alias("macd_hist"),
        pct_of_close("macd_signal"),
    ]
}

fn stage_6_from_adx_and_histogram(rows: Rows) -> Vec<Expr> {
    let adx = col("adx");
    vec![
        (adx.clone() / lit(100.0)).alias("adx_normalized"),
        diff(rows, adx.clone(), 1).alias("adx_momentum"),
        adx_strength(&adx).alias("adx_strength"),
        shift(rows, col("macd_hist"), 1).alias("macd_hist_prev"),
        pct_of_close("macd_hist"),
    ]
}

/// Past the warm-up, with every training feature finite. A sum is finite exactly when every
/// term is (a null, NaN or infinity carries through), and one sum is far cheaper than a
/// boolean column per feature.
fn ready() -> PolarsResult<Expr> {
    #[expect(clippy::cast_possible_truncation, reason = "the warm-up is a small constant")]
    let past_warm_up = col(ROW_COLUMN).gt_eq(lit(TRAINING_WARM_UP as u32));
    let all_features = sum_horizontal(training_features().map(col).collect::<Vec<_>>(), false)?;
    Ok(all_features.is_finite().fill_null(lit(false)).and(past_warm_up).alias(READY_COLUMN))
}

// --- indicators with more than one step ----------------------------------------------------

/// `name / close * 100`, named `{name}_pct`.
fn pct_of_close(name: &str) -> Expr {
    (col(name) / c() * lit(100.0)).alias(format!("{name}_pct"))
}

/// `(close - average) / average`, exactly as the original wrote it.
fn price_vs(average: &str) -> Expr {
    (c() - col(average)) / col(average)
}

/// `100 * up / (up + down)`: the same as `100 - 100 / (1 + up / down)`, but 100 rather than
/// the original's NaN when nothing went down, and missing only when nothing moved.
fn up_share(up: Expr, down: Expr) -> Expr {
    lit(100.0) * ratio(up.clone(), up + down)
}

/// The mean absolute deviation of `series` around each window's own mean (`mean`, over `n`
/// bars), as CCI needs: it is not a running statistic, so it is summed over the window's shifts.
fn mean_deviation(rows: Rows, series: &str, mean: &str, n: usize) -> Expr {
    let deviations: Vec<Expr> = (0..n)
        .map(|k| (shift(rows, col(series), i64::try_from(k).expect("small window")) - col(mean)).abs())
        .collect();
    #[expect(clippy::cast_precision_loss, reason = "small window")]
    let n = n as f64;
    sum_horizontal(deviations, false).expect("a non-empty window") / lit(n)
}

/// On-balance volume from 0: volume added on up closes, subtracted on down closes.
fn obv(rows: Rows) -> Expr {
    rows.each(
        when(col("_delta").gt(lit(0.0)))
            .then(col("volume"))
            .when(col("_delta").lt(lit(0.0)))
            .then(-col("volume"))
            .otherwise(lit(0.0))
            .cum_sum(false),
    )
}

/// `pd.cut(adx, [0, 20, 25, 30, 100], labels=[0, 1, 2, 3], include_lowest=True)`.
fn adx_strength(adx: &Expr) -> Expr {
    let within = |low: f64, high: f64| adx.clone().gt(lit(low)).and(adx.clone().lt_eq(lit(high)));
    when(adx.clone().gt_eq(lit(0.0)).and(adx.clone().lt_eq(lit(20.0))))
        .then(lit(0.0))
        .when(within(20.0, 25.0))
        .then(lit(1.0))
        .when(within(25.0, 30.0))
        .then(lit(2.0))
        .when(within(30.0, 100.0))
        .then(lit(3.0))
        .otherwise(lit(NULL))
}

/// The share (in %) of the last `n` widths that the current width strictly exceeds; missing
/// until `n` widths exist.
fn width_percentile(rows: Rows, width: &str, n: usize) -> Expr {
    let n_i64 = i64::try_from(n).expect("small window");
    let exceeded: Vec<Expr> = (1..n_i64).map(|k| col(width).gt(shift(rows, col(width), k))).collect();
    #[expect(clippy::cast_precision_loss, reason = "small window")]
    let n_f64 = n as f64;
    let share = sum_horizontal(exceeded, true).expect("a non-empty window").cast(DataType::Float64)
        / lit(n_f64)
        * lit(100.0);
    when(shift(rows, col(width), n_i64 - 1).is_not_null()).then(share).otherwise(lit(NULL))
}
