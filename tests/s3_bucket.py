#!/usr/bin/env python3
"""Creates an S3 bucket (if absent) on the endpoint in AWS_ENDPOINT_URL: test setup only."""
import os
import sys

from pyarrow import fs

endpoint = os.environ["AWS_ENDPOINT_URL"]
scheme, host = endpoint.split("://", 1)
s3 = fs.S3FileSystem(
    access_key=os.environ["AWS_ACCESS_KEY_ID"],
    secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    endpoint_override=host,
    scheme=scheme,
    region=os.environ.get("AWS_REGION", "us-east-1"),
    allow_bucket_creation=True,
)
s3.create_dir(sys.argv[1])
print(f"bucket {sys.argv[1]} ready on {endpoint}")
