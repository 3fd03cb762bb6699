"""Results: unit outcomes as the frames of the scores, edge, runs and samples tables, quantization retention, the run summary (with a re-submitted model's significant changes), the run folder.

Public: frames.run_results, frames.summary_markdown, samples.unit_sample_rows, retention.retention, resubmission.resubmission_lines, run_folder.RunFolder, run_folder.start_run.
"""
