-- The dashboard's overview ranks every pair's succeeded runs and reads the latest one's
-- summary columns: an index-only scan with this, never touching the rows (or their TOASTed
-- evaluations).
create index if not exists training_runs_pair_summary on training_runs (symbol, timeframe, finished_at desc)
    include (artifact_version, ensemble_accuracy, ensemble_accuracy_low, ensemble_accuracy_high,
             majority_accuracy, beats_baselines, walk_forward_score, backtest_score, composite,
             rf_weight, gb_weight, job_id)
    where status = 'succeeded';
