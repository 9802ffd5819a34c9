-- The dashboard's overview ranks every pair's succeeded runs and reads the latest one's
-- summary columns. A row's columns added after `evaluation` (tens of KB of JSON) sit behind
-- its overflow pages: this index holds what the overview reads, so it never walks them.
create index if not exists training_runs_pair_summary on training_runs (
    symbol, timeframe, status, finished_at desc, artifact_version, ensemble_accuracy,
    ensemble_accuracy_low, ensemble_accuracy_high, majority_accuracy, beats_baselines,
    walk_forward_score, backtest_score, composite, rf_weight, gb_weight, job_id
);
