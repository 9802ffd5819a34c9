//! The evaluation and the forecast as text tables for people.

use std::fmt::Write;

use ml_core::ingest::BarSeries;
use ml_core::labels::{Direction, ThresholdRule};
use ml_core::model::artifact::Manifest;
use ml_core::model::backtest::Backtest;
use ml_core::model::calibration::Calibration;
use ml_core::model::metrics::{Metrics, Proportion};
use ml_core::model::scores::{Composite, Score, Scores};
use ml_core::model::{Forecast, ModelReport};

fn interval(p: &Proportion) -> String {
    format!("{:.3} [{:.3}, {:.3}]", p.value, p.low, p.high)
}

fn optional(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}

fn row(out: &mut String, name: &str, metrics: &Metrics, train: Option<&ModelReport>) {
    let (train_accuracy, overfit) = train.map_or_else(
        || ("-".to_owned(), "-".to_owned()),
        |r| (format!("{:.3}", r.train_accuracy.value), format!("{:+.3}", r.overfit_margin)),
    );
    let _ = writeln!(
        out,
        "  {name:<20} {:<24} {:>8} {:>7} {:>9} {:>8}",
        interval(&metrics.accuracy),
        optional(metrics.log_loss),
        optional(metrics.brier),
        train_accuracy,
        overfit
    );
}

fn per_class(out: &mut String, name: &str, metrics: &Metrics) {
    let _ = writeln!(out, "  {name}");
    for class in &metrics.per_class {
        let _ = writeln!(
            out,
            "    {:<8} precision {:>6}  recall {:>6}  f1 {:>6}  support {:>5}",
            class.class.as_str(),
            optional(class.precision),
            optional(class.recall),
            optional(class.f1),
            class.support
        );
    }
}

fn classes(counts: [usize; 3]) -> String {
    Direction::ALL
        .iter()
        .map(|d| format!("{} {}", d.as_str(), counts[d.index()]))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The full evaluation of a training run.
pub(super) fn evaluation(manifest: &Manifest) -> String {
    let e = &manifest.evaluation;
    let s = &e.samples;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} | artifact {} | {} bars {} .. {} | horizon {} bars, threshold {}{} | ensemble {}",
        manifest.symbol,
        manifest.timeframe,
        manifest.version,
        s.bars,
        manifest.data.first_bar.format("%Y-%m-%d %H:%M"),
        manifest.data.last_bar.format("%Y-%m-%d %H:%M"),
        manifest.labels.horizon,
        manifest.labels.threshold,
        match manifest.config.threshold_rule {
            ThresholdRule::Fixed => "",
            ThresholdRule::Balanced => " (auto: a third of the training rows NEUTRAL)",
        },
        manifest.config.ensemble.as_str()
    );
    let _ = writeln!(
        out,
        "rows: {} usable, {} train ({} purged), {} validation",
        s.usable_rows, s.train_rows, s.purged_rows, s.validation_rows
    );
    let _ = writeln!(out, "train classes: {}", classes(s.train_classes));
    let _ = writeln!(out, "validation classes: {}\n", classes(s.validation_classes));
    let _ = writeln!(
        out,
        "  {:<20} {:<24} {:>8} {:>7} {:>9} {:>8}",
        "validation", "accuracy [95% CI]", "log-loss", "brier", "train acc", "overfit"
    );
    row(&mut out, "random forest", &e.random_forest.validation, Some(&e.random_forest));
    row(&mut out, "gradient boosting", &e.gradient_boosting.validation, Some(&e.gradient_boosting));
    row(&mut out, "ensemble", &e.ensemble.validation, Some(&e.ensemble));
    let majority = format!("majority ({})", e.baselines.majority_class.as_str());
    row(&mut out, &majority, &e.baselines.majority, None);
    row(&mut out, "persistence", &e.baselines.persistence, None);
    let _ = writeln!(out);
    per_class(&mut out, "random forest", &e.random_forest.validation);
    per_class(&mut out, "gradient boosting", &e.gradient_boosting.validation);
    per_class(&mut out, "ensemble", &e.ensemble.validation);
    let _ = writeln!(out, "\n  ensemble confusion (rows true, columns predicted: BEARISH NEUTRAL BULLISH)");
    for (class, counts) in Direction::ALL.iter().zip(&e.ensemble.validation.confusion) {
        let _ = writeln!(out, "    {:<8} {:>7} {:>7} {:>7}", class.as_str(), counts[0], counts[1], counts[2]);
    }
    let _ =
        writeln!(out, "\nweights: random forest {:.3}, gradient boosting {:.3}", e.weights[0], e.weights[1]);
    if let Some(walk_forward) = &e.walk_forward {
        let _ = writeln!(out, "\nwalk-forward ({} folds, expanding):", walk_forward.folds.len());
        for (i, fold) in walk_forward.folds.iter().enumerate() {
            let _ = writeln!(
                out,
                "  fold {} train {:>5} validation {:>5}{}: ensemble {}  majority {}  persistence {}",
                i + 1,
                fold.train_rows,
                fold.validation_rows,
                match (manifest.config.threshold_rule, fold.threshold) {
                    (ThresholdRule::Balanced, Some(threshold)) => format!(" threshold {threshold:.5}"),
                    _ => String::new(),
                },
                interval(&fold.ensemble.accuracy),
                interval(&fold.majority.accuracy),
                interval(&fold.persistence.accuracy)
            );
        }
        let pooled = &walk_forward.pooled;
        let _ = writeln!(
            out,
            "  pooled validation {:>5}: ensemble {}  majority {}  persistence {}",
            pooled.validation_rows,
            interval(&pooled.ensemble.accuracy),
            interval(&pooled.majority.accuracy),
            interval(&pooled.persistence.accuracy)
        );
    }
    if let Some(backtest) = &e.backtest {
        backtest_table(&mut out, backtest, e.baselines.majority_class);
    }
    if let (Some(scores), Some(composite)) = (&e.scores, &e.composite) {
        scores_lines(&mut out, scores, composite);
    }
    if let Some(calibration) = &e.calibration {
        calibration_lines(&mut out, calibration);
    }
    let _ = writeln!(out, "verdict: {}", e.verdict.summary);
    out
}

fn percent(value: f64) -> String {
    format!("{:+.1}%", value * 100.0)
}

fn backtest_table(out: &mut String, backtest: &Backtest, majority_class: Direction) {
    let _ = writeln!(
        out,
        "\nbacktest on the validation rows (a position per bar from its signal, held one bar; {} bps per unit traded; {:.0} bars a year):",
        backtest.cost_bps, backtest.bars_per_year
    );
    let _ = writeln!(
        out,
        "  {:<22} {:>8} {:>8} {:>7} {:>7} {:>7} {:>8} {:>8} {:>6} {:>5} {:>6}",
        "strategy",
        "total",
        "annual",
        "sharpe",
        "sortino",
        "max dd",
        "exposure",
        "turnover",
        "trades",
        "hit",
        "PSR"
    );
    let majority = format!("majority ({})", majority_class.as_str());
    let strategies = [
        ("ensemble long-short", Some(&backtest.long_short)),
        ("ensemble long-only", Some(&backtest.long_only)),
        ("buy and hold", Some(&backtest.buy_and_hold)),
        (majority.as_str(), Some(&backtest.majority)),
        ("persistence", backtest.persistence.as_ref()),
    ];
    for (name, p) in strategies.into_iter().filter_map(|(name, p)| Some((name, p?))) {
        let _ = writeln!(
            out,
            "  {name:<22} {:>8} {:>8} {:>7} {:>7} {:>7} {:>8.3} {:>8.0} {:>6} {:>5} {:>6}",
            percent(p.total_return),
            percent(p.annualized_return),
            p.sharpe.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
            p.sortino.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
            percent(-p.max_drawdown),
            p.exposure,
            p.turnover,
            p.trades,
            p.hit_rate.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
            optional(p.probabilistic_sharpe),
        );
    }
}

fn scores_lines(out: &mut String, scores: &Scores, composite: &Composite) {
    let describe = |score: Option<&Score>, missing: &str| {
        score.map_or_else(
            || missing.to_owned(),
            |s| format!("{:.3} (accuracy {:.3} vs majority {:.3})", s.value, s.accuracy.value, s.majority),
        )
    };
    let _ = writeln!(
        out,
        "\nscores (skill over the majority baseline, 0 = no better): backtest {}, walk-forward {}, live {}",
        describe(Some(&scores.backtest), "-"),
        describe(scores.walk_forward.as_ref(), "off"),
        describe(scores.live.as_ref(), "not yet (no realised forecasts)"),
    );
    let missing = if composite.missing.is_empty() {
        String::new()
    } else {
        format!(", without {}", composite.missing.join(", "))
    };
    let drift = match composite.drift {
        Some(true) => "drift: live is more than 0.15 from the backtest",
        Some(false) => "drift: none",
        None => "drift: no live score yet",
    };
    let _ = writeln!(out, "composite {:.3} (weights 0.40 / 0.35 / 0.25{missing}); {drift}", composite.value);
}

fn calibration_lines(out: &mut String, calibration: &Calibration) {
    let _ = writeln!(
        out,
        "calibration of the ensemble's probabilities ({} rows, {} bins): class-wise ECE {:.3}",
        calibration.rows,
        ml_core::model::calibration::BINS,
        calibration.ece
    );
    for class in &calibration.classes {
        let _ = writeln!(
            out,
            "  {:<8} ECE {:.3}  brier {:.3} (reliability {:.3}, resolution {:.3}, uncertainty {:.3})",
            class.class.as_str(),
            class.ece,
            class.brier,
            class.reliability,
            class.resolution,
            class.uncertainty
        );
    }
}

/// One forecast.
pub(super) fn forecast(series: &BarSeries, manifest: &Manifest, forecast: &Forecast) -> String {
    let p = &forecast.probabilities;
    format!(
        "{} {} at {} (+{} bars): {} with confidence {:.3}\n  probabilities: BEARISH {:.3}, NEUTRAL {:.3}, BULLISH {:.3}\n  random forest {}, gradient boosting {}, weights {:.3} / {:.3}, score {:+.3}\n  artifact {} (trained {})\n",
        series.symbol,
        series.timeframe,
        forecast.bar_ts.format("%Y-%m-%d %H:%M"),
        forecast.horizon,
        forecast.direction.as_str(),
        forecast.confidence,
        p[0],
        p[1],
        p[2],
        forecast.random_forest.as_str(),
        forecast.gradient_boosting.as_str(),
        forecast.weights[0],
        forecast.weights[1],
        forecast.score,
        manifest.version,
        manifest.created_at.format("%Y-%m-%d %H:%M UTC"),
    )
}
