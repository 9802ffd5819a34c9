//! The evaluation and the forecast as text tables for people.

use std::fmt::Write;

use shared::ingest::BarSeries;
use shared::labels::Direction;
use shared::model::artifact::Manifest;
use shared::model::metrics::{Metrics, Proportion};
use shared::model::{Forecast, ModelReport};

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
pub(crate) fn evaluation(manifest: &Manifest) -> String {
    let e = &manifest.evaluation;
    let s = &e.samples;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} | artifact {} | {} bars {} .. {} | horizon {} bars, threshold {}",
        manifest.symbol,
        manifest.timeframe,
        manifest.version,
        s.bars,
        manifest.data.first_bar.format("%Y-%m-%d %H:%M"),
        manifest.data.last_bar.format("%Y-%m-%d %H:%M"),
        manifest.labels.horizon,
        manifest.labels.threshold
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
                "  fold {} train {:>5} validation {:>5}: ensemble {}  majority {}  persistence {}",
                i + 1,
                fold.train_rows,
                fold.validation_rows,
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
    let _ = writeln!(out, "verdict: {}", e.verdict.summary);
    out
}

/// One forecast.
pub(crate) fn forecast(series: &BarSeries, manifest: &Manifest, forecast: &Forecast) -> String {
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
