"""Recomputes a captured request's SigV4 signature with botocore, the reference signer of the
AWS SDK for Python, so the extractor's signing is checked by an independent implementation.

stdin: {"method", "url", "headers": {name: value}, "access_key", "secret_key", "token", "region",
"service"}; stdout: the signature botocore computes for exactly the headers the request signed.
"""

import json
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main() -> None:
    captured = json.load(sys.stdin)
    auth_header = captured["headers"]["authorization"]
    signed = auth_header.split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {name: captured["headers"][name] for name in signed}
    request = AWSRequest(method=captured["method"], url=captured["url"], headers=headers)
    # botocore stamps the current time when it signs; reuse the request's own timestamp.
    request.context["timestamp"] = headers["x-amz-date"]
    creds = Credentials(captured["access_key"], captured["secret_key"], captured.get("token"))
    signer = SigV4Auth(creds, captured["service"], captured["region"])
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    print(signer.signature(string_to_sign, request))


if __name__ == "__main__":
    main()
