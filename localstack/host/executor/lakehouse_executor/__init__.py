"""Runs LocalStack's Lambda functions (provided.* runtimes) as host processes: see executor.py."""
