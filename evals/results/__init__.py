"""Results: unit outcomes as the frames of the scores, edge, runs and samples tables, quantization retention, the run summary, the run folder.

Public: frames.run_results, frames.summary_markdown, samples.unit_sample_rows, retention.retention, run_folder.RunFolder, run_folder.start_run.
"""
