"""The impact analysis's fan-out: a population evaluated over evaluator streams and written with COPY.

Entry point: fan_out.py (evaluate_population); batches.py makes the work, stream_pool.py sends it,
ordered_sink.py and result_rows.py write the answers through results_store.py, report.py sums them up.
"""
