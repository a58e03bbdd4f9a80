#!/usr/bin/env python3
"""Checks, with boto3 (AWS's Python SDK, independent of the extractor), that S3 holds every raw
part of the lake with the CRC-64/NVME its manifest records: the checksum S3 verified on upload
and keeps with the object.

usage: check_part_checksums.py s3://<bucket>/<prefix>
S3 settings come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION.
Prints the number of parts checked; exits non-zero with every mismatch listed.
"""
import json
import os
import sys

import boto3
from botocore.config import Config

bucket, _, prefix = sys.argv[1].removeprefix("s3://").partition("/")
prefix = prefix.strip("/")
root = f"{prefix}/" if prefix else ""
# Keys given explicitly, so that no AWS_SESSION_TOKEN of the calling process goes with them.
s3 = boto3.client(
    "s3",
    endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
    aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    region_name=os.environ.get("AWS_REGION", "us-east-1"),
    config=Config(s3={"addressing_style": "path"}),
)

manifests = [
    obj["Key"]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{root}raw/")
    for obj in page.get("Contents", [])
    if obj["Key"].endswith("/_manifest.json")
]
failures, checked = [], 0
for key in manifests:
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    for part in manifest["parts"]:
        want = part.get("crc64nvme")
        head = s3.head_object(Bucket=bucket, Key=root + part["key"], ChecksumMode="ENABLED")
        got = head.get("ChecksumCRC64NVME")
        checked += 1
        if want is None or got != want:
            failures.append(f"{part['key']}: manifest {want}, S3 {got}")
        if head["ContentLength"] != part["bytes"]:
            failures.append(f"{part['key']}: manifest {part['bytes']} bytes, S3 {head['ContentLength']}")

if not manifests or checked == 0:
    failures.append(f"no manifests or parts under s3://{bucket}/{root}raw/")
for failure in failures:
    print("FAIL", failure)
print(f"{checked} parts in {len(manifests)} manifests checked")
sys.exit(1 if failures else 0)
